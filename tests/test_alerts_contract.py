"""The alert contract (docs/alerts/): every alert validates against its published schema, ids are stable, and
the v1 schemas keep every promise recorded in docs/alerts/v1.rules.json."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from detector.alerts import (
    DECIDED_TYPE,
    FLAGGED_TYPES,
    CloudEvent,
    Decision,
    DecisionRejected,
    decided_event,
    flagged_event,
    partition_key,
    severity,
    source_for,
)
from detector.core.engine import Engine
from detector.core.events import Event, Profile
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH, Finding
from detector.simulation import SimulationConfig, generate

ALERTS_DOCS = Path(__file__).resolve().parent.parent / "docs" / "alerts"
SCHEMAS = {
    "flagged": json.loads((ALERTS_DOCS / "flagged.v1.schema.json").read_text()),
    "decided": json.loads((ALERTS_DOCS / "decided.v1.schema.json").read_text()),
}
LOCK = json.loads((ALERTS_DOCS / "v1.rules.json").read_text())
SOURCE = source_for("test")
BASE_URL = "http://127.0.0.1:8080/cases"

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    # RFC 3339 needs an offset; fromisoformat alone would accept a naive time.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlparse(value).scheme)


def validate(event: CloudEvent) -> None:
    """Raise unless ``event`` is a valid alert: its data against its schema, its attributes consistent."""
    kind = "decided" if event.type == DECIDED_TYPE else "flagged"
    assert event.dataschema == SCHEMAS[kind]["$id"]
    Draft202012Validator(SCHEMAS[kind], format_checker=FORMATS).validate(event.data)
    assert event.subject == event.data["case_id"]
    datetime.fromisoformat(event.time)
    if kind == "flagged":
        assert event.type == FLAGGED_TYPES[event.data["scheme"]]
        assert event.id == f"{event.data['case_id']}:r{event.data['revision']}"


def ring_findings() -> list[Finding]:
    engine, t, found = Engine(), 1_700_000_000.0, []
    ring = [f"ring-member-{i}" for i in range(6)]
    for rep in range(3):
        for a in ring:
            for b in ring:
                if a != b:
                    t += 60
                    found += engine.process(Event(t, "endorse", a, b, id=f"{a}>{b}#{rep}"))
    return found


def growth_findings() -> list[Finding]:
    engine, t, found = Engine(), 1_700_000_000.0, []
    for i in range(40):  # an organic baseline of one new follower every half day
        t += 43_200
        old = Profile(created_ts=t - 400 * 86_400, followers=200, following=150, posts=300)
        found += engine.process(Event(t, "follow", f"fan-{i}", "star", id=f"fan-{i}", actor_profile=old))
    for i in range(80):  # then bought followers, fresh, empty and following hundreds, one a minute
        t += 60
        fresh = Profile(created_ts=t - 3600, followers=0, following=600, posts=0)
        found += engine.process(Event(t, "follow", f"bot-{i}", "star", id=f"bot-{i}", actor_profile=fresh))
    return found


def alerts_of(findings: list[Finding]) -> list[CloudEvent]:
    revisions: dict[str, int] = {}
    events = []
    for finding in findings:
        revisions[finding.case_id] = revisions.get(finding.case_id, 0) + 1
        events.append(flagged_event(finding, revisions[finding.case_id], source=SOURCE, case_base_url=BASE_URL))
    return events


def decision_json(**overrides) -> bytes:
    record = {
        "decision_id": "d-1",
        "case_id": "ring-0123456789abcdef",
        "scheme": FARMING_RING,
        "accounts": ["a", "b", "c", "d"],
        "decision": "confirmed",
        "policy": "inauthentic-engagement",
        "reason": "they endorse each other every minute",
        "reviewer": "ann",
        "decided_at": 1_700_000_000.5,
        "note": "",
        "score": 0.97,
    }
    return orjson.dumps({**record, **overrides})


# ---------------------------------------------------------------------------------------------- validity
def test_ring_alerts_validate_and_open_then_update_the_case():
    events = alerts_of(ring_findings())
    assert events, "the engine should flag an unmistakable ring"
    for event in events:
        validate(event)
    assert [e.data["activity"] for e in events] == ["create"] + ["update"] * (len(events) - 1)
    assert {e.type for e in events} == {FLAGGED_TYPES[FARMING_RING]}
    assert len({e.id for e in events}) == len(events)


def test_growth_alerts_validate_and_carry_the_burst_window():
    events = alerts_of(growth_findings())
    assert events, "the engine should flag a burst of fresh, empty, follow-heavy followers"
    for event in events:
        validate(event)
        assert event.data["accounts"] == ["star"]
        assert event.data["evidence"]["burst_window"]["new_followers"] > 0
    assert {e.type for e in events} == {FLAGGED_TYPES[FOLLOWER_GROWTH]}


def test_every_alert_on_simulated_traffic_validates():
    events, _truth = generate(SimulationConfig(seed=3, rings=2, bursts=2, days=6, accounts=300))
    engine = Engine()
    findings = [f for event in events for f in engine.process(event)]
    alerts = alerts_of(findings)
    assert {a.data["scheme"] for a in alerts} == {FARMING_RING, FOLLOWER_GROWTH}
    for alert in alerts:
        validate(alert)


@pytest.mark.parametrize("outcome, activity", [("confirmed", "close"), ("dismissed", "close"), ("escalated", "update")])
def test_decided_alerts_validate(outcome: str, activity: str):
    event = decided_event(Decision.from_json(decision_json(decision=outcome)), source=SOURCE, case_base_url=BASE_URL)
    validate(event)
    assert event.type == DECIDED_TYPE
    assert event.id == "ring-0123456789abcdef:decision:d-1"
    assert event.data["activity"] == activity
    assert event.time == event.data["decided_at"] == "2023-11-14T22:13:20.500Z"


def test_decided_at_may_be_rfc3339():
    decision = Decision.from_json(decision_json(decided_at="2023-11-14T23:13:20.5+01:00"))
    assert decision.decided_at == "2023-11-14T22:13:20.500Z"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"\xff\xfe", "invalid_json"),
        (b"[]", "not_an_object"),
        (decision_json(decision="maybe"), "decision:"),
        (decision_json(scheme="spam"), "scheme:"),
        (decision_json(accounts=[]), "accounts:"),
        (decision_json(decision_id=""), "decision_id:"),
        (decision_json(decided_at="yesterday"), "decided_at:"),
        (decision_json(decided_at="2023-11-14T22:13:20"), "decided_at:"),  # no offset: ambiguous
    ],
)
def test_malformed_decisions_are_rejected_with_a_reason(raw: bytes, reason: str):
    with pytest.raises(DecisionRejected) as caught:
        Decision.from_json(raw)
    assert caught.value.reason.startswith(reason)


# ---------------------------------------------------------------------------------------------- identity
def test_redelivery_gives_byte_identical_records():
    finding = ring_findings()[0]
    first = flagged_event(finding, 1, source=SOURCE, case_base_url=BASE_URL)
    again = flagged_event(Finding.from_dict(finding.to_dict()), 1, source=SOURCE, case_base_url=BASE_URL)
    key = partition_key(FARMING_RING, finding.case_id, finding.accounts)
    assert first.to_kafka(key) == again.to_kafka(key)
    assert first.id == f"{finding.case_id}:r1"


def test_binary_mode_headers_round_trip():
    event = alerts_of(growth_findings())[0]
    key, value, headers = event.to_kafka(partition_key(FOLLOWER_GROWTH, event.data["case_id"], event.data["accounts"]))
    assert key == b"star"
    names = [name for name, _ in headers]
    assert names == [
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "ce_dataschema", "content-type",
    ]  # fmt: skip
    assert dict(headers)["ce_specversion"] == b"1.0"
    assert CloudEvent.from_kafka(value, headers) == event


def test_ring_alerts_are_keyed_by_case_and_growth_by_account():
    assert partition_key(FARMING_RING, "ring-1", ["a", "b"]) == "ring-1"
    assert partition_key(FOLLOWER_GROWTH, "growth-1", ["a"]) == "a"


def test_severity_bands():
    assert [severity(s) for s in (0.5, 0.7, 0.85, 0.95, 1.0)] == ["low", "medium", "high", "critical", "critical"]


# ---------------------------------------------------------------------------------------------- stability
def contract_rules(schema: dict) -> dict[str, dict]:
    """Flatten a schema into what consumers rely on: per property path, its type, whether required, its enum."""
    rules: dict[str, dict] = {}

    def walk(node: dict, path: str) -> None:
        required = set(node.get("required", ()))
        for name, prop in node.get("properties", {}).items():
            here = f"{path}.{name}" if path else name
            rule: dict = {"required": name in required}
            if "enum" in prop:
                rule["enum"] = sorted(prop["enum"])
            else:
                rule["type"] = prop["type"]
            rules[here] = rule
            if prop.get("type") == "object":
                walk(prop, here)
            elif prop.get("type") == "array" and prop["items"].get("type") == "object":
                walk(prop["items"], here + "[]")
            elif prop.get("type") == "array":
                rules[here + "[]"] = {"required": False, "type": prop["items"]["type"]}

    walk(schema, "")
    return rules


def breaking_changes(locked: dict[str, dict], current: dict[str, dict]) -> list[str]:
    problems = []
    for path, rule in locked.items():
        now = current.get(path)
        if now is None:
            problems.append(f"{path}: removed")
            continue
        if rule["required"] and not now["required"]:
            problems.append(f"{path}: no longer required")
        if "type" in rule and now.get("type") != rule["type"]:
            problems.append(f"{path}: type changed from {rule['type']} to {now.get('type', 'an enum')}")
        if "enum" in rule and not set(rule["enum"]) <= set(now.get("enum", ())):
            problems.append(f"{path}: enum lost {sorted(set(rule['enum']) - set(now.get('enum', ())))}")
    return problems


@pytest.mark.parametrize("kind", ["flagged", "decided"])
def test_v1_schemas_keep_every_locked_rule(kind: str):
    assert SCHEMAS[kind]["$id"] == LOCK[kind]["$id"]
    assert breaking_changes(LOCK[kind]["rules"], contract_rules(SCHEMAS[kind])) == []


def test_v1_event_types_are_still_emitted():
    assert set(LOCK["types"]) <= {*FLAGGED_TYPES.values(), DECIDED_TYPE}


def test_the_lock_catches_breaking_changes():
    schema = copy.deepcopy(SCHEMAS["flagged"])
    schema["required"].remove("severity")
    schema["properties"]["score"] = {"type": "string"}
    schema["properties"]["scheme"]["enum"].remove("follower_growth")
    del schema["properties"]["evidence"]["properties"]["summary"]
    assert breaking_changes(LOCK["flagged"]["rules"], contract_rules(schema)) == [
        "scheme: enum lost ['follower_growth']",
        "score: type changed from number to string",
        "severity: no longer required",
        "evidence.summary: removed",
    ]


def test_adding_an_optional_field_is_not_breaking():
    schema = copy.deepcopy(SCHEMAS["flagged"])
    schema["properties"]["region"] = {"type": "string"}
    assert breaking_changes(LOCK["flagged"]["rules"], contract_rules(schema)) == []


def test_a_decision_carries_its_features_for_online_learning_and_drops_non_numbers():
    from detector.alerts import Decision

    raw = (
        b'{"decision_id": "d1", "case_id": "ring-1", "scheme": "farming_ring", "accounts": ["a"],'
        b' "decision": "dismissed", "policy": "p", "reason": "r", "reviewer": "ann", "decided_at": 1700000000,'
        b' "features": {"size": 5, "tie_density": 0.9, "bad": "x", "flag": true}}'
    )
    decision = Decision.from_json(raw)
    assert decision.features == {"size": 5.0, "tie_density": 0.9}
    assert decision.label is False
