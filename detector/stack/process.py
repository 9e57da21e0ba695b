"""Child processes of the local stack: free ports, logs in a work directory, readiness waits, clean stops."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

#: Overrides where downloaded artefacts (the Kafka jars) are cached between runs.
CACHE_ENV = "DETECTOR_STACK_CACHE"


class StackError(RuntimeError):
    """A local service could not be resolved, started or reached."""


def cache_dir() -> Path:
    """Where the stack keeps what it downloads: ``$DETECTOR_STACK_CACHE``, else the XDG cache directory."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gaming-scheme-detector"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel picks it; a race with another process is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the Python process is killed outright (SIGKILL, a CI time
    # limit) its broker must not outlive it and keep ports and memory. PR_SET_PDEATHSIG = 1.
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGKILL)


class ManagedProcess:
    """One server process whose output goes to a log file.

    Parameters
    ----------
    name
        Shown in errors, e.g. ``"Apache Kafka"``.
    argv
        The command line.
    log_path
        The process's stdout and stderr are appended here.
    cwd, env
        Working directory and environment of the child (``None``: inherit).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        linux_main_thread = os.uname().sysname == "Linux" and threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                # Own session: Ctrl-C in the terminal reaches only Python, which then stops the servers in order.
                start_new_session=True,
                # The death signal is tied to the forking *thread*, so it is only safe from the main thread.
                preexec_fn=_die_with_parent if linux_main_thread else None,
            )

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit and return its exit code (raises ``subprocess.TimeoutExpired``)."""
        if self._popen is None:
            raise StackError(f"{self.name} was not started")
        return self._popen.wait(timeout)

    def wait_ready(self, probe: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
        """Call ``probe`` until it returns true; on exit or timeout stop the process and raise with the log tail."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._popen.returncode if self._popen else None
                raise StackError(f"{self.name} exited with code {code} while starting\n{self.describe_log()}")
            if probe():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} did not answer within {timeout:.0f} s\n{self.describe_log()}")
            time.sleep(interval)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._popen = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except FileNotFoundError:
            return ""

    def describe_log(self, lines: int = 40) -> str:
        return f"--- last {lines} lines of {self.log_path} ---\n{self.log_tail(lines)}"


def run_tool(name: str, argv: Sequence[str], log_path: Path, timeout: float, cwd: Path | None = None) -> None:
    """Run a command to completion with its output appended to ``log_path``; raise with the log tail if it fails."""
    tool = ManagedProcess(name, argv, log_path, cwd=cwd)
    tool.start()
    try:
        code = tool.wait(timeout)
    except subprocess.TimeoutExpired:
        raise StackError(f"{name} did not finish within {timeout:.0f} s\n{tool.describe_log()}") from None
    finally:
        tool.stop()  # a no-op once it exited; otherwise (timeout, Ctrl-C) it must not run on
    if code != 0:
        raise StackError(f"{name} failed with exit code {code}\n{tool.describe_log()}")


class Server:
    """Common life cycle of the stack's servers: a work directory, one process on a free port, a clean stop.

    Subclasses set :attr:`name` and implement ``start`` with :meth:`_prepare_work_dir` and :meth:`_launch`.
    """

    name = "server"

    def __init__(self, work_dir: Path | None = None, *, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self._given_work_dir = work_dir
        self.work_dir: Path | None = None
        self.port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path if self._process else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @classmethod
    def available(cls) -> bool:
        """Whether this server is installed here (or can be fetched from a package registry)."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """What clients connect to: a Kafka bootstrap ``host:port`` or a Redis URL."""
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def _require_port(self) -> int:
        if self.port is None:
            raise StackError(f"{self.name} is not started")
        return self.port

    def _prepare_work_dir(self) -> Path:
        """The given work directory, or a new temporary one (removed again by a clean stop)."""
        if self._process is not None:
            raise StackError(f"{self.name} is already started")
        work = self._given_work_dir or Path(tempfile.mkdtemp(prefix=f"{self.name.replace(' ', '-').lower()}-"))
        work.mkdir(parents=True, exist_ok=True)
        self.work_dir = work
        return work

    def _launch(self, process: ManagedProcess, port: int, probe: Callable[[], bool], interval: float = 0.2) -> None:
        process.log_path.unlink(missing_ok=True)  # the log of this run only
        self.port, self._process = port, process
        process.start()
        try:
            process.wait_ready(probe, self.startup_timeout, interval)
        except BaseException:  # Ctrl-C included: a half-started server must not be left running
            # The work directory stays: the error names its log.
            process.stop()
            self._process, self.port = None, None
            raise

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.stop()
        self._process, self.port = None, None
        if self._given_work_dir is None and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
