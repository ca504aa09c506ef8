"""`tokenlab encode`, `tokenlab inspect`, `tokenlab compare`: quick looks at tokenizers. They answer
on stdout (a coloured split on a terminal, plain columns off one, `--format json|md`) and write a
folder only when `--out` is given."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from tokenizers_lab.cli.common import Format, emit, lab_command, make_progress, tell
from tokenizers_lab.cli.options import Column, Encoder, Errors, Field, Fmt, Force, Pattern, Quiet
from tokenizers_lab.htmlpage import PAGE
from tokenizers_lab.outputs import check_outputs

if TYPE_CHECKING:
    from tokenizers_lab.quick.compare import CompareReport
    from tokenizers_lab.quick.encode import EncodeReport, Piece
    from tokenizers_lab.quick.inspect import InspectReport

QuickOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Also write <cmd>.json and <cmd>.md into this folder (default: none)."),
]
# token backgrounds on a terminal, cycled (tiktokenizer-style)
COLOURS = ("on #3b4f7a", "on #6b3b5e", "on #3b6b4f", "on #7a5a2b", "on #4b3b7a", "on #2b6b6b")


def _coloured(pieces: tuple[Piece, ...]) -> Text:
    out = Text()
    for p in pieces:
        shown = f"<{p.token}>" if p.special or not p.text else p.text.replace("\n", "↵\n")
        out.append(shown, style=COLOURS[p.index % len(COLOURS)])
    return out


def _terminal() -> bool:
    return sys.stdout.isatty()


def _answer(
    command: str, report: Any, fmt: Format, out: Path | None, force: bool, text: Any, feedback: Any
) -> None:
    """stdout in the chosen format, the notes on stderr; with --out, the report files too (the last
    line names them). Only the text format on a terminal differs from a job's answer: coloured."""
    summary = lambda r: _plain(text(r))  # noqa: E731 - the text answer, plain
    if out is not None:
        emit(report, command, fmt, out, force, summary, feedback)
    elif fmt is Format.text and _terminal():
        for note in getattr(report, "notes", ()):
            feedback.note(note)
        console = Console(highlight=False, soft_wrap=True)
        for part in text(report):
            console.print(part, markup=False, end="" if str(part).endswith("\n") else "\n")
    else:
        tell(report, fmt, summary, "", feedback)


def run_lookup(
    command: str, job: Any, config: Any, *, out: Path | None, force: bool, fmt: Format, quiet: bool, text: Any
) -> Any:
    """The one sequence of every quick command (run_job's for lookups): validate, refuse an --out
    clash, run with progress on stderr, answer on stdout (and write --out when given)."""
    job.validate(config)
    if out is not None:
        check_outputs(out, [f"{command}.json", f"{command}.md", PAGE], force)
    feedback = make_progress(quiet, command)
    try:
        report = job.run(config, progress=feedback)
    finally:
        feedback.close()
    _answer(command, report, fmt, out, force, text, feedback)
    return report


def _plain(parts: list[Any]) -> str:
    return "".join(
        (p.plain if isinstance(p, Text) else p) + ("" if str(p).endswith("\n") else "\n") for p in parts
    )


def _encode_text(r: EncodeReport) -> list[Any]:
    from tokenizers_lab.quick.encode import columns

    head = f"{r.tokenizer['label']}: {r.count} tokens, {r.text_bytes} bytes, {r.characters} characters"
    if not _terminal():
        return [head, columns(r.tokens)]
    return [head, _coloured(r.tokens), columns(r.tokens)]


@lab_command
def encode(
    tokenizer: str = typer.Argument(
        ..., help="A tokenizer file or folder (tokenizer.json, .model, .tiktoken, …)."
    ),
    text: str = typer.Argument(..., help="The text to encode; - reads standard input."),
    pattern: Pattern = None,
    fmt: Fmt = Format.text,
    out: QuickOut = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Show how one tokenizer splits a text: every token's id, its string and the byte span it covers
    (no special tokens added)."""
    from tokenizers_lab.quick import encode as lib

    config = lib.EncodeConfig(tokenizer, lib.read_text(text), pattern)
    run_lookup("encode", lib, config, out=out, force=force, fmt=fmt, quiet=quiet, text=_encode_text)


def _inspect_text(r: InspectReport) -> list[Any]:
    from tokenizers_lab.quick.markdown import render

    return [render(r)]


@lab_command
def inspect(
    tokenizer: str = typer.Argument(..., help="A tokenizer file or folder."),
    longest: int = typer.Option(10, "--longest", help="How many of the longest tokens to list."),
    pattern: Pattern = None,
    fmt: Fmt = Format.text,
    out: QuickOut = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Show what a tokenizer holds: format, model, vocabulary size, special tokens with their roles,
    normalizer / pre-tokenizer / decoder, byte fallback, longest tokens, merges and sha256."""
    from tokenizers_lab.quick import inspect as lib

    config = lib.InspectConfig(tokenizer, pattern, longest)
    run_lookup("inspect", lib, config, out=out, force=force, fmt=fmt, quiet=quiet, text=_inspect_text)


def _compare_text(r: CompareReport) -> list[Any]:
    from tokenizers_lab.quick.markdown import render

    parts: list[Any] = [render(r)] if not _terminal() or r.input != "text" else []
    if _terminal() and r.input == "text":
        width = max(len(s.tokenizer["label"]) for s in r.sides)
        for s in r.sides:
            parts.append(f"{s.tokenizer['label']:<{width}}  {s.tokens:>5} tokens")
            parts.append(_coloured(s.pieces))
    return parts


@lab_command
def compare(
    tokenizers: list[str] = typer.Argument(
        ..., help="Two or more tokenizers, then (without --corpus) the text."
    ),
    corpus: str | None = typer.Option(
        None, "--corpus", help="Compare token counts on a corpus instead of a text."
    ),
    pattern: Pattern = None,
    encoder: Encoder = "auto",
    errors: Errors = "strict",
    field: Field = "text",
    column: Column = "text",
    fmt: Fmt = Format.text,
    out: QuickOut = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Put tokenizers side by side: their splits and counts of one text (the last argument; - reads
    standard input), or their token counts, bytes and characters per token on a corpus."""
    from tokenizers_lab.quick import compare as lib
    from tokenizers_lab.quick.encode import read_text

    specs, text = (tuple(tokenizers), None) if corpus else (tuple(tokenizers[:-1]), tokenizers[-1])
    config = lib.CompareConfig(
        errors=errors,
        field=field,
        column=column,
        tokenizers=specs,
        text=text,
        corpus=corpus,
        pattern=pattern,
        encoder=encoder,
    )
    lib.validate(config)  # before standard input is read
    if text is not None:
        config = dataclasses.replace(config, text=read_text(text))
    run_lookup("compare", lib, config, out=out, force=force, fmt=fmt, quiet=quiet, text=_compare_text)
