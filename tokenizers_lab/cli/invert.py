"""`tokenlab invert`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tokenizers_lab.cli.common import (
    Format,
    engine_spec,
    lab_command,
    run_job,
)
from tokenizers_lab.cli.options import (
    Address,
    Column,
    Encoder,
    Engine,
    Errors,
    Field,
    Fmt,
    Force,
    Metric,
    Out,
    Pattern,
    Quiet,
    Seed,
)
from tokenizers_lab.report import md_table

if TYPE_CHECKING:
    from tokenizers_lab.invert.report import InvertReport


def summary(report: InvertReport) -> str:
    """Plain-text summary for --format text."""
    s = report.solver

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.2f}%"

    rows = [
        (
            c.name,
            pct(c.share),
            f"{pct(c.ci_low)} – {pct(c.ci_high)}" if c.ci_low is not None else "–",
            "yes" if c.identifiable else "NO",
            pct(c.baseline_share),
        )
        + ((pct(c.truth),) if c.truth is not None else ())
        for c in report.categories
    ]
    head = ["category", "share", "95% CI", "identifiable", "TC baseline"]
    if report.score is not None:
        head.append("truth")
    text = f"{report.provenance.signature}\n" + md_table(head, rows) + "\n"
    text += (
        f"merges {s.first_merge}-{s.last_merge - 1} of {s.merges_in_list}; LP {s.status}, objective "
        f"{s.objective:.3g}, {s.constraints} rows in {s.passes} passes, {report.timings.get('solve_seconds', 0.0):.1f} s\n"
    )
    if report.score is not None:
        text += (
            f"log10 MSE {report.score.log10_mse:.2f} (TC baseline {report.score.baseline_log10_mse:.2f}, "
            f"uniform {report.score.uniform_log10_mse:.2f})\n"
        )
    return text


@lab_command
def invert(
    tokenizer: str | None = typer.Argument(
        None,
        help="A BPE tokenizer (tokenizer.json, vocab.json+merges.txt "
        "folder, .tiktoken ranks, SentencePiece BPE .model). Default: "
        "a BPE trained on a known mixture of the embedded corpora.",
    ),
    category: list[str] | None = typer.Option(
        None,
        "--category",
        "-c",
        metavar="NAME=PATH",
        help="Candidate category sample "
        "NAME=PATH (repeatable; any corpus: file, folder, glob, .jsonl, "
        ".parquet, .gz).",
    ),
    merges: int | None = typer.Option(
        None, "--merges", "-T", help="Merges to constrain (default: up to 30000, the paper's T)."
    ),
    start: int = typer.Option(
        0,
        "--start",
        help="First merge to constrain; earlier merges are replayed "
        "only (e.g. 100000 for the merges Llama 3 added to cl100k).",
    ),
    sample_bytes: int = typer.Option(10_000_000, "--sample-bytes", help="Bytes read per category."),
    shards: int = typer.Option(10, help="Contiguous shards per sample, resampled by the bootstrap."),
    bootstrap: int = typer.Option(
        8,
        help="Bootstrap resamples for the confidence intervals (0: none); "
        "solved side by side on the cores, each warm-started from the estimate.",
    ),
    bootstrap_passes: int = typer.Option(
        3,
        help="Lazy passes per resample after its warm start (0: until "
        "converged, as the point estimate; slower).",
    ),
    engine: Engine = "local",
    address: Address = None,
    workers: int = typer.Option(
        0,
        "--workers",
        help="Processes pre-tokenizing the shards (0: one per "
        "available CPU; 1: none), or of the local Dask cluster.",
    ),
    encoder: Encoder = "auto",
    competitors: int = typer.Option(
        10,
        "--competitors",
        "-k",
        help="Rows added per pass of the lazy "
        "constraint generation, per constrained merge (at most 20000 a pass).",
    ),
    truth: list[str] | None = typer.Option(
        None,
        "--truth",
        metavar="NAME=SHARE",
        help="Known share NAME=SHARE of every category (controlled runs): the report scores the estimate.",
    ),
    pattern: Pattern = None,
    errors: Errors = "strict",
    field: Field = "text",
    column: Column = "text",
    out: Out = None,
    fmt: Fmt = Format.text,
    seed: Seed = 13,
    metric: Metric = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Infer a BPE tokenizer's training-data mixture from its ordered merge list (Hayase et al.
    2024's linear program), with bootstrap intervals and a token-classification baseline."""
    from tokenizers_lab import invert as lib
    from tokenizers_lab.invert import example

    config = lib.InvertConfig(
        tokenizer=tokenizer,
        categories=tuple(category or ()),
        merges=merges,
        start=start,
        sample_bytes=sample_bytes,
        shards=shards,
        bootstrap=bootstrap,
        bootstrap_passes=bootstrap_passes,
        competitors=competitors,
        truth=tuple(truth or ()),
        pattern=pattern,
        errors=errors,
        field=field,
        column=column,
        seed=seed,
        metric=metric,
        execution=engine_spec(engine, address, workers, encoder),
    )
    # no tokenizer: the embedded controlled example (a BPE trained on a known mixture)
    job = lib if tokenizer is not None else example
    run_job("invert", job, config, out=out, force=force, fmt=fmt, quiet=quiet, summary=summary)
