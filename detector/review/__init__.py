"""Human review of flagged cases: the Redis case store, the decisions publisher and the ``detector cases`` CLI."""

from detector.review.sink import DecisionSink, KafkaDecisionSink
from detector.review.store import (
    Case,
    CaseConflict,
    CaseNotFound,
    CaseStore,
    InvalidRequest,
    ReviewError,
    UpsertResult,
)

__all__ = [
    "Case",
    "CaseConflict",
    "CaseNotFound",
    "CaseStore",
    "DecisionSink",
    "InvalidRequest",
    "KafkaDecisionSink",
    "ReviewError",
    "UpsertResult",
]
