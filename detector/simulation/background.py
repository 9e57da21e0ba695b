"""What the scheme injectors need to know about the organic background they are injected into."""

from __future__ import annotations

import bisect
import math
import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from detector.core.events import Event, Profile


class BackgroundIndex:
    """Per-account history of a time-ordered organic stream.

    ``protected`` accounts (labelled ones, on Bitcoin-Alpha) are never handed out as scheme members or
    beneficiaries: a labelled account must keep meaning what its label says.

    Examples
    --------
    >>> events = [Event(1.3e9 + i, "rate", "a", "b") for i in range(3)]
    >>> index = BackgroundIndex(events)
    >>> index.history("b", before_ts=1.3e9 + 2), index.candidates(1.3e9 + 10, min_history=3)
    (2, [])
    """

    def __init__(self, events: Sequence[Event], protected: Collection[str] = ()):
        if not events:
            raise ValueError("the background stream is empty")
        self.times = [event.ts for event in events]
        if any(a > b for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError("the background stream must be sorted by time")
        self.protected = frozenset(protected)
        self.activity: dict[str, list[float]] = {}  # when each account acted or was acted on, in time order
        self.acted: dict[str, list[float]] = {}  # when each account acted, in time order
        self.boosted_at: dict[str, list[float]] = {}  # when each account received a boost
        self.profiles: dict[str, Profile] = {}
        for event in events:
            self.activity.setdefault(event.actor, []).append(event.ts)
            self.activity.setdefault(event.target, []).append(event.ts)
            self.acted.setdefault(event.actor, []).append(event.ts)
            if event.is_boost:
                self.boosted_at.setdefault(event.target, []).append(event.ts)
            if event.actor_profile is not None:
                self.profiles[event.actor] = event.actor_profile

    @property
    def first_ts(self) -> float:
        return self.times[0]

    @property
    def last_ts(self) -> float:
        return self.times[-1]

    def history(self, account: str, before_ts: float) -> int:
        """How many background events involved ``account`` before ``before_ts``."""
        return bisect.bisect_left(self.activity.get(account, ()), before_ts)

    def candidates(
        self, before_ts: float, min_history: int, max_history: int | None = None, seen_since: float | None = None
    ) -> list[str]:
        """Unprotected accounts with a profile and ``min_history..max_history`` events before ``before_ts``.

        ``seen_since`` keeps only accounts first seen at or after that time (newer accounts).
        """
        out = []
        for account, times in self.activity.items():
            if account in self.protected or account not in self.profiles:
                continue
            n = bisect.bisect_left(times, before_ts)
            if n < min_history or (max_history is not None and n > max_history):
                continue
            if seen_since is not None and times[0] < seen_since:
                continue
            out.append(account)
        return out

    def last_acted(self, account: str, before_ts: float) -> float:
        """When ``account`` last acted before ``before_ts`` (``-inf`` if it had not)."""
        acted = self.acted.get(account, ())
        n = bisect.bisect_left(acted, before_ts)
        return acted[n - 1] if n else -math.inf

    def popular(self, before_ts: float, k: int) -> list[str]:
        """The ``k`` accounts that received the most boosts before ``before_ts`` (ties by id, for determinism)."""
        counts = {a: bisect.bisect_left(times, before_ts) for a, times in self.boosted_at.items()}
        return sorted((a for a in counts if counts[a]), key=lambda a: (-counts[a], a))[:k]

    def sample_start(self, rng: random.Random, duration: float) -> float:
        """A start time where the platform is active: the time of a random event past the first fifth of the
        stream (so accounts have history), moved earlier if needed so that ``duration`` fits before the end — but
        never into the first fifth: in a short background a long scheme runs past the end instead."""
        n = len(self.times)
        earliest = self.times[n // 5]
        return max(earliest, min(self.times[rng.randrange(n // 5, n)], self.last_ts - duration))


def id_prefix(events: Sequence[Event]) -> str:
    """The prefix of a stream's event ids (``syn`` of ``syn-12``), so events merged into it are numbered alike.

    >>> id_prefix([Event(1.3e9, "rate", "a", "b", id="ba-7")]), id_prefix([Event(1.3e9, "rate", "a", "b")])
    ('ba', 'ev')
    """
    first_id = events[0].id or "ev-0"
    return first_id.rsplit("-", 1)[0] if "-" in first_id else "ev"


class IdAllocator:
    """New account ids in the same format as the existing ones (``"123"`` or ``"u123"``), drawn at random from
    the unused numbers, so a new account's id does not give it away.

    >>> ids = IdAllocator(["u1", "u2", "u7"], random.Random(0))
    >>> new = ids.new()
    >>> new.startswith("u") and new not in {"u1", "u2", "u7"}
    True
    """

    _PATTERN = re.compile(r"^(\D*)(\d+)$")

    def __init__(self, taken: Iterable[str], rng: random.Random):
        self._taken = set(taken)
        self._rng = rng
        prefixes: Counter[str] = Counter()
        largest = 0
        for account in self._taken:
            match = self._PATTERN.match(account)
            if match:
                prefixes[match.group(1)] += 1
                largest = max(largest, int(match.group(2)))
        # most_common breaks ties by first insertion, and set order varies between runs: sort first.
        self._prefix = min(prefixes.items(), key=lambda item: (-item[1], item[0]))[0] if prefixes else "acct"
        self._bound = 2 * largest + 1000

    def new(self, rng: random.Random | None = None) -> str:
        """An unused id, drawn with ``rng`` (a variant's own random stream) or the allocator's."""
        while True:
            if len(self._taken) * 2 > self._bound:
                self._bound *= 2
            account = f"{self._prefix}{(rng or self._rng).randrange(1, self._bound)}"
            if account not in self._taken:
                self._taken.add(account)
                return account
