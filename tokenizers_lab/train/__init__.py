"""`train`: train tokenizers from corpora with `tokenizers` / `sentencepiece`, sweep vocab sizes.

Algorithms (registry `ALGORITHMS`, one module per family): bpe, char-bpe, bpe-metaspace (`bpe`),
unigram (`unigram`), wordpiece (`wordpiece`), spm-bpe, spm-unigram, spm-char (`spm`), superbpe
(`superbpe`). Every artifact is a standard tokenizer.json that stock `tokenizers` loads;
SentencePiece runs also write their .model. `config` holds TrainConfig and its validation,
`report` the report, `prepare` the corpus pass, `evaluate` the measures, `job` the run.
"""

import importlib
from typing import TYPE_CHECKING, Any

from tokenizers_lab.progress import Progress
from tokenizers_lab.train.config import (
    ALGORITHMS,
    EMBEDDED_DEFAULT,
    NORMALIZATIONS,
    Algorithm,
    TrainConfig,
    output_names,
    validate,
)
from tokenizers_lab.train.report import DEFINITIONS, CorpusSummary, LanguageRow, SizeResult, TrainReport

if TYPE_CHECKING:
    from tokenizers_lab.train.job import hf_folder_files, run

__all__ = [
    "ALGORITHMS",
    "DEFINITIONS",
    "EMBEDDED_DEFAULT",
    "NORMALIZATIONS",
    "Algorithm",
    "CorpusSummary",
    "LanguageRow",
    "Progress",
    "SizeResult",
    "TrainConfig",
    "TrainReport",
    "hf_folder_files",
    "output_names",
    "run",
    "validate",
]


def __getattr__(name: str) -> Any:
    """The job (and with it the trainers, numpy and the encoders) loads on first use, so the
    command line's start-up and `train.config` stay light."""
    if name in ("run", "hf_folder_files"):
        return getattr(importlib.import_module("tokenizers_lab.train.job"), name)
    raise AttributeError(f"module 'tokenizers_lab.train' has no attribute {name!r}")
