"""What the engine remembers about each account besides its edges: when it appeared and its latest profile."""

from __future__ import annotations

from detector.core.events import Profile

DAY = 86_400.0
#: Accounts younger than this are fresh: what bought accounts and fresh ring members are when they act.
FRESH_DAYS = 30.0


class AccountInfo:
    __slots__ = ("first_seen", "last_seen", "created_ts", "followers", "following", "posts")

    def __init__(self, first_seen: float):
        self.first_seen = first_seen
        self.last_seen = first_seen
        self.created_ts: float | None = None
        self.followers: int | None = None
        self.following: int | None = None
        self.posts: int | None = None

    def observe(self, ts: float, profile: Profile | None) -> None:
        if ts < self.first_seen:
            self.first_seen = ts
        if ts > self.last_seen:
            self.last_seen = ts
        if profile is not None:
            if profile.created_ts is not None:
                self.created_ts = profile.created_ts
            if profile.followers is not None:
                self.followers = profile.followers
            if profile.following is not None:
                self.following = profile.following
            if profile.posts is not None:
                self.posts = profile.posts

    def age_days(self, now: float) -> float:
        """Account age: from the platform's creation time when known, else from the first event we saw."""
        born = self.created_ts if self.created_ts is not None else self.first_seen
        return max(0.0, (now - born) / DAY)

    def low_quality(self) -> bool:
        """Follows far more than it is followed, or has barely posted: the profile shape of bought followers.

        Calibrated on Cresci et al. (2015): most bought followers follow >10x more accounts than follow them
        and have posted little; most humans do not (see docs/detection.md).
        """
        if self.followers is None or self.following is None:
            return False
        ratio_bad = self.following >= 10 * max(self.followers, 1) and self.following >= 50
        quiet = self.posts is not None and self.posts < 20
        return ratio_bad or quiet
