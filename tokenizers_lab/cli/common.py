"""Shared CLI plumbing: the one place that maps LabError to `error: ...` + exit code, output
emission (text/json/md), and progress on stderr."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, cast

import typer
from rich.console import Console

from tokenizers_lab.errors import (
    EXIT_DATA,
    InterruptedAfterWrite,
    LabError,
    Terminated,
    UsageError,
    raise_if_interrupted,
)
from tokenizers_lab.htmlpage import PAGE, page_names
from tokenizers_lab.outputs import check_outputs, report_files, write_outputs, written_by_tokenlab
from tokenizers_lab.report import dumps

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True, highlight=False)


class Format(str, Enum):
    """What stdout carries."""

    text = "text"
    json = "json"
    md = "md"


def engine_spec(engine: str, address: str | None, workers: int, encoder: str = "auto") -> Any:
    """The EngineSpec of the --engine/--address/--workers/--encoder options."""
    from tokenizers_lab.engine import EngineSpec

    return EngineSpec(engine=engine, address=address, workers=workers, encoder=encoder)


def fail(message: str, code: int = EXIT_DATA) -> None:
    """Print one error line on stderr and exit with the code."""
    stderr.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


INTERRUPT_REPORTED: list[bool] = []  # the interrupt's error line is out (main() must not repeat it)


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
            INTERRUPT_REPORTED.append(True)
            fail("interrupted after the outputs were written whole", 130)
        except Terminated:
            INTERRUPT_REPORTED.append(True)
            fail("terminated; no output was written", 143)
        except KeyboardInterrupt:
            INTERRUPT_REPORTED.append(True)
            fail("interrupted; no output was written", 130)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except MemoryError:
            fail("out of memory; sample the corpus (fewer or smaller inputs)", EXIT_DATA)
        except Exception as e:  # the CLI edge: never a traceback unless asked for
            if os.environ.get("TOKENLAB_DEBUG"):
                raise
            fail(
                f"internal error ({type(e).__name__}): {e}. Set TOKENLAB_DEBUG=1 for a traceback.", EXIT_DATA
            )
        except BaseException as e:  # a Rust library's panic (pyo3 PanicException) is no Exception
            if isinstance(e, (SystemExit, GeneratorExit)) or os.environ.get("TOKENLAB_DEBUG"):
                raise
            fail(
                f"internal error ({type(e).__name__}): {str(e).splitlines()[0] if str(e) else ''}. "
                "Set TOKENLAB_DEBUG=1 for a traceback.",
                EXIT_DATA,
            )

    return cast(F, wrapper)


def _quiet_broken_pipe() -> None:
    # stdout closed early (`| head`): point it at devnull so the interpreter's flush is silent.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(0)


PROGRESS_SECONDS = 5.0  # off a terminal: at most one progress line per this many seconds ...
HEARTBEAT_SECONDS = 30.0  # ... and one at least this often while a long stage runs silently


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


class Feedback:
    """Progress and notes for one command, on stderr: a rich bar on a terminal; elsewhere (CI logs,
    pipes) plain lines `tokenlab <cmd>: <stage> (40%, 12s, ETA 18s)`, rate-limited, with a heartbeat
    during long silent stages. `--quiet` silences both; results never go here."""

    def __init__(self, command: str, quiet: bool) -> None:
        self.command, self.quiet = command, quiet
        self._t0 = time.monotonic()
        self._last = self._t0  # like tqdm's `delay`: a run shorter than the interval prints no progress
        self._stage = ""
        self._loop_t0, self._f0 = self._t0, 0.0
        self._fraction: float | None = None
        self._pending = False
        self._lock = threading.Lock()
        self._bar: Any = None
        self._stop = threading.Event()
        if quiet:
            return
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=stderr,
                transient=True,
            )
            self._task = self._bar.add_task("starting", total=None)
            self._bar.start()
            atexit.register(self.close)
        else:
            self.interval = float(os.environ.get("TOKENLAB_PROGRESS_SECONDS", PROGRESS_SECONDS))
            threading.Thread(target=self._heartbeat, name="tokenlab-heartbeat", daemon=True).start()

    def __call__(self, stage: str, fraction: float | None) -> None:
        """The library's progress callback (also a checkpoint for an interrupt a library swallowed)."""
        raise_if_interrupted()
        if self.quiet or not stage:
            return
        if self._bar is not None:
            self._bar.update(
                self._task,
                description=stage,
                total=None if fraction is None else 1.0,
                completed=fraction or 0.0,
            )
            return
        now = time.monotonic()
        with self._lock:
            self._stage = stage
            if fraction is not None and (self._fraction is None or fraction < self._fraction):
                self._loop_t0, self._f0 = now, fraction  # a loop starts: the ETA's reference
            self._fraction, self._pending = fraction, True
            if now - self._last >= self.interval:
                self._line(now)

    def _line(self, now: float) -> None:
        parts = [_duration(now - self._t0)]
        fraction = self._fraction
        if fraction is not None and 0 <= fraction < 1:
            parts.insert(0, f"{fraction:.0%}")
            if fraction > self._f0:
                rate = (now - self._loop_t0) / (fraction - self._f0)
                parts.append(f"ETA {_duration(rate * (1 - fraction))}")
        self._write(f"tokenlab {self.command}: {self._stage} ({', '.join(parts)})")
        self._last, self._pending = now, False

    def _heartbeat(self) -> None:
        # an update held back by the rate limit is printed once its interval has passed; a stage
        # that runs long without any update still shows a line every HEARTBEAT_SECONDS
        while not self._stop.wait(0.5):
            now = time.monotonic()
            with self._lock:
                if self._stage and (
                    (self._pending and now - self._last >= self.interval)
                    or now - self._last >= HEARTBEAT_SECONDS
                ):
                    self._line(now)

    def _write(self, line: str) -> None:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def note(self, text: str) -> None:
        """One `note:` line (a report's note: the estimate stalled, a vocabulary shrank, …)."""
        if not self.quiet:
            self.close()
            stderr.print(f"note: {text}", markup=False, soft_wrap=True)

    def close(self) -> None:
        """Stop the bar or the heartbeat (idempotent)."""
        self._stop.set()
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def make_progress(quiet: bool, command: str = "run") -> Feedback:
    """The progress callback (and note printer) of one command."""
    return Feedback(command, quiet)


def resolve_out(command: str, config: Any, out: Path | None) -> Path:
    """--out, or the run's default folder reports/<command>-<config hash>."""
    from tokenizers_lab.outputs import default_out

    return Path(out) if out is not None else default_out(command, config)


def wrote_line(out: Path, names: list[str]) -> str:
    """The last line of every run: the folder and every file written into it."""
    return f"wrote {out}/: {', '.join(names)}"


def emit(
    report: Any,
    command: str,
    fmt: Format,
    out: Path,
    force: bool,
    summary: Callable[[Any], str],
    feedback: Feedback | None = None,
    answer: Callable[[Any], str] | None = None,
) -> None:
    """Write report (+ its artifacts) atomically to `out`, then tell the results (tell)."""
    files = report_files(report, command)
    text_json, md = str(files[f"{command}.json"]), str(files[f"{command}.md"])
    names = write_outputs(out, files, force)
    head = [n for n in (f"{command}.json", f"{command}.md", PAGE) if n in names]
    tell(
        report,
        fmt,
        summary,
        wrote_line(out, head + sorted(n for n in names if n not in head)),
        feedback or Feedback(command, quiet=True),
        text_json,
        md,
        answer,
    )


def tell(
    report: Any,
    fmt: Format,
    summary: Callable[[Any], str],
    wrote: str,
    feedback: Feedback,
    text_json: str | None = None,
    md: str | None = None,
    answer: Callable[[Any], str] | None = None,
) -> None:
    """Once the outputs are in place: the report's notes as `note:` lines on stderr, then stdout in
    the chosen format; the last line names every file written (on stdout for the text format, on
    stderr with --format json/md so stdout stays one document; none when `wrote` is empty: a lookup
    without --out writes no file). `answer` (--metric): stdout is that one line, whatever the format.
    """
    feedback.close()
    for note in getattr(report, "notes", ()) or ():
        feedback.note(note)
    try:
        line = answer(report) if answer is not None else None
    except LabError:  # an undefined value: stdout stays empty, the files written are still named
        if wrote and not feedback.quiet:
            stderr.print(wrote, markup=False, soft_wrap=True)
        raise
    try:
        if line is not None:
            sys.stdout.write(line + "\n")
        elif fmt is Format.json:
            sys.stdout.write(text_json if text_json is not None else dumps(report))
        elif fmt is Format.md:
            sys.stdout.write(md if md is not None else report.to_markdown())
        else:
            sys.stdout.write(summary(report) + (wrote + "\n" if wrote else ""))
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    if wrote and (fmt is not Format.text or line is not None) and not feedback.quiet:
        stderr.print(wrote, markup=False, soft_wrap=True)


def comma_list(value: str | None) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c'); None -> ()."""
    return tuple(x.strip() for x in (value or "").split(",") if x.strip())


_SIZE = re.compile(r"(\d+)(?:\.(\d+))?([kK]?)")


def parse_sizes(value: str) -> tuple[int, ...]:
    """'8000,16000' or '8k,16k' (or 1.5k) -> (8000, 16000). Strict: a whole number of tokens, one
    optional k; 'inf', '1e400', '2.5' and '1kk' are refused, not rounded or overflowed."""
    sizes = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        m = _SIZE.fullmatch(part)
        if not m:
            raise UsageError(
                f"--vocab-size: {part!r} is not a vocabulary size (a whole number, e.g. 8000 or 8k)"
            )
        whole, frac, k = m.groups()
        scale = 1000 if k else 1
        frac = (frac or "").rstrip("0")
        if len(frac) > (3 if k else 0):
            raise UsageError(f"--vocab-size: {part!r} is not a whole number of tokens")
        sizes.append(int(whole) * scale + (int(frac.ljust(3, "0")) if frac else 0))
    if not sizes:
        raise UsageError("--vocab-size: no vocabulary size given")
    return tuple(sizes)


def metric_answer(command: str, config: Any) -> Callable[[Any], str] | None:
    """With --metric (`config.metric`): its name checked before any work, and what reads the number
    off the finished report; None without it."""
    name = getattr(config, "metric", None)
    if not name:
        return None
    if command == "audit":  # its gate metrics too, checked by audit.validate against the inputs
        from tokenizers_lab.audit.config import metric_answer as audit_answer

        return audit_answer(config)
    from tokenizers_lab import metric  # diff's flattening (numpy via audit): only with --metric

    return metric.answer(command, name.strip())


def run_job(
    command: str,
    job: Any,
    config: Any,
    *,
    out: Path | None,
    force: bool,
    fmt: Format,
    quiet: bool,
    summary: Callable[[Any], str],
) -> Any:
    """The one sequence of every command: settle the output folder, validate the options (gates
    included) and refuse a clash before any heavy work, run with progress on stderr, write the
    outputs and print the results. Returns the report.

    `job` is a job package or its example module: `validate(config)`, `output_names(config)` and
    `run(config, *, progress)`. With `config.metric` (--metric), the one number named is printed
    instead of the results (tokenizers_lab.metric). A job whose config names its own `out`
    (transplant: a model folder, too large to hold as report artifacts) writes the folder itself;
    the others' reports are written here."""
    out = resolve_out(command, config, out)
    writes_itself = any(f.name == "out" for f in dataclasses.fields(config))
    if writes_itself:
        config = dataclasses.replace(config, out=str(out), force=force)
    answer = metric_answer(command, config)
    if answer is not None and fmt is not Format.text:
        raise UsageError(f"--metric prints one number; it does not combine with --format {fmt.value}")
    job.validate(config)
    names = job.output_names(config)
    check_outputs(out, [*names, *page_names([*names, f"{command}.json", f"{command}.md"])], force)
    feedback = make_progress(quiet, command)
    try:
        report = job.run(config, progress=feedback)
    finally:
        feedback.close()
    if writes_itself:
        tell(report, fmt, summary, wrote_line(out, sorted(written_by_tokenlab(out))), feedback, answer=answer)
    else:
        emit(report, command, fmt, out, force, summary, feedback, answer)
    return report
