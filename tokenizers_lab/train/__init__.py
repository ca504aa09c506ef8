"""`train`: train tokenizers from corpora with `tokenizers` / `sentencepiece`, sweep vocab sizes.

Algorithms (registry `ALGORITHMS`, one module per family): bpe, char-bpe, bpe-metaspace (`bpe`),
unigram (`unigram`), wordpiece (`wordpiece`), spm-bpe, spm-unigram, spm-char (`spm`), superbpe
(`superbpe`). Every artifact is a standard tokenizer.json that stock `tokenizers` loads;
SentencePiece runs also write their .model. `config` holds TrainConfig and its validation,
`report` the report, `prepare` the corpus pass, `evaluate` the measures, `job` the run.
"""

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
from tokenizers_lab.train.job import hf_folder_files, run
from tokenizers_lab.train.report import DEFINITIONS, CorpusSummary, LanguageRow, SizeResult, TrainReport

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
