"""Typed errors of the library; the CLI maps each to one stderr line and its exit code."""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_GATE = 3


class LabError(Exception):
    """Base class: a data or runtime problem the user can fix (exit 1)."""

    exit_code = EXIT_DATA


class InputError(LabError):
    """An input (corpus, tokenizer, model) is missing, unreadable or malformed."""


class UsageError(LabError):
    """Options contradict each other or name something unknown (exit 2)."""

    exit_code = EXIT_USAGE


class OutputExistsError(LabError):
    """An output would overwrite an existing file without --force."""


class MissingExtraError(LabError):
    """An optional dependency is not installed; the message names the extra."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the CLI's handler: the same clean-up as Ctrl-C (temporary
    folders and half-written outputs go), then exit 143."""


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C arrived while finished outputs were moving into place: they were written whole."""


# Signals the CLI's handlers took (SIGINT, SIGTERM). The handler raises at once, but an exception
# raised inside a garbage-collector callback or a __del__ (Dask installs a gc callback) is printed
# and dropped by the interpreter: a run would then finish with exit 0 after a Ctrl-C. The record
# makes the interrupt stick: `raise_if_interrupted` raises it again at the next checkpoint
# (progress updates, and before any output moves into place).
PENDING_SIGNALS: list[int] = []


def raise_if_interrupted() -> None:
    """Raise the interrupt a signal handler recorded, if any (KeyboardInterrupt, or Terminated)."""
    if PENDING_SIGNALS:
        raise Terminated() if signal.SIGTERM in PENDING_SIGNALS else KeyboardInterrupt()


def quiet_unraisable(unraisable: object) -> None:
    """`sys.unraisablehook` of the CLI: an interrupt raised where the interpreter cannot deliver it
    (a weakref callback of importlib's module locks, a gc callback, a __del__) is not printed as
    "Exception ignored in ..." with a traceback: it is recorded in PENDING_SIGNALS and raised again at
    the next checkpoint, so the run still ends with its one error line. Anything else is printed as
    the interpreter would."""
    import sys

    exc_type = getattr(unraisable, "exc_type", None)
    if PENDING_SIGNALS and isinstance(exc_type, type) and issubclass(exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)  # type: ignore[arg-type]


def on_signal(signum: int, frame: object) -> None:
    """The CLI's SIGINT/SIGTERM handler: record, then raise in the main thread."""
    PENDING_SIGNALS.append(signum)
    raise_if_interrupted()


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """A UsageError for an unknown registry name, with difflib 'did you mean' suggestions."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UsageError(f"unknown {kind} {name!r}{hint} (choices: {', '.join(choices)})")


def check_range(
    option: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    """Refuse a numeric option outside its range, nan and inf included (exit 2, the range named)."""
    import math

    ok = isinstance(value, (int, float)) and not math.isnan(value) and not math.isinf(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        left = "any" if lo is None else f"{'(' if lo_open else '['}{lo:g}"
        right = "" if hi is None else f"{hi:g}{')' if hi_open else ']'}"
        if hi is not None:
            span = f"in {left}, {right}"
        else:
            span = "a finite number" + (f" {'>' if lo_open else '>='} {lo:g}" if lo is not None else "")
        raise UsageError(f"{option} must be {span}, got {value}")
