"""What the detection engine must and must not flag, and the guarantees the stream and replay rely on."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from detector.core._native import LOCAL_MAX_ACCOUNTS, NEW_TIE_DAYS
from detector.core.engine import Engine, EngineConfig
from detector.core.events import Event, EventRejected, Profile
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH
from detector.core.rings import RecentBoostGraph, RingFinder, describe
from detector.core.scoring import load_weights

HOUR = 3_600.0
DAY = 24 * HOUR
T0 = 1_700_000_000.0
HUMAN = Profile(created_ts=T0 - 900 * DAY, followers=300, following=250, posts=1200)


def human(rng: random.Random) -> Profile:
    return Profile(
        created_ts=T0 - rng.uniform(60, 3000) * DAY, followers=rng.randint(30, 3000), following=300, posts=900
    )


def fake_profile(created: float) -> Profile:
    return Profile(created_ts=created, followers=2, following=900, posts=3)


def organic_market(rng: random.Random, n: int = 400, days: int = 60, per_day: int = 120) -> list[Event]:
    """A marketplace where most boosts are answered (like Bitcoin-Alpha), with heavy-tailed activity."""
    accounts = [f"u{i}" for i in range(n)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(n)]  # heavy-tailed popularity
    events = []
    for day in range(days):
        for _ in range(per_day):
            a, b = rng.choices(accounts, weights, k=2)
            if a == b:
                continue
            t = T0 + day * DAY + rng.uniform(0, DAY)
            events.append(Event(t, "rate", a, b, id=f"o{len(events)}", weight=5, actor_profile=HUMAN))
            if rng.random() < 0.8:  # trade feedback: answered, mostly within the day
                events.append(
                    Event(t + rng.uniform(60, DAY), "rate", b, a, id=f"o{len(events)}", weight=5, actor_profile=HUMAN)
                )
    return events


def ring(members: list[str], start: float, span: float, rng: random.Random, camouflage: list[str] = ()) -> list[Event]:
    events = []
    for a in members:
        profile = fake_profile(start - 3 * DAY) if a.startswith("ring") else HUMAN
        for b in members:
            if a != b and rng.random() < 0.8:
                events.append(
                    Event(start + rng.uniform(0, span), "endorse", a, b, id=f"{a}>{b}", actor_profile=profile)
                )
        for c in camouflage:
            events.append(Event(start + rng.uniform(0, span), "endorse", a, c, id=f"{a}>{c}", actor_profile=profile))
    return events


def burst(target: str, n: int, start: float, span: float, rng: random.Random, prefix: str = "fake") -> list[Event]:
    created = start - 5 * DAY
    return [
        Event(
            start + rng.uniform(0, span),
            "follow",
            f"{prefix}{i}",
            target,
            id=f"{prefix}{i}>{target}",
            actor_profile=fake_profile(created + (i // 40) * 300 + rng.uniform(0, 120)),
        )
        for i in range(n)
    ]


def run(events: list[Event], config: EngineConfig | None = None) -> Engine:
    engine = Engine(config)
    engine.process_batch(sorted(events, key=lambda e: e.ts))
    return engine


def flagged(engine: Engine) -> set[str]:
    return {a for a, r in engine.results.items() if r.flagged}


@pytest.fixture(scope="module")
def market() -> list[Event]:
    return organic_market(random.Random(7))


def test_an_organic_reciprocating_market_is_not_flagged(market):
    assert flagged(run(market)) == set()


def test_a_fresh_ring_with_camouflage_is_flagged_as_one_case_without_its_camouflage_targets(market):
    rng = random.Random(1)
    members = [f"ring{i}" for i in range(8)]
    hubs = ["u0", "u1", "u2"]
    engine = run(market + ring(members, T0 + 20 * DAY, 5 * DAY, rng, camouflage=hubs))
    assert flagged(engine) == set(members)
    cases = {cid for m in members for cid in engine.results[m].case_ids}
    assert len(cases) == 1
    evidence = engine.results[members[0]].evidence
    assert set(evidence["members"]) == set(members)
    assert evidence["sample_event_ids"] and evidence["top_features"]


def test_a_ring_case_tells_the_reviewer_each_members_age_profile_and_partners(market):
    members = [f"ring{i}" for i in range(8)]
    engine = run(market + ring(members, T0 + 20 * DAY, 5 * DAY, random.Random(1), camouflage=["u0"]))
    evidence = engine.results[members[0]].evidence
    facts = {row["account"]: row for row in evidence["member_facts"]}
    assert set(facts) == set(evidence["members"]) == set(members)
    edges = [(a, b) for a, b, _ in evidence["edges"]]
    for member, row in facts.items():
        assert row["created_ts"] == T0 + 17 * DAY and T0 + 20 * DAY <= row["first_seen_ts"] <= T0 + 25 * DAY
        assert (row["followers"], row["following"], row["posts"]) == (2, 900, 3)
        assert row["boosts_members"] == sum(a == member for a, _ in edges)
        assert row["boosted_by_members"] == sum(b == member for _, b in edges)
        # Outside the group, at most the hub (by the time of the flag), which does not answer.
        assert row["boosts_others"] <= 1 and row["boosted_by_others"] == 0
    assert any(row["boosts_others"] == 1 for row in facts.values())


HIJACKED = [f"u{i}" for i in range(350, 360)]


@pytest.fixture(scope="module")
def slow_hijacked_ring(market) -> Engine:
    """Dormant accounts with organic history are the ones taken over: the market runs for 60 days, goes on without
    them from day 100, and they trade as a ring from day 110 over four weeks."""
    assert all(any(e.actor == h for e in market) for h in HIJACKED)
    later = organic_market(random.Random(8), days=30)
    later = [
        Event(e.ts + 100 * DAY, e.kind, e.actor, e.target, "L" + e.id, e.weight)
        for e in later
        if e.actor not in HIJACKED and e.target not in HIJACKED
    ]
    return run(market + later + ring(HIJACKED, T0 + 110 * DAY, 28 * DAY, random.Random(2), camouflage=["u0"]))


def test_a_slow_ring_of_hijacked_accounts_is_flagged(slow_hijacked_ring):
    engine, hijacked = slow_hijacked_ring, HIJACKED
    assert set(hijacked) <= flagged(engine)
    assert flagged(engine) - set(hijacked) == set()
    assert all(engine.results[h].first_flagged_ts < T0 + 138 * DAY for h in hijacked)


def tit_for_tat_ring(members: list[str], start: float, span: float, rng: random.Random, rounds: int = 3) -> list[Event]:
    """Every pair trades ``rounds`` times, each boost answered one minute to six hours later (a "+K for +K" farm);
    each member also boosts a popular account."""
    events = []
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            for r in range(rounds):
                t = start + rng.uniform(0, span)
                events.append(Event(t, "endorse", a, b, id=f"{a}>{b}#{r}"))
                events.append(Event(t + rng.uniform(60, 6 * 3600), "endorse", b, a, id=f"{b}>{a}#{r}"))
        events.append(Event(start + rng.uniform(0, span), "endorse", a, "u0", id=f"{a}>u0"))
    return events


@pytest.mark.parametrize("members_before", ["trading", "dormant"])
def test_a_ring_of_hijacked_accounts_answering_every_boost_is_flagged(market, members_before):
    """The market answers 80 % of its boosts, so the weights of the other groups read an answered tie as organic;
    a grown group trading every tie both ways has weights of its own. Taken over while idle, the members are
    accounts back from dormancy that were strangers: a returning cohort, seen before the pair search grows it."""
    trading = members_before == "trading"
    start = T0 + (70 if trading else 110) * DAY
    later = organic_market(random.Random(8), days=30)
    later = [
        Event(e.ts + (60 if trading else 100) * DAY, e.kind, e.actor, e.target, "L" + e.id, e.weight)
        for e in later
        if trading or (e.actor not in HIJACKED and e.target not in HIJACKED)
    ]
    engine = run(market + later + tit_for_tat_ring(HIJACKED, start, 14 * DAY, random.Random(2)))
    assert flagged(engine) == set(HIJACKED)
    evidence = engine.results[HIJACKED[0]].evidence
    if not trading:
        assert evidence["model"] == "farming_ring_early"
        assert "(found young, as accounts back from dormancy that were strangers before)" in evidence["summary"]
        return
    assert evidence["model"] == "farming_ring_reciprocal"
    assert "(grown from a traded pair; nearly every tie traded both ways)" in evidence["summary"]
    assert evidence["features"]["mutual_density"] >= 0.8 * evidence["features"]["tie_density"]


def test_the_member_table_says_when_a_member_came_back_from_a_dormancy_and_how_long_it_had_been_idle(
    slow_hijacked_ring, market
):
    engine = slow_hijacked_ring
    facts = {row["account"]: row for row in engine.results[HIJACKED[0]].evidence["member_facts"]}
    assert set(HIJACKED) <= set(facts)
    for member in HIJACKED:
        last_organic = max(e.ts for e in market if e.actor == member)
        first_ring_boost = min(
            e.ts for e in ring(HIJACKED, T0 + 110 * DAY, 28 * DAY, random.Random(2), ["u0"]) if e.actor == member
        )
        assert facts[member]["returned_ts"] == first_ring_boost
        assert facts[member]["idle_days_before"] == pytest.approx((first_ring_boost - last_organic) / DAY)
    # The market's accounts came back too, after its 40 quiet days; its busiest account, in the market alone, did not.
    assert engine.state.account_facts("u0")[5][1] == pytest.approx(40, abs=1)
    assert run(market).state.account_facts("u0")[5] is None


def test_a_ring_case_lists_whom_its_members_knew_in_common_before_and_bought_members_knew_nobody(
    slow_hijacked_ring, market
):
    # Accounts of one market taken over: some had traded with the same small traders months before, which is what
    # made those pairs acquainted. The reviewer sees those traders and who knew each, the most widely known first.
    evidence = slow_hijacked_ring.results[HIJACKED[0]].evidence
    known = evidence["known_in_common"]
    assert known, "market accounts share trading partners"
    members = set(evidence["members"])
    for row in known:
        assert row["account"] not in members and len(row["members"]) >= 2 and set(row["members"]) <= members
        assert row["members"] == sorted(row["members"])
        traded = {e.actor for e in market if e.target == row["account"]} | {
            e.target for e in market if e.actor == row["account"]
        }
        assert set(row["members"]) <= traded
    assert [len(row["members"]) for row in known] == sorted((len(row["members"]) for row in known), reverse=True)
    # Bought accounts created days before their ring knew nobody.
    rng = random.Random(1)
    bought = [f"ring{i}" for i in range(8)]
    fresh_case = run(market + ring(bought, T0 + 20 * DAY, 5 * DAY, rng, camouflage=["u0", "u1", "u2"]))
    assert fresh_case.results[bought[0]].evidence["known_in_common"] == []


def test_the_member_table_says_since_when_each_member_trades_with_the_others(slow_hijacked_ring, market):
    engine = slow_hijacked_ring
    facts = {row["account"]: row for row in engine.results[HIJACKED[0]].evidence["member_facts"]}
    ring_events = ring(HIJACKED, T0 + 110 * DAY, 28 * DAY, random.Random(2), ["u0"])
    members = set(facts)
    for member in HIJACKED:
        # Its first boost with another member either way: organic ties from the market months before count.
        inside = [
            e.ts
            for e in market + ring_events
            if e.is_boost and {e.actor, e.target} <= members and member in {e.actor, e.target}
        ]
        assert facts[member]["tied_inside_since_ts"] == min(inside)
    # Taken over together, strangers before: every member's first trade inside is the ring's.
    assert all(facts[m]["tied_inside_since_ts"] >= T0 + 110 * DAY for m in HIJACKED)


def busy_ring(rng: random.Random) -> tuple[list[str], list[Event]]:
    """Six established accounts, each boosting 35 accounts of its own before they trade among themselves."""
    members = [f"busy{i}" for i in range(6)]
    events = []
    for m in members:
        for j in range(35):
            t = T0 + rng.uniform(0, 10 * DAY)
            events.append(Event(t, "like", m, f"{m}-fan{j}", id=f"{m}>fan{j}", actor_profile=HUMAN))
        for j in range(2):
            t = T0 + rng.uniform(0, 10 * DAY)
            events.append(Event(t, "like", f"{m}-friend{j}", m, id=f"friend{j}>{m}", actor_profile=HUMAN))
    for a in members:
        for b in members:
            if a != b:
                t = T0 + 10 * DAY + rng.uniform(0, 2 * DAY)
                events.append(Event(t, "endorse", a, b, id=f"{a}>{b}", actor_profile=HUMAN))
    return members, events


def test_a_ring_of_busy_accounts_is_grown_by_the_dense_path_and_scored_by_its_own_weights():
    members, events = busy_ring(random.Random(3))
    _, finder = finder_over(events)
    now = T0 + 13 * DAY
    # Every member has 4 ties into a traded pair out of 47 partners: under the ordinary growth's closure.
    assert finder.grow("busy0", "busy1", now) == set()
    assert finder.grow("busy0", "busy1", now, dense=True) == set(members)
    engine = Engine()
    findings = engine.process_batch(sorted(events, key=lambda e: e.ts))
    found = flagged(engine)
    assert len(found) >= 5 and found <= set(members)
    dense = [f for f in findings if f.evidence["model"] == "farming_ring_dense"]
    assert dense and set(dense[0].evidence["members"]) <= set(members)
    # The reviewer reads how the group was found.
    assert "(grown from a traded pair of busy accounts)" in dense[0].evidence["summary"]


def test_a_ring_of_busy_accounts_trading_for_the_first_time_is_grown_while_the_ordinary_search_waits():
    members, events = busy_ring(random.Random(3))
    engine = Engine()
    findings = engine.process_batch(sorted(events, key=lambda e: e.ts))
    # The first answered boosts back the members' ordinary searches off for days; the ring's pairs are new and so
    # are the ties among its members, so the new-ties path grows it meanwhile, before the dense path can.
    first = findings[0]
    assert first.evidence["model"] == "farming_ring_new_ties"
    assert 4 <= len(first.evidence["members"]) < len(members) and set(first.evidence["members"]) <= set(members)
    assert "(grown from a pair of busy accounts trading for the first time, over new ties)" in first.evidence["summary"]
    assert flagged(engine) == set(members)


def fans(members: list[str], name: str, count: int, start: float, span: float, rng: random.Random) -> list[Event]:
    """``count`` organic fans of each member, each boosting it once between ``start`` and ``start + span``."""
    return [
        Event(start + rng.uniform(0, span), "like", f"{m}-{name}{j}", m, id=f"{name}{j}>{m}", actor_profile=HUMAN)
        for m in members
        for j in range(count)
    ]


def trade_again(members: list[str], start: float, span: float, rng: random.Random) -> list[Event]:
    """Every member boosts every other once more, between ``start`` and ``start + span``."""
    return [
        Event(start + rng.uniform(0, span), "like", a, b, id=f"{a}>{b}#2", actor_profile=HUMAN)
        for a in members
        for b in members
        if a != b
    ]


def finder_over(events: list[Event]) -> tuple[RecentBoostGraph, RingFinder]:
    graph = RecentBoostGraph(window=60 * DAY)
    for e in sorted(events, key=lambda e: e.ts):
        graph.add(e.actor, e.target, e.ts)
    return graph, RingFinder(graph, max_members=40)


def test_a_ring_of_busy_accounts_keeping_their_organic_fans_is_still_grown_by_the_dense_path():
    members, events = busy_ring(random.Random(3))
    rng = random.Random(4)
    # Hijacked accounts keep their audience: 10 fans boosting each, so 5 of a member's 17 boosters are inside.
    events += fans(members, "fan-in", 10, T0, 10 * DAY, rng)
    graph, finder = finder_over(events)
    now = T0 + 13 * DAY
    for m in members:
        boosters = graph.in_partners(m, now)
        assert len(boosters) == 17 and len(boosters & set(members)) == 5
    # The ordinary peel asks a member for 34 % of its boosters inside (5 of 17 is 29 %); the dense path's for 20 %.
    assert finder.peel(set(members), now) == set()
    assert finder.grow("busy0", "busy1", now, dense=True) == set(members)
    # In the stream the ordinary searches wait while the ring first trades (before the new-ties path, it was seen
    # only when it traded again, days later): the new-ties path grows it the dense path's way meanwhile.
    engine = run(events)
    assert flagged(engine) == set(members)
    assert engine.results["busy0"].evidence["model"] == "farming_ring_new_ties"


def test_a_ring_of_busy_accounts_with_fans_of_long_standing_is_kept_for_its_new_boosters():
    members, events = busy_ring(random.Random(3))
    rng = random.Random(5)
    # Each member keeps 25 fans who boosted it before the ring's week, and gains 2 new fans while the ring trades:
    # 5 of its 34 boosters are inside (15 %, under the dense path's 20 %), but 5 of its 7 to 9 new ones.
    events += fans(members, "old-fan", 25, T0, 5 * DAY, rng) + fans(members, "new-fan", 2, T0 + 10 * DAY, 2 * DAY, rng)
    graph, finder = finder_over(events)
    now = T0 + 13 * DAY
    assert NEW_TIE_DAYS == 7
    for m in members:
        assert len(graph.in_partners(m, now)) == 34 and len(graph.in_partners(m, now) & set(members)) == 5
    assert finder.grow("busy0", "busy1", now, dense=True) == set(members)
    # A week later the ring's ties are old too: nothing new sets the members apart from their fans any more.
    assert finder.grow("busy0", "busy1", now + NEW_TIE_DAYS * DAY, dense=True) == set()
    # In the stream the ring is seen when it trades again within that week.
    assert flagged(run(events + trade_again(members, T0 + 13 * DAY, DAY, rng))) == set(members)


def boost(hour: float, actor: str, target: str, kind: str = "endorse") -> Event:
    """An established account's boost, ``hour`` hours after T0."""
    return Event(T0 + hour * HOUR, kind, actor, target, id=f"{actor}>{target}", actor_profile=HUMAN)


def sparse_four(extra_partners: int) -> list[Event]:
    """Four established accounts: c boosts a and b, a and b boost d, d boosts c, then a and b trade. No outside
    account boosts two of them and is boosted back, so growth from the pair a-b never starts."""
    before = [boost(-480, "a", f"o{i}", "like") for i in range(extra_partners)] + [boost(-480, "b", "p0", "like")]
    ring = [boost(1, "c", "a"), boost(2, "c", "b"), boost(3, "a", "d"), boost(4, "b", "d"), boost(5, "d", "c")]
    return before + ring + [boost(6, "a", "b"), boost(7, "b", "a")]


@pytest.mark.parametrize("extra_partners", [1, LOCAL_MAX_ACCOUNTS - 4])
def test_a_sparse_ring_of_accounts_with_few_partners_is_found_by_peeling_the_pairs_neighbourhood(extra_partners):
    engine = run(sparse_four(extra_partners), EngineConfig(record_candidates=True))
    found = [(c["model"], c["accounts"]) for c in engine.candidates]
    if extra_partners == 1:
        assert found == [("farming_ring_local", ["a", "b", "c", "d"])]
    else:  # a, b, c, d and 21 other partners: one account more than is peeled whole, and nothing else finds them
        assert found == []


def test_two_accounts_a_sparse_ring_boosts_as_camouflage_are_not_kept_with_it_when_they_trade():
    # The ring of `sparse_four` also boosts p and q, two popular accounts that a fan boosted months ago and that
    # then trade with each other. Peeled whole, their neighbourhood is the ring and the pair, each of p and q tied to
    # three of it: only that they boost back one of the three members boosting them sets them apart.
    camouflage = [boost(1.5, "a", "p"), boost(2.5, "c", "p"), boost(3.5, "b", "q"), boost(4.5, "d", "q")]
    fan = [boost(-2400, "fan", "p", "like"), boost(-2399, "fan", "q", "like")]
    events = sparse_four(1) + camouflage + fan + [boost(8, "p", "q"), boost(9, "q", "p")]
    engine = run(events, EngineConfig(record_candidates=True))
    found = [(c["model"], c["accounts"]) for c in engine.candidates]
    assert found and all(accounts == ["a", "b", "c", "d"] for _, accounts in found), found
    assert {"p", "q"}.isdisjoint(flagged(engine))


def test_a_young_ring_of_fresh_accounts_is_flagged_before_any_boost_is_answered(market):
    # Eight accounts created days ago, each boosting the next three: no pair has traded both ways yet.
    members = [f"ring{i}" for i in range(8)]
    start = T0 + 20 * DAY
    profile = fake_profile(start - 3 * DAY)
    young = [
        Event(start + 600 * k + i, "endorse", a, members[(i + k) % 8], id=f"{a}>{k}", actor_profile=profile)
        for k in (1, 2, 3)
        for i, a in enumerate(members)
    ]
    assert not {(e.actor, e.target) for e in young} & {(e.target, e.actor) for e in young}
    engine = run(market + young)
    assert flagged(engine) == set(members)
    summary = engine.results["ring0"].evidence["summary"]
    assert "100% under 30 days old" in summary
    assert "; 0% of member pairs knew someone in common a week before" in summary


def test_older_accounts_trading_like_members_stay_in_a_fresh_cohort_its_camouflage_targets_leave():
    # Eleven bought accounts, each boosting the next two, nobody answering yet; three were created long enough ago
    # not to count as fresh. Every fresh one also boosts one of four popular accounts with fans of their own.
    members = [f"m{i}" for i in range(11)]
    older = {"m2", "m6", "m9"}
    graph = RecentBoostGraph(window=60 * DAY)
    for fan in range(40):
        for popular in range(4):
            graph.add(f"fan{fan}", f"popular{popular}", T0 - DAY)
    for i, a in enumerate(members):
        for k in (1, 2):
            graph.add(a, members[(i + k) % 11], T0 + i * HOUR + k)
        if a not in older:
            graph.add(a, f"popular{i % 4}", T0 + i * HOUR)
    # The walk from a pair reaches the popular accounts too; an older member boosting two members is one of them
    # whatever the walk reached (docs/detection.md, *Fresh cohorts*).
    cohort = RingFinder(graph).cohort(
        "m0", "m1", T0 + DAY, lambda account: account.startswith("m") and account not in older
    )
    assert cohort == set(members)


SESSION_MEMBERS = [f"u{i}" for i in range(350, 360)]
SESSION_START = T0 + 100 * DAY


def trading_session() -> list[Event]:
    """Ten quiet accounts with organic history each boost the next three within twenty minutes; none answered."""
    members = SESSION_MEMBERS
    return [
        Event(SESSION_START + 120 * k + 10 * i, "endorse", a, members[(i + k) % 10], id=f"{a}>{k}", actor_profile=HUMAN)
        for k in (1, 2, 3)
        for i, a in enumerate(members)
    ]


def test_older_accounts_trading_in_one_session_are_flagged_before_they_answer(market):
    members = SESSION_MEMBERS
    engine = run(market + trading_session())
    assert flagged(engine) == set(members)
    assert "100% of the boosts inside made in the last hour" in engine.results["u350"].evidence["summary"]


def test_an_account_the_ring_boosts_that_answers_one_member_in_the_session_stays_out(market):
    # Six members boost u30 (camouflage); u30 happens to rate one member within the same hour.
    members, start = SESSION_MEMBERS, SESSION_START
    session = trading_session()
    session += [
        Event(start + 60 + 10 * i, "endorse", a, "u30", id=f"{a}>u30", actor_profile=HUMAN)
        for i, a in enumerate(members[:6])
    ]
    session.append(Event(start + 500, "endorse", "u30", "u350", id="u30>u350", actor_profile=HUMAN))
    engine = run(market + session)
    assert flagged(engine) == set(members)


def test_newcomers_trading_with_the_market_and_each_other_are_not_a_ring(market):
    rng = random.Random(4)
    start = T0 + 20 * DAY
    newcomers = [f"new{i}" for i in range(30)]
    events = []
    for i, a in enumerate(newcomers):
        profile = Profile(created_ts=start - rng.uniform(1, 20) * DAY, followers=40, following=60, posts=30)
        partners = [f"u{rng.randrange(60)}" for _ in range(3)] + [newcomers[(i + 1) % 30]]
        for j, b in enumerate(partners):
            events.append(Event(start + rng.uniform(0, 5 * DAY), "rate", a, b, id=f"{a}>{j}", actor_profile=profile))
    assert flagged(run(market + events)) == set()


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("day", [20, 40])
def test_newcomers_following_friends_and_established_accounts_are_not_a_ring(market, seed, day):
    # Eight new accounts, each boosting two of the others (one way) and ten established accounts, unanswered: how
    # friends join a platform together. Their partners are mostly outside the group. By day 40 of this small, dense
    # market every one of those established accounts keeps more than 50 ties: they are its ordinary members, not
    # popular ones a ring would boost as camouflage.
    rng = random.Random(seed)
    start = T0 + day * DAY
    newcomers = [f"new{i}" for i in range(8)]
    events = []
    for i, a in enumerate(newcomers):
        profile = Profile(created_ts=start - rng.uniform(1, 20) * DAY, followers=40, following=60, posts=30)
        partners = [f"u{rng.randrange(60)}" for _ in range(10)] + [newcomers[(i + k) % 8] for k in (1, 2)]
        for j, b in enumerate(partners):
            events.append(Event(start + rng.uniform(0, 5 * DAY), "rate", a, b, id=f"{a}>{j}", actor_profile=profile))
    assert flagged(run(market + events)) == set()


def test_fresh_members_trading_mostly_with_their_rings_hijacked_accounts_are_a_cohort_within_the_day(market):
    # A mixed ring: eight established market accounts taken over, each boosting three of four bought accounts,
    # which each boost five of them, and then, later that day, two of each other. Most of a bought member's
    # partners are the hijacked ones, busy accounts that leave the cohort: they are the ring's own side, not
    # partners that make the bought accounts look like newcomers with friends of their own.
    rng = random.Random(2)
    start = T0 + 40 * DAY
    fresh = [f"ring{i}" for i in range(4)]
    hijacked = [f"u{i}" for i in range(20, 28)]
    events = []

    def boost(a: str, b: str, t: float) -> None:
        profile = fake_profile(start - 3 * DAY) if a in fresh else HUMAN
        events.append(Event(t, "endorse", a, b, id=f"{a}>{b}", actor_profile=profile))

    for f in fresh:
        for h in rng.sample(hijacked, 5):
            boost(f, h, start + rng.uniform(0, DAY / 2))
    for j, h in enumerate(hijacked):
        for k in range(3):
            boost(h, fresh[(j + k) % 4], start + rng.uniform(0, DAY / 2))
    for i, f in enumerate(fresh):
        for k in (1, 2):
            boost(f, fresh[(i + k) % 4], start + DAY / 2 + rng.uniform(0, DAY / 2))
    engine = run(market + events)
    assert set(fresh) <= flagged(engine) <= set(fresh) | set(hijacked)
    assert all(engine.results[f].first_flagged_ts <= start + DAY for f in fresh)


@pytest.mark.parametrize("size", [8, 5])
@pytest.mark.parametrize("targets", ["popular", "with 40 fans"])
def test_a_fresh_cohort_boosting_popular_accounts_more_than_each_other_is_a_ring(market, size, targets):
    # Bought accounts, each boosting two of the others and five other accounts, in a day: a ring whose camouflage
    # outweighs its own trading, so fewer than half of each member's partners are inside. Popular accounts (more than
    # 50 ties, and more than 95 % of the platform's accounts: the market's five busiest keep hundreds) say nothing of
    # whom a fresh member trades with, in a group of any size; accounts with 40 fans could be its friends, and the
    # group is then newcomers joining together.
    start = T0 + 40 * DAY
    members = [f"ring{i}" for i in range(size)]
    if targets == "popular":
        outside, events = [f"u{j}" for j in range(5)], []
    else:
        outside = [f"hub{j}" for j in range(5)]
        events = [
            Event(start - 30 * DAY, "rate", f"fan{f}", t, actor_profile=HUMAN) for t in outside for f in range(40)
        ]
    rng = random.Random(3)
    for i, m in enumerate(members):
        for t in [members[(i + 1) % size], members[(i + 2) % size], *outside]:
            events.append(Event(start + rng.uniform(0, DAY), "rate", m, t, actor_profile=fake_profile(start - 3 * DAY)))
    engine = run(market + events)
    assert flagged(engine) == (set(members) if targets == "popular" else set())
    if targets == "popular":
        assert engine.results["ring0"].evidence["model"] == "farming_ring_early"


def test_a_bought_ring_is_flagged_before_every_member_has_boosted_another(market):
    # Five bought accounts trading slowly (one boost every ten hours) with a little camouflage: by the ninth boost,
    # b4 has been boosted by two members and has boosted none of them, only a popular account. A ring's receiving
    # side is the ring's too: b4 holds b3 in the group, which leaves three members without it.
    start = T0 + 40 * DAY
    trades = ["b1>b2", "b0>b1", "b3>b4", "b0>b3", "b0>b2", "b2>b1", "b3>b0", "b2>b0", "b2>b4"]
    camouflage = ["b0>u0", "b2>u1", "b4>u2"]
    events = [
        Event(start + 10 * HOUR * i, "rate", *pair.split(">"), id=pair, actor_profile=fake_profile(start - 5 * DAY))
        for i, pair in enumerate(camouflage + trades)
    ]
    engine = run(market + events)
    members = {f"b{i}" for i in range(5)}
    assert flagged(engine) == members
    assert engine.results["b4"].evidence["model"] == "farming_ring_early"


@pytest.mark.parametrize("fans", ["a", "z"])
def test_who_stays_in_a_session_group_does_not_depend_on_account_names(fans):
    # Eight accounts trading in one session; six organic fans of four of them boosted those four days ago and one
    # of them within the hour. Whether the fans' names sort before or after the members must not matter.
    graph = RecentBoostGraph(window=60 * DAY)
    members = [f"r{i}" for i in range(1, 9)]
    t = T0
    for i, a in enumerate(members):
        for k in (1, 2):
            graph.add(a, members[(i + k) % 8], t)
            t += 10
    for j in range(6):
        for m in members[:4]:
            graph.add(f"{fans}{j}", m, t - 5 * DAY)
        graph.add(f"{fans}{j}", members[j % 4], t)
        t += 1
    graph.add("r1", "r2", t)
    assert RingFinder(graph).lockstep("r1", "r2", t) == set(members)


def test_bought_followers_flag_the_beneficiary(market):
    rng = random.Random(3)
    engine = run(market + burst("u200", 150, T0 + 30 * DAY, DAY, rng))
    assert flagged(engine) == {"u200"}
    result = engine.results["u200"]
    assert result.schemes == [FOLLOWER_GROWTH]
    window = result.evidence["burst_window"]
    # The case is revised as the burst doubles: its evidence shows the burst's extent, not its first signs.
    assert window["new_followers"] >= 64 and window["fresh_share"] > 0.9
    assert T0 + 30 * DAY <= result.first_flagged_ts <= T0 + 31 * DAY
    # Registered in bulk five days before: one chain of creations minutes apart, holding nearly every follower.
    (batch,) = result.evidence["creation_batches"]
    assert batch["followers"] >= 0.9 * window["new_followers"]
    assert T0 + 25 * DAY <= batch["first_created_ts"] < batch["last_created_ts"] <= T0 + 25 * DAY + 20 * 60


def test_a_burst_is_flagged_by_its_eighth_bought_follower(market):
    rng = random.Random(5)
    events = burst("u300", 40, T0 + 30 * DAY, DAY, rng)
    engine = run(market + events)
    assert flagged(engine) == {"u300"}
    eighth = sorted(e.ts for e in events)[7]
    assert engine.results["u300"].first_flagged_ts == eighth


def test_fresh_accounts_boosted_by_their_ring_are_no_bought_followers_of_its_camouflage_target(market):
    # A fresh ring's first round: two members boost eight others, which boost a market account as camouflage and
    # a ring-mate that has not answered them yet. Eight fresh, batch-created, bought-shaped new boosters, but they
    # receive boosts, which bought followers never do.
    start = T0 + 30 * DAY
    profile = fake_profile(start - 5 * DAY)
    firsts, givers = [f"f{i}" for i in range(8)], ["r8", "r9"]
    events = [
        Event(start + 60 * i, "endorse", givers[i // 4], f, id=f"{givers[i // 4]}>{f}", actor_profile=profile)
        for i, f in enumerate(firsts)
    ]
    for i, f in enumerate(firsts):
        t = start + HOUR + 300 * i
        events.append(Event(t, "endorse", f, "u40", id=f"{f}>u40", actor_profile=profile))
        mate = givers[1 - i // 4]  # boosted by one giver, it boosts the other
        events.append(Event(t + 60, "endorse", f, mate, id=f"{f}>{mate}", actor_profile=profile))
    engine = run(market + events, EngineConfig(record_candidates=True))
    assert "u40" not in flagged(engine)
    scored = [c for c in engine.candidates if c["model"] == FOLLOWER_GROWTH and c["accounts"] == ["u40"]]
    assert scored and all(c["score"] < 0.1 for c in scored)  # evaluated at 8 new boosters, scored as no burst


def test_bought_followers_boosting_each_other_to_pass_as_traders_are_flagged_as_a_ring(market):
    # A farm answering the trading signal: each bought account also follows two others of its batch. They now
    # receive boosts like a ring's members, and they are one: fresh accounts trading among themselves.
    rng = random.Random(5)
    start = T0 + 30 * DAY
    events = burst("u300", 40, start, DAY, rng)
    fakes = [e.actor for e in events]
    for i, e in enumerate(list(events)):
        for k in (1, 2):
            other = fakes[(i + 7 * k) % len(fakes)]
            t = start + rng.uniform(0, DAY)
            events.append(Event(t, "follow", e.actor, other, id=f"{e.actor}>{other}", actor_profile=e.actor_profile))
    engine = run(market + events)
    assert set(fakes) <= flagged(engine)
    assert all(FARMING_RING in engine.results[f].schemes for f in fakes)


def test_organic_virality_from_established_accounts_is_not_flagged(market):
    rng = random.Random(4)
    viral = [
        Event(T0 + 30 * DAY + rng.uniform(0, DAY), "follow", f"u{i}", "u250", id=f"v{i}", actor_profile=human(rng))
        for i in range(300)
        if i != 250
    ]
    assert flagged(run(market + viral)) == set()


@pytest.mark.parametrize("suggested", [0, 120])
def test_fans_signing_up_to_follow_an_account_are_no_bought_followers_but_accounts_registered_by_a_farm_are(
    market, suggested
):
    # An account brings its fans: 150 people sign up over a day, each following it minutes after signing up. They
    # are fresh, created minutes apart and have posted nothing, as newcomers are, and may have followed the accounts
    # their platform suggested at signup; what they lack is bought followers' shape, following hundreds with next to
    # no followers (94 % of Cresci et al.'s). A farm registering accounts as its order runs is like them otherwise.
    start = T0 + 30 * DAY

    def newcomer(created: float) -> Profile:
        return Profile(created_ts=created, followers=0, following=suggested, posts=0)

    def wave(profile: Callable[[float], Profile]) -> list[Event]:
        rng, events = random.Random(6), []
        for i in range(150):
            ts = start + rng.expovariate(1 / (6 * HOUR))
            events.append(
                Event(ts, "follow", f"n{i}", "u250", id=f"n{i}", actor_profile=profile(ts - rng.uniform(60, HOUR)))
            )
        return events

    assert flagged(run(market + wave(newcomer))) == set()
    farm = run(market + wave(fake_profile))
    assert flagged(farm) == {"u250"}
    assert farm.results["u250"].evidence["features"]["follow_heavy_share"] == 1.0


def operating_point(events: list[Event], threshold: float, max_new_cases_per_day: int) -> tuple[Engine, list]:
    engine = Engine(EngineConfig(record_candidates=True))
    engine.use_flagging(threshold, max_new_cases_per_day)
    return engine, engine.process_batch(sorted(events, key=lambda e: e.ts))


def test_the_engine_flags_exactly_the_candidates_scored_at_its_threshold_or_more(market):
    rng = random.Random(4)
    events = market + ring([f"ring{i}" for i in range(6)], T0 + 30 * DAY, DAY, rng)
    shipped, _ = operating_point(events, 0.5, 1000)
    organic = sorted({c["score"] for c in shipped.candidates if c["score"] < 0.5})
    assert len(organic) > 10  # the market's groups and popular accounts are scored, under the default threshold
    for threshold in (organic[len(organic) // 2], 0.5, 0.99):
        engine, _ = operating_point(events, threshold, 1000)
        assert engine.candidates == shipped.candidates  # the searches and scores never read the threshold
        expected = {a for c in engine.candidates if c["score"] >= threshold for a in c["accounts"]}
        assert flagged(engine) == expected


def test_a_day_opens_at_most_its_budget_of_new_cases_unless_they_score_0_95(market):
    rng = random.Random(4)
    events = market + ring([f"ring{i}" for i in range(6)], T0 + 30 * DAY, DAY, rng)
    scores = sorted(c["score"] for c in operating_point(events, 0.5, 1000)[0].candidates if c["score"] < 0.5)
    low = scores[len(scores) // 4]  # a threshold at which organic groups open cases on many days

    def new_cases_per_day(findings: list) -> Counter:
        first: dict[str, object] = {}
        for finding in findings:
            first.setdefault(finding.case_id, finding)
        return Counter(int(f.flagged_ts // DAY) for f in first.values() if f.score < 0.95)

    unlimited, findings = operating_point(events, low, 1000)
    assert max(new_cases_per_day(findings).values()) > 1 and unlimited.stats.held_by_budget == 0
    budgeted, findings = operating_point(events, low, 1)
    assert max(new_cases_per_day(findings).values()) == 1 and budgeted.stats.held_by_budget > 0
    assert {"ring0", "ring1"} <= flagged(budgeted)  # near-certain cases are never held
    with pytest.raises(ValueError, match="a score in"):
        budgeted.use_flagging(0.0, 1)


def test_duplicates_count_once():
    engine = Engine()
    event = Event(T0, "like", "a", "b", id="same")
    engine.process(event)
    assert engine.process(event) == []
    assert engine.stats.events == 1 and engine.stats.duplicates == 1


def test_events_later_than_the_allowed_lateness_are_rejected_with_a_reason():
    engine = Engine(EngineConfig(allowed_lateness_s=3600))
    engine.process(Event(T0, "like", "a", "b"))
    engine.process(Event(T0 - 1800, "like", "c", "d"))  # late but within lateness: accepted
    with pytest.raises(EventRejected, match="late"):
        engine.process(Event(T0 - 7200, "like", "e", "f"))
    assert engine.stats.late == 1


def test_unfollow_withdraws_the_boost():
    engine = Engine()
    engine.process(Event(T0, "follow", "a", "b"))
    engine.process(Event(T0 + 1, "unfollow", "a", "b"))
    assert not engine.graph.boosted("a", "b", T0 + 2)


def test_replay_is_deterministic_and_a_snapshot_resumes_exactly(market):
    rng = random.Random(5)
    events = sorted(market + ring([f"ring{i}" for i in range(6)], T0 + 40 * DAY, DAY, rng), key=lambda e: e.ts)
    whole = Engine()
    expected = whole.process_batch(events)
    half = len(events) // 2
    first = Engine()
    got = first.process_batch(events[:half])
    resumed = Engine.restore(first.snapshot())
    got += resumed.process_batch(events[half:])
    assert [f.to_dict() for f in got] == [f.to_dict() for f in expected]
    assert [f.to_dict() for f in Engine().process_batch(events)] == [f.to_dict() for f in expected]


def test_a_snapshot_of_an_older_layout_is_refused():
    engine = Engine()
    del engine.snapshot_format  # as pickled before the layout had a version
    with pytest.raises(ValueError, match="snapshot of format 1"):
        Engine.restore(engine.snapshot())


def test_reflagging_a_ring_keeps_its_case_id(market):
    rng = random.Random(6)
    members = [f"ring{i}" for i in range(10)]
    engine = Engine()
    findings = engine.process_batch(sorted(market + ring(members, T0 + 20 * DAY, 10 * DAY, rng), key=lambda e: e.ts))
    ring_findings = [f for f in findings if f.scheme == FARMING_RING]
    assert len(ring_findings) >= 1
    assert len({f.case_id for f in ring_findings}) == 1


def test_memory_stays_bounded_for_a_hub_with_endless_new_boosters():
    config = EngineConfig(max_partners=64)
    engine = Engine(config)
    for i in range(5000):
        engine.process(Event(T0 + i, "like", f"fan{i}", "hub", actor_profile=HUMAN))
    assert engine.graph.booster_count("hub") == 64
    assert len(engine.state.burst_window("hub")) == 4096  # all 5000 are in the window; the detail is capped


def test_an_account_back_after_being_forgotten_shows_how_long_it_slept():
    engine = Engine(EngineConfig(idle_eviction_days=30))
    engine.process(Event(T0, "like", "sleeper", "x"))
    engine.process(Event(T0 + 40 * DAY, "like", "a", "b"))  # the weekly sweep forgets the sleeper
    assert "sleeper" not in engine.state
    snapshot = Engine.restore(engine.snapshot())  # what is remembered of it survives a restart
    for e in (engine, snapshot):
        e.process(Event(T0 + 300 * DAY, "like", "sleeper", "y"))
        *_, back = e.state.account_facts("sleeper")
        assert back == (T0 + 300 * DAY, pytest.approx(300))
    # Seen only as a target, an account has no action to return from.
    engine.process(Event(T0 + 301 * DAY, "like", "x", "c"))
    assert engine.state.account_facts("x")[5] is None


def test_idle_accounts_are_forgotten():
    engine = Engine(EngineConfig(idle_eviction_days=30))
    engine.process(Event(T0, "like", "old", "gone"))
    engine.process(Event(T0 + 40 * DAY, "like", "a", "b"))
    assert "old" not in engine.state and "old" not in engine.graph
    assert "gone" not in engine.graph  # nothing refers to it any more: the graph does not keep its name either


@pytest.mark.parametrize("keep", [False, True])
def test_the_best_score_of_a_forgotten_account_is_kept_only_when_asked(keep):
    # Ten new boosters make "star" a scored (unflagged) candidate; then it idles out.
    engine = Engine(EngineConfig(idle_eviction_days=30, keep_forgotten_scores=keep))
    for i in range(10):
        engine.process(Event(T0 + i, "like", f"fan{i}", "star", actor_profile=HUMAN))
    scored = engine.best_score("star")
    assert 0 < scored < engine.config.threshold
    engine.process(Event(T0 + 40 * DAY, "like", "a", "b"))
    assert "star" not in engine.state
    assert engine.best_score("star") == (scored if keep else 0.0)


def test_reviewer_decisions_steer_scores_once_enough_are_learned():
    engine = Engine()
    organic_like = {"size": 5.0, "tie_density": 0.9, "inflow_closure": 0.5, "fresh_share": 0.0}
    ring_like = {"size": 12.0, "tie_density": 0.9, "inflow_closure": 1.0, "fresh_share": 1.0}
    _, cold = engine.scorer.score(FARMING_RING, organic_like)
    assert "reviewer_model" not in {name for name, _, _ in cold}
    for _ in range(40):
        engine.learn_decision(FARMING_RING, organic_like, confirmed=False)
        engine.learn_decision(FARMING_RING, ring_like, confirmed=True)
    _, warm = engine.scorer.score(FARMING_RING, organic_like)
    reviewer = {name: contribution for name, _, contribution in warm}["reviewer_model"]
    assert reviewer < 0


@pytest.mark.parametrize("fans", ["own", "shared", "bought"])
def test_members_sharing_established_fans_read_as_a_community_and_bought_fans_do_not_make_one(fans):
    # The same six accounts trading with each other, each boosted by four accounts outside: a ring's members are
    # strangers, each with fans of its own; an organic community's members share theirs. A farm buying fans that
    # boost several members at once does not turn its ring into a community: fresh accounts are not counted.
    group = [f"m{i}" for i in range(6)]
    events = []
    for i, a in enumerate(group):
        events += [Event(T0, "rate", a, group[(i + k) % 6], actor_profile=HUMAN) for k in (1, 2, 3)]
        for j in range(4):
            fan = {"own": f"fan{i}.{j}", "shared": f"fan{j}"}.get(fans, f"bought{j}")
            profile = {"bought": fake_profile(T0 - 5 * DAY), "bought aged": fake_profile(T0 - 400 * DAY)}.get(
                fans, HUMAN
            )
            events.append(Event(T0, "rate", fan, a, actor_profile=profile))
    engine = Engine()
    engine.process_batch(events)
    members, now = set(group), T0 + HOUR
    boosters = engine.state.established_boosters(members, now)
    features = describe(members, engine.finder, now, fresh=0, boosters=boosters, acquainted=0).as_dict()
    assert features["shared_booster_share"] == (1.0 if fans == "shared" else 0.0)
    # With everything else about the group the same, the grown-ring weights hold shared fans against it.
    strangers = {**features, "shared_booster_share": 0.0}
    for model in ("farming_ring", "farming_ring_dense", "farming_ring_new_ties"):
        weights = load_weights()[model]
        assert weights.score({**strangers, "shared_booster_share": 1.0}) < weights.score(strangers)


#: A slow ring's trades among six members, one at a time, in order ("2>1": the third boosts the second). Its fifth
#: closes a group of five (0 -> 1 -> 3 -> 4 -> 0, with 2 -> 1); some members are boosted by two before they boost one.
SLOW_RING_TRADES = "0>1 2>1 1>3 3>4 4>0 5>3 2>5 4>1 0>2 3>5 1>0 5>4 2>3 0>5 4>2 3>0 5>1 1>2"


def slow_trades(members: list[str], start: float, step: float, n: int) -> list[Event]:
    """The first ``n`` of `SLOW_RING_TRADES` among ``members``, ``step`` seconds apart."""
    trades = [trade.split(">") for trade in SLOW_RING_TRADES.split()[:n]]
    return [
        Event(start + k * step, "rate", members[int(a)], members[int(b)], actor_profile=HUMAN)
        for k, (a, b) in enumerate(trades)
    ]


def history_before_going_quiet(members: list[str], before: str, ts: float) -> list[Event]:
    """What accounts did before going quiet: each rated a pal of its own ("strangers"), or they all rated one
    friend and were rated by another ("old friends")."""
    if before == "strangers":
        return [Event(ts, "rate", m, f"pal{i}", actor_profile=HUMAN) for i, m in enumerate(members)]
    return [Event(ts, "rate", m, "friend0", actor_profile=HUMAN) for m in members] + [
        Event(ts, "rate", "friend1", m, actor_profile=HUMAN) for m in members
    ]


@pytest.mark.parametrize("before", ["strangers", "old friends"])
def test_accounts_back_from_dormancy_trading_as_strangers_are_flagged_in_their_first_trades(market, before):
    # Six old accounts that last acted months ago come back on the same day and boost each other sparsely, each
    # the next two (one round a day), nobody answering: how a ring of hijacked, long-idle accounts starts. A
    # popular account back from a quiet spell too, which three of them boost and which boosts one back, is their
    # camouflage target.
    # Strangers before, they are a ring; had they shared friends before going quiet, they would be old friends
    # coming back together, which the same trading does not make a ring.
    members = [f"back{i}" for i in range(6)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = [Event(long_ago, "rate", f"fan{j}", "star", actor_profile=HUMAN) for j in range(30)]
    events += [Event(long_ago, "rate", account, "fan0", actor_profile=HUMAN) for account in ("star", "trader")]
    events += history_before_going_quiet(members, before, long_ago)
    ring_boosts = [
        Event(start + day * DAY + (2 * i + k) * HOUR, "rate", m, members[(i + k) % 6], actor_profile=HUMAN)
        for day in (0, 1)
        for i, m in enumerate(members)
        for k in (1, 2)
    ]
    camouflage = [Event(start + (i + 0.5) * HOUR, "rate", members[i], "star", actor_profile=HUMAN) for i in range(3)]
    camouflage.append(Event(start + 4 * HOUR, "rate", "star", members[0], actor_profile=HUMAN))
    # ... and one back from a quiet spell that two of them boost, which trades with one of them: not a member either.
    camouflage += [Event(start + (i + 0.5) * HOUR, "rate", members[i], "trader", actor_profile=HUMAN) for i in (3, 4)]
    camouflage.append(Event(start + 7 * HOUR, "rate", "trader", members[3], actor_profile=HUMAN))
    engine = run(market + events + ring_boosts + camouflage)
    if before == "old friends":
        assert flagged(engine) == set()
        return
    assert flagged(engine) == set(members)
    evidence = engine.results["back0"].evidence
    assert evidence["model"] == "farming_ring_early" and "back from dormancy" in evidence["summary"]
    assert engine.results["back0"].first_flagged_ts < start + DAY  # in its first round, no boost answered yet


@pytest.mark.parametrize("before", ["strangers", "old friends"])
def test_accounts_back_together_trading_within_the_hour_are_a_ring_only_as_strangers(market, before):
    # Five accounts idle for months come back on the same evening and trade as a circle: each pair boosts once,
    # answered within minutes, one lockstep session. Strangers before, they are a hijacked ring's first round. Old
    # friends, who rated the same people before going quiet, are a reunion, which the synthetic background's quiet
    # spells hold (docs/detection.md, *Quiet spells*): the lockstep groups' weights hold acquaintance against them.
    members = [f"back{i}" for i in range(5)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = history_before_going_quiet(members, before, long_ago)
    pairs = [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]
    for k, (a, b) in enumerate(pairs):
        events.append(Event(start + k * 300, "like", a, b, actor_profile=HUMAN))
        events.append(Event(start + (k + 2) * 300, "like", b, a, actor_profile=HUMAN))
    engine = run(market + events)
    if before == "old friends":
        assert flagged(engine) == set()
        return
    assert flagged(engine) == set(members)
    assert engine.results["back0"].evidence["model"] == "farming_ring_early"
    assert engine.results["back0"].first_flagged_ts < start + HOUR


@pytest.mark.parametrize("hours_apart", [14, 48])
@pytest.mark.parametrize("before", ["strangers", "old friends"])
def test_a_slow_ring_of_accounts_back_from_dormancy_is_flagged_when_its_group_closes(market, before, hours_apart):
    # Six accounts idle for months come back and trade slowly, one boost at a time, some boosted by two members
    # before they boost one: how a desynchronised ring of hijacked accounts starts (`SLOW_RING_TRADES`). Its fifth
    # boost closes a group of five. At a boost every two days its first ties are a week old by then: they are the
    # ring's own, made since its members came back, and do not make them acquainted. An account with thirty fans,
    # back from a quiet spell, which two of them boost and which answers one, is their camouflage target.
    members = [f"back{i}" for i in range(6)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = [Event(long_ago, "rate", f"fan{j}", "star", actor_profile=HUMAN) for j in range(30)]
    events += history_before_going_quiet(members, before, long_ago)
    step = hours_apart * HOUR
    events += slow_trades(members, start, step, 8)
    events += [Event(start + (n + 0.5) * step, "rate", members[n], "star", actor_profile=HUMAN) for n in (0, 3)]
    events.append(Event(start + 1.5 * step, "rate", "star", members[0], actor_profile=HUMAN))
    engine = run(market + events)
    if before == "old friends":
        assert flagged(engine) == set()
        return
    assert flagged(engine) == set(members)
    closed = start + 4 * step
    assert engine.results["back1"].first_flagged_ts == closed
    assert "back from dormancy" in engine.results["back1"].evidence["summary"]


def test_a_returning_ring_with_two_old_friends_among_its_members_is_flagged_without_them_first(market):
    # Six accounts idle for months come back and trade slowly, one boost every 14 hours; two of them (back1 and
    # back3) rated each other before going quiet, as two accounts a farm hijacks at random sometimes did. The
    # others were strangers: without back1, which knew another member, they are a returning cohort at the tenth
    # boost (back3 stays as company, boosting two of them), where the pair search sees the ring at the sixteenth.
    members = [f"back{i}" for i in range(6)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = history_before_going_quiet(members, "strangers", long_ago)
    events += [Event(long_ago, "rate", a, b, actor_profile=HUMAN) for a, b in [("back1", "back3"), ("back3", "back1")]]
    events += slow_trades(members, start, 14 * HOUR, 18)
    engine = Engine()
    first, *_ = engine.process_batch(sorted(market + events, key=lambda e: e.ts))
    assert first.flagged_ts == start + 9 * 14 * HOUR  # the tenth boost
    assert set(first.accounts) == set(members) - {"back1"}
    assert "back from dormancy that were strangers" in first.evidence["summary"]
    assert flagged(engine) == set(members)  # back1 with the others, once the pair search grows the whole ring


@pytest.mark.parametrize("back4_boosts", ["u2", "pal9"])
def test_a_ring_back_from_dormancy_is_flagged_before_every_member_has_boosted_another(market, back4_boosts):
    # Five accounts idle for months come back within a day of each other and trade slowly, one boost every ten hours,
    # the way `test_a_bought_ring_is_flagged_before_every_member_has_boosted_another` trades: by the ninth trade
    # back4, back with them, has been boosted by two members and has boosted only a popular account (u2). It is the
    # ring's receiving side, as a fresh member would be. Had it come back rating an account of its own (pal9), it
    # would look like what a ring's camouflage target back from a quiet spell looks like, and not be taken for a
    # member; without it, the others are three.
    members = [f"back{i}" for i in range(5)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = history_before_going_quiet(members, "strangers", long_ago)
    trades = ["1>2", "0>1", "3>4", "0>3", "0>2", "2>1", "3>0", "2>0", "2>4"]
    camouflage = [("back0", "u0"), ("back2", "u1"), ("back4", back4_boosts)]
    pairs = camouflage + [(f"back{a}", f"back{b}") for a, b in (t.split(">") for t in trades)]
    events += [Event(start + 10 * HOUR * i, "rate", a, b, actor_profile=HUMAN) for i, (a, b) in enumerate(pairs)]
    engine = run(market + events)
    if back4_boosts == "pal9":
        assert flagged(engine) == set()
        return
    assert flagged(engine) == set(members)
    assert engine.results["back4"].first_flagged_ts == start + 10 * HOUR * (len(pairs) - 1)
    assert "back from dormancy" in engine.results["back4"].evidence["summary"]


@pytest.mark.parametrize("came_back", ["on its own", "answering a member"])
def test_a_member_back_with_its_ring_that_answered_one_member_is_no_camouflage_target(market, came_back):
    # As above, but back4 answers back3 before back2 boosts it: boosted by two members, it boosts one, answering it,
    # the shape of an account back from a quiet spell answering a ring that boosts it as camouflage. Back on its own
    # with the others (rating a popular account first), it is the ring's; back only to answer the ring, it is not,
    # and without it the others are three.
    members = [f"back{i}" for i in range(5)]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = history_before_going_quiet(members, "strangers", long_ago)
    trades = ["1>2", "0>1", "3>4", "4>3", "0>3", "0>2", "2>1", "3>0", "2>0", "2>4"]
    camouflage = [("back0", "u0"), ("back2", "u1")] + ([("back4", "u2")] if came_back == "on its own" else [])
    pairs = camouflage + [(f"back{a}", f"back{b}") for a, b in (t.split(">") for t in trades)]
    events += [Event(start + 10 * HOUR * i, "rate", a, b, actor_profile=HUMAN) for i, (a, b) in enumerate(pairs)]
    engine = run(market + events)
    assert flagged(engine) == (set(members) if came_back == "on its own" else set())


def test_accounts_back_from_dormancy_boosting_the_same_shops_are_a_ring_without_the_shops(market):
    # Four accounts idle for months come back, each boosts the same three shops (established accounts with twenty
    # fans each, active last week), then they trade in a circle. Counting the shops, each member has two of its five
    # partners inside; but accounts that several members boost and that boost back fewer than half of them are
    # their shared camouflage, not partners of their own. One shop answers a member: it stays outside.
    members = [f"back{i}" for i in range(4)]
    shops = ["shop0", "shop1", "shop2"]
    long_ago, start = T0 - 90 * DAY, T0 + 40 * DAY
    events = history_before_going_quiet(members, "strangers", long_ago)
    events += [
        Event(start - 30 * DAY, "rate", f"fan{j}", shop, actor_profile=HUMAN) for shop in shops for j in range(20)
    ]
    events += [Event(start - 3 * DAY, "rate", shop, "pal9", actor_profile=HUMAN) for shop in shops]
    events += [
        Event(start + (3 * i + k) * HOUR, "rate", m, shop, actor_profile=HUMAN)
        for i, m in enumerate(members)
        for k, shop in enumerate(shops)
    ]
    events.append(Event(start + 13 * HOUR, "rate", "shop0", "back0", actor_profile=HUMAN))
    circle = start + DAY
    events += [
        Event(circle + k * 6 * HOUR, "rate", m, members[(k + 1) % 4], actor_profile=HUMAN)
        for k, m in enumerate(members)
    ]
    engine = run(market + events)
    assert flagged(engine) == set(members)
    assert engine.results["back0"].first_flagged_ts == circle + 3 * 6 * HOUR
    assert "back from dormancy" in engine.results["back0"].evidence["summary"]


def test_a_returning_cohort_completed_by_an_older_account_is_flagged_at_its_next_trade(market):
    # Three accounts back from months of idleness trade in a circle; an older account, active last week, then
    # boosts two of them: it trades like a member, and the four are a cohort. Its boosts are no pair of young
    # accounts, so no cohort search ran on them: the next boost between two members, a pair that already traded,
    # searches again.
    members = [f"back{i}" for i in range(3)]
    long_ago, start, step = T0 - 90 * DAY, T0 + 40 * DAY, 14 * HOUR
    events = history_before_going_quiet(members, "strangers", long_ago)
    events.append(Event(start - 5 * DAY, "rate", "helper", "pal9", actor_profile=HUMAN))
    trades = ["back0>back1", "back1>back2", "back2>back0", "helper>back0", "helper>back1", "back0>back1"]
    events += [
        Event(start + k * step, "rate", *trade.split(">"), actor_profile=HUMAN) for k, trade in enumerate(trades)
    ]
    engine = run(market + events)
    assert flagged(engine) == {*members, "helper"}
    assert engine.results["back0"].first_flagged_ts == start + 5 * step
    assert "back from dormancy" in engine.results["back0"].evidence["summary"]


@pytest.mark.parametrize(
    ("before", "share"),
    [
        ("old friends", 1.0),
        ("strangers", 0.0),
        ("pre-aged ties", 0.0),
        ("met this week", 0.0),
        ("a celebrity", 0.0),
        ("bought fans", 0.0),
    ],
)
def test_members_who_knew_the_same_people_before_they_traded_read_as_acquainted(before, share):
    # Six accounts trading with each other now. An organic community's members knew the same few people weeks
    # before; a ring's hijacked or bought members are strangers until it starts. Their own old ties to each other
    # (a ring pre-aging its ties), someone they all met only this week, a popular account everyone boosts
    # (camouflage) or fans a farm bought for them introduce nobody.
    group = [f"m{i}" for i in range(6)]
    long_ago, this_week = T0 - 20 * DAY, T0 - 2 * DAY
    friend = fake_profile(long_ago - DAY) if before == "bought fans" else HUMAN
    events = [Event(long_ago, "like", f"fan{j}", "celebrity", actor_profile=HUMAN) for j in range(60)]
    for i, a in enumerate(group):
        events += {
            "old friends": [
                Event(long_ago, "like", a, f"friend{i % 2}", actor_profile=HUMAN),
                Event(long_ago, "like", f"friend{(i + 1) % 2}", a, actor_profile=HUMAN),
            ],
            "bought fans": [Event(long_ago, "like", f"fan{j}", a, actor_profile=friend) for j in (0, 1)],
            "strangers": [Event(long_ago, "like", a, f"acquaintance{i}", actor_profile=HUMAN)],
            "pre-aged ties": [Event(long_ago, "like", a, group[(i + 1) % 6], actor_profile=HUMAN)],
            "met this week": [Event(this_week, "like", a, "newcomer", actor_profile=HUMAN)],
            "a celebrity": [Event(long_ago, "like", a, "celebrity", actor_profile=HUMAN)],
        }[before]
        events += [Event(T0, "rate", a, group[(i + k) % 6], actor_profile=HUMAN) for k in (1, 2, 3)]
    engine = Engine()
    engine.process_batch(sorted(events, key=lambda e: e.ts))
    members, now = set(group), T0 + HOUR
    acquainted = engine.state.acquainted_pairs(members, now)
    features = describe(members, engine.finder, now, fresh=0, boosters=(0, 0), acquainted=acquainted).as_dict()
    assert features["acquainted_share"] == share
    # With everything else about the group the same, the dense paths' and the young groups' weights hold
    # acquaintance against it.
    strangers = {**features, "acquainted_share": 0.0}
    for model in ("farming_ring_dense", "farming_ring_new_ties", "farming_ring_early"):
        weights = load_weights()[model]
        assert weights.score({**strangers, "acquainted_share": 1.0}) < weights.score(strangers)


@pytest.mark.parametrize("names", [("a", "b"), ("b", "a")])
def test_who_a_group_keeps_around_a_pair_does_not_depend_on_account_names(names):
    # Six accounts all trading both ways, and two hangers-on each boosting two of them and boosted by one. In the
    # group of eight neither has enough ties; removing one first would make the other's threshold easier.
    graph = RecentBoostGraph(window=60 * DAY)
    ring = [f"r{i}" for i in range(6)]
    for a in ring:
        for b in ring:
            if a != b:
                graph.add(a, b, T0)
    x, y = f"{names[0]}x", f"{names[1]}y"
    for hanger, (first, second) in ((x, ring[:2]), (y, ring[2:4])):
        graph.add(hanger, first, T0)
        graph.add(hanger, second, T0)
        graph.add(first, hanger, T0)
    group = {*ring, x, y}
    assert RingFinder(graph).peel(group, T0 + 1) == set(ring)
