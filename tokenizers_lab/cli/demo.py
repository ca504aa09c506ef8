"""`tokenlab demo`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tokenizers_lab.cli.common import (
    Format,
    lab_command,
    run_job,
)
from tokenizers_lab.cli.options import Fmt, Force, Quiet, Seed
from tokenizers_lab.report import md_table

if TYPE_CHECKING:
    from tokenizers_lab import demo as lib


def summary(report: lib.DemoReport) -> str:
    """Plain-text summary for --format text: every step's headline and where its report went."""
    rows = [
        (r.step, r.vocab_size, r.heldout_bytes_per_token, r.roundtrip_rate, r.max_premium or "", r.report)
        for r in report.rows
    ]
    lines = [
        "train: tokenizers trained on the embedded corpora",
        md_table(
            ["step", "vocab", "held-out bytes/token", "held-out round-trip", "max premium", "report"], rows
        ),
    ]
    if report.superbpe_token_saving is not None:
        lines.append(
            f"SuperBPE vs BPE (same stage-1 regex, equal vocab) on the parallel corpus: "
            f"{report.superbpe_token_saving:+.1%} token saving; superwords need more text than "
            "this demo corpus (see demo.md)."
        )
    if report.audit_rows:
        best = min(report.audit_rows, key=lambda a: (a.max_premium is None, a.max_premium or 0.0))
        lines.append(
            f"audit: {len(report.audit_rows)} tokenizers side by side; lowest max premium "
            f"{best.tokenizer} ({best.max_premium:.3g}) -> audit/audit.md"
        )
    if report.invert_log10_mse is not None:
        lines.append(
            f"invert: known mixture of {len(report.invert_rows)} categories recovered, log10 MSE "
            f"{report.invert_log10_mse:.2f} (token-classification baseline "
            f"{report.invert_baseline_log10_mse:.2f}) -> invert/invert.md"
        )
    if report.transplant_rows:
        rand = next((t for t in report.transplant_rows if t.method == "random"), None)
        best_t = min((t for t in report.transplant_rows if t.method != "random"), key=lambda t: t.bpb_ratio)
        lines.append(
            f"transplant: tiny model onto a new tokenizer; best {best_t.method}, bits-per-byte ratio "
            f"{best_t.bpb_ratio:.3f}"
            + (f" (random rows {rand.bpb_ratio:.3f})" if rand else "")
            + " -> transplant/METHOD/transplant.md"
        )
    else:
        lines.append(f"transplant: {report.transplant_note}")
    return "\n".join(lines) + "\n"


@lab_command
def demo(
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for all demo reports (default: reports/demo-<config hash>)."
    ),
    fmt: Fmt = Format.text,
    seed: Seed = 13,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Run the main job on the embedded corpora: train several tokenizers (SuperBPE included), audit
    them, invert a known mixture, transplant a tiny model; one summary of every step."""
    from tokenizers_lab import demo as lib  # every job's modules only when the demo runs

    run_job(
        "demo", lib, lib.DemoConfig(seed=seed), out=out, force=force, fmt=fmt, quiet=quiet, summary=summary
    )
