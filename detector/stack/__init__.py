"""The local Kafka and Redis the project starts by itself.

Which service runs, for Kafka and for Redis separately:

1. ``DETECTOR_KAFKA_BOOTSTRAP`` / ``DETECTOR_REDIS_URL`` set: nothing is started, that service is used.
2. ``prefer="real"``: Apache Kafka 4.x (needs Java; jars from Maven Central, cached) and ``redis-server``.
3. ``prefer="embedded"`` (the demo's default): Tansu and Valkey, both shipped inside PyPI wheels.

Either preference falls back to the other kind when its own is not installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Self

from detector.settings import Settings
from detector.stack.embedded import TansuBroker, ValkeyServer
from detector.stack.kafka import KAFKA_VERSION, KafkaBroker
from detector.stack.process import Server, StackError
from detector.stack.redis import RedisServer

__all__ = [
    "KAFKA_VERSION",
    "KafkaBroker",
    "LocalStack",
    "RedisServer",
    "StackError",
    "TansuBroker",
    "ValkeyServer",
    "local_stack",
]

Preference = Literal["real", "embedded"]


@dataclass
class LocalStack:
    """Where Kafka and Redis are, and the servers this process started for them (none for external ones).

    Use it as a context manager, or call :meth:`stop`, to stop what was started.
    """

    kafka_bootstrap: str
    redis_url: str
    kafka: Server | None = None
    redis: Server | None = None
    started: list[Server] = field(default_factory=list)

    def settings(self, base: Settings | None = None) -> Settings:
        """``base`` (default: from the environment) pointing at this stack."""
        base = Settings.from_env() if base is None else base
        return replace(base, kafka_bootstrap=self.kafka_bootstrap, redis_url=self.redis_url)

    def env(self) -> dict[str, str]:
        """The ``DETECTOR_*`` variables that point another process at this stack."""
        return {"DETECTOR_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "DETECTOR_REDIS_URL": self.redis_url}

    def describe(self) -> list[str]:
        """One line per service: what it is and where, for people reading a terminal."""
        return [
            _describe("kafka", self.kafka_bootstrap, self.kafka),
            _describe("redis", self.redis_url, self.redis),
        ]

    def stop(self) -> None:
        """Stop the started servers, last started first."""
        while self.started:
            self.started.pop().stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def local_stack(
    prefer: Preference = "embedded",
    *,
    environ: Mapping[str, str] | None = None,
    work_dir: Path | None = None,
) -> LocalStack:
    """Start what the settings do not already point at, and return the running stack.

    Parameters
    ----------
    prefer
        ``"real"``: Apache Kafka and ``redis-server``; ``"embedded"``: Tansu and Valkey. The other kind is the
        fallback when the preferred one is not installed.
    environ
        Read for ``DETECTOR_KAFKA_BOOTSTRAP`` and ``DETECTOR_REDIS_URL`` (default: ``os.environ``, and the
        settings file it names).
    work_dir
        Parent of one work directory (logs, data) per started server; ``None``: temporary directories.
    """
    if prefer not in ("real", "embedded"):
        raise ValueError(f"prefer must be 'real' or 'embedded', not {prefer!r}")
    configured = Settings.from_env(None if environ is None else dict(environ))
    stack = LocalStack(configured.kafka_bootstrap, configured.redis_url)
    kafka_kinds: tuple[type[Server], type[Server]] = (KafkaBroker, TansuBroker)
    redis_kinds: tuple[type[Server], type[Server]] = (RedisServer, ValkeyServer)
    if prefer == "embedded":
        kafka_kinds, redis_kinds = kafka_kinds[::-1], redis_kinds[::-1]
    # A failure to start Redis must not leave a started Kafka behind.
    with contextlib.ExitStack() as on_error:
        on_error.callback(stack.stop)
        if not stack.kafka_bootstrap:
            stack.kafka = _start_first(kafka_kinds, work_dir)
            stack.started.append(stack.kafka)
            stack.kafka_bootstrap = stack.kafka.address
        if not stack.redis_url:
            stack.redis = _start_first(redis_kinds, work_dir)
            stack.started.append(stack.redis)
            stack.redis_url = stack.redis.address
        on_error.pop_all()
    return stack


def _start_first(kinds: tuple[type[Server], ...], work_dir: Path | None) -> Server:
    for kind in kinds:
        if kind.available():
            server = kind(None if work_dir is None else work_dir / kind.name.replace(" ", "-").lower())
            return server.start()
    raise StackError(f"none of {', '.join(kind.name for kind in kinds)} is installed")


def _describe(role: str, address: str, server: Server | None) -> str:
    if server is None:
        return f"{role}: {address} (configured, not started here)"
    version = getattr(server, "version", "")
    what = f"{server.name} {version}".strip()
    return f"{role}: {what} at {address}, pid {server.pid}, log {server.log_path}"
