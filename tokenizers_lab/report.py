"""Report model: provenance, signature, canonical JSON, Markdown helpers, atomic output writing."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import importlib
import json
import math
import os
import platform
import re
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
from tokenizers_lab.errors import InterruptedAfterWrite, LabError, OutputExistsError, raise_if_interrupted

SCHEMA_VERSION = 1
FLOAT_DIGITS = 6


class Markdown:
    """Base of a job's report: `to_markdown()` is `render(report)` of the `markdown` module beside
    the report's own module (found by name: the report never imports its renderer, and the
    renderer imports only the report, so neither imports the job)."""

    def to_markdown(self) -> str:
        """The report as Markdown, rendered from its fields."""
        package = type(self).__module__.rpartition(".")[0]
        return importlib.import_module(f"{package}.markdown").render(self)


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


# Config fields that only name inputs (paths): their content enters a signature through the
# inputs' sha256 (`in:`), so the same files at another path give the same signature.
INPUT = {"input": True}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(name: str) -> str:
    """A name (a label, a file name) safe inside a one-line signature or a Markdown cell: control
    characters as \\xNN, a bar escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name).replace("|", "\\|")


def signature(
    command: str,
    parts: Sequence[tuple[str, str]],
    seed: int,
    cfg: str | None = None,
    inputs: str | None = None,
) -> str:
    """A sacrebleu-style one-line signature, version last: the command, short names for the common
    settings, `cfg:` (hash of every other setting), `in:` (hash of every input's content)."""
    fields = list(parts) + [(k, v) for k, v in (("cfg", cfg), ("in", inputs)) if v]
    body = "|".join(f"{k}:{one_line(v)}" for k, v in fields)
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


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def config_hash(config: Any) -> str:
    """sha256 of the canonical config (execution settings left out, input paths kept): names a
    run's default output folder."""
    return _digest(config_dict(config))


def settings_hash(config: Any) -> str:
    """sha256 of every setting that can change a number: the config without execution settings and
    without the fields that only name input paths (the inputs count by content instead)."""
    out = config_dict(config)
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            if f.metadata.get("input"):
                out.pop(f.name, None)
    out.pop("seed", None)  # the signature carries it by name
    return _digest(out)


def inputs_hash(inputs: Iterable[InputRef]) -> str:
    """sha256 over every input's role and content hash (not its name or path)."""
    return _digest(sorted([i.role, i.sha256] for i in inputs))


def make_provenance(
    command: str, config: Any, inputs: Iterable[InputRef], seed: int, sig_parts: Sequence[tuple[str, str]]
) -> Provenance:
    """Build the provenance block of a report; its signature changes with every setting and input
    that can change a number (`tests/test_signature.py` flips each option)."""
    inputs = tuple(inputs)
    return Provenance(
        tool="tokenizers-lab",
        version=__version__,
        schema_version=SCHEMA_VERSION,
        command=command,
        seed=seed,
        config=config_dict(config),
        inputs=inputs,
        signature=signature(
            command,
            sig_parts,
            seed,
            short(settings_hash(config)),
            short(inputs_hash(inputs)) if inputs else None,
        ),
    )


class Stopwatch:
    """Measures wall and CPU time of a job and captures peak RSS for its RunInfo."""

    def __init__(self) -> None:
        self.started = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        self._t0 = time.perf_counter()
        self._c0 = time.process_time()

    def info(
        self, libraries: Mapping[str, str] | None = None, engine: Mapping[str, Any] | None = None
    ) -> RunInfo:
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
        if v is None:  # an undefined measure (nothing to measure it on)
            return "–"
        if isinstance(v, float):
            return f"{v:.4g}"
        return one_line(str(v))

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md_provenance(p: Provenance) -> str:
    """The provenance section shared by every Markdown report."""
    rows = [(i.role, i.name, short(i.sha256), i.bytes) for i in p.inputs]
    return "\n".join(
        [
            "## Provenance",
            "",
            f"Signature: `{p.signature}`",
            "",
            md_table(["role", "input", "sha256", "bytes"], rows) if rows else "(no inputs)",
            "",
        ]
    )


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
    """Hold Ctrl-C (SIGINT) and SIGTERM while finished outputs move into place, so an interrupt
    never leaves a mix of old and new files or an output folder moved away; it is raised once the
    move is done (as InterruptedAfterWrite: the outputs are whole). Off the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        raise InterruptedAfterWrite()


MANIFEST = ".tokenlab-outputs"  # in every output folder: the files tokenlab wrote there, one per line


def default_out(command: str, config: Any) -> Path:
    """The output folder of a run without --out: reports/<command>-<config hash> (reports/ or
    $TOKENLAB_REPORTS), so that two different configurations never share one (the same
    configuration again needs --force)."""
    return Path(os.environ.get("TOKENLAB_REPORTS") or "reports") / f"{command}-{config_hash(config)[:10]}"


def stage_folder(parent: Path) -> Path:
    """A private temp folder beside the output, made with the permissions the umask gives."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".tokenlab-stage-", dir=parent))
    except OSError as e:
        raise LabError(f"cannot write to {parent}: {e.strerror or e}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it 0700; an output folder follows the umask
    return stage


def written_by_tokenlab(out: Path) -> list[str]:
    """The files a previous run wrote into `out` (its manifest), [] when it has none."""
    try:
        text = (out / MANIFEST).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [line for line in text.splitlines() if line and ".." not in Path(line).parts]


def _files_under(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )


def install_folder(stage: Path, out: Path, force: bool) -> list[str]:
    """Move a finished staging folder into place as `out`; return the files written (relative).

    A new folder appears whole (one rename). With --force the previous output is replaced as a
    whole: the files its manifest lists that this run does not write (an old sweep's v1000/, …)
    are removed, so no stale output survives; files tokenlab did not write are never touched.
    Ctrl-C is held during the move.
    """
    raise_if_interrupted()  # a Ctrl-C that a library swallowed still means: write nothing
    names = [n for n in _files_under(stage) if n != MANIFEST]
    with uninterrupted():
        if not out.exists():
            (stage / MANIFEST).write_text("".join(n + "\n" for n in names), encoding="utf-8")
            os.rename(stage, out)
            return names
        previous = written_by_tokenlab(out)
        if force:
            for stale in sorted(set(previous) - set(names), reverse=True):
                with contextlib.suppress(OSError):
                    (out / stale).unlink()
                parent = (out / stale).parent
                while parent != out and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
            previous = []
        for name in names:
            dest = out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, dest)
        kept = sorted(set(previous) | set(names))
        tmp = out / f"{MANIFEST}.tmp"
        tmp.write_text("".join(n + "\n" for n in kept), encoding="utf-8")
        os.replace(tmp, out / MANIFEST)
    return names


def write_outputs(out: Path, files: Mapping[str, bytes | str], force: bool) -> list[str]:
    """Write all files of a job at once: staged in a sibling temp folder, then moved in place
    (install_folder). Nothing is left half-written if anything fails before the move. Returns
    the files written, relative to `out`."""
    out = Path(out)
    check_outputs(out, files.keys(), force)
    stage = stage_folder(out.resolve().parent)
    try:
        for name, data in files.items():
            dest = stage / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return install_folder(stage, out, force)
    except OSError as e:
        raise LabError(f"cannot write outputs to {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
