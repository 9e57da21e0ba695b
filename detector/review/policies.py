"""The platform policies a reviewer cites when deciding a case (a decision needs one, and a free-text reason).

The codes travel on the ``decisions`` topic, so they are stable identifiers; the titles are for people.
"""

from __future__ import annotations

POLICIES: dict[str, str] = {
    "inauthentic-engagement": "Inauthentic engagement: coordinated or reciprocal boosting",
    "fake-followers": "Fake followers: bought or batch-created audience",
    "platform-manipulation": "Platform manipulation: gaming ranking or reputation",
    "spam-network": "Spam network: accounts operated as one",
    "no-violation": "No violation: organic behaviour",
    "insufficient-evidence": "Insufficient evidence to act",
}
