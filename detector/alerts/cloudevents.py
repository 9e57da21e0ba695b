"""CloudEvents 1.0 over Kafka, binary content mode: attributes in ``ce_*`` headers, ``data`` as the record value.

Only what the alert contract uses is implemented (JSON data, the required attributes plus ``time``, ``subject``
and ``dataschema``); see https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
#: Attributes in the order they are written as headers (stable, so redelivered records are byte-identical).
_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "dataschema")

#: Kafka record headers, as aiokafka takes them (a list, not a tuple).
Headers = list[tuple[str, bytes]]


class NotACloudEvent(ValueError):
    """A Kafka record without the headers of a binary-mode CloudEvent."""


@dataclass(frozen=True)
class CloudEvent:
    """One event; ``source`` + ``id`` identify it, so a consumer drops any record whose pair it has seen."""

    id: str
    source: str
    type: str
    time: str
    subject: str
    dataschema: str
    data: dict

    def to_kafka(self, key: str) -> tuple[bytes, bytes, Headers]:
        """The Kafka record (key, value, headers) in binary content mode.

        Examples
        --------
        >>> event = CloudEvent("c1:r1", "/detector/x", "t.v1", "2024-01-01T00:00:00Z", "c1", "urn:s", {"a": 1})
        >>> key, value, headers = event.to_kafka("c1")
        >>> value, dict(headers)["ce_id"], dict(headers)["content-type"]
        (b'{"a":1}', b'c1:r1', b'application/json')
        >>> CloudEvent.from_kafka(value, headers) == event
        True
        """
        attributes = {"specversion": SPEC_VERSION, **{name: getattr(self, name) for name in _ATTRIBUTES[1:]}}
        headers = [("ce_" + name, attributes[name].encode()) for name in _ATTRIBUTES]
        headers.append(("content-type", CONTENT_TYPE.encode()))
        return key.encode(), orjson.dumps(self.data), headers

    @classmethod
    def from_kafka(cls, value: bytes, headers: Iterable[tuple[str, bytes]]) -> CloudEvent:
        found = {name: raw.decode() for name, raw in headers}
        if found.get("ce_specversion") != SPEC_VERSION:
            raise NotACloudEvent(f"ce_specversion is {found.get('ce_specversion')!r}, expected {SPEC_VERSION}")
        try:
            attributes = {name: found["ce_" + name] for name in _ATTRIBUTES[1:]}
        except KeyError as missing:
            raise NotACloudEvent(f"missing header ce_{missing.args[0]}") from None
        return cls(**attributes, data=orjson.loads(value))


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp with milliseconds.

    >>> rfc3339(1700000000.25)
    '2023-11-14T22:13:20.250Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
