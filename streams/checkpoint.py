"""Engine checkpoints on local disk: the engine's state together with the input offsets it covers.

The file is one JSON header line (format, offsets, case revisions, sizes), then the engine snapshot, then the
events read but not yet released to the engine (pickled; see ``streams.pipeline.EventTimeMerger``). It is
replaced atomically (write a temporary file, fsync, rename), so a crash leaves either the old checkpoint or the
new one, never a torn one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

#: Bumped whenever the pickled engine or pending events change shape (3: the boost graph's lateness bound; 4: the
#: engine's best candidate score per account; 5: the compiled engine state, and events pickled as msgspec structs;
#: 6: the novelty models' compiled forests; 7: the ring searches' own scoring models).
#: Older checkpoints hold state this engine cannot continue from, so they are refused up front rather than
#: failing mid-stream.
FORMAT = 7


@dataclass(frozen=True)
class Checkpoint:
    """``offsets`` maps (topic, partition) to the next offset to process; ``revisions`` maps case id to the
    number of alerts emitted for it (the alert id's revision)."""

    engine: bytes
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    pending: bytes = b""


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` durably and atomically.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "worker.ckpt"
    >>> save(path, Checkpoint(b"state", {("interactions", 0): 42}, {"ring-1": 2}))
    >>> load(path)
    Checkpoint(engine=b'state', offsets={('interactions', 0): 42}, revisions={'ring-1': 2}, pending=b'')
    """
    header = {
        "format": FORMAT,
        "offsets": [[topic, partition, offset] for (topic, partition), offset in sorted(checkpoint.offsets.items())],
        "revisions": checkpoint.revisions,
        "engine_bytes": len(checkpoint.engine),
        "pending_bytes": len(checkpoint.pending),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(orjson.dumps(header) + b"\n")
        handle.write(checkpoint.engine)
        handle.write(checkpoint.pending)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    # The rename is durable only once the directory entry is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, or None when there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    line, _, body = raw.partition(b"\n")
    header = orjson.loads(line)
    engine_bytes, pending_bytes = header.get("engine_bytes"), header.get("pending_bytes", 0)
    found = header.get("format")
    if isinstance(found, int) and found < FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {found} was written by an older version and cannot be restored by this one "
            f"(format {FORMAT}); move it away to start with empty state"
        )
    if found != FORMAT or engine_bytes is None or engine_bytes + pending_bytes != len(body):
        raise ValueError(f"{path}: not a complete checkpoint of format {FORMAT}")
    offsets = {(topic, partition): offset for topic, partition, offset in header["offsets"]}
    return Checkpoint(body[:engine_bytes], offsets, header["revisions"], body[engine_bytes:])
