"""`tokenlab train`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tokenizers_lab.cli.common import (
    Format,
    engine_spec,
    lab_command,
    parse_sizes,
    run_job,
)
from tokenizers_lab.cli.options import (
    ENGINE_HELP,
    Address,
    Column,
    Encoder,
    Errors,
    Field,
    Fmt,
    Force,
    Metric,
    Out,
    Pivot,
    Quiet,
    Seed,
    Workers,
)
from tokenizers_lab.errors import UsageError
from tokenizers_lab.report import md_table
from tokenizers_lab.train.config import ALGORITHMS, NORMALIZATIONS

if TYPE_CHECKING:
    from tokenizers_lab import train as lib


def summary(report: lib.TrainReport) -> str:
    """Plain-text summary for --format text."""
    rows = [
        (r.vocab_size, r.heldout_bytes_per_token, r.roundtrip_rate, r.whitespace_spanning_tokens)
        for r in report.results
    ]
    return (
        f"{report.provenance.signature}\n"
        + md_table(["vocab", "held-out bytes/token", "held-out round-trip", "superword tokens"], rows)
        + "\n"
    )


@lab_command
def train(
    corpus: list[str] | None = typer.Argument(
        None,
        metavar="CORPUS",
        help="Corpora (files, folders, globs, -, hf:NAME, embedded:NAME). Default: the embedded corpora.",
    ),
    algorithm: str = typer.Option("bpe", "--algorithm", "-a", help=f"One of: {', '.join(ALGORITHMS)}."),
    vocab_size: str = typer.Option(
        "8000", "--vocab-size", "-v", help="Size, or a comma list for a sweep (8k,16k)."
    ),
    out: Out = None,
    min_frequency: int = typer.Option(2, help="Minimum pair frequency to merge."),
    special: list[str] | None = typer.Option(
        None, "--special", metavar="TOKEN", help="Special token (repeatable); default per algorithm."
    ),
    pretokenizer: str | None = typer.Option(
        None,
        "--pretokenizer",
        help="Byte-level regex preset (gpt2, cl100k, o200k, llama3, qwen, superbpe-stage1) or a regex.",
    ),
    split_digits: bool = typer.Option(False, "--split-digits", metavar="", help="Split digits one by one."),
    normalization: str = typer.Option("none", help=f"One of: {', '.join(NORMALIZATIONS)}."),
    max_token_length: int | None = typer.Option(None, help="Longest token, in characters."),
    character_coverage: float = typer.Option(0.9995, help="SentencePiece character coverage."),
    superbpe_transition: float = typer.Option(
        0.9, help="SuperBPE transition t: a fraction of the vocab or a size."
    ),
    export: str | None = typer.Option(None, "--export", help="Also export: tiktoken."),
    parallel: list[str] | None = typer.Option(
        None,
        "--parallel",
        metavar="DIR",
        help="Parallel corpus folder for per-language compression and premiums (repeatable).",
    ),
    pivot: Pivot = "eng_Latn",
    heldout_every: int = typer.Option(
        100,
        help="Hold out every Nth record for evaluation (0: none; "
        "plain text files are then read by the trainer directly, no copy).",
    ),
    heldout: list[str] | None = typer.Option(
        None,
        "--heldout",
        metavar="PATH",
        help="Separate held-out corpus for evaluation "
        "(repeatable); nothing is held out of the training corpus.",
    ),
    errors: Errors = "strict",
    field: Field = "text",
    column: Column = "text",
    engine: str = typer.Option(
        "local",
        "--engine",
        help=ENGINE_HELP + " Counts words for wordpiece (locally: one forked process per core "
        "past 4 M characters) and superbpe's stage 2; the other trainers read files with their own "
        "threads.",
    ),
    address: Address = None,
    workers: Workers = 0,
    encoder: Encoder = "auto",
    fmt: Fmt = Format.text,
    seed: Seed = 13,
    metric: Metric = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Train tokenizers from corpora (one per vocabulary size) and write tokenizer.json + a report."""
    if export not in (None, "tiktoken"):
        raise UsageError(f"unknown export format {export!r} (choices: tiktoken)")
    from tokenizers_lab import train as lib  # the trainers and measures only when training

    config = lib.TrainConfig(
        corpora=tuple(corpus or ()),
        algorithm=algorithm,
        vocab_sizes=parse_sizes(vocab_size),
        min_frequency=min_frequency,
        special_tokens=tuple(special) if special else None,
        pretokenizer=pretokenizer,
        split_digits=split_digits,
        normalization=normalization,
        max_token_length=max_token_length,
        character_coverage=character_coverage,
        superbpe_transition=superbpe_transition,
        export_tiktoken=export == "tiktoken",
        parallel=tuple(parallel or ()),
        pivot=pivot,
        heldout_every=heldout_every,
        heldout=tuple(heldout or ()),
        errors=errors,
        field=field,
        column=column,
        seed=seed,
        metric=metric,
        execution=engine_spec(engine, address, workers, encoder),
    )
    run_job("train", lib, config, out=out, force=force, fmt=fmt, quiet=quiet, summary=summary)
