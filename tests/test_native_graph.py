"""The compiled recent-boost graph (detector/core/native): what it remembers, forgets and restores."""

from __future__ import annotations

import pickle
import random

import pytest

from detector.core.rings import RecentBoostGraph, RingFinder

WINDOW = 100.0


class ModelGraph:
    """The graph's contract in plain Python: per account and direction, partners in the order last boosted, each
    with its latest boost time, the least recently boosted dropped beyond ``cap``."""

    def __init__(self, cap: int):
        self.cap = cap
        self.out: dict[str, dict[str, float]] = {}
        self.inn: dict[str, dict[str, float]] = {}

    def add(self, actor: str, target: str, ts: float) -> bool:
        previous = self._touch(self.out, actor, target, ts)
        self._touch(self.inn, target, actor, ts)
        return previous is None or ts - previous > WINDOW

    def _touch(self, table: dict[str, dict[str, float]], key: str, partner: str, ts: float) -> float | None:
        row = table.setdefault(key, {})
        previous = row.pop(partner, None)
        row[partner] = ts if previous is None else max(ts, previous)
        if len(row) > self.cap:
            del row[next(iter(row))]
        return previous

    def remove(self, actor: str, target: str) -> None:
        self.out.get(actor, {}).pop(target, None)
        self.inn.get(target, {}).pop(actor, None)

    def forget(self, account: str) -> None:
        for other in self.out.pop(account, {}):
            self.inn.get(other, {}).pop(account, None)
        for other in self.inn.pop(account, {}):
            self.out.get(other, {}).pop(account, None)

    def recent(self, table: dict[str, dict[str, float]], account: str, now: float) -> set[str]:
        return {p for p, ts in table.get(account, {}).items() if ts >= now - WINDOW}


@pytest.mark.parametrize("seed", range(20))
def test_the_graph_keeps_exactly_the_recent_edges_through_boosts_withdrawals_and_forgetting(seed):
    # Late events, a small partner cap, and accounts forgotten and coming back (their internal numbers reused).
    rng = random.Random(seed)
    names = [f"u{i}" for i in range(12)]
    graph, model = RecentBoostGraph(WINDOW, max_partners=4), ModelGraph(cap=4)
    now = 0.0
    for _ in range(600):
        now += rng.uniform(0, 5)
        op = rng.random()
        if op < 0.75:
            actor, target = rng.sample(names, 2)
            ts = now - rng.uniform(0, 20) * (rng.random() < 0.2)
            assert graph.add(actor, target, ts) == model.add(actor, target, ts)
        elif op < 0.9:
            actor, target = rng.sample(names, 2)
            graph.remove(actor, target)
            model.remove(actor, target)
        else:
            account = rng.choice(names)
            graph.forget(account)
            model.forget(account)
        for account in names:
            assert graph.out_partners(account, now) == model.recent(model.out, account, now)
            assert graph.in_partners(account, now) == model.recent(model.inn, account, now)
            kept_out, kept_in = len(model.out.get(account, {})), len(model.inn.get(account, {}))
            assert graph.booster_count(account) == kept_in and graph.ties(account) == kept_out + kept_in
            held = kept_out + kept_in > 0 or any(account in row for row in [*model.out.values(), *model.inn.values()])
            assert (account in graph) == held, "an account nothing refers to is not kept"


def test_a_late_boost_never_moves_an_edge_back_in_time():
    graph = RecentBoostGraph(WINDOW)
    assert graph.add("a", "b", 50.0)
    assert not graph.add("a", "b", 10.0)  # late, and within the window of the first
    assert graph.lag == 40.0
    assert graph.boosted("a", "b", now=140.0)  # still timed 50, not 10


def test_a_snapshot_restores_the_order_partners_are_dropped_in():
    graph = RecentBoostGraph(WINDOW, max_partners=3)
    for i, fan in enumerate(["f1", "f2", "f3"]):
        graph.add(fan, "star", float(i))
    graph.add("f1", "star", 5.0)  # f1 is now the most recent, f2 the next to go
    restored = pickle.loads(pickle.dumps(graph))
    for g in (graph, restored):
        g.add("f4", "star", 6.0)
        assert g.in_partners("star", now=6.0) == {"f1", "f3", "f4"}
    assert pickle.dumps(restored) == pickle.dumps(graph)


def test_a_finder_pickled_with_its_graph_still_searches_that_graph():
    graph = RecentBoostGraph(1e6)
    ring = ["r1", "r2", "r3", "r4"]
    for a in ring:
        for b in ring:
            if a != b:
                graph.add(a, b, 10.0)
    finder, restored_graph = pickle.loads(pickle.dumps((RingFinder(graph, max_members=10), graph)))
    assert finder.grow("r1", "r2", now=20.0) == set(ring)
    restored_graph.forget("r3")
    assert finder.grow("r1", "r2", now=20.0) == {"r1", "r2", "r4"}, "the finder reads the graph it was pickled with"


@pytest.mark.parametrize("damage", ["truncated", "trailing", "format"])
def test_a_damaged_graph_state_is_refused(damage):
    graph = RecentBoostGraph(WINDOW)
    graph.add("a", "b", 1.0)
    state = graph.__getstate__()
    broken = {"truncated": state[:-3], "trailing": state + b"\0", "format": b"\x09" + state[1:]}[damage]
    with pytest.raises(ValueError):
        RecentBoostGraph().__setstate__(broken)


def test_searches_from_unknown_accounts_find_nothing():
    graph = RecentBoostGraph(WINDOW)
    finder = RingFinder(graph)
    assert finder.grow("x", "y", 1.0) == set() and finder.lockstep("x", "y", 1.0) == set()
    assert finder.cohort("x", "y", 1.0, lambda account: True) == set()
    assert finder.could_be_member("x") and not graph.boosted("x", "y", 1.0)


def test_an_error_in_the_freshness_callback_reaches_the_caller():
    graph = RecentBoostGraph(WINDOW)
    for a, b in [("a", "b"), ("b", "c"), ("c", "a")]:
        graph.add(a, b, 1.0)

    def broken(account: str) -> bool:
        raise RuntimeError(f"no age for {account}")

    with pytest.raises(RuntimeError, match="no age"):
        RingFinder(graph).cohort("a", "b", 2.0, broken)


def test_an_empty_account_name_is_kept_forgotten_and_restored_like_any_other():
    graph = RecentBoostGraph(WINDOW)
    graph.add("", "b", 1.0)
    restored = pickle.loads(pickle.dumps(graph))
    assert "" in restored and restored.out_partners("", now=2.0) == {"b"}
    restored.forget("")
    assert "" not in restored and "b" not in restored


def model_peel(model: ModelGraph, group: set[str], now: float) -> set[str]:
    """The peel's rules (docs/detection.md, *Peel*) in plain Python: round by round, all at once, drop the members
    tied to fewer than max(2, 0.3 (k-1)) others, boosting fewer than max(1, 0.2 (k-1)), or getting less than 34 %
    of their recent boosts from inside."""
    boosters = {m: len(model.recent(model.inn, m, now)) for m in group}
    while True:
        others = len(group) - 1
        leaving = set()
        for m in group:
            boosts = model.recent(model.out, m, now) & group
            boosted_by = model.recent(model.inn, m, now) & group
            if (
                len(boosts | boosted_by) < max(0.3 * others, 2)
                or len(boosts) < max(0.2 * others, 1)
                or (boosters[m] > 0 and len(boosted_by) < 0.34 * boosters[m])
            ):
                leaving.add(m)
        if not leaving:
            return group
        group = group - leaving


@pytest.mark.parametrize("seed", range(12))
def test_the_peel_keeps_exactly_the_members_its_rules_keep(seed):
    # A trading core with outsiders around it, in groups of up to 150 members: wider than one 64-bit word of the
    # compiled peel's member rows.
    rng = random.Random(seed)
    size = [5, 30, 64, 65, 150][seed % 5]
    core = [f"m{i}" for i in range(size)]
    outsiders = [f"x{i}" for i in range(size // 2 + 2)]
    graph, model = RecentBoostGraph(WINDOW, max_partners=256), ModelGraph(cap=256)
    density = rng.uniform(0.5, 0.9)
    pairs = [(a, b) for a in core for b in core if a != b and rng.random() < density]
    pairs += [(x, rng.choice(core)) for x in outsiders for _ in range(rng.randint(1, 3))]
    pairs += [(rng.choice(core), x) for x in outsiders for _ in range(rng.randint(0, 2))]
    for a, b in pairs:
        ts = rng.uniform(0.6 * WINDOW, 2 * WINDOW)  # some are older than the window by then
        graph.add(a, b, ts)
        model.add(a, b, ts)
    now = 2 * WINDOW
    group = set(core) | set(rng.sample(outsiders, len(outsiders) // 2))
    expected = model_peel(model, set(group), now)
    assert RingFinder(graph, max_members=200).peel(group, now) == expected
    assert expected  # a core is kept (and in most seeds outsiders and weak members are dropped)


def first_boosts(graph: RecentBoostGraph, members: list[str], now: float) -> dict[tuple[str, str], float]:
    return {(a, b): first for a, b, _, first in graph.edges_within(set(members), now)}


def test_a_tie_remembers_its_first_boost_however_often_and_late_it_is_boosted_again():
    graph = RecentBoostGraph(WINDOW)
    graph.add("a", "b", 10.0)
    graph.add("a", "b", 90.0)
    graph.add("a", "b", 5.0)  # late: an earlier first boost, not a later last one
    assert graph.edges_within({"a", "b"}, now=100.0) == [("a", "b", 90.0, 5.0)]
    # Long after the window the tie is not recent any more, but boosted again it is as old as ever.
    graph.add("a", "b", 500.0)
    assert first_boosts(graph, ["a", "b"], now=500.0) == {("a", "b"): 5.0}


def test_a_tie_forgotten_with_its_account_starts_again_and_snapshots_keep_first_boosts():
    graph = RecentBoostGraph(WINDOW)
    for a, b in [("a", "b"), ("b", "a"), ("b", "c")]:
        graph.add(a, b, 1.0)
        graph.add(a, b, 50.0)
    restored = pickle.loads(pickle.dumps(graph))
    assert first_boosts(restored, ["a", "b", "c"], now=50.0) == {("a", "b"): 1.0, ("b", "a"): 1.0, ("b", "c"): 1.0}
    graph.forget("a")
    for a, b in [("a", "b"), ("b", "a")]:
        graph.add(a, b, 60.0)
    assert first_boosts(graph, ["a", "b", "c"], now=60.0) == {("a", "b"): 60.0, ("b", "a"): 60.0, ("b", "c"): 1.0}
