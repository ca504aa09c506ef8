"""BPE trainers: byte-level (`bpe`), character-level (`char-bpe`, KL3M-style) and metaspace
(`bpe-metaspace`, byte fallback)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import version
from typing import Any

from tokenizers_lab.train import fast
from tokenizers_lab.train.common import (
    TrainOut,
    add_byte_fallback,
    bpe_trainer,
    metaspace_parts,
    tokenizer_json,
    top_chars,
    train_bytelevel_bpe,
    truncations,
)
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import Prepared, train_native


def train_bpe(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """Byte-level BPE: through gigatoken's trainer where it gives tokenizers' merges (fast.py),
    else tokenizers' own; `checks` say which trainer ran."""
    tok: Any = None
    checks: dict[str, Any] = {}
    if fast.applies(config, config.preset()):
        tok, checks = fast.train_gigatoken(prep, max(sizes), config)  # its own forked worker
        if tok is None:  # declined, with a note saying why
            checks["trainer"] = f"tokenizers {version('tokenizers')}"
    if tok is None:
        tok = train_bytelevel_bpe(prep, max(sizes), config, config.preset())
    if len(sizes) == 1:
        return {sizes[0]: (tok, {}, checks)}
    return {v: (tj, {}, checks) for v, tj in truncations(tokenizer_json(tok), sizes)}


def train_char_bpe(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    max_chars = config.max_token_length or 3
    cfg = config if config.normalization != "none" else replace(config, normalization="nfkc")
    # KL3M pass max_chars + 1 to tokenizers' trainer (its length counts the internal string).
    tok = train_bytelevel_bpe(
        prep,
        max(sizes),
        replace(cfg, max_token_length=max_chars + 1),
        config.preset(),
        min_frequency=min(config.min_frequency, 1),
    )
    return {v: (tj, {}, {"max_chars": max_chars}) for v, tj in truncations(tokenizer_json(tok), sizes)}


def train_bpe_metaspace(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """Characters beyond half the merge budget fall back to bytes instead of crowding out merges:
    the alphabet depends on the vocabulary size, so a sweep trains each size directly (a prefix of
    the largest would keep the largest's alphabet)."""
    from tokenizers import Tokenizer, models

    assert prep.summary is not None  # training starts after the corpus pass
    counts = Counter(prep.char_counts)
    counts["\u2581"] += counts.pop(" ", 0) + prep.summary.train_records  # spaces + the prepended ▁
    out: TrainOut = {}
    for v in sizes:
        tok = Tokenizer(models.BPE(byte_fallback=True))
        tok.normalizer, tok.pre_tokenizer = metaspace_parts(config)
        alphabet = top_chars(counts, (v - 256 - len(config.specials())) // 2)
        train_native(
            tok.train,
            [str(p) for p in prep.train_paths],
            bpe_trainer(
                v - 256, config, config.specials(), initial_alphabet=alphabet, limit_alphabet=len(alphabet)
            ),
            prep=prep,
        )
        out[v] = (add_byte_fallback(tokenizer_json(tok), "bpe"), {}, {})
    return out
