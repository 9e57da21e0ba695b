"""The Faust app factory: settings in, an app with its topics, sinks and agents wired, out."""

from __future__ import annotations

from pathlib import Path

import faust

from detector.alerts import source_for
from detector.review.store import CaseStore
from detector.settings import Settings
from streams import agents, topics
from streams.detection import Detection
from streams.sinks import DeadLetterSink, KafkaAlertSink, RedisCaseSink

DEFAULT_CHECKPOINT_INTERVAL_S = 5.0


def create_app(settings: Settings, *, checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S) -> faust.App:
    """Build the worker's app. One worker owns every partition of the interactions topic (the engine's state
    is global: a ring spans accounts on different partitions); see docs/architecture.md for failover."""
    state_dir = Path(settings.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        datadir=str(state_dir / "faust"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        # Faust's consumer reads decisions only (streams/reader.py reads interactions, in a group of its own), with
        # the same static membership: a restarted worker takes its partitions back at once.
        consumer_group_instance_id=settings.member_id,
        broker_session_timeout=10.0,
        topic_disable_leader=True,
    )
    declared = topics.declare(app, settings)
    dead_letters = DeadLetterSink(app.producer, declared.dead_letters.get_topic_name())
    alerts = KafkaAlertSink(
        app.producer,
        declared.alerts.get_topic_name(),
        source=source_for(settings.app_id),
        case_base_url=settings.case_base_url,
    )
    cases = RedisCaseSink(CaseStore.from_url(settings.redis_url))
    weights = Path(settings.weights) if settings.weights else None
    detection = Detection.restore(
        state_dir / f"{settings.app_id}.checkpoint",
        [cases, alerts],
        dead_letters,
        weights=weights,
        threshold=settings.threshold,
        max_new_cases_per_day=settings.max_new_cases_per_day,
    )
    agents.register(app, settings, declared, detection, alerts, dead_letters, checkpoint_interval_s)
    return app
