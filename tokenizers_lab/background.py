"""Work beside the main thread and in worker processes, shaped so that Ctrl-C and SIGTERM always act:
native calls on daemon threads the main thread waits on interruptibly, and forked workers that
leave signals to their parent and die with it."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tokenizers_lab.native import keep_freed_memory


class Background:
    """`fn(*args)` on a daemon thread, its result (or error) collected by `result()`.

    Native trainers (tokenizers, sentencepiece) release the GIL but never look at signals: run on
    the main thread, a Ctrl-C waits for the end of a training phase (seconds, or minutes on
    pathological input). The main thread waits here instead, so Ctrl-C and SIGTERM act at once;
    and being a daemon, an abandoned thread never holds up the exit (a ThreadPoolExecutor's
    threads are joined at exit). `watch`: other background jobs whose failure ends the wait (a
    corpus check that runs beside training stops it on the first bad record)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(fn, args, kwargs),
            daemon=True,
            name=f"tokenlab-{getattr(fn, '__name__', 'job')}",
        )
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the thread that collects the result
            self._error = e

    def failed(self) -> BaseException | None:
        """The error this job ended with (None while it runs or when it succeeded)."""
        return None if self._thread.is_alive() else self._error

    def result(self, watch: Sequence[Background | None] = ()) -> Any:
        """Wait (interruptibly) for the value; raise this job's error, or a watched job's."""
        while self._thread.is_alive():
            self._thread.join(0.1)
            for w in watch:
                err = w.failed() if w is not None else None
                if err is not None:
                    raise err
        if self._error is not None:
            raise self._error
        return self._value


def in_background(
    fn: Callable[..., Any],
    *args: Any,
    watch: Sequence[Background | None] = (),
    meanwhile: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """`fn(*args, **kwargs)`, waited for interruptibly (see Background); `meanwhile`: work for the
    main thread while it runs (e.g. imports needed after it, while a native call holds no GIL)."""
    job = Background(fn, *args, **kwargs)
    if meanwhile is not None:
        meanwhile()
    return job.result(watch)


def child_of_this_process() -> None:
    """Initializer of a forked worker process: it leaves SIGINT to the parent (a Ctrl-C in the
    terminal reaches the whole process group; the parent stops the workers, none prints a
    traceback), takes SIGTERM by the default action (not the CLI's handler it was forked with),
    and on Linux is sent SIGTERM when the parent dies, however the parent dies (a SIGKILL
    included): a worker blocked on its task queue would otherwise wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        except (OSError, AttributeError):  # no libc symbol: the parent's clean-up still stops us
            pass
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def stop_workers(pool: Any) -> None:
    """End a ProcessPoolExecutor now: pending tasks cancelled, its processes terminated (a plain
    shutdown waits for the running tasks, which can take minutes)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(5)
    # Let the executor's manager thread see the dead workers and close its wake-up pipe now: else
    # the interpreter's exit hook (concurrent.futures.process._python_exit) can race it, writing to
    # the pipe as it closes ("OSError: Bad file descriptor" after a SIGTERM, Python 3.11).
    if manager is not None:
        with contextlib.suppress(Exception):
            manager.join(5)


_STATE: list[Any] = [None]  # what fork_map's workers inherit


def forked_state() -> Any:
    """The `state` of the fork_map running this task (inherited at fork, never pickled)."""
    return _STATE[0]


def _forked_worker() -> None:
    """A fork_map worker: child_of_this_process, and one core's worth of threads (each worker
    owns a core; the encoders' own pools would oversubscribe them)."""
    child_of_this_process()
    keep_freed_memory()  # a no-op when the parent (the CLI) has already asked
    os.environ.update({"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "TOKENLAB_THREADS": "1"})
    from tokenizers_lab.tokenizer.base import set_threads

    set_threads(1)


def fork_map(fn: Callable[[Any], Any], items: Iterable[Any], processes: int, state: Any) -> Iterator[Any]:
    """`fn(item)` for each item, results in order: in `processes` forked workers that inherit
    `state` (large inputs: tokenizers, corpora) without pickling it, or here when processes <= 1
    or the platform cannot fork. Ctrl-C, SIGTERM, an error or the consumer leaving stops every
    worker at once."""
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        _STATE[0] = state
        try:
            yield from map(fn, items)
        finally:
            _STATE[0] = None
        return
    _STATE[0] = state
    # the objects alive now move to the collector's permanent generation: a worker's collections
    # then never walk (and so never copy, page by page) the inherited tokenizers and corpora
    gc.freeze()
    ex = ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("fork"), initializer=_forked_worker
    )
    try:
        yield from ex.map(fn, items)
    except BaseException:  # no worker outlives us
        stop_workers(ex)
        raise
    else:
        ex.shutdown()
    finally:
        _STATE[0] = None
        gc.unfreeze()
