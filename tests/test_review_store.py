"""The review case store against a real Redis: idempotent flagging, leases, concurrent claims, decisions, audit."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from detector.core.engine import Engine
from detector.core.events import Event
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH, Finding
from detector.review.store import (
    SCORE_WEIGHT_SECONDS,
    CaseConflict,
    CaseNotFound,
    CaseStore,
    InvalidRequest,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

T0 = 1_750_000_000.0
POLICY = "inauthentic-engagement"


class Clock:
    """A wall clock the test moves by hand, so leases and retention expire without sleeping."""

    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class ListSink:
    def __init__(self, fail: bool = False):
        self.published: list[dict] = []
        self.fail = fail

    async def publish(self, decision: dict) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.published.append(decision)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
async def client(redis_url: str):
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def store(client, clock: Clock, sink: ListSink):
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield CaseStore(client, clock=clock, lease_seconds=600, closed_retention_seconds=86400, prefix=prefix, sink=sink)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)


def ring(case_id: str = "ring-aaaa", members=("m1", "m2", "m3", "m4"), score=0.8, last=T0 - 100) -> Finding:
    return Finding(
        case_id=case_id,
        scheme=FARMING_RING,
        accounts=tuple(sorted(members)),
        score=score,
        flagged_ts=last,
        first_event_ts=last - 3600,
        last_event_ts=last,
        model_version="test-1",
        evidence={
            "summary": f"{len(members)} accounts boosting each other",
            "members": sorted(members),
            "edges": [[a, b, last] for a in members for b in members if a != b],
            "top_features": [{"name": "inflow_closure", "value": 0.9, "contribution": 0.4}],
            "sample_event_ids": ["e1", "e2"],
            "features": {"inflow_closure": 0.9},
        },
    )


def growth(account: str = "star", score: float = 0.7, last: float = T0 - 50) -> Finding:
    return Finding(
        case_id=f"growth-{account}",
        scheme=FOLLOWER_GROWTH,
        accounts=(account,),
        score=score,
        flagged_ts=last,
        first_event_ts=last - 86400,
        last_event_ts=last,
        model_version="test-1",
        evidence={
            "summary": "burst",
            "burst_window": {"start": last - 86400, "end": last, "new_followers": 300, "baseline_per_day": 2.0},
        },
    )


async def actions(store: CaseStore, case_id: str) -> list[str]:
    return [entry.action for entry in await store.case_audit(case_id)]


# ---------------------------------------------------------------------- flagging
async def test_the_same_finding_twice_is_one_case_and_one_audit_entry(store: CaseStore):
    first = await store.upsert_finding(ring())
    again = await store.upsert_finding(ring())
    assert (first.created, first.changed) == (True, True)
    assert (again.created, again.changed) == (False, False)
    assert [c.case_id for c in await store.list_cases()] == ["ring-aaaa"]
    assert await actions(store, "ring-aaaa") == ["flagged"]
    assert (await store.counts())["open"] == 1


async def test_a_replayed_finding_flagged_later_is_still_the_same(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    clock.now += 60
    replayed = Finding(**{**ring().to_dict(), "flagged_ts": T0 + 999})
    assert not (await store.upsert_finding(replayed)).changed


async def test_stronger_evidence_updates_the_case_and_its_priority(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring("ring-a", score=0.6))
    await store.upsert_finding(ring("ring-b", members=("x1", "x2", "x3", "x4"), score=0.7))
    assert [c.case_id for c in await store.list_cases(state="open")] == ["ring-b", "ring-a"]
    clock.now += 60
    result = await store.upsert_finding(ring("ring-a", members=("m1", "m2", "m3", "m4", "m5"), score=0.9, last=T0))
    assert (result.created, result.changed) == (False, True)
    case = await store.get("ring-a")
    assert case.score == 0.9 and case.accounts == ["m1", "m2", "m3", "m4", "m5"] and case.revisions == 2
    assert case.priority == pytest.approx(0.9 * SCORE_WEIGHT_SECONDS - T0)  # age counts from the first flag
    assert [c.case_id for c in await store.list_cases(state="open")] == ["ring-a", "ring-b"]
    assert [c.case_id for c in await store.cases_of("m5")] == ["ring-a"]
    assert await actions(store, "ring-a") == ["flagged", "updated"]
    assert len(case.history) == 2


async def test_concurrent_flags_of_one_case_lose_no_update(redis_url: str, store: CaseStore):
    await store.upsert_finding(ring())
    clients = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    stores = [CaseStore(c, clock=store.clock, prefix=store.keys.prefix) for c in clients]
    try:  # each writer adds its own member; the transactions retry instead of overwriting each other
        results = await asyncio.gather(
            *(s.upsert_finding(ring(members=("m1", "m2", "m3", "m4", f"x{i}"))) for i, s in enumerate(stores))
        )
    finally:
        for c in clients:
            await c.aclose()
    assert all(r.changed for r in results)
    case = await store.get("ring-aaaa")
    assert case.accounts == sorted(["m1", "m2", "m3", "m4", *(f"x{i}" for i in range(8))])
    assert case.revisions == 9 and (await actions(store, "ring-aaaa")).count("updated") == 8


async def test_an_older_finding_does_not_roll_the_case_back(store: CaseStore):
    await store.upsert_finding(ring(score=0.9, last=T0))
    stale = await store.upsert_finding(ring(score=0.7, last=T0 - 500))
    assert not stale.changed
    assert (await store.get("ring-aaaa")).score == 0.9


async def test_older_age_outranks_a_slightly_higher_score(store: CaseStore, clock: Clock):
    await store.upsert_finding(growth("old", score=0.70))
    clock.now += 3 * 86400  # three days of waiting is worth more than 0.05 of score
    await store.upsert_finding(growth("new", score=0.75))
    assert [c.case_id for c in await store.list_cases(state="open")] == ["growth-old", "growth-new"]


async def test_a_decided_case_flagged_again_stays_decided_and_keeps_the_evidence(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    await store.decide("ring-aaaa", "alice", "dismissed", "no-violation", "a gaming guild")
    assert not (await store.upsert_finding(ring())).changed  # the same evidence is not news
    clock.now += 60
    result = await store.upsert_finding(ring(score=0.95, last=T0))
    assert result.changed and not result.created
    case = await store.get("ring-aaaa")
    assert (case.state, case.decision, case.score, case.evidence_after_decision) == ("decided", "dismissed", 0.95, 1)
    assert (await store.counts())["open"] == 0
    assert await actions(store, "ring-aaaa") == ["flagged", "decided", "reflagged_after_decision"]


async def test_engine_findings_for_a_growing_ring_land_in_one_case(store: CaseStore):
    engine = Engine()
    members = [f"r{i}" for i in range(6)]
    t, findings = T0 - 10_000, []
    for a in members:
        for b in members:
            if a != b:
                t += 60
                findings += engine.process(Event(t, "endorse", a, b, id=f"{a}>{b}"))
    assert len(findings) >= 2
    results = [await store.upsert_finding(f) for f in findings + findings]
    assert sum(r.created for r in results) == 1
    cases = await store.list_cases()
    assert len(cases) == 1 and cases[0].accounts == members


# ---------------------------------------------------------------------- allowlist and labels
async def test_allowlisted_accounts_are_never_flagged_again(store: CaseStore, clock: Clock):
    await store.allow("star", "admin", "verified news outlet", expires_at=T0 + 3600)
    assert await store.is_allowlisted("star")
    suppressed = await store.upsert_finding(growth("star"))
    assert suppressed.suppressed and suppressed.allowlisted == ("star",) and not suppressed.changed
    with pytest.raises(CaseNotFound):
        await store.get("growth-star")
    partial = await store.upsert_finding(ring(members=("m1", "m2", "m3", "star")))
    assert partial.created and partial.allowlisted == ("star",)
    assert (await store.get("ring-aaaa")).accounts == ["m1", "m2", "m3"]
    assert [e.account for e in await store.allowlist()] == ["star"]
    clock.now += 3601
    assert not await store.is_allowlisted("star")
    assert await store.allowlist() == []
    assert (await store.upsert_finding(growth("star"))).created


async def test_allowlist_removal_and_validation(store: CaseStore):
    with pytest.raises(InvalidRequest):
        await store.allow("x", "admin", "  ")
    with pytest.raises(InvalidRequest):
        await store.allow("x", "admin", "reason", expires_at=T0 - 1)
    await store.allow("x", "admin", "partner")
    assert await store.disallow("x", "admin")
    assert not await store.is_allowlisted("x")
    assert [e.action for e in await store.recent_audit()] == ["allowlist_removed", "allowlisted"]


async def test_labels_expire(store: CaseStore, clock: Clock):
    await store.add_label("m1", "known-farm", "alice", expires_at=T0 + 60, note="seen in March")
    await store.add_label("m1", "reviewed", "alice")
    assert [label.label for label in await store.labels("m1")] == ["known-farm", "reviewed"]
    clock.now += 61
    assert [label.label for label in await store.labels("m1")] == ["reviewed"]
    assert await store.remove_label("m1", "reviewed", "alice")
    assert await store.labels("m1") == []


# ---------------------------------------------------------------------- claims and leases
async def test_a_lease_that_runs_out_returns_the_case_to_the_queue(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    case = await store.claim_next("alice")
    assert (case.state, case.claimed_by, case.lease_expires_at) == ("claimed", "alice", T0 + 600)
    assert await store.claim_next("bob") is None
    with pytest.raises(CaseConflict, match="claimed by alice"):
        await store.claim("ring-aaaa", "bob")
    clock.now += 601
    assert (await store.get("ring-aaaa")).state == "open"  # lazily, before anything reaps it
    assert [c.case_id for c in await store.list_cases(state="open")] == ["ring-aaaa"]
    assert (await store.claim_next("bob")).claimed_by == "bob"
    with pytest.raises(CaseConflict, match="claimed by bob"):
        await store.decide("ring-aaaa", "alice", "confirmed", POLICY, "ring")
    assert await actions(store, "ring-aaaa") == ["flagged", "claimed", "lease_expired", "claimed"]


async def test_the_reaper_returns_expired_leases(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    await store.claim("ring-aaaa", "alice")
    assert await store.reap_expired_leases() == 0
    clock.now += 601
    assert (await store.maintain())["leases_expired"] == 1
    assert (await store.counts()) == {"open": 1, "claimed": 0, "decided": 0}


async def test_claiming_again_renews_the_lease_and_release_gives_it_back(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    await store.claim("ring-aaaa", "alice")
    clock.now += 300
    assert (await store.claim("ring-aaaa", "alice")).lease_expires_at == T0 + 900
    with pytest.raises(CaseConflict):
        await store.release("ring-aaaa", "bob")
    await store.release("ring-aaaa", "alice")
    assert (await store.get("ring-aaaa")).state == "open"
    assert await actions(store, "ring-aaaa") == ["flagged", "claimed", "lease_renewed", "released"]


async def test_concurrent_claims_never_give_one_case_to_two_reviewers(redis_url: str, store: CaseStore):
    for i in range(5):
        await store.upsert_finding(growth(f"acct{i}", score=0.6 + i / 100))
    # Each reviewer on its own connection, all racing at once.
    clients = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(12)]
    stores = [CaseStore(c, clock=store.clock, lease_seconds=600, prefix=store.keys.prefix) for c in clients]
    try:
        claimed = await asyncio.gather(*(s.claim_next(f"reviewer{i}") for i, s in enumerate(stores)))
        holders = {c.case_id: c.claimed_by for c in claimed if c is not None}
        assert len(holders) == 5 and sum(c is not None for c in claimed) == 5
        outcomes = await asyncio.gather(
            *(s.claim("growth-acct0", f"other{i}") for i, s in enumerate(stores)), return_exceptions=True
        )
        assert all(isinstance(o, CaseConflict) for o in outcomes)
        for case_id, holder in holders.items():
            assert (await store.get(case_id)).claimed_by == holder
            assert (await actions(store, case_id)).count("claimed") == 1
    finally:
        for c in clients:
            await c.aclose()


async def test_concurrent_claims_of_one_open_case_have_one_winner(redis_url: str, store: CaseStore):
    await store.upsert_finding(ring())
    clients = [aioredis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    stores = [CaseStore(c, clock=store.clock, prefix=store.keys.prefix) for c in clients]
    try:
        outcomes = await asyncio.gather(
            *(s.claim("ring-aaaa", f"reviewer{i}") for i, s in enumerate(stores)), return_exceptions=True
        )
    finally:
        for c in clients:
            await c.aclose()
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, CaseConflict) for o in outcomes if o not in winners)


async def test_claim_next_honours_filters(store: CaseStore):
    await store.upsert_finding(ring(score=0.95))
    await store.upsert_finding(growth("star", score=0.6))
    assert (await store.claim_next("alice", scheme=FOLLOWER_GROWTH)).case_id == "growth-star"
    assert await store.claim_next("bob", scheme=FOLLOWER_GROWTH) is None
    assert await store.claim_next("bob", max_score=0.9) is None
    assert (await store.claim_next("bob", min_score=0.9)).case_id == "ring-aaaa"


# ---------------------------------------------------------------------- decisions
async def test_a_decision_needs_a_known_decision_a_policy_and_a_reason(store: CaseStore):
    await store.upsert_finding(ring())
    invalid = [("banned", POLICY, "x"), ("confirmed", "made-up", "x"), ("confirmed", POLICY, " ")]
    for decision, policy, reason in invalid:
        with pytest.raises(InvalidRequest):
            await store.decide("ring-aaaa", "alice", decision, policy, reason)
    with pytest.raises(CaseNotFound):
        await store.decide("ring-nope", "alice", "confirmed", POLICY, "x")
    assert (await store.get("ring-aaaa")).state == "open"


async def test_deciding_publishes_and_reopening_supersedes(store: CaseStore, sink: ListSink, clock: Clock):
    await store.upsert_finding(ring())
    await store.claim("ring-aaaa", "alice")
    first = await store.decide("ring-aaaa", "alice", "confirmed", POLICY, "closed loop of endorsements", "see edges")
    case = await store.get("ring-aaaa")
    assert (case.state, case.decision, case.decided_by, case.note) == ("decided", "confirmed", "alice", "see edges")
    assert sink.published == [first]
    assert first["accounts"] == ["m1", "m2", "m3", "m4"] and first["features"] == {"inflow_closure": 0.9}
    assert first["scheme"] == FARMING_RING and first["reviewer"] == "alice" and first["decided_at"] == T0
    with pytest.raises(CaseConflict, match="already confirmed"):
        await store.decide("ring-aaaa", "bob", "dismissed", "no-violation", "x")
    with pytest.raises(CaseConflict):
        await store.claim("ring-aaaa", "bob")
    clock.now += 10
    reopened = await store.reopen("ring-aaaa", "admin", "appeal upheld")
    assert (reopened.state, reopened.decision) == ("open", "")
    second = await store.decide("ring-aaaa", "bob", "dismissed", "no-violation", "appeal: a real club")
    assert second["supersedes"] == first["decision_id"] and second["decision_id"] != first["decision_id"]
    assert [d["decision"] for d in sink.published] == ["confirmed", "dismissed"]
    with pytest.raises(CaseConflict):
        await store.release("ring-aaaa", "bob")  # decided, so nobody holds it


async def test_decision_records_keep_what_the_reviewer_saw_not_later_evidence(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    await store.upsert_finding(growth())
    await store.upsert_finding(ring("ring-bbbb", members=("n1", "n2", "n3", "n4")))
    await store.decide("ring-aaaa", "alice", "dismissed", "no-violation", "a gaming guild")
    clock.now += 1
    await store.decide("growth-star", "alice", "escalated", POLICY, "needs a second look")
    clock.now += 1
    later = ring(score=0.95, last=T0)
    later.evidence["features"] = {"inflow_closure": 1.0}
    await store.upsert_finding(later)  # flagged again after the decision, with other features
    rows = [(case_id, row) async for case_id, row in store.labelled_decisions()]
    assert [case_id for case_id, _ in rows] == ["ring-aaaa", "growth-star"]  # decided ones, oldest first
    dismissed, escalated = rows[0][1], rows[1][1]
    assert dismissed["features"] == {"inflow_closure": 0.9} and dismissed["label"] is False
    assert dismissed["model"] == FARMING_RING  # the evidence named no model: the scheme's own
    assert (dismissed["reviewer"], dismissed["policy"], dismissed["decided_at"]) == ("alice", "no-violation", T0)
    assert escalated["label"] is None  # not a label
    await store.reopen("ring-aaaa", "admin", "appeal")
    assert [case_id async for case_id, _ in store.labelled_decisions()] == ["growth-star"]


async def test_decisions_wait_in_the_outbox_while_the_broker_is_down(client, clock: Clock):
    down = ListSink(fail=True)
    store = CaseStore(client, clock=clock, prefix=f"test-{uuid.uuid4().hex[:12]}:", sink=down)
    await store.upsert_finding(ring())
    record = await store.decide("ring-aaaa", "alice", "escalated", "spam-network", "needs legal")  # does not raise
    assert await store.pending_decisions() == 1
    down.fail = False
    assert (await store.maintain())["decisions_published"] == 1
    assert down.published == [record] and await store.pending_decisions() == 0
    await client.delete(*[k async for k in client.scan_iter(match=store.keys.prefix + "*")])


async def test_bulk_decide_reports_each_case(store: CaseStore, sink: ListSink):
    for i in range(3):
        await store.upsert_finding(growth(f"acct{i}"))
    await store.claim("growth-acct2", "bob")
    result = await store.bulk_decide(
        ["growth-acct0", "growth-acct1", "growth-acct2", "growth-x"], "admin", "dismissed", "no-violation", "campaign"
    )
    assert result.decided == ["growth-acct0", "growth-acct1"]
    assert set(result.failed) == {"growth-acct2", "growth-x"}
    assert {d["bulk_id"] for d in sink.published} == {result.bulk_id}
    bulk = [e for e in await store.recent_audit() if e.action == "bulk_decided"]
    assert len(bulk) == 1 and bulk[0].actor == "admin" and bulk[0].details["decided"] == result.decided


async def test_the_audit_trail_is_complete(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    clock.now += 1
    await store.upsert_finding(ring(score=0.9, last=T0))
    clock.now += 1
    await store.claim("ring-aaaa", "alice")
    clock.now += 1
    await store.release("ring-aaaa", "alice")
    clock.now += 1
    await store.claim_next("bob")
    clock.now += 1
    await store.decide("ring-aaaa", "bob", "confirmed", POLICY, "loop")
    clock.now += 1
    await store.reopen("ring-aaaa", "carol", "second look")
    clock.now += 1
    await store.bulk_decide(["ring-aaaa"], "carol", "escalated", POLICY, "to legal")
    trail = await store.case_audit("ring-aaaa")
    assert [(e.actor, e.action) for e in trail] == [
        ("detector", "flagged"),
        ("detector", "updated"),
        ("alice", "claimed"),
        ("alice", "released"),
        ("bob", "claimed"),
        ("bob", "decided"),
        ("carol", "reopened"),
        ("carol", "decided"),
    ]
    assert [e.ts for e in trail] == [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5, T0 + 6, T0 + 7]
    assert trail[5].details["reason"] == "loop" and trail[7].details["bulk_id"]
    everything = [e.action for e in reversed(await store.recent_audit())]
    assert everything == [e.action for e in trail] + ["bulk_decided"]


# ---------------------------------------------------------------------- listing and retention
async def test_list_filters(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring(score=0.9))
    clock.now += 7200
    await store.upsert_finding(growth("a", score=0.55))
    await store.upsert_finding(growth("b", score=0.65))
    await store.decide("growth-b", "alice", "confirmed", "fake-followers", "bought")

    async def ids(**filters) -> list[str]:
        return [c.case_id for c in await store.list_cases(**filters)]

    assert await ids(scheme=FOLLOWER_GROWTH) == ["growth-b", "growth-a"]
    assert await ids(state="open") == ["ring-aaaa", "growth-a"]
    assert await ids(state="confirmed") == ["growth-b"] and await ids(state="dismissed") == []
    assert await ids(min_score=0.6, max_score=0.7) == ["growth-b"]
    assert await ids(min_age_seconds=3600) == ["ring-aaaa"]
    assert await ids(max_age_seconds=3600, state="open") == ["growth-a"]
    assert await ids(limit=1, offset=1) == ["growth-a"]
    with pytest.raises(InvalidRequest):
        await store.list_cases(state="pending")
    assert await store.related_cases("ring-aaaa") == []
    await store.upsert_finding(growth("m2"))
    assert [c.case_id for c in await store.related_cases("ring-aaaa")] == ["growth-m2"]


async def test_decided_cases_are_purged_after_retention(store: CaseStore, clock: Clock):
    await store.upsert_finding(ring())
    await store.upsert_finding(growth())
    await store.decide("ring-aaaa", "alice", "confirmed", POLICY, "loop")
    clock.now += 86400 + 1
    assert (await store.maintain())["cases_purged"] == 1
    with pytest.raises(CaseNotFound):
        await store.get("ring-aaaa")
    assert await store.case_audit("ring-aaaa") == [] and await store.cases_of("m1") == []
    assert (await store.get("growth-star")).state == "open"
    assert any(e.action == "decided" for e in await store.recent_audit())  # the global log outlives the case


async def test_decision_records_satisfy_the_alert_stream_contract(store: CaseStore, sink: ListSink):
    from detector.alerts.contract import Decision

    await store.upsert_finding(ring())
    record = await store.decide("ring-aaaa", "alice", "escalated", POLICY, "needs a second look")
    decision = Decision.from_json(orjson.dumps(record))
    assert (decision.decision_id, decision.accounts, decision.decision) == (
        record["decision_id"], ("m1", "m2", "m3", "m4"), "escalated",
    )  # fmt: skip
