"""Which injected scheme a scored candidate is about: the one rule that labels training candidates (``detector
train``) and judges the evaluation's candidates (``detector eval``), so the two never disagree."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping


class SchemeIndex:
    """The schemes of a ground truth (``detector simulate --truth`` format), indexed by account.

    A ring candidate is about the ring holding a strict majority of its members; a growth candidate is about the
    burst whose beneficiary it scored, once the burst has begun (a candidate with a ``ts`` before the burst's
    ``start_ts`` scored the beneficiary's organic growth). A ring candidate is never about a burst, nor the other
    way round.

    Examples
    --------
    >>> index = SchemeIndex([
    ...     {"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["a", "b", "c", "d"]},
    ...     {"scheme_id": "s1", "scheme": "follower_growth", "accounts": ["star"], "start_ts": 100.0},
    ... ])
    >>> index.about({"scheme": "farming_ring", "accounts": ["a", "b", "c", "x"]})
    's0'
    >>> index.about({"scheme": "farming_ring", "accounts": ["a", "b", "x", "y"]}) is None  # half is no majority
    True
    >>> index.about({"scheme": "follower_growth", "accounts": ["star"]})
    's1'
    >>> index.about({"scheme": "follower_growth", "accounts": ["star"], "ts": 50.0}) is None  # before its burst
    True
    >>> index.about({"scheme": "follower_growth", "accounts": ["a"]}) is None  # a ring member is no beneficiary
    True
    """

    def __init__(self, schemes: Iterable[Mapping]):
        self.ring_of: dict[str, str] = {}
        self.burst_of: dict[str, str] = {}
        self.burst_start: dict[str, float] = {}
        for scheme in schemes:
            for account in scheme["accounts"]:
                if scheme["scheme"] == "farming_ring":
                    self.ring_of[account] = scheme["scheme_id"]
                else:
                    self.burst_of[account] = scheme["scheme_id"]
                    self.burst_start[account] = scheme.get("start_ts", -math.inf)

    def about(self, candidate: Mapping) -> str | None:
        """The id of the scheme the candidate is about, or None for an organic candidate."""
        accounts = candidate["accounts"]
        if candidate["scheme"] != "farming_ring":
            beneficiary = accounts[0]
            if candidate.get("ts", math.inf) < self.burst_start.get(beneficiary, -math.inf):
                return None
            return self.burst_of.get(beneficiary)
        rings = Counter(self.ring_of[a] for a in accounts if a in self.ring_of)
        if not rings:
            return None
        ring, count = min(rings.items(), key=lambda item: (-item[1], item[0]))
        return ring if 2 * count > len(accounts) else None
