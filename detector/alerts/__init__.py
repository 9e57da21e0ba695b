"""The alert contract on the ``alerts`` topic: CloudEvents 1.0, binary mode, versioned types (docs/alerts/)."""

from detector.alerts.cloudevents import CloudEvent, NotACloudEvent
from detector.alerts.contract import (
    DECIDED_TYPE,
    FLAGGED_TYPES,
    Decision,
    DecisionRejected,
    decided_event,
    flagged_event,
    partition_key,
    severity,
    source_for,
)

__all__ = [
    "DECIDED_TYPE",
    "FLAGGED_TYPES",
    "CloudEvent",
    "Decision",
    "DecisionRejected",
    "NotACloudEvent",
    "decided_event",
    "flagged_event",
    "partition_key",
    "severity",
    "source_for",
]
