"""The event contract: validation of one interaction event (see docs/events.md and detector/schemas/event.schema.json).

Validation is hand-written rather than done through ``jsonschema`` because it sits on the hot path of both the
stream and replay (the schema file is kept in sync by a test). Valid events, the common case, take a fast path: a
``msgspec`` decoder checks the shape, the types, the ranges and the lengths in C and builds the event itself (events
are ``msgspec`` structs, not dataclasses, for that), and a few comparisons check the rest; anything it does not
accept goes through the hand-written validator, which alone names the reason of a rejection.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec
import orjson

KINDS = ("follow", "unfollow", "like", "endorse", "share", "comment", "rate")
#: Kinds that boost the target's influence when their weight is positive.
BOOST_KINDS = frozenset({"follow", "like", "endorse", "share", "comment", "rate"})

MAX_LINE_BYTES = 8192
MAX_ID_CHARS = 128
MAX_TOPIC_CHARS = 128
#: 2009-01-01 .. 2100-01-01: older data predates the platforms we model, later is a clock bug.
MIN_TS = 1_230_768_000.0
MAX_TS = 4_102_444_800.0
MAX_ABS_WEIGHT = 1_000_000.0
MAX_PROFILE_COUNT = 10**12
PROFILE_FIELDS = ("created_ts", "followers", "following", "posts")
_TOP_FIELDS = frozenset({"ts", "kind", "actor", "target", "id", "weight", "topic", "actor_profile"})


class EventRejected(ValueError):
    """An input that does not satisfy the event contract; ``reason`` says why in a stable, short form."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# The contract's ranges and lengths, checked in C when msgspec decodes (the fast path); the validator checks them
# again by hand to name the reason of a rejection.
_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_PROFILE_COUNT)]
_AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """The actor's profile as the platform knew it at event time (every field optional)."""

    created_ts: Annotated[float, msgspec.Meta(ge=0, le=MAX_TS)] | None = None
    followers: _Count | None = None
    following: _Count | None = None
    posts: _Count | None = None


class Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One interaction (docs/events.md). Decoded by msgspec, which refuses unknown fields, booleans as numbers and
    floats as integers, and values outside the contract's ranges and lengths, as the contract does; the other value
    rules are :func:`parse_event`'s."""

    ts: Annotated[float, msgspec.Meta(ge=MIN_TS, le=MAX_TS)]
    kind: Literal[KINDS]
    actor: _AccountId
    target: _AccountId
    id: _AccountId | None = None
    weight: Annotated[float, msgspec.Meta(ge=-MAX_ABS_WEIGHT, le=MAX_ABS_WEIGHT)] = 1.0
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOPIC_CHARS)] | None = None
    actor_profile: Profile | None = None

    @property
    def is_boost(self) -> bool:
        return self.kind in BOOST_KINDS and self.weight > 0

    def to_dict(self) -> dict:
        out: dict = {"ts": self.ts, "kind": self.kind, "actor": self.actor, "target": self.target}
        if self.id is not None:
            out["id"] = self.id
        if self.weight != 1.0:
            out["weight"] = self.weight
        if self.topic is not None:
            out["topic"] = self.topic
        if self.actor_profile is not None:
            out["actor_profile"] = {
                k: getattr(self.actor_profile, k) for k in PROFILE_FIELDS if getattr(self.actor_profile, k) is not None
            }
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def parse_event(raw: bytes | str) -> Event:
    """Parse and validate one serialized event; raise :class:`EventRejected` with the reason otherwise.

    Examples
    --------
    >>> parse_event(b'{"ts": 1700000000, "kind": "endorse", "actor": "a", "target": "b", "id": "e1"}').target
    'b'
    >>> parse_event(b'{"ts": 1700000000, "kind": "poke", "actor": "a", "target": "b"}')
    Traceback (most recent call last):
    ...
    detector.core.events.EventRejected: kind: must be one of follow, unfollow, like, endorse, share, comment, rate
    """
    if len(raw) > MAX_LINE_BYTES:
        raise EventRejected(f"too_large: {len(raw)} bytes > {MAX_LINE_BYTES}")
    try:
        event = _accept(_decode(raw))
    except (msgspec.DecodeError, UnicodeError):  # msgspec encodes a str argument to UTF-8 first
        event = None
    if event is not None:
        return event
    # Not accepted by the fast path: the hand-written validator decides, and says why.
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventRejected(f"invalid_json: {exc.msg}") from None
    return event_from_dict(obj)


_decode = msgspec.json.Decoder(Event).decode


class _Timestamp(msgspec.Struct, gc=False):
    ts: float


_decode_ts = msgspec.json.Decoder(_Timestamp).decode


def event_time(raw: bytes) -> float | None:
    """The event time of a serialized event, read without validating the rest (a fraction of :func:`parse_event`'s
    cost), or None when it has no numeric ``ts``: what ordering a file by event time needs before parsing it.

    >>> event_time(b'{"actor": "a", "ts": 1700000000}'), event_time(b'{"ts": "soon"}'), event_time(b'[1]')
    (1700000000.0, None, None)
    """
    if len(raw) > MAX_LINE_BYTES:
        return None  # parse_event rejects it at once; no point decoding it
    try:
        return _decode_ts(raw).ts
    except (msgspec.DecodeError, UnicodeError, RecursionError):  # deep nesting in a field it skips over
        return None


def _accept(event: Event) -> Event | None:
    """The decoded event when it satisfies the rules the decoder does not check (ranges and lengths it does), else
    None (never a rejection: the reason is the hand-written validator's to give). Must accept nothing that validator
    rejects."""
    actor, target, event_id, topic = event.actor, event.target, event.id, event.topic
    if (
        actor.isprintable()
        and target.isprintable()
        and actor != target
        and (event_id is None or event_id.isprintable())
        and (topic is None or topic.isprintable())
    ):
        return event
    return None


def event_from_dict(obj: object) -> Event:
    if not isinstance(obj, dict):
        raise EventRejected("not_an_object")
    unknown = obj.keys() - _TOP_FIELDS
    if unknown:
        raise EventRejected(f"unknown_field: {sorted(unknown)[0][:64]}")
    ts = _number(obj, "ts", required=True)
    if not MIN_TS <= ts <= MAX_TS:
        raise EventRejected(f"ts: outside {MIN_TS:.0f}..{MAX_TS:.0f}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise EventRejected("kind: must be one of " + ", ".join(KINDS))
    actor = _account(obj, "actor")
    target = _account(obj, "target")
    if actor == target:
        raise EventRejected("self_interaction: actor equals target")
    event_id = _optional_str(obj, "id", MAX_ID_CHARS)
    weight = _number(obj, "weight", required=False)
    if weight is None:
        weight = 1.0
    elif abs(weight) > MAX_ABS_WEIGHT:
        raise EventRejected(f"weight: magnitude above {MAX_ABS_WEIGHT:.0f}")
    topic = _optional_str(obj, "topic", MAX_TOPIC_CHARS)
    profile = _profile(obj.get("actor_profile"))
    return Event(float(ts), kind, actor, target, event_id, float(weight), topic, profile)


def _number(obj: dict, key: str, *, required: bool) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise EventRejected(f"{key}: required")
        return None
    # bool is an int subclass in Python, but true/false are not numbers in the contract.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EventRejected(f"{key}: must be a number")
    if not math.isfinite(value):
        raise EventRejected(f"{key}: must be finite")
    return float(value)


def _account(obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None:
        raise EventRejected(f"{key}: required")
    if not isinstance(value, str):
        raise EventRejected(f"{key}: must be a string")
    if not value or len(value) > MAX_ID_CHARS:
        raise EventRejected(f"{key}: length must be 1..{MAX_ID_CHARS}")
    if not value.isprintable():
        raise EventRejected(f"{key}: control characters")
    return str(value)  # a str subclass becomes a plain str


def _optional_str(obj: dict, key: str, limit: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventRejected(f"{key}: must be a string")
    if not value or len(value) > limit or not value.isprintable():
        raise EventRejected(f"{key}: length must be 1..{limit} printable characters")
    return value


def _profile(value: object) -> Profile | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EventRejected("actor_profile: must be an object")
    unknown = value.keys() - set(PROFILE_FIELDS)
    if unknown:
        raise EventRejected(f"actor_profile: unknown field {sorted(unknown)[0][:64]}")
    created = value.get("created_ts")
    if created is not None:
        created = _number(value, "created_ts", required=False)
        if not 0 <= created <= MAX_TS:
            raise EventRejected("actor_profile.created_ts: outside 0..4102444800")
    counts = {}
    for key in ("followers", "following", "posts"):
        count = value.get(key)
        if count is None:
            counts[key] = None
            continue
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_PROFILE_COUNT:
            raise EventRejected(f"actor_profile.{key}: must be an integer 0..{MAX_PROFILE_COUNT}")
        counts[key] = count
    return Profile(created, counts["followers"], counts["following"], counts["posts"])
