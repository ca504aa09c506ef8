"""Helpers shared by the bench scripts."""

from __future__ import annotations

import os
from pathlib import Path

TABLES = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"  # the marked tables live here
HERE = Path(__file__).resolve().parent
# bench/run_all.py sets this: every script then writes its results into one run's folder, and
# BENCHMARKS.md (not docs/benchmarks.md) is made from them
RUN_DIR = os.environ.get("TOKENLAB_BENCH_OUT")


def out_path(name: str) -> Path:
    """Where a bench script writes a results file: bench/, or the run_all folder."""
    folder = Path(RUN_DIR) if RUN_DIR else HERE
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def sync_tables(table: str, marker: str) -> None:
    """Copy a results table into docs/benchmarks.md between its <!-- marker --> and <!-- /marker --> lines
    (not inside a run_all run: its tables go to BENCHMARKS.md)."""
    if RUN_DIR:
        return
    text = TABLES.read_text("utf-8")
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        TABLES.write_text(f"{head}{start}\n{table.strip()}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
