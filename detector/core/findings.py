"""What the engine reports when it flags: a :class:`Finding`, the unit every sink (Redis case, alert) is built from."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

FARMING_RING = "farming_ring"
FOLLOWER_GROWTH = "follower_growth"
SCHEMES = (FARMING_RING, FOLLOWER_GROWTH)
#: A candidate scored this or more is flagged, by default: the engine's ``threshold``, which a platform may move
#: (``DETECTOR_THRESHOLD``) after reading ``detector eval --thresholds``.
FLAG_THRESHOLD = 0.5
#: New cases a day under a score of 0.95 (event time), by default: what keeps the review queue workable on a bad day.
MAX_NEW_CASES_PER_DAY = 1000


def check_flagging(threshold: float, max_new_cases_per_day: int = MAX_NEW_CASES_PER_DAY) -> None:
    """Raise ``ValueError`` unless the operating point is one: a threshold in (0, 1] and a budget not negative."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold {threshold}: a score in (0, 1]")
    if max_new_cases_per_day < 0:
        raise ValueError(f"max_new_cases_per_day {max_new_cases_per_day}: not negative")


@dataclass(frozen=True)
class Finding:
    """One flag raised by the engine.

    ``case_id`` is stable for the same scheme instance: re-flagging a ring (with new members or a higher score)
    or an account's follower burst yields the same id, which is what makes sinks idempotent.
    All times are event time (Unix seconds), never wall-clock time.

    Evidence keys (all JSON-serialisable):
      ``summary`` (one sentence for a reviewer), ``top_features`` (list of name/value/contribution),
      ``members`` (ring members) or ``burst_window`` ({start, end, new_followers, baseline_per_day,
      fresh_share, batch_share}) with ``followers_sample`` (the latest 50) and ``creation_batches`` (the new
      followers' creation times chained within ten minutes, the ten largest: first_created_ts, last_created_ts,
      followers), ``sample_event_ids`` (up to 20 ids), and for a ring ``edges`` ([[src, dst, ts],
      ...]) and ``member_facts`` (per member: account, created_ts, first_seen_ts, followers, following, posts,
      returned_ts and idle_days_before (its latest return after 30 or more days without acting, else null),
      tied_inside_since_ts (its first boost with another member, either way, as far as the engine remembers),
      boosts_members, boosts_others, boosted_by_members, boosted_by_others) and ``known_in_common`` (the
      established accounts outside the group, with few ties, that two or more members had tied to a week or more
      before, each with those members: {account, members}, the most widely known first, at most ten; what makes
      member pairs acquainted).
    """

    case_id: str
    scheme: str
    accounts: tuple[str, ...]
    score: float
    flagged_ts: float
    first_event_ts: float
    last_event_ts: float
    model_version: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["accounts"] = list(self.accounts)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**{**data, "accounts": tuple(data["accounts"])})


def stable_case_id(scheme: str, key: str) -> str:
    """A short, deterministic, URL- and key-safe case id (account ids may hold any printable character).

    >>> stable_case_id(FOLLOWER_GROWTH, "alice")
    'growth-2bd806c97f0e00af'
    >>> stable_case_id(FARMING_RING, "a,b,c")
    'ring-205830ca5b23bbe3'
    """
    prefix = "growth-" if scheme == FOLLOWER_GROWTH else "ring-"
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:16]
