"""gigatoken's byte-level BPE trainer in a child process of its own.

The trainer holds the GIL from start to end, so on a thread of the run it stops everything else
(the corpus check meant to run beside it, the progress heartbeat) and Ctrl-C waits for it. A forked
worker is not safe either: a rayon pool the parent built before the fork (any parallel gigatoken
call earlier in the process) has no threads in the child, and the trainer's pre-tokenization waits
on it forever. So the trainer runs in a fresh interpreter that imports nothing but gigatoken: its
own session (a terminal's Ctrl-C reaches the run, which stops it), its output discarded, told to
die with its parent, the job and the merges passed as pickles over its stdin and stdout.

This module imports the standard library only: the child starts in a tenth of a second.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers_lab.background import Background

MAX_HOLDING_DOCUMENTS = 200_000  # past this many, one pass over the whole corpus is cheaper


def documents(data: bytes, sep: bytes) -> bytes:
    """A file's lines as tokenizers reads them for training (each with its newline, the last
    without one if the file does not end in one), `sep` between them: one replace, a fifth of
    the time of splitting and joining the lines."""
    out = data.replace(b"\n", b"\n" + sep)
    return out[: -len(sep)] if out.endswith(b"\n" + sep) else out


def holding_counts(blob: bytes, sep: bytes, piece: bytes) -> list[tuple[bytes, int]]:
    """gigatoken's pre-token counts of the documents (the `sep`-separated parts of blob) holding
    `piece`: every pre-token that holds it lies in one of them, so its count is the whole
    corpus's. Finding those documents is a byte search; pre-tokenizing the whole corpus a second
    time cost 0.45 s of a 5 s training run."""
    from gigatoken.gigatoken_rs import pretokenized_counts

    docs: list[bytes] = []
    pos = blob.find(piece)
    while pos != -1:
        start = blob.rfind(sep, 0, pos)
        start = 0 if start == -1 else start + len(sep)
        end = blob.find(sep, pos)
        end = len(blob) if end == -1 else end
        docs.append(blob[start:end])
        if len(docs) > MAX_HOLDING_DOCUMENTS:
            return list(pretokenized_counts(blob, sep))
        pos = blob.find(piece, end)
    return list(pretokenized_counts(sep.join(docs), sep)) if docs else []


def train(paths: Sequence[str], vocab: int, specials: Sequence[str], sep: bytes) -> tuple[list, list]:
    """(merges, the pre-token counts of the documents holding the last merge's bytes): every
    line of the files a document, `sep` between them (a byte string the files never hold)."""
    from pathlib import Path

    import gigatoken

    blob = sep.join(d for p in paths if (d := documents(Path(p).read_bytes(), sep)))
    _, merges = gigatoken.train_bpe(blob, vocab, list(specials), tie_breaking="huggingface", separator=sep)
    counts = holding_counts(blob, sep, merges[-1][0] + merges[-1][1]) if merges else []
    return merges, counts


def trainer_threads() -> int:
    """The trainer's thread count when none is asked for: one on a machine of two cores or fewer.
    Its merge loop is sequential, and at two threads the pool's idle worker spins (sched_yield) on
    the core the corpus check needs: on 24.6 MB at vocab 32,000 one thread took 5.2 s of wall and
    5.3 CPU-s, two threads 5.4-5.9 s and 8 CPU-s (pre-tokenizing, the parallel part, is 0.15 s of
    it). With more cores gigatoken's own choice (one per core) stands."""
    from tokenizers_lab.engine import cpu_count  # here, not at the top: the child imports this module

    cores = cpu_count()
    return 1 if cores <= 2 else cores


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _child() -> None:
    """The child's entry: the job from stdin, the result (or the error's text) to stdout."""
    _die_with_parent()
    parent = int(os.environ.get("TOKENLAB_PARENT", "0"))
    if parent and os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    job = pickle.load(sys.stdin.buffer)
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # gigatoken prints its thread count and timings from Rust
    try:
        result: tuple[str, Any] = ("ok", train(*job))
    except Exception as e:  # noqa: BLE001 - handed to the parent, which trains with tokenizers
        result = ("error", f"{type(e).__name__}: {e}")
    with os.fdopen(out, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)


class TrainerChild:
    """The child interpreter, started at once so that it starts up while the caller still checks
    the corpus; `run` hands it the job, `stop` ends it unused. `threads`: its rayon pool's size
    (0: `trainer_threads()`)."""

    def __init__(self, threads: int = 0) -> None:
        env = {
            **os.environ,
            "TOKENLAB_PARENT": str(os.getpid()),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "RAYON_NUM_THREADS": str(threads or trainer_threads()),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tokenizers_lab.gigatrain import _child; _child()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def run(
        self,
        paths: Sequence[str],
        vocab: int,
        specials: Sequence[str],
        sep: bytes,
        watch: Sequence[Background | None] = (),
        meanwhile: Callable[[], Any] | None = None,
    ) -> tuple[list, list] | str:
        """`train(...)` in the child, waited for interruptibly (a watched job's failure, e.g. the
        corpus check finding a bad record, stops it and is raised); the child's error or exit as
        a string for the caller's note. `meanwhile`: the parent's work while it trains."""
        proc = self.proc
        job = pickle.dumps((list(paths), vocab, list(specials), sep))
        try:
            while True:
                try:
                    raw, _ = proc.communicate(job, timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    job = None  # type: ignore[assignment]  # sent: later calls only read
                    if meanwhile is not None:
                        work = meanwhile
                        meanwhile = None  # once
                        work()
                    for w in watch:
                        err = w.failed() if w is not None else None
                        if err is not None:
                            raise err from None
        except BaseException:
            self.stop()
            raise
        if proc.returncode != 0 or not raw:
            return f"gigatoken's trainer exited with status {proc.returncode}"
        status, value = pickle.loads(raw)
        return value if status == "ok" else f"gigatoken's trainer failed: {value}"

    def stop(self) -> None:
        """End the child (unused, or interrupted)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None and not f.closed:
                f.close()


def train_in_child(
    paths: Sequence[str],
    vocab: int,
    specials: Sequence[str],
    sep: bytes,
    watch: Sequence[Background | None] = (),
    threads: int = 0,
) -> tuple[list, list] | str:
    """`train(...)` in a child interpreter of its own (see TrainerChild)."""
    return TrainerChild(threads).run(paths, vocab, specials, sep, watch)
