"""Process-wide state that native code and libraries touch: file descriptors that C stdio and
Rust println!/eprintln! write to straight (their chatter would corrupt the JSON a run prints on
stdout, or add lines to stderr that `--quiet` cannot silence), glibc's malloc settings, and
environment variables a library writes into this process."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator


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


def trim_heap() -> bool:
    """Hand the heap's freed pages back to the kernel (glibc's malloc_trim(0)). Returns whether
    it ran (False off glibc)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest: arrays below it come from the heap
TRIM_THRESHOLD = 256 << 20  # freed heap kept for reuse up to this much


_KEEP = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))  # keep_freed_memory's
_kept = False  # whether they are in force


def _mallopt(settings: tuple[tuple[int, int], ...]) -> bool:
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    results = [bool(mallopt(param, value)) for param, value in settings]  # every call made
    return all(results)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed memory instead of returning it to the kernel at once.

    The passes allocate and free megabyte-sized arrays for every batch (numpy temporaries, the
    encoders' buffers). By default glibc serves each from a fresh mmap and unmaps it on free, so
    every batch pays page faults for zeroed pages: on the 204-language audit that was 3.7 of 12
    CPU-seconds in the kernel, and a third of the pass's wall. Both settings are needed (either one
    alone is slower than glibc's default, which adapts the two together). Peak memory is
    unchanged; up to TRIM_THRESHOLD of freed heap stays mapped until the process ends. Returns
    whether the settings took (False off glibc, e.g. macOS or musl)."""
    global _kept
    _kept = _mallopt(_KEEP)
    return _kept


RETURN_THRESHOLD = 1 << 20  # return_freed_memory: arrays from 1 MB get their own mapping


@contextlib.contextmanager
def return_freed_memory() -> Iterator[bool]:
    """Meanwhile, glibc hands freed memory back to the kernel at once: every array of
    RETURN_THRESHOLD or more gets a mapping of its own, unmapped when it is freed, and the heap
    is trimmed whenever that much lies free at its top. For a phase whose peak matters more than
    its page faults: a transplant fit allocates and frees the same few hundred megabytes in every
    step, and under keep_freed_memory's settings the heap's holes and up to TRIM_THRESHOLD of
    freed memory stayed resident on top of what the step needs. Afterwards keep_freed_memory's
    settings are back if they were in force (else glibc's default values, fixed). The heap is
    trimmed on entry too: the phase's peak then starts from what is in use. Yields whether the
    settings took."""
    took = _mallopt(((_M_MMAP_THRESHOLD, RETURN_THRESHOLD), (_M_TRIM_THRESHOLD, RETURN_THRESHOLD)))
    if took:
        trim_heap()  # what the phase before left freed (up to TRIM_THRESHOLD) goes back first
    try:
        yield took
    finally:
        if took:
            trim_heap()
            if _kept:
                _mallopt(_KEEP)
            else:
                _mallopt(((_M_MMAP_THRESHOLD, 128 << 10), (_M_TRIM_THRESHOLD, 128 << 10)))


class EnvironGuard:
    """Dask's nanny writes its pre-spawn environment into this process's own os.environ before it
    spawns a worker, and leaves it there: without this guard a run inside a library or test
    process would leave RAYON_NUM_THREADS=1, TOKENLAB_THREADS=1 and the malloc settings behind
    for everything that follows in it and every process it starts later. Variables passed to
    watch() get their earlier values back (or are removed) when its block ends and at restore()."""

    def __init__(self) -> None:
        self.before: dict[str, str | None] = {}

    @contextlib.contextmanager
    def watch(self, names: Iterable[str]) -> Iterator[None]:
        for name in names:
            self.before.setdefault(name, os.environ.get(name))
        try:
            yield
        finally:
            self.restore()

    def restore(self) -> None:
        for name, value in self.before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
