"""`diff`: two reports of one subcommand compared -- configuration and input differences first
(from their provenance), then every number of the measured part that changed (absolute and
relative), then `--fail-on` gates over the change (exit 3 when one holds).

The job is `DiffConfig` -> `run()` -> `DiffReport`; `compare` does the work and also serves
`audit --baseline`."""

from __future__ import annotations

from tokenizers_lab.diff.compare import Comparison, compare, load_report
from tokenizers_lab.diff.job import COMMAND, DiffConfig, DiffReport, gate_cases, output_names, run, validate

__all__ = [
    "COMMAND",
    "Comparison",
    "DiffConfig",
    "DiffReport",
    "compare",
    "gate_cases",
    "load_report",
    "output_names",
    "run",
    "validate",
]
