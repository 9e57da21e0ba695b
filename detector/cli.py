"""The ``detector`` console script. Each subcommand lives in its own module, imported only when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("detector.demo", "start the embedded stack, stream simulated schemes through the pipeline, report"),
    "worker": ("streams.worker", "run the Faust stream worker against the configured Kafka and Redis"),
    "replay": ("detector.replay", "run the engine over a JSONL file in event-time order"),
    "simulate": ("detector.simulate", "write (or publish) organic traffic with injected schemes"),
    "train": ("models.retrain", "refit the scheme scores with scikit-learn on simulated, labelled candidates"),
    "eval": ("detector.evaluate", "inject schemes into Bitcoin-Alpha, replay, compare against baselines"),
    "stack": ("detector.stack.cli", "start the local Kafka and Redis and keep them running"),
    "cases": ("detector.review.cli", "list, show, claim, decide and reopen review cases; manage the allowlist"),
    "web": ("detector.web.app", "serve the reviewer UI and its JSON API"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detector", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the error, then exits
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    # No abbreviations: `--threshold` must not silently mean eval's `--thresholds`.
    sub_parser = argparse.ArgumentParser(prog=f"detector {name}", description=help_text, allow_abbrev=False)
    module.add_arguments(sub_parser)
    return int(module.run(sub_parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
