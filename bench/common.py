"""Helpers shared by the bench scripts."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def sync_readme(table: str, marker: str) -> None:
    """Copy a results table into README.md between its <!-- marker --> and <!-- /marker --> lines."""
    text = README.read_text("utf-8")
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        README.write_text(f"{head}{start}\n{table.strip()}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
