"""tokenizers-lab: train, audit, invert and transplant LLM tokenizers, from the command line or Python.

The public API: one package per job, each with `<Cmd>Config`, `<Cmd>Report`, `run(config, *,
progress=None)`, `validate` and `output_names`; and the loader every job uses::

    from tokenizers_lab import audit, load_tokenizer
    report = audit.run(audit.AuditConfig(tokenizers=("gpt2=path/to/tokenizer.json",)))

Names load lazily, so `tokenlab --version` imports none of the heavy libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tokenizers_lab.errors import LabError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tokenizers_lab import audit, invert, train, transplant
    from tokenizers_lab.tokenizer import TokenizerView, load_tokenizer

_LAZY = {
    "train": "tokenizers_lab.train",
    "audit": "tokenizers_lab.audit",
    "invert": "tokenizers_lab.invert",
    "transplant": "tokenizers_lab.transplant",
    "load_tokenizer": "tokenizers_lab.tokenizer",
    "TokenizerView": "tokenizers_lab.tokenizer",
}

__all__ = [
    "LabError",
    "TokenizerView",
    "__version__",
    "audit",
    "invert",
    "load_tokenizer",
    "train",
    "transplant",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tokenizers_lab' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if _LAZY[name].endswith("." + name) else getattr(module, name)
