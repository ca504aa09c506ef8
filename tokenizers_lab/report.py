"""Report model: provenance, signature, canonical JSON and the Markdown helpers every report uses."""

from __future__ import annotations

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
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers_lab import __version__

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
# Config fields that only choose what is printed or exported (--metric): never a number, so they
# stay out of the signature and the default folder's hash, like execution settings.
OUTPUT = {"output": True}


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
            if f.metadata.get("execution") or f.metadata.get("output"):
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


def md_section(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    level: int = 2,
) -> list[str]:
    """A heading, paragraphs before the table, the table and paragraphs after it, each followed
    by a blank line: the lines of one report section."""
    out = ["#" * level + " " + title, ""]
    for text in before:
        out += [text, ""]
    out += [md_table(headers, rows), ""]
    for text in after:
        out += [text, ""]
    return out


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
