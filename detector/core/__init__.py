"""The pure, deterministic detection core: no I/O, no wall clock. Shared by the stream and by replay."""
