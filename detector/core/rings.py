"""Reciprocal-boost rings: find the dense group around a reciprocated boost and describe it.

Why these features (measured on Bitcoin-Alpha, see docs/detection.md): organic trading is highly reciprocal
(~80% of ratings answered, most the same day) and even forms small cliques, so reciprocity and speed alone
flag honest traders. What organic groups lack is *closure*: an honest trader's recent partners come from the
whole market, while a ring's members mostly boost, and are boosted by, each other. Camouflage (boosting popular
accounts) lowers a member's out-flow share but not its in-flow share, because popular accounts do not boost back.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass

from detector.core.accounts import FRESH_DAYS, AccountInfo
from detector.core.graph import RecentBoostGraph

#: A member must get at least this share of its recent boosts from inside the group.
MIN_INFLOW = 0.34
#: A member must be tied (either direction) to at least this share of the other members.
MIN_TIE_SHARE = 0.3
#: ... and boost at least this share of them itself.
MIN_BOOST_SHARE = 0.2
#: Growth stops when the best candidate has fewer than this share of its ties in the group.
MIN_CANDIDATE_CLOSURE = 0.1
#: The smallest group scored as a ring (``EngineConfig.min_ring_size``).
MIN_RING_SIZE = 4
COHORT_MIN_CLOSURE = 0.5
#: Boosts within this many seconds of each other count as one session (lockstep).
LOCKSTEP_S = 3600.0


@dataclass(frozen=True, slots=True)
class RingFeatures:
    size: int
    tie_density: float  # share of member pairs tied in either direction
    mutual_density: float  # share of member pairs boosting each other
    inflow_closure: float  # mean share of a member's recent boosters that are members
    outflow_closure: float  # mean share of a member's recent boost targets that are members
    fresh_share: float  # members younger than FRESH_DAYS
    mean_partners_outside: float  # recent partners outside the group, per member
    lockstep_share: float  # share of the boosts inside the group made in the last LOCKSTEP_S

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class RingCandidate:
    members: frozenset[str]
    features: RingFeatures


class RingFinder:
    """Grow the group around a reciprocated pair: add accounts that boost at least two members back.

    Requiring a candidate to boost into the group (not only to be boosted by it) keeps camouflage targets,
    popular accounts the ring boosts to look organic, out of the group.

    Examples
    --------
    >>> g = RecentBoostGraph(window=1e6)
    >>> ring = ["r1", "r2", "r3", "r4", "r5"]
    >>> for a in ring:
    ...     for b in ring:
    ...         if a != b:
    ...             _ = g.add(a, b, 10.0)
    >>> for a in ring:
    ...     _ = g.add(a, "celebrity", 10.0)
    >>> found = RingFinder(g, max_members=40).grow("r1", "r2", now=20.0)
    >>> sorted(found)
    ['r1', 'r2', 'r3', 'r4', 'r5']
    """

    def __init__(self, graph: RecentBoostGraph, max_members: int = 40, min_members: int = MIN_RING_SIZE):
        self.graph = graph
        self.max_members = max_members
        self.min_members = min_members
        # No member of a group this size can get MIN_INFLOW of its boosts from inside if it has more boosters.
        self.max_boosters = int(max_members / MIN_INFLOW)

    def could_be_member(self, account: str) -> bool:
        """Cheap pre-check: hubs boosted by more accounts than any ring could supply are never members."""
        return len(self.graph.inn.get(account, ())) <= self.max_boosters

    def grow(self, a: str, b: str, now: float) -> set[str]:
        graph = self.graph
        # Most pairs have no account to grow with, and a pair alone is always peeled away (a member needs ties to
        # two others, without self-boosts, which the event contract rejects): skip walking their neighbourhoods.
        if not self._has_first_candidate(a, b, now) and a not in graph.out.get(a, {}) and b not in graph.out.get(b, {}):
            return set()
        group = {a, b}
        # For each outside account: members it boosts (out) and members boosting it (in).
        out_ties: Counter[str] = Counter()
        in_ties: Counter[str] = Counter()
        eligible: dict[str, int] = {}  # candidate -> its degree (hubs are never eligible)
        boosters: dict[str, int] = {}  # member -> its recent boosters, for the peel
        for member in (a, b):
            boosters[member] = self._count_ties(member, group, out_ties, in_ties, eligible, now)
        while len(group) < self.max_members and eligible:
            needed = max(2, math.ceil(MIN_TIE_SHARE * len(group)))
            best, best_key = None, None
            for cand, degree in eligible.items():
                n_out = out_ties[cand]
                if n_out < needed:
                    continue
                key = (_closure(n_out, in_ties[cand], degree), cand)  # the name breaks ties deterministically
                if best_key is None or key > best_key:
                    best, best_key = cand, key
            if best is None or best_key[0] < MIN_CANDIDATE_CLOSURE:
                break
            group.add(best)
            del eligible[best]
            boosters[best] = self._count_ties(best, group, out_ties, in_ties, eligible, now)
        return self._peel(group, boosters, now)

    def _has_first_candidate(self, a: str, b: str, now: float) -> bool:
        """Whether :meth:`grow` adds anyone to the pair: an outside account recently boosting both, boosted by
        one of them, not a hub, and with enough of its ties on the pair (the same rule as in the growth loop)."""
        graph = self.graph
        horizon = now - graph.window
        ins_a, ins_b = graph.inn.get(a, {}), graph.inn.get(b, {})
        outs_a, outs_b = graph.out.get(a, {}), graph.out.get(b, {})
        for cand in ins_a.keys() & ins_b.keys():
            if cand in (a, b) or ins_a[cand] < horizon or ins_b[cand] < horizon:
                continue
            n_in = (outs_a.get(cand, -math.inf) >= horizon) + (outs_b.get(cand, -math.inf) >= horizon)
            degree = self._degree(cand)
            if n_in and degree is not None and _closure(2, n_in, degree) >= MIN_CANDIDATE_CLOSURE:
                return True
        return False

    def cohort(self, a: str, b: str, now: float, is_fresh: Callable[[str], bool]) -> set[str]:
        """Fresh accounts trading among themselves, before any pair answered: grow over recent ties between fresh
        accounts (either direction), then keep those with two ties inside and at least half of their partners inside."""
        graph = self.graph
        group = self._reach(a, b, now - graph.window, is_fresh)
        boosts = {m: graph.out_partners(m, now) for m in group}
        partners = {m: boosts[m] | graph.in_partners(m, now) for m in group}
        fresh = {m: is_fresh(m) for m in group}

        def leaves(m: str) -> bool:
            inside = len(partners[m] & group)
            # An older account joins a cohort only by trading like a member, not as a camouflage target.
            min_boosts = 1 if fresh[m] else max(2, MIN_BOOST_SHARE * (len(group) - 1))
            return inside < 2 or inside < COHORT_MIN_CLOSURE * len(partners[m]) or len(boosts[m] & group) < min_boosts

        peel_together(group, leaves)
        # Older accounts are only the cohort's company: without a fresh majority it is the ordinary finder's case.
        return group if 2 * sum(fresh[m] for m in group) > len(group) else set()

    def lockstep(self, a: str, b: str, now: float) -> set[str]:
        """Accounts trading with each other within the last hour, however old they are: a ring trading in
        sessions shows as a group where every member boosts, and is boosted by, another member within the session
        (and, over the ring window, boosts back at least half as many members as boost it).
        Organic traffic does not form such groups (none of four or more on Bitcoin-Alpha or the synthetic
        background, see docs/detection.md)."""
        graph = self.graph
        since = now - LOCKSTEP_S
        # The new boost a -> b matters only if both keep their place in a group: a must also be boosted and b must
        # also boost within the session. Any group without them existed before this boost and was searched then.
        if not (graph.any_recent(graph.inn.get(a), since) and graph.any_recent(graph.out.get(b), since)):
            return set()
        walked: dict[str, tuple[Collection[str], Collection[str]]] = {}
        group = self._reach(a, b, since, None, walked)
        if len(group) < self.min_members:
            return set()
        boosts: dict[str, set[str]] = {}
        boosters: dict[str, set[str]] = {}
        for m in group:
            outs, ins = walked.get(m) or (graph.recent(graph.out.get(m), since), graph.recent(graph.inn.get(m), since))
            boosts[m], boosters[m] = set(outs), set(ins)
        # Over the ring window, a member boosts back at least half as many members as boost it: a popular
        # camouflage target that happened to answer one member within the hour does not.
        horizon = now - graph.window
        boosts_inside = {m: graph.recent_among(graph.out.get(m, {}), horizon, group) for m in group}
        boosted_inside = {m: graph.recent_among(graph.inn.get(m, {}), horizon, group) for m in group}

        def leaves_session(m: str) -> bool:
            return (
                boosts[m].isdisjoint(group)
                or boosters[m].isdisjoint(group)
                or len((boosts[m] | boosters[m]) & group) < 2
            )

        while True:
            peel_together(group, leaves_session)
            # The boost-back rule gets easier as members leave (fewer boost a member), so it drops one account at a
            # time, the one boosting back least, and the session rules run again: not the accounts' names but
            # their trading decides who stays.
            shortfall = {m: len(boosted_inside[m] & group) - 2 * len(boosts_inside[m] & group) for m in group}
            worst = max(group, key=lambda m: (shortfall[m], m), default=None)
            if worst is None or shortfall[worst] <= 0:
                return group
            group.discard(worst)

    def _reach(
        self,
        a: str,
        b: str,
        since: float,
        expands: Callable[[str], bool] | None,
        walked: dict[str, tuple[Collection[str], Collection[str]]] | None = None,
    ) -> set[str]:
        """The pair and the accounts reached from it over ties made at or after ``since`` (either direction), up to
        ``max_members``; hubs are not reached, and only accounts passing ``expands`` (all when None) are walked on
        from. ``walked`` receives the recent boost targets and boosters of each account walked from."""
        graph, max_members, max_boosters = self.graph, self.max_members, self.max_boosters
        inn = graph.inn
        group = {a, b}
        frontier = [a, b]
        while frontier and len(group) < max_members:
            m = frontier.pop()
            outs, ins = graph.recent(graph.out.get(m), since), graph.recent(inn.get(m), since)
            if walked is not None:
                walked[m] = (outs, ins)
            for recent in (outs, ins):
                for other in recent:
                    if len(group) >= max_members:
                        break
                    # could_be_member, inlined: this loop runs for every new boost pair
                    if other not in group and len(inn.get(other, ())) <= max_boosters:
                        group.add(other)
                        if expands is None or expands(other):
                            frontier.append(other)
        return group

    def _count_ties(
        self,
        member: str,
        group: set[str],
        out_ties: Counter[str],
        in_ties: Counter[str],
        eligible: dict[str, int],
        now: float,
    ) -> int:
        """Count the new member's ties to outside accounts; return how many accounts recently boosted it."""
        # Hot path of ring detection: counted in C (Counter.update over sets), and eligibility is decided once,
        # when a candidate first boosts two members and is boosted by one.
        graph = self.graph
        horizon = now - graph.window
        boosters = graph.recent(graph.inn.get(member), horizon)
        new_out = set(boosters)
        new_out.difference_update(group)
        new_in = set(graph.recent(graph.out.get(member), horizon))
        new_in.difference_update(group)
        out_ties.update(new_out)
        in_ties.update(new_in)
        for other in new_out:
            if out_ties[other] == 2 and other in in_ties:
                self._consider(other, eligible)
        for other in new_in:
            if in_ties[other] == 1 and out_ties[other] >= 2:
                self._consider(other, eligible)
        return len(boosters)

    def _consider(self, account: str, eligible: dict[str, int]) -> None:
        degree = self._degree(account)
        if degree is not None:
            eligible[account] = degree

    def _degree(self, account: str) -> int | None:
        """The account's number of partners, or None for a hub (never a candidate)."""
        boosters = len(self.graph.inn.get(account, ()))
        return boosters + len(self.graph.out.get(account, ())) if boosters <= self.max_boosters else None

    def _peel(self, group: set[str], boosters: dict[str, int], now: float) -> set[str]:
        """Drop members that do not trade inside the group (repeat until stable); ``boosters`` is each member's
        number of recent boosters.

        A ring is not a star; a camouflage target is boosted by many members but boosts few back; and an
        organic partner of a hijacked member gets most of its boosts from outside the group.
        """
        graph = self.graph
        horizon = now - graph.window
        # Only ties inside the group matter here: intersect (in C) rather than collect every member's recent
        # partners, often hundreds against a group of a few.
        boosts: dict[str, set[str]] = {}
        boosted_by: dict[str, set[str]] = {}
        for m in group:
            boosts[m] = graph.recent_among(graph.out.get(m, {}), horizon, group)
            boosted_by[m] = graph.recent_among(graph.inn.get(m, {}), horizon, group)
        tied = {m: boosts[m] | boosted_by[m] for m in group}

        def leaves(m: str) -> bool:
            others = len(group) - 1
            n_boosters = boosters[m]
            return (
                len(tied[m] & group) < max(2, MIN_TIE_SHARE * others)
                or len(boosts[m] & group) < max(1, MIN_BOOST_SHARE * others)
                or bool(n_boosters and len(boosted_by[m] & group) < MIN_INFLOW * n_boosters)
            )

        peel_together(group, leaves)
        return group


def peel_together(group: set[str], leaves: Callable[[str], bool]) -> None:
    """Remove, round by round, every member that ``leaves`` the current group, all at once: thresholds relative to
    the group's size get easier as it shrinks, so removing one at a time would let the accounts' names decide."""
    while group:
        leaving = {m for m in group if leaves(m)}
        if not leaving:
            return
        group -= leaving


def _closure(n_out: int, n_in: int, degree: int) -> float:
    """A candidate's ties into the group over all its ties: prefer accounts whose partners are mostly in the group,
    hubs tie to everyone."""
    return (n_out + n_in) / degree


def describe(members: set[str], graph: RecentBoostGraph, accounts: dict[str, AccountInfo], now: float) -> RingFeatures:
    """Group-level features of a candidate ring (all in [0, 1] except size and partners outside)."""
    k = len(members)
    tied = mutual = edges = in_session = 0
    since = now - LOCKSTEP_S
    inflow = outflow = outside = fresh = 0.0
    boosted_members = 0
    horizon = now - graph.window
    for m in sorted(members):  # a fixed order: float sums must not depend on the hash seed
        out_row, in_row = graph.out.get(m, {}), graph.inn.get(m, {})
        outs, ins = graph.recent(out_row, horizon), graph.recent(in_row, horizon)
        out_in_group = members.intersection(outs)
        in_in_group = members.intersection(ins)
        tied_m = len(out_in_group | in_in_group)
        tied += tied_m
        edges += len(out_in_group)
        for o in out_in_group:
            if out_row[o] >= since:
                in_session += 1
        mutual += len(out_in_group & in_in_group)
        if ins:  # a member nobody boosted yet (a ring just starting) says nothing about inflow
            inflow += len(in_in_group) / len(ins)
            boosted_members += 1
        outflow += len(out_in_group) / len(outs) if outs else 0.0
        outside += len(set(outs).union(ins)) - tied_m
        info = accounts.get(m)
        if info is not None and info.age_days(now) < FRESH_DAYS:
            fresh += 1
    pairs = k * (k - 1)  # ordered: every tie and mutual tie was counted from both ends
    return RingFeatures(
        size=k,
        tie_density=tied / pairs if pairs else 0.0,
        mutual_density=mutual / pairs if pairs else 0.0,
        inflow_closure=inflow / boosted_members if boosted_members else 0.0,
        outflow_closure=outflow / k,
        fresh_share=fresh / k,
        mean_partners_outside=outside / k,
        lockstep_share=in_session / edges if edges else 0.0,
    )
