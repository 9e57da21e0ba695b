"""Streaming detector of gaming schemes: reciprocal-boost farming and inorganic follower growth."""

__version__ = "0.1.0"
