"""`tokenlab transplant`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tokenizers_lab.cli.common import Format, lab_command, run_job
from tokenizers_lab.cli.options import Fmt, Force, Metric, Pattern, Quiet, Seed
from tokenizers_lab.report import md_table

if TYPE_CHECKING:
    from tokenizers_lab.transplant.report import TransplantReport


def summary(r: TransplantReport) -> str:
    """Plain-text summary for --format text."""
    text = f"{r.provenance.signature}\n"
    text += md_table(["route", "rows"], list(r.routes.items())) + "\n"
    for x in r.leave_out:
        text += (
            f"leave-out {x.method}: centred cosine {x.centred_cosine:.3f}, hit@10 {x.hit_at_10:.3f} "
            f"({x.rebuilt}/{x.hidden})\n"
        )
    if r.fit:
        f = r.fit
        text += (
            f"fit ({f['objective']}): {f['steps']} steps, {f['tokens']} tokens, {f['new_tokens_fitted']} of "
            f"{f['estimated_rows']} new rows moved, loss {f['first_loss']:.4f} -> {f['last_loss']:.4f}\n"
        )
    if r.bpb is not None:
        before = (
            f" (heuristic rows before the fit {r.bpb.heuristic.bpb:.4f}, ratio {r.bpb.heuristic_ratio:.3f})"
            if r.bpb.heuristic is not None and r.bpb.heuristic_ratio is not None
            else ""
        )
        text += (
            f"bits per byte {r.bpb.original.bpb:.4f} -> {r.bpb.transplanted.bpb:.4f} (ratio {r.bpb.ratio:.3f}, "
            f"length ratio {r.bpb.length_ratio:.3f}){before}\n"
        )
    return text


@lab_command
def transplant(
    model: Path = typer.Argument(
        ..., help="A local Hugging Face model folder (config.json, safetensors, tokenizer)."
    ),
    tokenizer: str = typer.Argument(
        ..., help="The new tokenizer (tokenizer.json, folder, SentencePiece .model, .tiktoken ranks)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="The new model folder (must not exist without "
        "--force; default: reports/transplant-<config hash>).",
    ),
    method: str = typer.Option(
        "tokenadapt",
        "--method",
        "-m",
        help="fvt, tokenadapt, omp (needs --donor), "
        "hypernet, or random (the baseline: new rows drawn from a normal with the old rows' mean and spread).",
    ),
    donor: Path | None = typer.Option(
        None, "--donor", help="For omp: a model folder that already uses the new tokenizer."
    ),
    aux_model: str = typer.Option(
        "auto",
        "--aux-model",
        help="TokenAdapt's auxiliary encoder: auto (the "
        "installed all-MiniLM-L6-v2, else the model's own embeddings), none, or a "
        "model folder.",
    ),
    chat_template: str = typer.Option(
        "keep",
        "--chat-template",
        help="keep (the model's template and its special tokens), new (the new tokenizer folder's) or none.",
    ),
    tau: float = typer.Option(0.3, "--tau", help="TokenAdapt softmax temperature."),
    top_k: int = typer.Option(3, "--top-k", help="TokenAdapt global neighbours."),
    global_weight: float = typer.Option(
        0.3, "--global-weight", help="TokenAdapt weight of the global estimate."
    ),
    threshold: float = typer.Option(0.0, "--threshold", help="TokenAdapt minimum neighbour similarity."),
    omp_k: int = typer.Option(64, "--omp-k", help="OMP atoms per token."),
    pad_to_multiple_of: int = typer.Option(1, "--pad-to-multiple-of", help="Round the embedding rows up."),
    evaluate: bool = typer.Option(
        False, "--eval", metavar="", help="Leave-out reconstruction and bits per byte in the report."
    ),
    eval_text: str | None = typer.Option(
        None, "--eval-text", help="Held-out text for bits per byte (default: the embedded domain corpus)."
    ),
    eval_bytes: int = typer.Option(40_000, "--eval-bytes", help="Bytes of held-out text read."),
    leave_out: int = typer.Option(
        1000, "--leave-out", help="Old tokens hidden for leave-out reconstruction."
    ),
    hypernet_steps: int = typer.Option(600, "--hypernet-steps", help="Training steps of the hypernetwork."),
    fit_corpus: str | None = typer.Option(
        None,
        "--fit-corpus",
        help="Fit the estimated rows on this text against the original model as teacher (needs torch; "
        "must share no line with --eval-text).",
    ),
    fit_minutes: float | None = typer.Option(
        None, "--fit-minutes", help="Wall-clock budget of the fit (default 5 when --fit-steps is absent)."
    ),
    fit_steps: int | None = typer.Option(
        None,
        "--fit-steps",
        help="Optimizer steps of the fit (reproducible; with --fit-minutes, the first reached).",
    ),
    fit_objective: str = typer.Option(
        "alm+ce",
        "--fit-objective",
        help="alm (likelihood matching with the teacher), ce (next-token), alm+ce, hidden (Token "
        "Distillation: hidden states at aligned chunk ends match the teacher's), or hidden+ce.",
    ),
    fit_lr: float | None = typer.Option(
        None,
        "--fit-lr",
        help="Peak learning rate of the fit (AdamW) [default: 4e-3 for rows, 3e-4 for --method hypernet's weights].",
    ),
    fit_output_grad: float = typer.Option(
        0.3,
        "--fit-output-grad",
        help="Weight of the rows' output (head) role in their gradient: 0 fits them through their input "
        "role only, 1 through both.",
    ),
    fit_batch_tokens: int = typer.Option(
        512, "--fit-batch-tokens", help="New-tokenizer tokens per fit step."
    ),
    fit_seq_len: int = typer.Option(
        256, "--fit-seq-len", help="Longest fit sequence in tokens (at most 512)."
    ),
    fit_layers: int | None = typer.Option(
        None,
        "--fit-layers",
        help="With --fit-objective hidden: match the hidden states after this many decoder layers "
        "[default: all].",
    ),
    fit_spelling: float = typer.Option(
        0.15,
        "--fit-spelling",
        help="Share of --fit-minutes for the spelling phase: each new row alone learns to stand for its "
        "old spelling, also rows the fit text never holds (0: none; with --fit-steps alone: 40 passes "
        "over the fit text's new rows).",
    ),
    pattern: Pattern = None,
    fmt: Fmt = Format.text,
    seed: Seed = 13,
    metric: Metric = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Move a pretrained model onto a new tokenizer without training (FVT, TokenAdapt, OMP, a small
    hypernetwork) and write a new model folder transformers loads, with a report of every row."""
    from tokenizers_lab import transplant as lib

    names = {f.name for f in dataclasses.fields(lib.TransplantConfig)} - {"model", "donor", "out", "force"}
    options = {k: v for k, v in locals().items() if k in names}  # the options named as the config's fields
    config = lib.TransplantConfig(model=str(model), donor=str(donor) if donor else None, **options)
    job = lib.example if config.model == lib.TINY else lib  # embedded:tiny is built, then transplanted
    run_job("transplant", job, config, out=out, force=force, fmt=fmt, quiet=quiet, summary=summary)
