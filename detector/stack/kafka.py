"""A single-node Apache Kafka 4.x broker in KRaft mode, run from jars that Maven resolves once and caches."""

from __future__ import annotations

import asyncio
import base64
import importlib.resources
import os
import shutil
import socket
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from detector.stack.process import ManagedProcess, Server, StackError, cache_dir, free_port, run_tool

#: Resolved from Maven Central by ``detector/stack/pom.xml``; 4.x runs KRaft only (no ZooKeeper).
KAFKA_VERSION = "4.4.0"

_LOG4J2_XML = """\
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <!-- Every partition and request-handler lifecycle line at INFO would bury the useful ones. -->
    <Logger name="kafka.cluster" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals" level="WARN"/>
    <Logger name="kafka.log" level="WARN"/>
  </Loggers>
</Configuration>
"""


def java_binary() -> str | None:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on the PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home, "bin", "java"), os.X_OK):
        return str(Path(java_home, "bin", "java"))
    return shutil.which("java")


def kafka_libs(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """The directory of the broker's jars, resolved with Maven into the cache on first use.

    Maven runs in a scratch copy of the POM so the source tree stays clean, and the jars land in a temporary
    directory renamed into place at the end, so an interrupted download is never taken for a complete one.
    """
    libs = (cache or cache_dir()) / f"kafka-{version}" / "libs"
    if libs.is_dir():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Kafka {version} jars are not cached in {libs} and Maven (mvn) is not installed")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="resolve-", dir=libs.parent) as scratch:
        pom = Path(scratch, "pom.xml")
        pom.write_bytes(importlib.resources.files("detector.stack").joinpath("pom.xml").read_bytes())
        staged = Path(scratch, "libs")
        argv = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies", f"-Dkafka.version={version}",
                f"-DoutputDirectory={staged}", "-DincludeScope=runtime"]  # fmt: skip
        run_tool(f"Maven resolving Kafka {version}", argv, libs.parent / "maven.log", timeout=900, cwd=Path(scratch))
        try:
            staged.rename(libs)
        except OSError:
            if not libs.is_dir():  # a concurrent resolution winning the rename is fine; anything else is not
                raise
    return libs


def kafka_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """Whether a Kafka-protocol broker at ``bootstrap`` answers a metadata request that lists a broker."""
    host, _, port = bootstrap.rpartition(":")
    try:  # a cheap check first, so the client does not log connection errors while the port is still closed
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await admin.start()
            return bool((await admin.describe_cluster())["brokers"])
        except (TimeoutError, KafkaError, OSError):
            return False
        finally:
            await admin.close()

    # A fresh event loop in a worker thread: the caller may be plain code or already inside a running loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, probe()).result()


def new_cluster_id() -> str:
    """A KRaft cluster id as ``kafka-storage random-uuid`` makes it: a url-safe base64 UUID not starting with ``-``.

    Examples
    --------
    >>> len(new_cluster_id())
    22
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(Server):
    """Apache Kafka 4.x, one combined broker and controller on loopback ports, with a fresh log every start.

    Parameters
    ----------
    work_dir
        Holds ``server.properties``, the data and ``kafka.log``. ``None``: a temporary directory, removed by a
        clean :meth:`stop` (kept when the start fails, so its log can be read).
    version
        Apache Kafka release to resolve from Maven Central.
    partitions
        ``num.partitions`` for auto-created topics.
    heap
        Maximum JVM heap (``-Xmx``).
    startup_timeout
        Seconds to wait for the broker to answer, after its jars are resolved.
    """

    name = "Apache Kafka"

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        version: str = KAFKA_VERSION,
        partitions: int = 4,
        heap: str = "512m",
        startup_timeout: float = 120.0,
    ) -> None:
        super().__init__(work_dir, startup_timeout=startup_timeout)
        self.version = version
        self.partitions = partitions
        self.heap = heap

    @classmethod
    def available(cls) -> bool:
        """Java is installed, and the default version's jars are cached or Maven can resolve them."""
        cached = (cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs").is_dir()
        return java_binary() is not None and (cached or shutil.which("mvn") is not None)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self._require_port()}"

    address = bootstrap

    def start(self) -> Self:
        java = java_binary()
        if java is None:
            raise StackError("Apache Kafka needs Java 17 or newer: install a JRE or set JAVA_HOME")
        libs = kafka_libs(self.version)
        work = self._prepare_work_dir()
        data = work / "data"
        shutil.rmtree(data, ignore_errors=True)  # every start is a new, empty cluster
        port, controller_port = free_port(), free_port()
        properties = work / "server.properties"
        properties.write_text(self._server_properties(data, port, controller_port))
        (work / "log4j2.xml").write_text(_LOG4J2_XML)
        log4j = f"-Dlog4j2.configurationFile={work / 'log4j2.xml'}"
        jvm = [java, "-cp", f"{libs}/*", log4j, "-Djava.awt.headless=true"]
        (work / "format.log").unlink(missing_ok=True)
        run_tool(
            "kafka-storage format",
            [*jvm, "-Xmx256m", "kafka.tools.StorageTool", "format", "--cluster-id", new_cluster_id(),
             "--config", str(properties)],
            work / "format.log",
            timeout=120,
        )  # fmt: skip
        # A bounded heap: the broker shares a small machine (2 cores here) with the worker and the tests.
        process = ManagedProcess(
            f"{self.name} {self.version}",
            [*jvm, "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
             "kafka.Kafka", str(properties)],
            work / "kafka.log",
            cwd=work,
        )  # fmt: skip
        self._launch(process, port, lambda: kafka_answers(f"127.0.0.1:{port}"))
        return self

    def _server_properties(self, data: Path, port: int, controller_port: int) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            # One broker: internal topics cannot have more replicas than that.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumers join at once instead of waiting 3 s for others that will never come.
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())
