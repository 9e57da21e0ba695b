"""A bounded, time-windowed view of who boosted whom recently.

Only the most recent ``max_partners`` partners per account and direction are kept, and edges older than the
window are ignored on read, so memory stays bounded however long the stream runs.

Each account's partners are kept in the order they were last boosted (a boost moves its edge to the end), so
reading only the recent ones can walk back from the end and stop early: events arrive in event-time order up to a
bounded lateness, which the graph measures itself (``lag``), so an edge older than ``since - lag`` proves that
every edge before it is older than ``since`` too.
"""

from __future__ import annotations

from collections.abc import Collection


class RecentBoostGraph:
    """Directed boost edges with the event time of their latest occurrence.

    Parameters
    ----------
    window
        Seconds an edge stays "recent" after its latest boost.
    max_partners
        Per account and direction, how many partners are remembered (the least recently active are dropped).

    Examples
    --------
    >>> g = RecentBoostGraph(window=100.0)
    >>> g.add("a", "b", 10.0), g.add("b", "a", 20.0), g.add("a", "b", 30.0), g.add("a", "b", 200.0)
    (True, True, False, True)
    >>> g.boosted("b", "a", now=50.0), g.boosted("b", "a", now=200.0)
    (True, False)
    >>> sorted(g.out_partners("a", now=50.0) | g.in_partners("a", now=50.0))
    ['b']
    """

    __slots__ = ("window", "max_partners", "out", "inn", "latest", "lag")

    def __init__(self, window: float, max_partners: int = 256):
        self.window = window
        self.max_partners = max_partners
        self.out: dict[str, dict[str, float]] = {}
        self.inn: dict[str, dict[str, float]] = {}
        self.latest = float("-inf")  # the latest boost time added
        self.lag = 0.0  # how far behind ``latest`` a boost has been added at most

    def add(self, actor: str, target: str, ts: float) -> bool:
        """Record a boost; True when the actor had not boosted the target within the window before it."""
        if ts > self.latest:
            self.latest = ts
        elif self.latest - ts > self.lag:
            self.lag = self.latest - ts
        previous = _touch(self.out, actor, target, ts, self.max_partners)
        _touch(self.inn, target, actor, ts, self.max_partners)
        return previous is None or ts - previous > self.window

    def remove(self, actor: str, target: str) -> None:
        """An unfollow (or a negative rating) withdraws the boost."""
        self.out.get(actor, {}).pop(target, None)
        self.inn.get(target, {}).pop(actor, None)

    def boosted(self, actor: str, target: str, now: float) -> bool:
        ts = self.out.get(actor, {}).get(target)
        return ts is not None and now - ts <= self.window

    def out_partners(self, account: str, now: float) -> set[str]:
        return set(self.recent(self.out.get(account), now - self.window))

    def in_partners(self, account: str, now: float) -> set[str]:
        return set(self.recent(self.inn.get(account), now - self.window))

    def all_recent(self, partners: dict[str, float], since: float) -> bool:
        """Whether every edge in ``partners`` (an account's row of ``out`` or ``inn``) is at or after ``since``:
        none can be older than the row's first edge less the lag."""
        return not partners or next(iter(partners.values())) - self.lag >= since

    def recent(self, partners: dict[str, float] | None, since: float) -> Collection[str]:
        """The partners in ``partners`` (an account's row of ``out`` or ``inn``) boosted at or after ``since``, in
        the row's order."""
        if not partners:
            return ()
        # Every edge before the first one older than ``since - lag`` is older than ``since`` (see the module doc).
        stop = since - self.lag
        if next(reversed(partners.values())) < stop:
            return ()
        if next(iter(partners.values())) - self.lag >= since:  # all_recent, inlined: this is a hot path
            return partners.keys()
        found = []
        for partner, ts in reversed(partners.items()):
            if ts >= since:
                found.append(partner)
            elif ts < stop:
                break
        found.reverse()
        return found

    def any_recent(self, partners: dict[str, float] | None, since: float) -> bool:
        """Whether :meth:`recent` would find anything, without collecting it (a check on every new boost pair)."""
        if not partners:
            return False
        stop = since - self.lag
        for ts in reversed(partners.values()):
            if ts >= since:
                return True
            if ts < stop:
                return False
        return False

    def recent_among(self, partners: dict[str, float], since: float, among: set[str]) -> set[str]:
        """The partners in ``partners`` boosted at or after ``since`` that are in ``among``."""
        if self.all_recent(partners, since):
            return partners.keys() & among
        return {x for x in partners.keys() & among if partners[x] >= since}

    def edges_within(self, members: set[str], now: float) -> list[tuple[str, str, float]]:
        horizon = now - self.window
        return [
            (a, b, ts)
            for a in sorted(members)
            for b, ts in sorted(self.out.get(a, {}).items())
            if b in members and ts >= horizon
        ]

    def forget(self, account: str) -> None:
        for other in self.out.pop(account, {}):
            self.inn.get(other, {}).pop(account, None)
        for other in self.inn.pop(account, {}):
            self.out.get(other, {}).pop(account, None)


def _touch(table: dict[str, dict[str, float]], key: str, partner: str, ts: float, cap: int) -> float | None:
    """Move the edge to the most recent end with time ``ts``; return its previous time, if it had one."""
    partners = table.get(key)
    if partners is None:
        table[key] = {partner: ts}
        return None
    previous = partners.pop(partner, None)
    # Out-of-order events must not move an edge's time backwards.
    partners[partner] = ts if previous is None or ts > previous else previous
    if len(partners) > cap:
        del partners[next(iter(partners))]
    return previous
