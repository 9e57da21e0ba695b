"""Specification of the simulator: what a generated stream and its ground truth promise."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

import orjson
import pytest

from detector.cli import main
from detector.core.events import Event, event_from_dict, parse_event
from detector.simulation import (
    BITCOIN_ALPHA,
    BurstShape,
    OrganicConfig,
    RingShape,
    SimulationConfig,
    generate,
    generate_organic,
    inject,
    load_bitcoin_alpha,
)
from detector.simulation.clock import DAY, HOUR, WEEK
from detector.simulation.profiles import BATCH_SPREAD, ProfileSampler
from detector.simulation.schemes import MIN_HISTORY

SMALL = SimulationConfig(seed=11, rings=3, bursts=2, days=12, accounts=400)


@pytest.fixture(scope="module")
def synthetic() -> tuple[list[Event], dict]:
    return generate(SMALL)


@pytest.fixture(scope="module")
def alpha() -> tuple[list[Event], dict]:
    return generate(SimulationConfig(background=BITCOIN_ALPHA, seed=5, rings=6, bursts=3))


@pytest.fixture(params=["synthetic", "alpha"])
def stream(request) -> tuple[list[Event], dict]:
    return request.getfixturevalue(request.param)


def by_id(events: list[Event]) -> dict[str, Event]:
    return {e.id: e for e in events}


def test_the_same_seed_gives_the_same_stream_and_truth(synthetic):
    events, truth = generate(SMALL)
    assert events == synthetic[0]
    assert truth == synthetic[1]


def test_another_seed_gives_another_stream(synthetic):
    events, _ = generate(SimulationConfig(seed=12, rings=3, bursts=2, days=12, accounts=400))
    assert events != synthetic[0]


def test_activity_sets_how_busy_the_synthetic_background_is(synthetic):
    quiet, truth = generate(SimulationConfig(seed=11, rings=3, bursts=2, days=12, accounts=400, activity=0.1))
    injected = {i for s in truth["schemes"] for i in s["event_ids"]}
    busy_injected = {i for s in synthetic[1]["schemes"] for i in s["event_ids"]}
    organic_quiet = sum(e.id not in injected for e in quiet)
    organic_busy = sum(e.id not in busy_injected for e in synthetic[0])
    assert organic_quiet < organic_busy / 3  # the default is 0.5 boosts per account and day
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="activity"):
            SimulationConfig(activity=bad)


def test_events_are_time_ordered_with_unique_ids_and_satisfy_the_contract(stream):
    events, _ = stream
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))
    assert len({e.id for e in events}) == len(events)
    for event in events:
        assert event_from_dict(event.to_dict()) == event


def test_every_event_carries_a_full_profile_organic_ones_too(stream):
    """A detector must not be able to tell injected from organic events by whether a profile is present."""
    events, truth = stream
    injected = {i for s in truth["schemes"] for i in s["event_ids"]}
    organic = [e for e in events if e.id not in injected]
    assert organic and len(organic) < len(events)
    for event in events:
        p = event.actor_profile
        assert p is not None and None not in (p.created_ts, p.followers, p.following, p.posts)
        assert p.created_ts <= event.ts


def test_truth_records_have_the_documented_fields(stream):
    events, truth = stream
    ts = {e.id: e.ts for e in events}
    for scheme in truth["schemes"]:
        assert scheme.keys() == {
            "scheme_id", "scheme", "accounts", "helpers", "side_targets", "start_ts", "end_ts", "shape", "event_ids",
        }  # fmt: skip
        times = [ts[i] for i in scheme["event_ids"]]
        assert (min(times), max(times)) == (scheme["start_ts"], scheme["end_ts"])
    assert orjson.loads(orjson.dumps(truth))["schemes"][0]["scheme_id"] == truth["schemes"][0]["scheme_id"]


def test_ring_members_boost_each_other_and_camouflage_goes_to_popular_outsiders(stream):
    events, truth = stream
    index = by_id(events)
    for ring in (s for s in truth["schemes"] if s["scheme"] == "farming_ring"):
        members = set(ring["accounts"])
        assert 4 <= len(members) <= 25
        boosts = [index[i] for i in ring["event_ids"]]
        assert all(e.is_boost and e.actor in members for e in boosts)
        inside = {(e.actor, e.target) for e in boosts if e.target in members}
        for member in members:  # every member trades: it has at least one mutual partner in the ring
            assert any((member, other) in inside and (other, member) in inside for other in members)
        outside = {e.target for e in boosts if e.target not in members}
        assert outside <= set(ring["shape"]["camouflage_targets"])
        if ring["shape"]["camouflage"] == 0:
            assert not outside
        assert all(e.weight >= ring["shape"]["rating"][0] for e in boosts if e.kind == "rate")


def test_hijacked_members_have_organic_history_and_are_never_labelled_accounts(alpha):
    events, truth = alpha
    labels = load_bitcoin_alpha().labels
    injected = {i for s in truth["schemes"] for i in s["event_ids"]}
    history = defaultdict(list)
    for event in events:
        if event.id not in injected:
            history[event.actor].append(event.ts)
            history[event.target].append(event.ts)
    hijacked = [(a, s) for s in truth["schemes"] if s["scheme"] == "farming_ring" for a in s["shape"]["hijacked"]]
    assert hijacked, "the stratified shapes include hijacked members"
    for account, ring in hijacked:
        assert account in ring["accounts"]
        assert sum(ts < ring["start_ts"] for ts in history[account]) >= MIN_HISTORY
    for scheme in truth["schemes"]:
        touched = scheme["accounts"] + scheme["side_targets"]
        assert not set(touched) & labels.keys(), "labelled accounts keep meaning what their label says"
    assert set(truth["benign"]) == {a for a, label in labels.items() if label == 1}


def test_fresh_accounts_are_new_ids_in_the_background_format(alpha):
    events, truth = alpha
    background = {x for e in load_bitcoin_alpha().events for x in (e.actor, e.target)}
    fresh = set()
    for scheme in truth["schemes"]:
        fresh |= set(scheme["helpers"])
        if scheme["scheme"] == "farming_ring":
            fresh |= set(scheme["accounts"]) - set(scheme["shape"]["hijacked"])
    assert fresh and not fresh & background
    assert all(account.isdigit() for account in fresh), "ids like the background's: the id gives nothing away"


def test_burst_followers_are_fresh_batch_created_accounts(stream):
    events, truth = stream
    index = by_id(events)
    for burst in (s for s in truth["schemes"] if s["scheme"] == "follower_growth"):
        boosts = [index[i] for i in burst["event_ids"]]
        helpers = set(burst["helpers"])
        assert 50 <= len(helpers) <= 500
        assert {e.actor for e in boosts} == helpers
        assert burst["accounts"][0] in {e.target for e in boosts}
        created = {e.actor: e.actor_profile.created_ts for e in boosts}
        first_boost = min(e.ts for e in boosts)
        assert all(first_boost - 4 * WEEK < c < first_boost for c in created.values())
        times = sorted(created.values())
        for c in times:  # each was created within ten minutes of at least nine others: batches of 10..~100
            assert sum(abs(c - other) <= BATCH_SPREAD for other in times) >= 10
        # Beneficiaries are declared honestly: each got a real burst of bought boosts; side targets did not.
        received = defaultdict(set)
        for e in boosts:
            received[e.target].add(e.actor)
        assert all(len(received[a]) >= 50 for a in burst["accounts"])
        assert all(len(received[a]) < 50 for a in burst["side_targets"])


def test_an_organic_account_s_profile_is_as_the_platform_knew_it_when_it_acted(stream):
    events, truth = stream
    injected = {i for s in truth["schemes"] for i in s["event_ids"]}
    seen: dict[str, Event] = {}
    grew = 0
    for event in (e for e in events if e.id not in injected):
        earlier, now = seen.get(event.actor), event.actor_profile
        if earlier is not None:
            before = earlier.actor_profile
            assert now.created_ts == before.created_ts
            assert (now.followers, now.following, now.posts) >= (before.followers, before.following, before.posts)
            grew += now.posts > before.posts
        seen[event.actor] = event
    assert grew  # counts grow with the account's age


def test_a_human_account_s_counts_grow_from_nothing_to_the_real_human_s():
    sampler = ProfileSampler()
    account = sampler.human(random.Random(3), created_ts=1.7e9)
    counts = [(p.followers, p.following, p.posts) for p in (account.at(1.7e9 + d * DAY) for d in (0, 1, 30, 9999))]
    assert counts[0] == (0, 0, 0)  # a newcomer: nothing posted, nobody followed yet
    assert counts == sorted(counts)
    assert counts[-1] == (account.row.followers, account.row.following, account.row.posts)  # as observed, no further


def test_signup_waves_bring_newcomers_who_follow_the_account_minutes_after_signing_up():
    config = replace(SMALL, days=20)
    events, truth = generate(replace(config, signup_waves=2))
    waves = truth["organic_signups"]
    assert len(waves) == 2
    for wave in waves:
        fans = set(wave["newcomers"])
        assert 50 <= len(fans) == wave["followers"] <= 300
        first = {}
        for e in events:
            if e.actor in fans:
                first.setdefault(e.actor, e)
        assert {e.target for e in first.values()} == {wave["account"]}  # what they came for, first
        for e in first.values():
            assert e.kind == "follow" and 30 <= e.ts - e.actor_profile.created_ts <= HOUR + 1
            assert e.actor_profile.posts < 20 and e.actor_profile.following < 50  # new, not follow-heavy
        assert (
            wave["start_ts"]
            <= min(e.ts for e in first.values())
            <= max(e.ts for e in first.values())
            <= (wave["end_ts"])
        )
    newcomers = {fan for wave in waves for fan in wave["newcomers"]}
    # They go on to live as newcomers do: boosting others, and answered.
    assert len({e.actor for e in events if e.actor in newcomers and e.kind != "follow"}) >= len(newcomers) // 4
    assert any(e.target in newcomers for e in events)
    # Their own random stream: the same scheme shapes as without waves.
    drawn = {"hijacked", "camouflage_targets", "side_received"}
    plain = generate(config)[1]
    assert [{k: v for k, v in s["shape"].items() if k not in drawn} for s in truth["schemes"]] == [
        {k: v for k, v in s["shape"].items() if k not in drawn} for s in plain["schemes"]
    ]
    with pytest.raises(ValueError, match="signup_waves"):
        SimulationConfig(signup_waves=-1)
    # More newcomers than a small background has ids like its own: each still gets a name of its own.
    small = generate_organic(OrganicConfig(accounts=60, days=10, signup_waves=20), random.Random(1))
    assert len(small.signups) == 20 and len(set(small.accounts)) == len(small.accounts) > 60 * 10


def test_bursts_registered_on_demand_differ_only_in_when_their_accounts_were_created():
    config = replace(SMALL, rings=0, bursts=3)
    events, truth = generate(replace(config, on_demand_bursts=1.0))
    plain_events, plain = generate(config)
    assert all(s["shape"]["on_demand"] for s in truth["schemes"])
    assert [(e.ts, e.actor, e.target) for e in events] == [(e.ts, e.actor, e.target) for e in plain_events]
    index = by_id(events)
    for burst in truth["schemes"]:
        first: dict[str, Event] = {}
        for e in sorted((index[i] for i in burst["event_ids"]), key=lambda e: e.ts):
            first.setdefault(e.actor, e)
        # Registered seconds to an hour before boosting, where the farm's stock was created hours to weeks before.
        assert all(30 <= e.ts - e.actor_profile.created_ts <= HOUR + 1 for e in first.values())
    assert not any(s["shape"]["on_demand"] for s in plain["schemes"])
    with pytest.raises(ValueError, match="on_demand_bursts"):
        SimulationConfig(on_demand_bursts=1.5)


def test_burst_kind_is_configurable_so_it_cannot_give_the_scheme_away():
    background = generate_organic(OrganicConfig(accounts=200, days=8), random.Random(2)).events
    for kind in ("follow", "like", "rate"):
        events, (burst,) = inject(background, [BurstShape(followers=60, kind=kind)], random.Random(3))
        kinds = {e.kind for e in events if e.id in set(burst["event_ids"])}
        assert kinds == {kind}


def test_ring_windows_range_from_hours_to_weeks_and_slow_rings_are_desynchronised():
    background = generate_organic(OrganicConfig(accounts=300, days=60), random.Random(4)).events
    fast = RingShape(size=6, window_s=6 * HOUR, timing="rounds")
    slow = RingShape(size=6, window_s=4 * WEEK, timing="desync")
    events, (f, s) = inject(background, [fast, slow], random.Random(5))
    assert f["end_ts"] - f["start_ts"] <= 6 * HOUR
    assert s["end_ts"] - s["start_ts"] > 2 * WEEK
    ts = sorted(e.ts for e in events if e.id in set(s["event_ids"]))
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    assert max(gaps) > HOUR, "a slow ring does not trade in lockstep"


def test_shapes_reject_impossible_values():
    with pytest.raises(ValueError):
        RingShape(members="bots")
    with pytest.raises(ValueError):
        RingShape(kinds=("unfollow",))
    with pytest.raises(ValueError):
        BurstShape(delivery="teleport")


def test_synthetic_background_has_organic_reciprocity_and_viral_bursts():
    traffic = generate_organic(OrganicConfig(accounts=400, days=30), random.Random(6))
    pairs = {(e.actor, e.target) for e in traffic.events if e.is_boost}
    mutual = sum((b, a) in pairs for a, b in pairs) / len(pairs)
    assert 0.2 < mutual < 0.8
    assert {e.kind for e in traffic.events} == {"follow", "unfollow", "like", "endorse", "share", "comment"}
    assert traffic.viral
    for viral in traffic.viral:  # many established accounts follow a popular one within hours
        fans = {
            e.actor
            for e in traffic.events
            if e.target == viral["account"] and viral["start_ts"] <= e.ts <= viral["start_ts"] + DAY
        }
        assert len(fans) >= 100


def test_friend_circles_are_closed_reciprocal_groups_that_leave_the_schemes_as_they_were(synthetic):
    config = replace(SMALL, circles=6)
    events, truth = generate(config)
    circles = truth["organic_circles"]
    assert len(circles) == 6 and synthetic[1]["organic_circles"] == []
    # Their own random stream: the same scheme shapes as without circles (who takes part may change).
    drawn = {"hijacked", "camouflage_targets", "side_received"}
    assert [{k: v for k, v in s["shape"].items() if k not in drawn} for s in truth["schemes"]] == [
        {k: v for k, v in s["shape"].items() if k not in drawn} for s in synthetic[1]["schemes"]
    ]

    def organic(stream: tuple[list[Event], dict]) -> list[tuple]:
        injected = {i for scheme in stream[1]["schemes"] for i in scheme["event_ids"]}
        return [(e.ts, e.kind, e.actor, e.target) for e in stream[0] if e.id not in injected]

    assert set(organic(synthetic)) < set(organic((events, truth)))  # the background, circles added
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:], strict=False))
    assert len({e.id for e in events}) == len(events)
    assert generate(config) == (events, truth)
    first_seen: dict[str, float] = {}
    for e in events:
        first_seen.setdefault(e.actor, e.ts)
    for circle in circles:
        members = set(circle["accounts"])
        assert 3 <= len(members) <= 6
        assert circle["end_ts"] - circle["start_ts"] <= 4 * DAY
        inside = [
            e
            for e in events
            if e.actor in members and e.target in members and circle["start_ts"] <= e.ts <= circle["end_ts"]
        ]
        pairs = {(e.actor, e.target) for e in inside}
        assert {a for a, _ in pairs} == members == {b for _, b in pairs}  # everyone boosts and is boosted inside
        assert sum((b, a) in pairs for a, b in pairs) >= len(pairs) / 2  # mostly answered
        if circle["newcomers"]:  # signed up together, a day or less before they met
            created = [e.actor_profile.created_ts for e in events if e.actor in members]
            assert max(created) - min(created) <= DAY and min(created) >= circle["start_ts"] - DAY
            assert all(first_seen[m] >= circle["start_ts"] for m in members)
            assert len(inside) == sum(e.actor in members and e.target in members for e in events)
        else:  # established accounts with organic history before the circle
            assert all(first_seen[m] < circle["start_ts"] for m in members)
    assert {c["newcomers"] for c in circles} == {True, False}
    with pytest.raises(ValueError, match="circles"):
        SimulationConfig(background=BITCOIN_ALPHA, circles=1)
    with pytest.raises(ValueError, match="circles"):
        SimulationConfig(circles=-1)


def test_bitcoin_alpha_loads_sorted_with_distinct_times_within_the_original_day():
    stream = load_bitcoin_alpha()
    events = stream.events
    assert len(events) == 24186 and {e.kind for e in events} == {"rate"}
    assert len({e.ts for e in events}) == len(events)
    assert all(a.ts < b.ts for a, b in zip(events, events[1:], strict=False))
    assert (len(stream.benign), len(stream.labels)) == (135, 237)
    assert min(e.weight for e in events) == -10 and max(e.weight for e in events) == 10


def test_simulate_cli_writes_events_and_truth(tmp_path):
    out, truth_path = tmp_path / "events.jsonl", tmp_path / "truth.json"
    argv = ["simulate", "--out", str(out), "--truth", str(truth_path), "--seed", "3", "--days", "6"]
    assert main([*argv, "--accounts", "200", "--rings", "1", "--bursts", "1", "--circles", "2"]) == 0
    events = [parse_event(line) for line in out.read_bytes().splitlines()]
    truth = orjson.loads(truth_path.read_bytes())
    assert [s["scheme"] for s in truth["schemes"]] == ["farming_ring", "follower_growth"]
    assert len(truth["organic_circles"]) == 2
    assert set(truth["schemes"][0]["event_ids"]) <= {e.id for e in events}
    prepared = ["--background", "bitcoin-alpha", "--rings", "2", "--bursts", "0", "--pre-aged-rings", "1"]
    assert main([*argv, *prepared]) == 0
    ring = orjson.loads(truth_path.read_bytes())["schemes"][0]
    assert ring["shape"]["pre_aged_days"] >= 60 and "preparation_event_ids" in ring
    assert main([*argv, "--rings", "1", "--bursts", "0", "--reciprocal-rings", "1", "--answered-pairs", "0.5"]) == 0
    shape = orjson.loads(truth_path.read_bytes())["schemes"][0]["shape"]
    assert shape["reciprocal"] and shape["answered_pairs"] == 0.5
    assert main([*argv, "--rings", "1", "--bursts", "0", "--shared-fans", "3", "--shared-fans-age", "45"]) == 0
    ring = orjson.loads(truth_path.read_bytes())["schemes"][0]
    assert len(ring["helpers"]) == 3 and ring["shape"]["shared_fans_age_days"] == 45
    assert main([*argv, "--rings", "0", "--bursts", "1", "--signup-waves", "1", "--on-demand-bursts", "1"]) == 0
    truth = orjson.loads(truth_path.read_bytes())
    assert len(truth["organic_signups"]) == 1 and truth["schemes"][0]["shape"]["on_demand"]


@pytest.mark.parametrize(("flag", "value"), [("--circles", "3"), ("--quiet-share", "0.3"), ("--signup-waves", "2")])
def test_simulate_cli_refuses_synthetic_background_options_for_bitcoin_alpha(flag, value, tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    assert main(["simulate", "--background", "bitcoin-alpha", flag, value, "--out", str(out)]) == 2
    assert "synthetic background" in capsys.readouterr().err and not out.exists()


def test_simulate_cli_refuses_to_publish_without_a_broker(monkeypatch, capsys):
    monkeypatch.delenv("DETECTOR_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("DETECTOR_SETTINGS_FILE", raising=False)
    assert main(["simulate", "--publish"]) == 2
    assert "DETECTOR_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_pre_aged_rings_trade_once_long_before_and_are_otherwise_the_same_schemes():
    # Bitcoin-Alpha: five years of history to prepare in (a 12-day synthetic stream has none before its rings).
    config = SimulationConfig(background="bitcoin-alpha", seed=11, rings=3, bursts=0)
    events, truth = generate(replace(config, pre_aged_rings=1.0))
    first_ts = min(e.ts for e in generate(config)[0])
    by_id = {e.id: e for e in events}
    rings = [s for s in truth["schemes"] if s["scheme"] == "farming_ring"]
    assert all(60 <= s["shape"]["pre_aged_days"] <= 90 for s in rings)
    assert any(s.get("preparation_event_ids") for s in rings)
    for ring in rings:
        members = set(ring["accounts"])
        trading = {frozenset((by_id[i].actor, by_id[i].target)) for i in ring["event_ids"]}
        trading = {pair for pair in trading if pair <= members}
        prepared = [by_id[i] for i in ring.get("preparation_event_ids", [])]
        # One boost per trading pair, 46 to 60-90 days before the ring's first trade, outside its window.
        assert len({frozenset((e.actor, e.target)) for e in prepared}) == len(prepared)
        assert all(frozenset((e.actor, e.target)) in trading for e in prepared)
        lead_days = [(ring["start_ts"] - e.ts) / DAY for e in prepared]
        late_start = ring["shape"]["window_s"] / DAY  # the first trade comes some time into the ring's window
        assert all(46 - 1 / DAY <= d <= ring["shape"]["pre_aged_days"] + late_start for d in lead_days)
        assert all(e.ts >= first_ts for e in prepared)  # not before the platform's history begins
        if prepared:
            assert ring["preparation_start_ts"] == min(e.ts for e in prepared)
    # Drawn apart: the same events as without pre-aging, plus the preparation.
    plain = {(e.ts, e.kind, e.actor, e.target, e.weight) for e in generate(config)[0]}
    prepared_ids = {i for s in rings for i in s.get("preparation_event_ids", [])}
    assert {(e.ts, e.kind, e.actor, e.target, e.weight) for e in events if e.id not in prepared_ids} == plain
    with pytest.raises(ValueError, match="pre_aged_rings"):
        SimulationConfig(pre_aged_rings=1.5)


def test_shared_fans_are_bought_accounts_boosting_half_of_a_ring_each_and_the_schemes_are_otherwise_the_same():
    config = SimulationConfig(background="bitcoin-alpha", seed=11, rings=3, bursts=1)
    events, truth = generate(replace(config, shared_fans=6))
    by_id = {e.id: e for e in events}
    rings = [s for s in truth["schemes"] if s["scheme"] == "farming_ring"]
    for ring in rings:
        members, fans = set(ring["accounts"]), ring["helpers"]
        assert len(fans) == 6 and not members & set(fans)
        boosts = [by_id[i] for i in ring["event_ids"] if by_id[i].actor in fans]
        for fan in fans:
            targets = [e.target for e in boosts if e.actor == fan]
            # Each boosts half the members (at least two), once each, inside the ring's window, as a young account.
            assert len(targets) == len(set(targets)) == max(2, len(members) // 2) and set(targets) <= members
        assert all(ring["start_ts"] <= e.ts <= ring["end_ts"] for e in boosts)
        assert all(e.actor_profile.created_ts > ring["start_ts"] - 60 * DAY for e in boosts)
    # Drawn apart: the rings are the same as without the fans (their members and their own boosts).
    plain_events, plain_truth = generate(config)
    assert [s["accounts"] for s in rings] == [s["accounts"] for s in plain_truth["schemes"][:3]]
    members = {m for ring in rings for m in ring["accounts"]}
    ring_boosts = {(e.ts, e.kind, e.actor, e.target, e.weight) for e in events if e.actor in members}
    assert ring_boosts == {(e.ts, e.kind, e.actor, e.target, e.weight) for e in plain_events if e.actor in members}
    with pytest.raises(ValueError, match="shared_fans"):
        SimulationConfig(shared_fans=-1)
    # Aged fans (a farm keeping its accounts): the same boosts, from accounts created that much earlier.
    aged_events, aged_truth = generate(replace(config, shared_fans=6, shared_fans_age_days=90))
    aged_by_id = {e.id: e for e in aged_events}
    for ring, aged in zip(rings, aged_truth["schemes"][:3], strict=True):
        assert aged["helpers"] == ring["helpers"]
        created = {
            by_id[i].actor: by_id[i].actor_profile.created_ts
            for i in ring["event_ids"]
            if by_id[i].actor in ring["helpers"]
        }
        aged_created = {
            aged_by_id[i].actor: aged_by_id[i].actor_profile.created_ts
            for i in aged["event_ids"]
            if aged_by_id[i].actor in aged["helpers"]
        }
        assert aged_created == {fan: ts - 90 * DAY for fan, ts in created.items()}
    with pytest.raises(ValueError, match="shared_fans_age_days"):
        SimulationConfig(shared_fans_age_days=-1)


def test_tit_for_tat_rings_answer_every_boost_inside_and_are_otherwise_the_same_schemes(synthetic):
    events, truth = generate(replace(SMALL, reciprocal_rings=1.0))
    by_id = {e.id: e for e in events}
    for ring, plain in zip(truth["schemes"], synthetic[1]["schemes"], strict=True):
        if ring["scheme"] != "farming_ring":
            continue
        assert ring["shape"]["reciprocal"] and ring["accounts"] == plain["accounts"]
        members = set(ring["accounts"])
        inside = [by_id[i] for i in ring["event_ids"] if by_id[i].target in members]
        pairs = {(e.actor, e.target) for e in inside}
        assert all((b, a) in pairs for a, b in pairs)  # every boost inside is answered
    # Drawn apart: the answers are added, nothing else changes.
    plain_events = {(e.ts, e.kind, e.actor, e.target, e.weight) for e in synthetic[0]}
    assert plain_events < {(e.ts, e.kind, e.actor, e.target, e.weight) for e in events}


def test_a_ring_answering_some_pairs_answers_them_as_a_full_tit_for_tat_ring_would_and_leaves_the_others(synthetic):
    def trades(config: SimulationConfig) -> tuple[set[tuple], list[dict]]:
        events, truth = generate(config)
        return {(e.ts, e.kind, e.actor, e.target, e.weight) for e in events}, truth["schemes"]

    plain = {(e.ts, e.kind, e.actor, e.target, e.weight) for e in synthetic[0]}
    every, _ = trades(replace(SMALL, reciprocal_rings=1.0))
    half, schemes = trades(replace(SMALL, reciprocal_rings=1.0, answered_pairs=0.5))
    none, _ = trades(replace(SMALL, reciprocal_rings=1.0, answered_pairs=0.0))
    assert none == plain
    assert plain < half < every  # the answers of the pairs that answer, exactly as when every pair does
    rings = [s for s in schemes if s["scheme"] == "farming_ring"]
    assert rings and all(r["shape"]["reciprocal"] and r["shape"]["answered_pairs"] == 0.5 for r in rings)
    with pytest.raises(ValueError, match="answered_pairs"):
        SimulationConfig(answered_pairs=-0.1)


def test_quiet_spells_leave_out_only_what_silent_accounts_would_have_done():
    config = OrganicConfig(accounts=300, days=60)
    plain = generate_organic(config, random.Random(5))
    quiet = generate_organic(replace(config, quiet_share=0.3), random.Random(5), quiet_rng=random.Random(6))
    assert 0.25 * 300 <= len(quiet.quiet) <= 0.3 * 300  # of the accounts there from the start (nine in ten)
    for start, end in quiet.quiet.values():
        assert 30 * DAY <= end - start <= 47 * DAY
    events = [(e.ts, e.kind, e.actor, e.target) for e in quiet.events]
    kept = set(events)
    assert kept <= {(e.ts, e.kind, e.actor, e.target) for e in plain.events}  # drawn as without quiet spells

    def silent(account: str, ts: float) -> bool:
        start, end = quiet.quiet.get(account, (0, 0))
        return start <= ts < end

    for ts, kind, actor, target in events:
        assert not silent(actor, ts)  # neither acting nor answering
        assert kind in ("follow", "unfollow") or not silent(target, ts)  # posting nothing, only (un)followed
    left_out = [e for e in plain.events if (e.ts, e.kind, e.actor, e.target) not in kept]
    assert left_out and all(e.actor in quiet.quiet or e.target in quiet.quiet for e in left_out)


def test_old_friends_come_back_together_from_a_quiet_spell_and_trade_as_a_circle(synthetic):
    events, truth = generate(replace(SMALL, days=60, quiet_share=0.3))
    reunions = [c for c in truth["organic_circles"] if c["returning"]]
    assert reunions and all(not c["newcomers"] for c in reunions)
    # Their own random stream: the same scheme shapes as without quiet spells.
    drawn = {"hijacked", "camouflage_targets", "side_received"}
    plain = generate(replace(SMALL, days=60))[1]
    assert [{k: v for k, v in s["shape"].items() if k not in drawn} for s in truth["schemes"]] == [
        {k: v for k, v in s["shape"].items() if k not in drawn} for s in plain["schemes"]
    ]
    for circle in reunions:
        members = set(circle["accounts"])
        before = [e.ts for e in events if e.actor in members and e.ts < circle["start_ts"]]
        assert before and circle["start_ts"] - max(before) >= 30 * DAY  # each was silent a month or more
        inside = {(e.actor, e.target) for e in events if e.actor in members and e.target in members}
        assert {a for a, _ in inside} == members  # every one of them boosts another on its return


def test_rings_taking_over_idle_accounts_hijack_accounts_that_had_not_acted_for_a_month():
    config = SimulationConfig(seed=4, rings=6, bursts=0, days=60, accounts=600, quiet_share=0.3)
    events, truth = generate(replace(config, idle_hijacked_rings=1.0))
    plain = generate(config)[1]["schemes"]
    last_acted: dict[str, float] = {}
    rings = [s for s in truth["schemes"] if s["shape"]["hijacked"]]
    assert rings and all(s["shape"]["idle_hijacked"] for s in truth["schemes"])
    for ring in rings:
        hijacked = ring["shape"]["hijacked"]
        taken_over = ring["shape"]["taken_over_ts"]
        assert taken_over <= ring["start_ts"] <= taken_over + ring["shape"]["window_s"]
        for e in events:
            if e.actor in hijacked and e.ts < taken_over:
                last_acted[e.actor] = max(last_acted.get(e.actor, 0.0), e.ts)
        idle = [a for a in hijacked if taken_over - last_acted.get(a, 0.0) >= 30 * DAY]
        assert len(idle) == ring["shape"]["idle_members"]
    # Where the background holds enough accounts idle for a month, every member taken over is one of them.
    assert sum(s["shape"]["idle_members"] == len(s["shape"]["hijacked"]) for s in rings) >= len(rings) // 2
    # Drawn apart: the same shapes, only who is taken over differs.
    drawn = {"hijacked", "camouflage_targets", "side_received", "idle_hijacked", "idle_members", "taken_over_ts"}
    assert [{k: v for k, v in s["shape"].items() if k not in drawn} for s in truth["schemes"]] == [
        {k: v for k, v in s["shape"].items() if k not in drawn} for s in plain
    ]
    with pytest.raises(ValueError, match="idle_hijacked_rings"):
        SimulationConfig(idle_hijacked_rings=1.5)
