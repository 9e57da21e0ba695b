"""A throwaway ``redis-server`` on a free loopback port, keeping nothing on disk."""

from __future__ import annotations

import shutil
import socket
from typing import Self

from detector.stack.process import ManagedProcess, Server, StackError, free_port


def redis_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a Redis-protocol server answers ``PING`` with ``+PONG`` (raw RESP: no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(Server):
    """``redis-server`` with persistence off, logging to ``<work_dir>/redis-server.log``.

    Parameters
    ----------
    work_dir
        The server's working directory and log. ``None``: a temporary directory, removed by a clean :meth:`stop`.
    startup_timeout
        Seconds to wait for ``PING`` to be answered.
    """

    name = "redis-server"

    @classmethod
    def binary(cls) -> str | None:
        """The server executable, ``None`` when it is not installed."""
        return shutil.which("redis-server")

    @classmethod
    def available(cls) -> bool:
        return cls.binary() is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._require_port()}/0"

    address = url

    def start(self) -> Self:
        binary = self.binary()
        if binary is None:
            raise StackError(f"{self.name} is not installed (Debian: apt-get install redis-server)")
        work = self._prepare_work_dir()
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work), "--daemonize", "no",
                "--save", "", "--appendonly", "no", "--logfile", ""]  # fmt: skip
        process = ManagedProcess(self.name, argv, work / f"{self.name}.log", cwd=work)
        self._launch(process, port, lambda: redis_answers("127.0.0.1", port), interval=0.05)
        return self
