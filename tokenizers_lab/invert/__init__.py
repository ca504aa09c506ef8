"""`invert`: infer a BPE tokenizer's training-data mixture from its merge list (Hayase et al. 2024).

The job is `InvertConfig` -> `run()` -> `InvertReport`: the tokenizer's own pre-tokens of each
category's sample (`pretokens`), count events from the merges (`chains`, or a merge-by-merge
`replay`), the lazy linear program on HiGHS (`lp`) and its bootstrap interval. `example.run` is the
controlled experiment on the embedded corpora: a BPE trained on a known mixture, recovered.
"""

from tokenizers_lab.invert.config import InvertConfig, output_names, validate
from tokenizers_lab.invert.job import run
from tokenizers_lab.invert.report import DEFINITIONS, InvertReport

__all__ = ["DEFINITIONS", "InvertConfig", "InvertReport", "output_names", "run", "validate"]
