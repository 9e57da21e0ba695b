"""The alert contract: what platforms receive on the ``alerts`` topic (documented in docs/alerts/README.md).

Every record is a CloudEvent (binary mode). Its ``type`` names the scheme, the lifecycle step and the major
version; its ``id`` is stable across redelivery: ``<case_id>:r<revision>`` for a flag (revision 1 opens the case,
later revisions strengthen it) and ``<case_id>:decision:<decision_id>`` for a reviewer's decision. The record key
is the case's subject: the ring's case id, or the account for follower growth, so every event of one case lands
on one partition, in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from detector.alerts.cloudevents import CloudEvent, rfc3339
from detector.core.findings import FOLLOWER_GROWTH, SCHEMES, Finding
from models.decisions import DECISION_LABELS

TYPE_PREFIX = "dev.gsd.detector."
FLAGGED_TYPES = {scheme: f"{TYPE_PREFIX}{scheme}.flagged.v1" for scheme in SCHEMES}
DECIDED_TYPE = TYPE_PREFIX + "case.decided.v1"
FLAGGED_SCHEMA = "urn:gsd:alerts:flagged:v1"
DECIDED_SCHEMA = "urn:gsd:alerts:decided:v1"
OUTCOMES = ("confirmed", "dismissed", "escalated")
#: (lowest score, severity), highest first; the engine flags from 0.5.
SEVERITIES = ((0.95, "critical"), (0.85, "high"), (0.7, "medium"), (0.0, "low"))
_BURST_FIELDS = ("new_followers", "baseline_per_day", "fresh_share", "batch_share")


def source_for(app_id: str) -> str:
    """The CloudEvents ``source``: one per deployment, so two detectors' ids never collide."""
    return f"/gaming-scheme-detector/{app_id}"


def severity(score: float) -> str:
    """The severity band of a score (``SEVERITIES``).

    >>> severity(0.9), severity(0.5)
    ('high', 'low')
    """
    return next(name for lowest, name in SEVERITIES if score >= lowest)


def partition_key(scheme: str, case_id: str, accounts: tuple[str, ...] | list[str]) -> str:
    return accounts[0] if scheme == FOLLOWER_GROWTH else case_id


def flagged_event(finding: Finding, revision: int, *, source: str, case_base_url: str) -> CloudEvent:
    """The alert for one revision of a case: revision 1 is OCSF's *create*, later ones are *update*."""
    raw = finding.evidence
    evidence: dict = {
        "summary": raw["summary"],
        "top_features": raw.get("top_features", []),
        "sample_event_ids": raw.get("sample_event_ids", []),
    }
    if finding.scheme == FOLLOWER_GROWTH and "burst_window" in raw:
        window = raw["burst_window"]
        evidence["burst_window"] = {
            "start": rfc3339(window["start"]),
            "end": rfc3339(window["end"]),
            **{name: window[name] for name in _BURST_FIELDS},
        }
    data = {
        "activity": "create" if revision == 1 else "update",
        "case_id": finding.case_id,
        "revision": revision,
        "scheme": finding.scheme,
        "accounts": list(finding.accounts),
        "score": finding.score,
        "severity": severity(finding.score),
        "evidence": evidence,
        "model_version": finding.model_version,
        "first_event_time": rfc3339(finding.first_event_ts),
        "last_event_time": rfc3339(finding.last_event_ts),
        "case_url": case_url(case_base_url, finding.case_id),
    }
    return CloudEvent(
        id=f"{finding.case_id}:r{revision}",
        source=source,
        type=FLAGGED_TYPES[finding.scheme],
        time=rfc3339(finding.flagged_ts),
        subject=finding.case_id,
        dataschema=FLAGGED_SCHEMA,
        data=data,
    )


class DecisionRejected(ValueError):
    """A record on the decisions topic that is not a valid decision; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision, as the review workflow publishes it (JSON keyed by case id)."""

    decision_id: str
    case_id: str
    scheme: str
    accounts: tuple[str, ...]
    decision: str
    policy: str
    reason: str
    reviewer: str
    decided_at: str
    #: The case's scored features, when the review workflow sends them: what the online classifier learns from.
    features: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> bool | None:
        """True for confirmed, False for dismissed; an escalation is not a label."""
        return DECISION_LABELS.get(self.decision)

    @classmethod
    def from_json(cls, raw: bytes | None) -> Decision:
        """Validate one decision record.

        Examples
        --------
        >>> d = Decision.from_json(b'{"decision_id": "d1", "case_id": "ring-1", "scheme": "farming_ring",'
        ...     b' "accounts": ["a", "b"], "decision": "confirmed", "policy": "spam-network", "reason": "r",'
        ...     b' "reviewer": "ann", "decided_at": 1700000000}')
        >>> d.decided_at, d.accounts
        ('2023-11-14T22:13:20.000Z', ('a', 'b'))
        >>> Decision.from_json(b'{"decision_id": "d1"}')
        Traceback (most recent call last):
        ...
        detector.alerts.contract.DecisionRejected: case_id: required string
        """
        try:
            obj = orjson.loads(raw or b"")
        except orjson.JSONDecodeError as exc:
            raise DecisionRejected(f"invalid_json: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise DecisionRejected("not_an_object")
        fields = {name: _string(obj, name) for name in ("decision_id", "case_id", "policy", "reason", "reviewer")}
        scheme = obj.get("scheme")
        if scheme not in SCHEMES:
            raise DecisionRejected("scheme: must be one of " + ", ".join(SCHEMES))
        outcome = obj.get("decision")
        if outcome not in OUTCOMES:
            raise DecisionRejected("decision: must be one of " + ", ".join(OUTCOMES))
        accounts = obj.get("accounts")
        if not isinstance(accounts, list) or not accounts or not all(isinstance(a, str) and a for a in accounts):
            raise DecisionRejected("accounts: must be a non-empty list of strings")
        features = obj.get("features")
        return cls(
            scheme=scheme,
            accounts=tuple(accounts),
            decision=outcome,
            decided_at=_timestamp(obj.get("decided_at")),
            # Learning input only: anything that is not a finite number is left out rather than rejected.
            features={
                k: float(v)
                for k, v in (features.items() if isinstance(features, dict) else ())
                if isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            },
            **fields,
        )


def decided_event(decision: Decision, *, source: str, case_base_url: str) -> CloudEvent:
    """The lifecycle event for a decision: confirmed or dismissed closes the case, escalated updates it."""
    data = {
        "activity": "update" if decision.decision == "escalated" else "close",
        "case_id": decision.case_id,
        "scheme": decision.scheme,
        "accounts": list(decision.accounts),
        "decision": decision.decision,
        "decision_id": decision.decision_id,
        "policy": decision.policy,
        "reason": decision.reason,
        "reviewer": decision.reviewer,
        "decided_at": decision.decided_at,
        "case_url": case_url(case_base_url, decision.case_id),
    }
    return CloudEvent(
        id=f"{decision.case_id}:decision:{decision.decision_id}",
        source=source,
        type=DECIDED_TYPE,
        time=decision.decided_at,
        subject=decision.case_id,
        dataschema=DECIDED_SCHEMA,
        data=data,
    )


def case_url(base: str, case_id: str) -> str:
    return f"{base.rstrip('/')}/{case_id}"


def _string(obj: dict, name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise DecisionRejected(f"{name}: required string")
    return value


def _timestamp(value: object) -> str:
    """Unix seconds or an RFC 3339 string, normalised to RFC 3339 UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return rfc3339(float(value))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return rfc3339(parsed.timestamp())
    raise DecisionRejected("decided_at: must be Unix seconds or an RFC 3339 time")
