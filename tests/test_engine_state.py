"""The engine's compiled per-account state (``EngineState``): every event accounted for, snapshots that resume
exactly from any point, and damaged snapshots refused with a reason."""

from __future__ import annotations

import math
import random

import pytest
from msgspec.structs import replace

from detector.core._native import DAY, EngineState
from detector.core.engine import Engine, EngineConfig
from detector.core.events import Event, EventRejected, Profile
from detector.core.growth import GrowthFeatures
from detector.simulation import SimulationConfig, generate

#: Idle accounts are forgotten within this stream, so eviction and the scores kept for forgotten accounts are in
#: the state too.
CONFIG = EngineConfig(idle_eviction_days=6, keep_forgotten_scores=True, allowed_lateness_s=600)


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    """Simulated traffic with rings and bursts, plus what a real feed also carries: redelivered events (same id),
    withdrawn boosts, and events arriving a little late."""
    events, _truth = generate(SimulationConfig(seed=11, accounts=300, days=20, rings=2, bursts=2))
    rng = random.Random(11)
    noisy: list[Event] = []
    for event in events:
        noisy.append(event)
        roll = rng.random()
        if roll < 0.05 and event.id is not None:
            noisy.append(event)  # redelivered
        elif roll < 0.08:
            noisy.append(replace(event, kind="unfollow", id=None, ts=event.ts + 60))
        elif roll < 0.10:
            noisy.append(replace(event, id=f"late-{len(noisy)}", ts=event.ts - rng.choice([300, 3600])))
    return noisy


def run(engine: Engine, events: list[Event]) -> tuple[list[dict], int]:
    findings, late = [], 0
    for event in events:
        try:
            findings += [f.to_dict() for f in engine.process(event)]
        except EventRejected:
            late += 1
    return findings, late


def observable(engine: Engine, accounts: set[str]) -> tuple:
    """What the engine's users can see of its state."""
    scores = {a: engine.best_score(a) for a in sorted(accounts)}
    held = sorted(a for a in accounts if a in engine.state)
    return engine.stats, engine.watermark, scores, held, {a: engine.state.burst_window(a) for a in held}


def test_every_event_is_processed_counted_as_a_duplicate_or_rejected_as_late(stream):
    engine = Engine(CONFIG)
    _findings, late = run(engine, stream)
    stats = engine.stats
    assert late > 0 and stats.duplicates > 0 and stats.evicted_accounts > 0  # the stream exercises all of them
    assert stats.events + stats.duplicates + stats.late == len(stream)
    assert stats.late == late


def test_a_batch_gives_what_one_event_at_a_time_gives_and_names_each_late_event(stream):
    accounts = {e.actor for e in stream} | {e.target for e in stream}
    one_by_one = Engine(CONFIG)
    expected, late_positions = [], []
    for position, event in enumerate(stream):
        try:
            expected += [f.to_dict() for f in one_by_one.process(event)]
        except EventRejected:
            late_positions.append(position)
    batched = Engine(CONFIG)
    findings, rejected = [], []
    for start in range(0, len(stream), 1000):
        for position, outcome in batched.process_each(stream[start : start + 1000]):
            if isinstance(outcome, EventRejected):
                assert outcome.reason.startswith("late")
                rejected.append(start + position)
            else:
                findings += [f.to_dict() for f in outcome]
    assert late_positions and rejected == late_positions
    assert findings == expected
    assert observable(batched, accounts) == observable(one_by_one, accounts)


def test_a_snapshot_taken_anywhere_resumes_exactly(stream):
    accounts = {e.actor for e in stream} | {e.target for e in stream}
    whole = Engine(CONFIG)
    expected = run(whole, stream)
    for cut in (1, len(stream) // 7, len(stream) // 3, len(stream) // 2, len(stream) - 5):
        first = Engine(CONFIG)
        before, late_before = run(first, stream[:cut])
        resumed = Engine.restore(first.snapshot())
        after, late_after = run(resumed, stream[cut:])
        assert (before + after, late_before + late_after) == expected, f"cut at event {cut}"
        assert observable(resumed, accounts) == observable(whole, accounts), f"cut at event {cut}"


def test_a_damaged_state_is_refused_with_a_reason(stream):
    engine = Engine(CONFIG)
    run(engine, stream[:2000])
    state = engine.state.__getstate__()
    damaged = [state[:cut] for cut in range(0, len(state), max(1, len(state) // 300))]
    damaged += [state + b"\0", b"\x09" + state[1:]]
    for blob in damaged:
        target = EngineState(*engine.state.__getnewargs__())
        with pytest.raises(ValueError, match="engine state"):
            target.__setstate__(blob)


def test_late_events_leave_the_state_untouched():
    engine = Engine(EngineConfig(allowed_lateness_s=60))
    engine.process(Event(1_700_000_000.0, "like", "a", "b", id="first"))
    with pytest.raises(EventRejected, match=r"late: 3540s behind the watermark"):
        engine.process(Event(1_700_000_000.0 - 3540, "like", "c", "d", id="too-late"))
    assert "c" not in engine.state and engine.stats.events == 1
    # The late event's id was not remembered: delivered again in time, it counts.
    engine.process(Event(1_700_000_000.0 - 30, "like", "c", "d", id="too-late"))
    assert "c" in engine.state and engine.stats.events == 2 and engine.watermark == 1_700_000_000.0


def test_idle_accounts_are_forgotten_weekly_by_event_time():
    engine = Engine(EngineConfig(idle_eviction_days=10))
    engine.process(Event(1_700_000_000.0, "like", "old", "older"))
    engine.process(Event(1_700_000_000.0 + 9 * DAY, "like", "a", "b"))
    assert "old" in engine.state  # idle for 9 days of 10
    engine.process(Event(1_700_000_000.0 + 18 * DAY, "like", "a", "b"))
    assert "old" not in engine.state and "older" not in engine.state and "a" in engine.state
    assert engine.stats.evicted_accounts == 2


def test_follower_growth_features_are_what_their_definitions_say():
    """The compiled ledger and features against a plain reading of their definitions (docs/detection.md), on a
    burst with every kind of follower: fresh and aged, bought-shaped and human-shaped, created in batches (some
    straddling a ten-minute boundary), without a profile, trading among themselves, following one other target."""
    t0, star = 1_700_000_000.0, "star"
    rng = random.Random(4)
    events: list[Event] = []
    for i in range(60):  # a baseline of organic new boosters over 40 days
        events.append(Event(t0 + i * 16 * 3600, "follow", f"fan{i}", star, actor_profile=human(t0 - 900 * DAY)))
    burst_start = t0 + 41 * DAY
    first_bucket = int((burst_start - 10 * DAY) // 600)  # created ten days before the burst: fresh
    for i in range(150):
        ts = burst_start + i * 120
        if i < 120:  # four batches of 30 created within the same ten minutes, some just before the next ten
            created = 600.0 * (first_bucket + 3 * (i // 30)) + (599.9999999 if i % 7 == 0 else rng.uniform(0, 30))
        elif i < 125:  # a batch of exactly five, alone
            created = 600.0 * (first_bucket + 20) + i
        elif i < 129:  # four, alone: not a batch
            created = 600.0 * (first_bucket + 30) + i
        else:  # created one by one, days apart
            created = 600.0 * (first_bucket - 500 * (i - 128))
        if i % 5 == 0 and i < 120:
            profile = None
        elif 120 <= i < 125:  # posts too little, follows like a human
            profile = Profile(created_ts=created, followers=100, following=120, posts=5)
        elif i % 3 == 0:
            profile = human(created)
        else:
            following, posts = rng.randint(60, 900), rng.choice([3, 50])  # bought-shaped by ratio, some quiet too
            profile = Profile(created_ts=created, followers=rng.randint(0, 5), following=following, posts=posts)
        events.append(Event(ts, "follow", f"b{i}", star, id=f"e{i}", actor_profile=profile))
        if i % 4 == 0:
            events.append(Event(ts + 1, "like", f"b{i}", "other", actor_profile=profile))
        if i % 9 == 0 and i:
            events.append(Event(ts + 2, "like", f"b{i}", f"b{i - 9}", actor_profile=profile))
    engine = Engine()
    engine.process_batch(events)
    now = events[-1].ts
    got = GrowthFeatures(*engine.state.growth(star, now))

    window = [e for e in events if e.target == star and e.ts >= now - 3 * DAY]
    sample = [e.actor for e in window][-400:]
    latest: dict[str, Profile | None] = {}
    for e in events:
        if e.actor_profile is not None or e.actor not in latest:
            latest[e.actor] = e.actor_profile
    created = {a: p.created_ts for a, p in latest.items() if p is not None and p.created_ts is not None}
    bucket = {a: int(c // 600) for a, c in created.items()}
    per_bucket = {b: sum(1 for a in sample if bucket.get(a) == b) for b in set(bucket.values())}
    mass = {a: sum(per_bucket.get(bucket[a] + d, 0) for d in (-1, 0, 1)) for a in sample if a in bucket}
    targets = {a: engine.graph.out_partners(a, now) for a in sample}
    co_targets = [t for a in sample for t in targets[a] if t != star]
    assert got.new_followers == len(window)  # the burst and the last organic fans
    first_seen: dict[str, float] = {}
    for e in events:
        first_seen.setdefault(e.actor, e.ts)
        first_seen.setdefault(e.target, e.ts)
    # Age from the creation time when known, else from the first event seen.
    fresh = [a for a in sample if now - created.get(a, first_seen[a]) < 30 * DAY]
    assert 0 < len(fresh) < len(sample)
    assert got.fresh_share == len(fresh) / len(sample)
    assert got.low_quality_share == sum(1 for a in sample if is_low_quality(latest[a])) / len(sample)
    follow_heavy = sum(1 for a in sample if is_follow_heavy(latest[a]))
    assert 0 < follow_heavy < sum(1 for a in sample if is_low_quality(latest[a]))  # some have only barely posted
    assert got.follow_heavy_share == follow_heavy / len(sample)
    assert got.batch_share == sum(1 for a in sample if mass.get(a, 0) >= 5) / len(sample)
    # Trading: boosts another new follower, or receives a boost from anyone but the growing account.
    receives = {a for a in sample if engine.graph.in_partners(a, now) - {star}}
    assert receives and not receives <= {a for a in sample if targets[a] & set(sample)}
    trading = {a for a in sample if targets[a] & set(sample)} | receives
    assert got.trading_share == len(trading) / len(sample)
    assert got.lockstep_share == max(co_targets.count(t) for t in set(co_targets)) / len(sample)
    # The baseline: new boosters that left the 3-day window, each decayed (half-life 30 days) from when it left
    # (the next new booster's time), over the span of history the decay covers (at most 30/ln 2 days).
    arrivals = [e.ts for e in events if e.target == star]
    left = [next(t for t in arrivals if t > ts + 3 * DAY) for ts in arrivals if ts < now - 3 * DAY]
    decayed = sum(0.5 ** ((now - t) / (30 * DAY)) for t in left)
    span_days = max(1.0, min(now - 3 * DAY - arrivals[0], 30 * DAY / math.log(2)) / DAY)
    assert got.baseline_per_day == pytest.approx(decayed / span_days, rel=1e-9)
    expected = got.baseline_per_day * 3
    assert got.excess_z == pytest.approx((len(window) - expected) / (expected + 1) ** 0.5)


def human(created_ts: float) -> Profile:
    return Profile(created_ts=created_ts, followers=300, following=250, posts=1200)


def follows_far_more(profile: Profile | None, at_least: int) -> bool:
    """Follows >= 10x more accounts than follow it, and at least ``at_least``."""
    if profile is None or profile.followers is None or profile.following is None:
        return False
    return profile.following >= 10 * max(profile.followers, 1) and profile.following >= at_least


def is_follow_heavy(profile: Profile | None) -> bool:
    """Follows far more, and 150 or more: Cresci et al. 2015's bought followers, not a newcomer after onboarding."""
    return follows_far_more(profile, 150)


def is_low_quality(profile: Profile | None) -> bool:
    """Follows far more (50 or more), or has posted < 20 times (a bought account, or a newcomer)."""
    if profile is None or profile.followers is None or profile.following is None:
        return False
    return follows_far_more(profile, 50) or (profile.posts is not None and profile.posts < 20)
