"""`diff`'s Markdown, from the report's fields: configuration and inputs first, the gates, then
every changed number (largest relative change first)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers_lab.diff.compare import Change, Comparison
from tokenizers_lab.diff.gates import ChangeGateResult
from tokenizers_lab.report import md_provenance, md_section


def _v(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.2f}%"


def ranked(changes: Sequence[Change]) -> list[Change]:
    """Largest relative change first (appeared/disappeared numbers first of all), then by path."""
    return sorted(
        changes, key=lambda c: (c.relative is not None, -abs(c.relative or 0.0), -abs(c.delta or 0.0), c.path)
    )


def gate_rows(gates: Sequence[ChangeGateResult]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for g in gates:
        for subject, d in g.values.items():
            state = "FAILED" if subject in g.failing else "undefined" if subject in g.undefined else "ok"
            rows.append((g.expression, subject, _v(d.old), _v(d.new), _v(d.change), state))
    return rows


def comparison_lines(c: Comparison, level: int = 2) -> list[str]:
    """The sections of one comparison (also embedded in an audit run with --baseline)."""
    h = "#" * level
    lines = [f"{h} Configuration and inputs", ""]
    if not c.settings and not c.inputs:
        lines += ["Same configuration and inputs.", ""]
    if c.settings:
        lines += md_section(
            "Settings",
            ["setting", "old", "new"],
            [(s.key, _v(s.old), _v(s.new)) for s in c.settings],
            level=level + 1,
        )
    if c.inputs:
        lines += md_section(
            "Inputs",
            ["input", "old", "new"],
            [(i.role, _v(i.old), _v(i.new)) for i in c.inputs],
            level=level + 1,
        )
    if c.paired:
        lines += ["One record on each side, compared with each other: " + "; ".join(c.paired) + ".", ""]
    if c.gates:
        lines += md_section(
            "Gates", ["gate", "on", "old", "new", "change", "state"], gate_rows(c.gates), level=level
        )
    rows = [(x.path, _v(x.old), _v(x.new), _v(x.delta), pct(x.relative)) for x in ranked(c.changes)]
    lines += md_section(
        f"Changed numbers ({len(c.changes)} changed, {c.unchanged} unchanged)",
        ["number", "old", "new", "change", "relative"],
        rows,
        level=level,
    )
    return lines


def render(report: Any) -> str:
    c = report.comparison
    lines = [
        f"# diff of two {c.command} reports",
        "",
        f"- old: `{c.old_signature}`",
        f"- new: `{c.new_signature}`",
        "",
    ]
    lines += comparison_lines(c)
    lines.append(md_provenance(report.provenance))
    return "\n".join(lines).rstrip("\n") + "\n"
