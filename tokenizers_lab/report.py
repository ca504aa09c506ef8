"""Report model: provenance, signature, canonical JSON, Markdown helpers, atomic output writing."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import resource
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers_lab import __version__
from tokenizers_lab.errors import InterruptedAfterWrite, LabError, OutputExistsError

SCHEMA_VERSION = 1
FLOAT_DIGITS = 6


@dataclass(frozen=True)
class InputRef:
    """One input of a job, identified by content."""

    role: str
    name: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Provenance:
    """What produced a report: tool, version, full config, inputs by sha256, seed, signature."""

    tool: str
    version: str
    schema_version: int
    command: str
    seed: int
    config: dict[str, Any]
    inputs: tuple[InputRef, ...]
    signature: str


@dataclass(frozen=True)
class RunInfo:
    """Non-reproducible facts of one run (timings, host, date); goldens ignore this block."""

    started: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    host: str
    python: str
    libraries: dict[str, str] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)  # what ran the corpus passes (local, dask)


def short(sha: str) -> str:
    """The 7-hex prefix used in signatures."""
    return sha[:7]


def signature(command: str, parts: Sequence[tuple[str, str]], seed: int) -> str:
    """A sacrebleu-style one-line signature, version last."""
    body = "|".join(f"{k}:{v}" for k, v in parts)
    middle = f"|{body}" if body else ""
    return f"{command}{middle}|seed:{seed}|schema:{SCHEMA_VERSION}|v:{__version__}"


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-ready dict (paths as strings), without its execution settings
    (engine, workers: they change where the work runs, never the result)."""
    out = to_jsonable(config)
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            if f.metadata.get("execution"):
                out.pop(f.name, None)
    return out


def make_provenance(command: str, config: Any, inputs: Iterable[InputRef], seed: int,
                    sig_parts: Sequence[tuple[str, str]]) -> Provenance:
    """Build the provenance block of a report."""
    return Provenance(
        tool="tokenizers-lab",
        version=__version__,
        schema_version=SCHEMA_VERSION,
        command=command,
        seed=seed,
        config=config_dict(config),
        inputs=tuple(inputs),
        signature=signature(command, sig_parts, seed),
    )


class Stopwatch:
    """Measures wall and CPU time of a job and captures peak RSS for its RunInfo."""

    def __init__(self) -> None:
        self.started = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        self._t0 = time.perf_counter()
        self._c0 = time.process_time()

    def info(self, libraries: Mapping[str, str] | None = None, engine: Mapping[str, Any] | None = None) -> RunInfo:
        """Freeze the measurements taken so far."""
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return RunInfo(
            started=self.started,
            wall_seconds=time.perf_counter() - self._t0,
            cpu_seconds=time.process_time() - self._c0,
            peak_rss_mb=rss_kb / 1024.0,
            host=f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
            python=platform.python_version(),
            libraries=dict(libraries or {}),
            engine=dict(engine or {}),
        )


def _round(x: float) -> float | None:
    if math.isnan(x) or math.isinf(x):
        return None
    if x == 0 or x.is_integer():
        return x
    return float(f"{x:.{FLOAT_DIGITS}g}")


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, paths and floats into canonical JSON values (floats rounded once)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("artifact"):
                continue
            out[f.name] = to_jsonable(getattr(obj, f.name))
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return _round(obj)
    if isinstance(obj, Path):
        return obj.as_posix()
    if hasattr(obj, "item"):  # numpy scalars
        return to_jsonable(obj.item())
    return str(obj)


def dumps(report: Any) -> str:
    """Canonical JSON text of a report."""
    return json.dumps(to_jsonable(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats shown with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md_provenance(p: Provenance) -> str:
    """The provenance section shared by every Markdown report."""
    rows = [(i.role, i.name, short(i.sha256), i.bytes) for i in p.inputs]
    return "\n".join([
        "## Provenance",
        "",
        f"Signature: `{p.signature}`",
        "",
        md_table(["role", "input", "sha256", "bytes"], rows) if rows else "(no inputs)",
        "",
    ])


def check_outputs(out: Path, names: Iterable[str], force: bool) -> None:
    """Refuse early when an output file exists and --force was not given, or out is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a folder")
    if force:
        return
    clash = sorted(n for n in names if (out / n).exists())
    if clash:
        raise OutputExistsError(f"{out / clash[0]} exists; pass --force to overwrite")


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while finished outputs move into place, so an interrupt never leaves a
    mix of old and new files or an output folder moved away; it is raised once the move is done
    (as InterruptedAfterWrite: the outputs are whole). Off the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise InterruptedAfterWrite()


def write_outputs(out: Path, files: Mapping[str, bytes | str], force: bool) -> list[Path]:
    """Write all files of a job at once: staged in a sibling temp folder, then moved in place.

    A new output folder appears whole (one rename); into an existing folder each file is
    replaced atomically. Nothing is left half-written if anything fails before the move.
    """
    out = Path(out)
    check_outputs(out, files.keys(), force)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".tokenlab-stage-", dir=parent))
    except OSError as e:
        raise LabError(f"cannot write to {parent}: {e.strerror or e}") from None
    try:
        for name, data in files.items():
            dest = stage / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        with uninterrupted():
            if not out.exists():
                os.rename(stage, out)
                return [out / n for n in files]
            for name in files:
                dest = out / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, dest)
        return [out / n for n in files]
    except OSError as e:
        raise LabError(f"cannot write outputs to {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
