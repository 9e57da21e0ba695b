"""``detector stack``: start the local Kafka and Redis, print where they are, keep them up until Ctrl-C."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path

from detector.stack import StackError, local_stack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefer",
        choices=("embedded", "real"),
        default="embedded",
        help="embedded: Tansu and Valkey from the Python wheels; real: Apache Kafka 4.x (Java) and redis-server. "
        "Either falls back to the other when not installed. (default: %(default)s)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(".work/stack"),
        help="logs and data of the started servers (default: %(default)s)",
    )
    parser.add_argument(
        "--settings-file",
        type=Path,
        help="also write the settings as KEY=VALUE lines here, for DETECTOR_SETTINGS_FILE",
    )


def run(args: argparse.Namespace) -> int:
    try:
        stack = local_stack(args.prefer, work_dir=args.work_dir)
    except StackError as error:
        print(f"detector stack: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # during a slow first start (Maven); local_stack stopped what it had started
        return 130
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with stack:
        for line in stack.describe():
            print(f"# {line}", file=sys.stderr)
        # The file first: whoever reads the exports may read the file next.
        if args.settings_file:
            staging = args.settings_file.with_name(args.settings_file.name + ".tmp")
            staging.write_text("".join(f"{key}={value}\n" for key, value in stack.env().items()))
            staging.replace(args.settings_file)
            print(f"# settings written to {args.settings_file}", file=sys.stderr)
        for key, value in stack.env().items():
            print(f"export {key}={shlex.quote(value)}")
        print("# running; Ctrl-C stops", file=sys.stderr, flush=True)
        sys.stdout.flush()
        while not stop.wait(1.0):
            dead = [server for server in stack.started if not server.running]
            if dead:
                for server in dead:
                    print(f"detector stack: {server.name} exited; see {server.log_path}", file=sys.stderr)
                return 1
    return 0
