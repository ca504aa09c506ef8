"""Shared CLI plumbing: the one place that maps LabError to `error: ...` + exit code, output
emission (text/json/md), and progress on stderr."""

from __future__ import annotations

import atexit
import functools
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from tokenizers_lab.errors import EXIT_DATA, InterruptedAfterWrite, LabError, UsageError
from tokenizers_lab.report import dumps, write_outputs

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True, highlight=False)


class Format(str, Enum):
    """What stdout carries."""

    text = "text"
    json = "json"
    md = "md"


OUT_HELP = "Folder for <cmd>.json, <cmd>.md and artifacts."
FORCE_HELP = "Overwrite existing outputs."
QUIET_HELP = "No progress or notes on stderr."
FORMAT_HELP = "stdout: a text summary, the report JSON alone, or the Markdown report."
SEED_HELP = "Seed for every random choice (held-out split, sampling)."
PATTERN_HELP = "Pre-tokenizer preset or regex for tiktoken rank files whose name does not tell it."
ERRORS_HELP = "Invalid UTF-8: strict (refuse) or replace."
FIELD_HELP = "JSONL field holding the text."
COLUMN_HELP = "Parquet/CSV/datasets column holding the text."
ENGINE_HELP = ("Where the corpus passes run: local (this process) or dask (a Dask cluster: --address, "
               "else a local one of --workers processes). Results are identical; needs the dask extra.")
ADDRESS_HELP = "Dask scheduler address (tcp://host:8786) for --engine dask."
WORKERS_HELP = "Worker processes (0: one per CPU): of the local Dask cluster, or invert's local forks."


def engine_spec(engine: str, address: str | None, workers: int) -> Any:
    """The EngineSpec of the --engine/--address/--workers options."""
    from tokenizers_lab.engine import EngineSpec

    return EngineSpec(engine=engine, address=address, workers=workers)


def fail(message: str, code: int = EXIT_DATA) -> None:
    """Print one error line on stderr and exit with the code."""
    stderr.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def lab_command(fn: F) -> F:
    """Wrap a command so library errors become one stderr line and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LabError as e:
            fail(str(e), e.exit_code)
        except InterruptedAfterWrite:
            fail("interrupted after the outputs were written whole", 130)
        except KeyboardInterrupt:
            fail("interrupted; no output was written", 130)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except MemoryError:
            fail("out of memory; sample the corpus (fewer or smaller inputs)", EXIT_DATA)
        except Exception as e:  # the CLI edge: never a traceback unless asked for
            if os.environ.get("TOKENLAB_DEBUG"):
                raise
            fail(f"internal error ({type(e).__name__}): {e}. Set TOKENLAB_DEBUG=1 for a traceback.", EXIT_DATA)
        except BaseException as e:  # a Rust library's panic (pyo3 PanicException) is no Exception
            if isinstance(e, (SystemExit, GeneratorExit)) or os.environ.get("TOKENLAB_DEBUG"):
                raise
            fail(f"internal error ({type(e).__name__}): {str(e).splitlines()[0] if str(e) else ''}. "
                 "Set TOKENLAB_DEBUG=1 for a traceback.", EXIT_DATA)

    return wrapper  # type: ignore[return-value]


def _quiet_broken_pipe() -> None:
    # stdout closed early (`| head`): point it at devnull so the interpreter's flush is silent.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(0)


def make_progress(quiet: bool) -> Callable[[str, float | None], None]:
    """A progress callback for the library: a rich bar/spinner on stderr, only on a TTY."""
    if quiet or not sys.stderr.isatty():
        return lambda stage, fraction: None
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                   console=stderr, transient=True)
    task = bar.add_task("starting", total=None)
    bar.start()
    atexit.register(bar.stop)

    def progress(stage: str, fraction: float | None) -> None:
        bar.update(task, description=stage, total=None if fraction is None else 1.0,
                   completed=fraction or 0.0)

    return progress


def emit(report: Any, command: str, fmt: Format, out: Path | None, force: bool,
         summary: Callable[[Any], str]) -> None:
    """Write report (+ its artifacts) atomically to `out`, then print stdout in the chosen format."""
    text_json = dumps(report)
    md = report.to_markdown()
    if out is not None:
        files: dict[str, bytes | str] = dict(getattr(report, "artifacts", {}) or {})
        files[f"{command}.json"] = text_json
        files[f"{command}.md"] = md
        write_outputs(out, files, force)
    try:
        if fmt is Format.json:
            sys.stdout.write(text_json)
        elif fmt is Format.md:
            sys.stdout.write(md)
        else:
            sys.stdout.write(summary(report))
            if out is not None:
                sys.stdout.write(f"wrote {out}/{command}.json and {out}/{command}.md\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()


def parse_sizes(value: str) -> tuple[int, ...]:
    """'8000,16000' or '8k,16k' -> (8000, 16000)."""
    sizes = []
    for part in value.split(","):
        part = part.strip().lower()
        if not part:
            continue
        mult = 1000 if part.endswith("k") else 1
        try:
            sizes.append(int(float(part.rstrip("k")) * mult))
        except ValueError:
            raise UsageError(f"--vocab-size: {part!r} is not a vocabulary size") from None
    if not sizes:
        raise UsageError("--vocab-size: no vocabulary size given")
    return tuple(sizes)
