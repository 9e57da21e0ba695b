"""A Faust app that only reads: how fast Faust hands records to an agent, without any work on them.

Run as a child process by the broker benchmark::

    python -m benchmarks.faust_reader BOOTSTRAP TOPIC COUNT MODE DATADIR

writes ``{"records": n, "seconds": s}`` (first record to the last) to ``DATADIR/result.json`` and stops.
``MODE`` is ``each`` (one ``async for`` iteration per record) or ``take`` (batches of 1000, as the detection
agent reads).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path

import faust
import orjson

TAKE = 1000
RESULT = "result.json"


def main(bootstrap: str, topic_name: str, count: int, mode: str, datadir: str) -> None:
    app = faust.App(
        f"bench-read-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        datadir=datadir,
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    started: list[float] = []

    def seen(n: int) -> bool:
        if not started:
            started.append(time.perf_counter())
        if n < count:
            return False
        result = {"records": n, "seconds": time.perf_counter() - started[0]}
        Path(datadir, RESULT).write_bytes(orjson.dumps(result))
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own handler stops it cleanly
        return True

    @app.agent(topic)
    async def read(stream: faust.StreamT) -> None:
        n = 0
        if mode == "each":
            async for _value in stream:
                n += 1
                if seen(n):
                    return
        else:
            async for batch in stream.take(TAKE, within=0.2):
                n += len(batch)
                if seen(n):
                    return

    faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
