"""Specification of the baselines: they see what is obvious, and no more is claimed."""

from __future__ import annotations

import random

import pytest

from detector.baselines import BaselineResult, heuristic, midas
from detector.core.events import Event
from detector.simulation import BurstShape, OrganicConfig, RingShape, generate_organic, inject
from detector.simulation.clock import DAY, HOUR

T0 = 1_600_000_000.0


@pytest.fixture(scope="module")
def obvious() -> tuple[list[Event], dict, dict]:
    """A small organic background with a full-clique ring trading within hours and 300 bought followers in 6 h."""
    background = generate_organic(OrganicConfig(accounts=300, days=10), random.Random(0)).events
    ring = RingShape(size=8, pair_prob=1.0, window_s=6 * HOUR, timing="rounds", camouflage=0.0)
    burst = BurstShape(followers=300, duration_s=6 * HOUR, side_targets=0)
    events, (ring_truth, burst_truth) = inject(background, [ring, burst], random.Random(1))
    return events, ring_truth, burst_truth


def test_heuristic_flags_an_obvious_ring_and_burst(obvious):
    events, ring, burst = obvious
    results = heuristic.run(events)
    assert all(results[a].flagged and "farming_ring" in results[a].schemes for a in ring["accounts"])
    (beneficiary,) = burst["accounts"]
    assert results[beneficiary].flagged and "follower_growth" in results[beneficiary].schemes
    assert burst["start_ts"] <= results[beneficiary].first_flagged_ts <= burst["end_ts"]


def test_heuristic_score_reaches_one_exactly_when_flagged(obvious):
    results = heuristic.run(obvious[0])
    assert all((r.score >= 1.0) == r.flagged for r in results.values())


def test_heuristic_ignores_one_sided_attention():
    """A popular account boosted by many, on a quiet day each, has no mutual partners and no burst."""
    events = [Event(T0 + i * DAY / 5, "like", f"fan{i}", "star") for i in range(100)]
    assert not any(r.flagged for r in heuristic.run(events).values())


def test_heuristic_growth_compares_against_the_accounts_own_mean():
    """30 boosts in a day is a burst for an account that gets one a day, not for one that gets 15 a day."""
    steady = [Event(T0 + d * DAY + i * 600, "like", f"s{d}-{i}", "steady") for d in range(10) for i in range(15)]
    quiet = [Event(T0 + d * DAY, "like", f"q{d}", "quiet") for d in range(10)]
    day10 = [
        Event(T0 + 10 * DAY + i * 60, "like", f"b{i}", target) for i in range(30) for target in ("steady", "quiet")
    ]
    results = heuristic.run(sorted(steady + quiet + day10, key=lambda e: e.ts))
    assert results["quiet"].flagged and not results["steady"].flagged


def test_midas_ranks_the_burst_beneficiary_first_and_the_ring_above_organic_accounts(obvious):
    events, ring, burst = obvious
    traces = midas.score_accounts(events, bucket_s=HOUR)
    helpers = set(burst["helpers"])
    ranked = [a for a in sorted(traces, key=lambda a: -traces[a].score) if a not in helpers]
    assert ranked[0] == burst["accounts"][0]
    median = len(ranked) // 2
    assert all(ranked.index(a) < median for a in ring["accounts"])


def test_midas_flags_at_a_threshold_from_the_time_the_score_first_reached_it(obvious):
    events, _, burst = obvious
    traces = midas.score_accounts(events, bucket_s=HOUR)
    (beneficiary,) = burst["accounts"]
    threshold = traces[beneficiary].score / 2
    results = midas.flag(traces, threshold)
    assert results[beneficiary] == BaselineResult(
        score=traces[beneficiary].score, flagged=True, first_flagged_ts=traces[beneficiary].first_reaching(threshold)
    )
    assert burst["start_ts"] <= results[beneficiary].first_flagged_ts <= burst["end_ts"]
    assert sum(r.flagged for r in midas.flag(traces, float("inf")).values()) == 0


def test_baselines_are_deterministic(obvious):
    events = obvious[0]
    assert heuristic.run(events) == heuristic.run(events)
    first, second = midas.score_accounts(events), midas.score_accounts(events)
    assert {a: t.score for a, t in first.items()} == {a: t.score for a, t in second.items()}
