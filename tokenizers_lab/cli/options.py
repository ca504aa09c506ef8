"""The options every command shares, declared once: `out: Out = None` in a command's signature is
`--out/-o` with its help text. A command whose option means something more (transplant's --out is
the new model folder) declares its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokenizers_lab.cli.common import Format

Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Folder for <cmd>.json, <cmd>.md and artifacts (default: reports/<cmd>-<config hash>).",
    ),
]
Force = Annotated[bool, typer.Option("--force", metavar="", help="Overwrite existing outputs.")]
Metric = Annotated[
    str | None,
    typer.Option(
        "--metric",
        metavar="NAME",
        help="Print only this number of the report on stdout, named as `tokenlab diff` names it "
        "(e.g. bpb.ratio, score.log10_mse, results.heldout_bytes_per_token).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress or notes on stderr.")]
Fmt = Annotated[
    Format,
    typer.Option("--format", help="stdout: a text summary, the report JSON alone, or the Markdown report."),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every random choice (held-out split, sampling).")]
Pattern = Annotated[
    str | None,
    typer.Option(
        "--pattern", help="Pre-tokenizer preset or regex for tiktoken rank files whose name does not tell it."
    ),
]
Pivot = Annotated[str, typer.Option("--pivot", help="Pivot language of premiums.")]
# how corpora are read (corpus.CorpusOptions)
Errors = Annotated[str, typer.Option("--errors", help="Invalid UTF-8: strict (refuse) or replace.")]
Field = Annotated[str, typer.Option("--field", help="JSONL field holding the text.")]
Column = Annotated[str, typer.Option("--column", help="Parquet/CSV/datasets column holding the text.")]
# where the corpus passes run (engine.EngineSpec)
ENGINE_HELP = (
    "Where the corpus passes run: local (this process) or dask (a Dask cluster: --address, "
    "else a local one of --workers processes). Results are identical; needs the dask extra."
)
Engine = Annotated[str, typer.Option("--engine", help=ENGINE_HELP)]
Address = Annotated[
    str | None, typer.Option("--address", help="Dask scheduler address (tcp://host:8786) for --engine dask.")
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", help="Worker processes of the local Dask cluster for --engine dask (0: one per CPU)."
    ),
]
Encoder = Annotated[
    str,
    typer.Option(
        "--encoder",
        help="auto: the fastest exact encoder (gigatoken, checked against the format's own library on "
        "this run's input; any difference falls back with a note); reference: the format's library.",
    ),
]
