"""Reciprocal-boost rings: find the dense group around a reciprocated boost and describe it.

Why these features (measured on Bitcoin-Alpha, see docs/detection.md): organic trading is highly reciprocal
(~80% of ratings answered, most the same day) and even forms small cliques, so reciprocity and speed alone
flag honest traders. What organic groups lack is *closure*: an honest trader's recent partners come from the
whole market, while a ring's members mostly boost, and are boosted by, each other. Camouflage (boosting popular
accounts) lowers a member's out-flow share but not its in-flow share, because popular accounts do not boost back.

The searches themselves (grow, peel, fresh cohorts, lockstep sessions), the recent-boost graph they walk and the
rules that decide when to search are compiled (``detector/core/native``, Rust): they are most of the engine's work.
This module gives their results features.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.core._native import MIN_RING_SIZE, RecentBoostGraph, RingFinder

# The compiled searches' rules (MIN_INFLOW, MIN_TIE_SHARE, ...) are constants in native/src/rings.rs.
__all__ = ["MIN_RING_SIZE", "RecentBoostGraph", "RingFeatures", "RingFinder", "describe"]


@dataclass(frozen=True, slots=True)
class RingFeatures:
    size: int
    tie_density: float  # share of member pairs tied in either direction
    mutual_density: float  # share of member pairs boosting each other
    inflow_closure: float  # mean share of a member's recent boosters that are members
    outflow_closure: float  # mean share of a member's recent boost targets that are members
    fresh_share: float  # members younger than FRESH_DAYS (30)
    mean_partners_outside: float  # recent partners outside the group, per member
    lockstep_share: float  # share of the boosts inside the group made in the last LOCKSTEP_S
    shared_booster_share: float  # share of the established outside accounts boosting a member that boost two or more
    acquainted_share: float  # member pairs sharing an established partner outside, with few ties, known a week before

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.__slots__}


def describe(
    members: set[str], finder: RingFinder, now: float, fresh: int, boosters: tuple[int, int], acquainted: int
) -> RingFeatures:
    """Group-level features of a candidate ring (all in [0, 1] except size and partners outside); ``fresh`` is how
    many members are younger than 30 days, ``boosters`` how many established accounts outside boost members and
    how many of those boost two or more, ``acquainted`` how many member pairs share an established partner outside
    from a week or more before (``EngineState.fresh_members``, ``established_boosters`` and ``acquainted_pairs``:
    the graph knows no ages).

    Examples
    --------
    >>> graph = RecentBoostGraph(window=1e6)
    >>> ring = ["r1", "r2", "r3", "r4", "r5"]
    >>> for a in ring:
    ...     for b in ring:
    ...         if a != b:
    ...             _ = graph.add(a, b, 10.0)
    >>> for a in ring:
    ...     _ = graph.add(a, "celebrity", 10.0)
    >>> finder = RingFinder(graph, max_members=40)
    >>> found = finder.grow("r1", "r2", now=20.0)
    >>> sorted(found)
    ['r1', 'r2', 'r3', 'r4', 'r5']
    >>> features = describe(found, finder, now=20.0, fresh=0, boosters=(0, 0), acquainted=0)  # no fans, no past
    >>> features.tie_density, features.inflow_closure, round(features.outflow_closure, 2)
    (1.0, 1.0, 0.8)
    """
    k, tied, mutual, edges, in_session, inflow, boosted_members, outflow, outside = finder.describe(members, now)
    outside_boosters, shared = boosters
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
        shared_booster_share=shared / outside_boosters if outside_boosters else 0.0,
        acquainted_share=2 * acquainted / pairs if pairs else 0.0,  # ``pairs`` are ordered
    )
