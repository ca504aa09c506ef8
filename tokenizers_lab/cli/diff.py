"""`tokenlab diff`, and the gate outputs (JUnit XML, GitHub annotations) it shares with `audit`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tokenizers_lab.cli.common import Format, fail, lab_command, run_job, stderr
from tokenizers_lab.cli.options import Fmt, Force, Out, Quiet
from tokenizers_lab.errors import EXIT_GATE, LabError, OutputExistsError

if TYPE_CHECKING:
    from tokenizers_lab.diff import DiffReport
    from tokenizers_lab.gate_output import GateCase

SHOWN = 25  # changed numbers in the text summary (all of them are in diff.md / diff.json)

Junit = Annotated[
    Path | None,
    typer.Option("--junit", metavar="PATH", help="Also write the gate results as JUnit XML to PATH."),
]


def check_junit(path: Path | None, force: bool) -> None:
    """Refuse, before any work, a JUnit path that exists (without --force) or is a folder."""
    if path is None:
        return
    if path.is_dir():
        raise OutputExistsError(f"--junit {path} is a folder")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite")


def write_junit(path: Path, data: bytes) -> None:
    """Write the JUnit file whole (a temp file beside it, renamed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokenlab-junit-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise LabError(f"cannot write {path}: {e.strerror or e}") from None


def gate_outputs(command: str, cases: Sequence[GateCase], junit: Path | None) -> None:
    """JUnit XML when asked for, `::error` annotations under GitHub Actions (on stderr)."""
    from tokenizers_lab.gate_output import github_annotations, junit_xml

    if junit is not None:
        write_junit(junit, junit_xml(f"tokenlab.{command}", cases))
    for line in github_annotations(command, cases):
        stderr.print(line, markup=False, soft_wrap=True, highlight=False)


def summary(report: DiffReport) -> str:
    """Text summary: signatures, configuration and input changes, gates, the largest changes."""
    from tokenizers_lab.diff.markdown import _v, gate_rows, pct, ranked

    c = report.comparison
    lines = [f"old: {c.old_signature}", f"new: {c.new_signature}"]
    lines += [f"setting {s.key}: {_v(s.old)} -> {_v(s.new)}" for s in c.settings]
    lines += [f"input {i.role}: {_v(i.old)} -> {_v(i.new)}" for i in c.inputs]
    lines += [
        f"gate {state}: {expr} on {on}: {old} -> {new} ({ch})"
        for expr, on, old, new, ch, state in gate_rows(c.gates)
    ]
    lines.append(f"{len(c.changes)} numbers changed, {c.unchanged} unchanged")
    for x in ranked(c.changes)[:SHOWN]:
        lines.append(f"  {x.path}: {_v(x.old)} -> {_v(x.new)} ({pct(x.relative)})")
    if len(c.changes) > SHOWN:
        lines.append(f"  … {len(c.changes) - SHOWN} more in diff.md")
    return "\n".join(lines) + "\n"


@lab_command
def diff(
    old: str = typer.Argument(
        ..., help="The earlier report (<cmd>.json of train, audit, invert or transplant)."
    ),
    new: str = typer.Argument(..., help="The later report, of the same subcommand."),
    fail_on: list[str] | None = typer.Option(
        None,
        "--fail-on",
        metavar="EXPR",
        help="Gate over the change NAME[@TOKENIZER] OP [+-]NUMBER[%] (repeatable), e.g. max_premium>+5%, "
        "premium.tur_Latn@cl100k>+0.1, roundtrip<0, bpb.ratio>+0.01: the change is new - old, or "
        "relative in percent; exit 3 when one holds.",
    ),
    junit: Junit = None,
    out: Out = None,
    fmt: Fmt = Format.text,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Compare two reports of one subcommand: configuration and input differences first, then every
    number that changed (absolute and relative); --fail-on gates over the change exit 3."""
    from tokenizers_lab import diff as lib

    config = lib.DiffConfig(old=old, new=new, fail_on=tuple(fail_on or ()))
    lib.validate(config)
    check_junit(junit, force)
    report = run_job("diff", lib, config, out=out, force=force, fmt=fmt, quiet=quiet, summary=summary)
    gates = report.comparison.gates
    verdicts(gates, "diff", lib.gate_cases(gates), junit, "", "has no value before or after")


def verdicts(
    gates: Sequence[Any], command: str, cases: Sequence[GateCase], junit: Path | None, where: str, why: str
) -> None:
    """The gate outputs, then exit 1 when a gate is undefined, 3 when one holds."""
    gate_outputs(command, cases, junit)
    undefined = [g for g in gates if g.undefined]
    if undefined:
        fail(
            f"{len(undefined)} gate(s) undefined{where} (e.g. {undefined[0].expression}: "
            f"{', '.join(undefined[0].undefined)} {why}); the report was written"
        )
    if any(g.tripped for g in gates):
        raise typer.Exit(EXIT_GATE)
