"""The event contract: what is accepted, what is rejected and why, and that the JSON Schema says the same."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import msgspec
import orjson
import pytest

from detector.core import events
from detector.core.events import MAX_LINE_BYTES, EventRejected, event_from_dict, parse_event

SCHEMA = json.loads(resources.files("detector").joinpath("schemas/event.schema.json").read_text())
VALID = {"ts": 1_700_000_000, "kind": "endorse", "actor": "alice", "target": "bob"}

ACCEPTED = [
    VALID,
    {**VALID, "id": "e-1", "weight": -3.5, "kind": "rate", "topic": "python"},
    {**VALID, "actor_profile": {"created_ts": 1_600_000_000, "followers": 0, "following": 12, "posts": 3}},
    {**VALID, "actor": "ユーザー", "target": "x" * 128},
    # every bound, inclusive (the fast path's decoder checks them, the validator again)
    {**VALID, "ts": 1_230_768_000, "weight": -1_000_000, "id": "i" * 128, "topic": "t" * 128},
    {**VALID, "ts": 4_102_444_800, "weight": 1_000_000, "actor_profile": {"created_ts": 0, "followers": 10**12}},
]
REJECTED = [
    ({**VALID, "ts": "1700000000"}, "ts: must be a number"),
    ({**VALID, "ts": True}, "ts: must be a number"),
    ({**VALID, "ts": 1e300}, "ts: outside"),
    ({**VALID, "ts": 100}, "ts: outside"),
    ({k: v for k, v in VALID.items() if k != "ts"}, "ts: required"),
    ({**VALID, "kind": "poke"}, "kind: must be one of"),
    ({**VALID, "actor": ""}, "actor: length"),
    ({**VALID, "actor": 42}, "actor: must be a string"),
    ({**VALID, "target": "x" * 129}, "target: length"),
    ({**VALID, "target": "bo\nb"}, "target: control characters"),
    ({**VALID, "target": "alice"}, "self_interaction"),
    ({**VALID, "weight": "heavy"}, "weight: must be a number"),
    ({**VALID, "weight": 1e9}, "weight: magnitude"),
    ({**VALID, "id": ""}, "id: length"),
    ({**VALID, "id": "i" * 129}, "id: length"),
    ({**VALID, "topic": "t" * 129}, "topic: length"),
    ({**VALID, "ts": 4_102_444_801}, "ts: outside"),
    ({**VALID, "weight": -1_000_001}, "weight: magnitude"),
    ({**VALID, "actor_profile": {"created_ts": -1}}, "actor_profile.created_ts"),
    ({**VALID, "actor_profile": {"posts": 10**12 + 1}}, "actor_profile.posts"),
    ({**VALID, "extra": 1}, "unknown_field: extra"),
    ({**VALID, "actor_profile": {"followers": -1}}, "actor_profile.followers"),
    ({**VALID, "actor_profile": {"followers": 1.5}}, "actor_profile.followers"),
    ({**VALID, "actor_profile": {"karma": 1}}, "actor_profile: unknown field"),
    ({**VALID, "actor_profile": []}, "actor_profile: must be an object"),
]


@pytest.mark.parametrize("event", ACCEPTED)
def test_accepted_events_parse_and_validate_against_the_schema(event):
    parsed = parse_event(orjson.dumps(event))
    jsonschema.validate(parsed.to_dict(), SCHEMA)
    jsonschema.validate(event, SCHEMA)


@pytest.mark.parametrize(("event", "reason"), REJECTED)
def test_rejected_events_name_their_reason_and_fail_the_schema_too(event, reason):
    with pytest.raises(EventRejected) as info:
        parse_event(orjson.dumps(event))
    assert info.value.reason.startswith(reason.split(":")[0])
    assert reason in info.value.reason
    if not reason.startswith("self_interaction"):  # a rule JSON Schema cannot express
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(event)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (b"null", "not_an_object"),
        (b'{"ts": NaN}', "invalid_json"),
        (b" " * (MAX_LINE_BYTES + 1), "too_large"),
    ],
)
def test_malformed_and_hostile_bytes_are_rejected_not_raised_as_other_errors(raw, reason):
    with pytest.raises(EventRejected) as info:
        parse_event(raw)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize("event", ACCEPTED + [event for event, _ in REJECTED] + [{**VALID, "weight": None}])
def test_the_fast_path_accepts_only_what_the_validator_accepts_and_builds_the_same_event(event):
    try:
        fast = events._accept(events._decode(orjson.dumps(event)))
    except msgspec.DecodeError:
        fast = None
    try:
        slow = event_from_dict(event)
    except EventRejected:
        slow = None
    assert fast is None or fast == slow
    if event in ACCEPTED:
        assert fast == slow


def test_deeply_nested_input_is_rejected_cleanly():
    hostile = b'{"ts":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(EventRejected):
        parse_event(hostile[:MAX_LINE_BYTES])


def test_serialisation_round_trips():
    event = parse_event(orjson.dumps(ACCEPTED[2]))
    assert parse_event(event.to_json()) == event
