"""`diff`'s job: DiffConfig -> run() -> DiffReport."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers_lab.diff.compare import Comparison, compare, load_report
from tokenizers_lab.diff.gates import ChangeGate, ChangeGateResult, parse
from tokenizers_lab.gate_output import GateCase
from tokenizers_lab.gate_output import gate_cases as cases_of
from tokenizers_lab.report import (
    INPUT,
    InputRef,
    Markdown,
    Provenance,
    RunInfo,
    Stopwatch,
    make_provenance,
    short,
)

COMMAND = "diff"


@dataclass(frozen=True)
class DiffConfig:
    """Two report files and the change gates."""

    old: str = field(metadata=INPUT)
    new: str = field(metadata=INPUT)
    fail_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiffReport(Markdown):
    """What changed from OLD to NEW."""

    provenance: Provenance
    comparison: Comparison
    run: RunInfo
    notes: tuple[str, ...] = ()

    @property
    def tripped(self) -> tuple[ChangeGateResult, ...]:
        return tuple(g for g in self.comparison.gates if g.tripped)


def validate(config: DiffConfig) -> None:
    """Usage errors (a malformed gate) before any file is read."""
    for text in config.fail_on:
        parse(text)


def output_names(config: DiffConfig) -> list[str]:
    return [f"{COMMAND}.json", f"{COMMAND}.md"]


def _ref(role: str, path: str) -> InputRef:
    data = Path(path).read_bytes()
    return InputRef(role, Path(path).name, hashlib.sha256(data).hexdigest(), len(data))


def run(config: DiffConfig, progress: Callable[[str, float | None], None] | None = None) -> DiffReport:
    """Read both reports and compare them."""
    watch = Stopwatch()
    gates: list[ChangeGate] = [parse(t) for t in config.fail_on]
    old, new = load_report(config.old, "old report"), load_report(config.new, "new report")
    comparison = compare(old, new, gates)
    inputs = [_ref("old report", config.old), _ref("new report", config.new)]
    parts = [("of", comparison.command), ("old", short(inputs[0].sha256)), ("new", short(inputs[1].sha256))]
    notes = []
    if comparison.old_version != comparison.new_version:
        notes.append(f"the reports come from tokenlab {comparison.old_version} and {comparison.new_version}")
    return DiffReport(
        provenance=make_provenance(COMMAND, config, inputs, 0, parts),
        comparison=comparison,
        run=watch.info(),
        notes=tuple(notes),
    )


def gate_cases(results: tuple[ChangeGateResult, ...]) -> list[GateCase]:
    """Every change gate on every subject, for JUnit XML and annotations."""
    return cases_of(results, lambda d: f"old {d.old}, new {d.new}, change {d.change}")
