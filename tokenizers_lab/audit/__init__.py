"""`audit`: measure tokenizers side by side -- fairness on parallel text, compression, %Lang/%Pure,
CharBench-style probes, digit chunking, robustness -- in one report with CI gates.

The job is `AuditConfig` -> `run()` -> `AuditReport`; the measures live in one module each.
"""

from __future__ import annotations

from tokenizers_lab.audit.compression import renyi_entropy
from tokenizers_lab.audit.config import AuditConfig, output_names, validate
from tokenizers_lab.audit.example import views_from_train
from tokenizers_lab.audit.fairness import gini
from tokenizers_lab.audit.job import run
from tokenizers_lab.audit.report import DEFINITIONS, AuditReport, TokenizerAudit

__all__ = [
    "DEFINITIONS",
    "AuditConfig",
    "AuditReport",
    "TokenizerAudit",
    "gini",
    "output_names",
    "renyi_entropy",
    "run",
    "validate",
    "views_from_train",
]
