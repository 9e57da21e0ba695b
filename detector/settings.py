"""Runtime settings, read from environment variables (optionally loaded from a settings file).

Every variable is prefixed ``DETECTOR_``. When ``DETECTOR_KAFKA_BOOTSTRAP`` or ``DETECTOR_REDIS_URL`` is set the
project starts nothing and uses that existing service; otherwise ``detector demo`` starts a local stack.
A settings file (``KEY=VALUE`` lines, ``#`` comments) named by ``DETECTOR_SETTINGS_FILE`` is read first and
real environment variables override it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from detector.core.findings import FLAG_THRESHOLD, MAX_NEW_CASES_PER_DAY

ENV_PREFIX = "DETECTOR_"


@dataclass(frozen=True)
class Settings:
    """Where the services are and how the pipeline is named.

    Examples
    --------
    >>> s = Settings.from_env({"DETECTOR_KAFKA_BOOTSTRAP": "kafka:9092", "DETECTOR_BATCH_SIZE": "500"})
    >>> s.kafka_bootstrap, s.batch_size, s.alerts_topic
    ('kafka:9092', 500, 'alerts')
    """

    kafka_bootstrap: str = ""
    redis_url: str = ""
    app_id: str = "gaming-scheme-detector"
    interactions_topic: str = "interactions"
    alerts_topic: str = "alerts"
    dlq_topic: str = "interactions.dlq"
    decisions_topic: str = "decisions"
    # One worker reads every partition (merging them by event time), so more partitions add nothing but spread;
    # one keeps the arrival order exactly. See docs/architecture.md.
    topic_partitions: int = 1
    batch_size: int = 1000
    batch_timeout_s: float = 0.5
    state_dir: str = ".work/state"
    #: The scores' weights (a `detector train --out` file); empty: the shipped models/weights.json. Applied at every
    #: start, a resumed checkpoint included.
    weights: str = ""
    #: The worker's operating point, applied at every start like the weights: it flags candidates scored this or
    #: more (`detector eval --thresholds` reports what each would catch and cost) ...
    threshold: float = FLAG_THRESHOLD
    #: ... and opens at most this many new cases a day (event time) unless scored 0.95 or more.
    max_new_cases_per_day: int = MAX_NEW_CASES_PER_DAY
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    case_base_url: str = "http://127.0.0.1:8080/cases"
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def member_id(self) -> str:
        """The worker's static member id in both its consumer groups: a restarted worker takes its partitions back
        at once."""
        return f"{self.app_id}-detector"

    @property
    def interactions_group(self) -> str:
        """The consumer group the worker commits its interactions offsets in. Not the Faust app's group
        (``app_id``, which reads decisions): a group has one assignment protocol, and Faust's is its own."""
        return f"{self.app_id}.interactions"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, str] = {}
        settings_file = env.get(ENV_PREFIX + "SETTINGS_FILE")
        if settings_file:
            values.update(read_settings_file(Path(settings_file)))
        values.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = values.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kwargs[f.name] = _coerce(raw, type(getattr(cls, f.name)))
        return cls(**kwargs)

    def env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}


def env_variable_names() -> list[str]:
    """Every environment variable :class:`Settings` reads (used to check docker/compose.yaml)."""
    return [ENV_PREFIX + f.name.upper() for f in fields(Settings) if f.name != "extra"] + [ENV_PREFIX + "SETTINGS_FILE"]


def read_settings_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def _coerce(raw: str, kind: type) -> object:
    if kind is bool:
        return raw.lower() in {"1", "true", "yes", "on"}
    return kind(raw)
