"""`tokenlab demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from tokenizers_lab import demo as lib
from tokenizers_lab.cli.common import (
    FORCE_HELP,
    FORMAT_HELP,
    QUIET_HELP,
    SEED_HELP,
    Format,
    emit,
    lab_command,
    make_progress,
)
from tokenizers_lab.report import check_outputs, md_table


def summary(report: lib.DemoReport) -> str:
    """Plain-text summary for --format text."""
    rows = [(r.step, r.vocab_size, r.heldout_bytes_per_token, r.roundtrip_rate, r.max_premium or "")
            for r in report.rows]
    saving = report.superbpe_token_saving
    tail = (f"\nSuperBPE vs BPE (same stage-1 regex, equal vocab) on the parallel corpus: {saving:+.1%} token "
            "saving; superwords need more text than this demo corpus (see demo.md).\n") if saving is not None else "\n"
    return md_table(["step", "vocab", "held-out bytes/token", "round-trip", "max premium"], rows) + tail


@lab_command
def demo(
    out: Path = typer.Option(Path("reports/demo"), "--out", "-o", help="Folder for all demo reports."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
    seed: int = typer.Option(13, help=SEED_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Run the main job on the embedded corpora: train several tokenizers (SuperBPE included) and report."""
    check_outputs(out, ["demo.json", "demo.md"], force)
    report = lib.run(lib.DemoConfig(seed=seed), progress=make_progress(quiet))
    emit(report, "demo", fmt, out, force, summary)
