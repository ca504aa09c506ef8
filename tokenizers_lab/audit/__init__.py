"""`audit`: measure tokenizers side by side -- fairness on parallel text, compression, %Lang/%Pure,
CharBench-style probes, digit chunking, robustness -- in one report with CI gates.

The job is `AuditConfig` -> `run()` -> `AuditReport`; the measures live in one module each.
"""

from __future__ import annotations

from tokenizers_lab.audit.compression import renyi_entropy
from tokenizers_lab.audit.fairness import gini
from tokenizers_lab.audit.job import (
    DEFINITIONS,
    AuditConfig,
    AuditReport,
    TokenizerAudit,
    output_names,
    run,
    validate,
    views_from_train,
)

__all__ = ["DEFINITIONS", "AuditConfig", "AuditReport", "TokenizerAudit", "gini", "output_names",
           "renyi_entropy", "run", "validate", "views_from_train"]
