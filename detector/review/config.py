"""Building the case store for ``detector cases`` and ``detector web`` from the settings and environment.

Besides :class:`~detector.settings.Settings` (``DETECTOR_REDIS_URL``, ``DETECTOR_KAFKA_BOOTSTRAP``,
``DETECTOR_DECISIONS_TOPIC``), the review side reads ``DETECTOR_LEASE_SECONDS`` (default 900),
``DETECTOR_CLOSED_RETENTION_DAYS`` (90), ``DETECTOR_AUDIT_RETENTION_DAYS`` (400) and ``DETECTOR_REVIEW_PREFIX``
(``gsd:``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from detector.review.sink import KafkaDecisionSink
from detector.review.store import CaseStore
from detector.settings import Settings

DAY = 86400.0


def store_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> CaseStore:
    """A store on ``settings.redis_url``; decisions go to Kafka when ``settings.kafka_bootstrap`` is set
    (start the sink, ``store.sink``, before deciding), otherwise they wait in the outbox."""
    env = os.environ if environ is None else environ
    if not settings.redis_url:
        raise SystemExit("DETECTOR_REDIS_URL is not set (start one with `detector stack`)")
    sink = KafkaDecisionSink(settings.kafka_bootstrap, settings.decisions_topic) if settings.kafka_bootstrap else None
    return CaseStore.from_url(
        settings.redis_url,
        lease_seconds=float(env.get("DETECTOR_LEASE_SECONDS", 900)),
        closed_retention_seconds=float(env.get("DETECTOR_CLOSED_RETENTION_DAYS", 90)) * DAY,
        audit_retention_seconds=float(env.get("DETECTOR_AUDIT_RETENTION_DAYS", 400)) * DAY,
        prefix=env.get("DETECTOR_REVIEW_PREFIX", "gsd:"),
        sink=sink,
    )
