"""One view over every tokenizer format: token bytes, specials, encode/decode, merges, fingerprint.

Formats, one module each: `hf` (tokenizer.json, also .json.gz; a vocab.json + merges.txt folder;
BERT vocab.txt), `ranks` (tiktoken rank files, Llama 3's rank-format tokenizer.model, Mistral tekken
JSON), `spm` (SentencePiece .model). `base` holds the view they implement, `load` the loader that
picks one (a spec may carry a label: `name=path`), `bytelevel` the byte tables, `align` token-to-
character alignment and `convert` SentencePiece -> tokenizer.json.
"""

from tokenizers_lab.tokenizer.align import Aligned, Spans, byte_spans_to_chars, flatten, line_starts
from tokenizers_lab.tokenizer.base import (
    MAX_LABEL,
    MAX_TOKENIZER_BYTES,
    THREADS,
    TokenizerSpec,
    TokenizerView,
    sha256_file,
)
from tokenizers_lab.tokenizer.bytelevel import (
    BYTE_DECODER,
    BYTE_ENCODER,
    BYTE_FALLBACK,
    Splitter,
    bytelevel_to_bytes,
    bytes_to_bytelevel,
    bytes_to_unicode,
    merges_from_ranks,
    metaspace_to_bytes,
)
from tokenizers_lab.tokenizer.hf import HFView
from tokenizers_lab.tokenizer.load import hub_snapshot, load_tokenizer, parse_spec
from tokenizers_lab.tokenizer.ranks import KNOWN_RANK_FILES, PRESET_RANKS, TiktokenView
from tokenizers_lab.tokenizer.spm import SentencePieceView, load_spm_proto, spm_bpe_merges

__all__ = [
    "BYTE_DECODER",
    "BYTE_ENCODER",
    "BYTE_FALLBACK",
    "KNOWN_RANK_FILES",
    "MAX_LABEL",
    "MAX_TOKENIZER_BYTES",
    "PRESET_RANKS",
    "THREADS",
    "Aligned",
    "HFView",
    "SentencePieceView",
    "Spans",
    "Splitter",
    "TiktokenView",
    "TokenizerSpec",
    "TokenizerView",
    "byte_spans_to_chars",
    "bytelevel_to_bytes",
    "bytes_to_bytelevel",
    "bytes_to_unicode",
    "flatten",
    "hub_snapshot",
    "line_starts",
    "load_spm_proto",
    "load_tokenizer",
    "merges_from_ranks",
    "metaspace_to_bytes",
    "parse_spec",
    "sha256_file",
    "spm_bpe_merges",
]
