"""Native libraries that print straight to the process's file descriptors (C stdio, Rust
println!/eprintln!): their chatter would corrupt the JSON a run prints on stdout, or add lines
to stderr that `--quiet` cannot silence."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def silenced(fds: tuple[int, ...] = (1,)) -> Iterator[None]:
    """The given file descriptors (default: stdout) point at /dev/null meanwhile (Python's own
    streams are flushed first)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
