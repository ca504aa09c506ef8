"""`transplant`: move a pretrained model onto a new tokenizer without training (FVT, TokenAdapt,
OMP, a ZeTT-style hypernetwork) and measure it.

The job is `TransplantConfig` -> `run()` -> `TransplantReport` (the new model folder is written to
`config.out`). `checkpoint` reads safetensors model folders, `vocab` matches the two vocabularies in
a canonical byte space, `methods`/`core`/`hypernet` estimate the new rows, `evaluate` measures them.
"""

from tokenizers_lab.transplant import example
from tokenizers_lab.transplant.config import TINY, TransplantConfig, output_names, validate
from tokenizers_lab.transplant.core import METHODS
from tokenizers_lab.transplant.job import run
from tokenizers_lab.transplant.report import TransplantReport

__all__ = [
    "METHODS",
    "TINY",
    "TransplantConfig",
    "TransplantReport",
    "example",
    "output_names",
    "run",
    "validate",
]
