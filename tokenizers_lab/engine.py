"""Where the corpus-heavy passes run: here (`local`) or on a Dask distributed cluster (`dask`).

Why Dask and not Ray: the passes are map-reduce over batches of text whose partial results
(token-id tallies, pre-token and word counters) are summed exactly, so any engine gives the same
numbers; what matters is the cost of getting there. `distributed` is a pure-Python wheel, a local
cluster starts in about a second on a 2-core machine, a real one is two commands
(`dask scheduler`, `dask worker ADDRESS`) on any host with this package installed, and peak
memory per worker is one `Client.run` away. Ray's binary wheel, its raylet/GCS daemons and
object store bring nothing these passes need, and cost seconds of start-up and hundreds of MB.

The driver keeps reading, fingerprinting and validating the corpus (one stream, exactly as the
local engine does, so fingerprints, record counts and error messages are the same); workers
receive batches of records and do the expensive part (encoding, pre-tokenizing, counting). At
most `window` tasks are in flight, so the driver's memory stays bounded whatever the corpus
size. Results come back in submission order, so every reduction sees the same sequence.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import signal
import socket
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tokenizers_lab.errors import LabError, MissingExtraError, UsageError, unknown_name
from tokenizers_lab.native import MMAP_THRESHOLD, TRIM_THRESHOLD, EnvironGuard

ENGINES = ("local", "dask")
# --encoder: auto, the fastest exact encoder (tokenizer.fast.use_fastest); or the format's library
ENCODERS = ("auto", "reference")


# metadata of a job config's `execution` field: left out of the report's config block (where a
# job runs never changes its result) and recorded in its run block instead
EXECUTION = {"execution": True}


DASK_EXTRA = "pip install 'tokenizers-lab[dask]'"


# [scheme://]host:port, the host a name, an IPv4 address or a bracketed IPv6 address
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


_ADDRESS = re.compile(
    r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d{1,5})"
)


# How long a scheduler has to accept the connection and answer (a port that is no Dask
# scheduler, e.g. an HTTP server, accepts and then never speaks the protocol)
CONNECT_SECONDS = 10.0


def check_address(address: str) -> None:
    """Refuse a malformed scheduler address before any work (exit 2)."""
    m = _ADDRESS.fullmatch(address)
    if m is None or not 0 < int(m.group("port")) < 65536:
        raise UsageError(
            f"--address {address[:100]!r} is not a Dask scheduler address: give "
            "[tcp://]host:port, e.g. tcp://127.0.0.1:8786"
        )
    if m.group("scheme") and m.group("scheme") not in DASK_SCHEMES:
        raise UsageError(
            f"--address scheme {m.group('scheme')}:// is not one Dask speaks ({', '.join(DASK_SCHEMES)})"
        )


@dataclass(frozen=True)
class EngineSpec:
    """How to run: engine name, scheduler address (dask), and workers of a local cluster."""

    engine: str = "local"
    address: str | None = None
    workers: int = 0  # dask without address: processes of the local cluster (0: one per CPU)
    encoder: str = "auto"  # auto: the fastest exact encoder, checked on the input; reference

    def validate(self) -> None:
        """Refuse unknown engines and contradictory options before any work."""
        if self.engine == "ray":
            raise UsageError(
                "--engine ray is not built in: tokenizers-lab runs its distributed passes on Dask "
                "(--engine dask; docs/usage.md 'Distributed runs' says why)"
            )
        if self.engine not in ENGINES:
            raise unknown_name("--engine", self.engine, ENGINES)
        if self.address is not None and self.engine != "dask":
            raise UsageError("--address names a Dask scheduler: pass --engine dask with it")
        if self.address is not None:
            check_address(self.address)
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 (one per CPU) or more, not {self.workers}")
        if self.encoder not in ENCODERS:
            raise unknown_name("--encoder", self.encoder, ENCODERS)


def cpu_count() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss survives exec on Linux, so a worker
    spawned from a big driver would report the driver's peak), else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Engine:
    """Runs `fn(shared..., item)` over items, in order, with a bounded number in flight."""

    name = "local"
    workers = 1
    # tasks see the caller's objects without a copy (threads, forked processes): send them a
    # name to look up instead of the data itself
    inherits = False

    def share(self, obj: Any) -> Any:
        """A handle to pass to every task instead of `obj` (sent once per worker)."""
        return obj

    def imap(
        self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any, window: int | None = None
    ) -> Iterator[Any]:
        """fn(*shared, item) for each item, results in item order."""
        raise NotImplementedError

    def worker_peak_rss_mb(self) -> list[float]:
        """Peak resident memory of each worker process so far."""
        return [_peak_rss_mb()]

    def describe(self) -> dict[str, Any]:
        """What ran the job, for a report's run block."""
        return {"engine": self.name, "workers": self.workers}

    def close(self) -> None:
        """Release the workers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEngine(Engine):
    """In this process; `threads` > 1 runs tasks on a thread pool (for encoders that release the GIL)."""

    inherits = True

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, threads)

    def imap(
        self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any, window: int | None = None
    ) -> Iterator[Any]:
        if self.threads == 1:
            for item in items:
                yield fn(*shared, item)
            return
        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(fn, *shared, item))
                if len(pending) >= (window or 2 * self.threads):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


class ForkEngine(Engine):
    """Tasks in `processes` forked workers (background.fork_map): `shared` objects are inherited at
    fork, never pickled; each task's item and result are. Each worker owns one core (its encoders
    run one thread), so Python-side work runs on every core too."""

    name = "local"
    inherits = True

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)

    def imap(
        self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any, window: int | None = None
    ) -> Iterator[Any]:
        from tokenizers_lab.background import fork_map

        yield from fork_map(_forked_call, items, self.processes, (fn, shared))


def _forked_call(item: Any) -> Any:
    from tokenizers_lab.background import forked_state

    fn, shared = forked_state()
    return fn(*shared, item)


class DaskEngine(Engine):
    """Tasks on a Dask distributed cluster: the one at `address`, or a local one of `workers`
    single-threaded processes started for this run."""

    name = "dask"

    def __init__(self, address: str | None = None, workers: int = 0) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError(f"--engine dask needs the dask extra: {DASK_EXTRA}") from None
        self.address = address
        self._client: Any = None  # dask.distributed.Client once connected
        self._cluster: Any = None  # the LocalCluster this run started, if any
        self._environ = EnvironGuard()
        quiet = logging.CRITICAL
        for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(quiet)
        try:
            if address:
                probe_scheduler(address)
                self._client = Client(address, timeout=f"{CONNECT_SECONDS:g}s", set_as_default=False)
            else:
                # one core per worker process: the encoders' own thread pools would otherwise
                # oversubscribe the machine (Dask already pins OpenMP/BLAS to one thread)
                import dask.config

                env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
                env.update({"RAYON_NUM_THREADS": "1", "TOKENLAB_THREADS": "1"})
                # freed memory reused, not unmapped (see native.keep_freed_memory; Dask's own
                # default returns it at once, for long-lived workers -- ours last one run)
                env.update(
                    {
                        "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
                        "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
                    }
                )
                with (
                    dask.config.set({"distributed.nanny.pre-spawn-environ": env}),
                    warnings.catch_warnings(),
                    _workers_ignore_ctrl_c(),
                    self._environ.watch(env),
                ):
                    # its HTTP server (health checks) moves off a busy default port with a warning
                    warnings.simplefilter("ignore", UserWarning)
                    self._cluster = LocalCluster(
                        n_workers=workers or cpu_count(),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=quiet,
                        preload=["tokenizers_lab.dask_worker"],
                    )
                self._client = Client(self._cluster, set_as_default=False)
        except OSError as e:
            self.close()
            raise LabError(
                f"cannot reach the Dask scheduler at {address}: {str(e).splitlines()[0]}"
            ) from None
        except RuntimeError as e:  # a worker process that cannot start (spawn needs an importable __main__)
            self.close()
            raise LabError(f"cannot start a local Dask cluster: {str(e).splitlines()[0]}") from None
        info = self._client.scheduler_info(n_workers=-1)
        self.workers = len(info.get("workers", {}))
        if not self.workers:
            self._client.wait_for_workers(1, timeout=60)
            self.workers = len(self._client.scheduler_info(n_workers=-1).get("workers", {}))

    def share(self, obj: Any) -> Any:
        return self._client.scatter(obj, broadcast=True, hash=False)

    def imap(
        self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any, window: int | None = None
    ) -> Iterator[Any]:
        pending: deque = deque()
        limit = window or 2 * max(1, self.workers)
        try:
            for item in items:
                pending.append(self._client.submit(fn, *shared, item, pure=False))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            if pending:
                self._client.cancel(list(pending))

    def worker_peak_rss_mb(self) -> list[float]:
        got = self._client.run(_peak_rss_mb)
        return [got[k] for k in sorted(got)]

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "workers": self.workers,
            "address": "local cluster" if self._cluster is not None else self.address,
        }

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = None
        self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        self._environ.restore()  # a worker the nanny restarted meanwhile wrote it again


async def _identity(address: str) -> dict[str, Any]:
    from distributed.comm import connect
    from distributed.core import send_recv

    comm = await connect(address, timeout=CONNECT_SECONDS)
    try:
        return await send_recv(comm, op="identity")
    finally:
        comm.abort()


def probe_scheduler(address: str) -> None:
    """Connect, handshake and ask the peer what it is, all within CONNECT_SECONDS, before a Client
    is made: Dask's own handshake waits forever on a port that accepts but never answers, and a
    Client that failed half-way holds the exit for 40 s."""
    m = _ADDRESS.fullmatch(address)
    if m is not None and (m.group("scheme") or "tcp") == "tcp":  # refused or unknown host: say so at once
        host = m.group("host").strip("[]")
        try:
            socket.create_connection((host, int(m.group("port"))), timeout=CONNECT_SECONDS).close()
        except OSError as e:
            raise LabError(f"cannot reach the Dask scheduler at {address}: {e.strerror or e}") from None
    import asyncio  # only for a scheduler address (18 ms of every start-up otherwise)

    try:
        info = asyncio.run(asyncio.wait_for(_identity(address), CONNECT_SECONDS))
    except (asyncio.TimeoutError, TimeoutError):
        raise LabError(
            f"no Dask scheduler answered at {address} within {CONNECT_SECONDS:g} s (is that port a "
            "Dask scheduler?)"
        ) from None
    except OSError as e:  # refused, unreachable, unknown host, closed during the handshake
        raise LabError(f"cannot reach the Dask scheduler at {address}: {str(e).splitlines()[0]}") from None
    except Exception as e:  # noqa: BLE001 - whatever a non-Dask peer makes the protocol raise
        raise LabError(f"{address} does not speak the Dask protocol ({type(e).__name__})") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise LabError(f"{address} is a Dask {kind or 'peer'}, not a scheduler")


class _workers_ignore_ctrl_c:
    """While a local cluster starts its worker processes, SIGINT is ignored: the processes inherit
    that and Python then installs no KeyboardInterrupt handler in them, so a Ctrl-C in the terminal
    (sent to the whole process group) reaches only this process, which stops the cluster itself,
    instead of printing a traceback from every worker. The cost: a Ctrl-C during those one or two
    seconds of start-up is lost (press it again). Workers the nanny restarts later ignore SIGINT
    through the preload module."""

    def __enter__(self) -> None:
        self.main = threading.current_thread() is threading.main_thread()
        if self.main:
            self.previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.main:
            signal.signal(signal.SIGINT, self.previous)


def engine_info(engine: Engine) -> dict[str, Any]:
    """The engine block of a report's run info, with each worker's peak memory."""
    return {**engine.describe(), "worker_peak_rss_mb": [round(x, 1) for x in engine.worker_peak_rss_mb()]}


def open_engine(spec: EngineSpec, local_threads: int = 1) -> Engine:
    """The engine a spec names (validated); use it as a context manager."""
    spec.validate()
    if spec.engine == "dask":
        return DaskEngine(spec.address, spec.workers)
    return LocalEngine(local_threads)
