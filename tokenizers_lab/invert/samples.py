"""The samples `invert` reads (each category's text, cut into shards, fingerprinted) and the
range of merges the LP sees."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.corpus import display_name
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.invert.config import (
    DEFAULT_MERGES,
    InvertConfig,
)
from tokenizers_lab.report import InputRef
from tokenizers_lab.tokenizer import TokenizerView


@dataclass
class Sample:
    """One category's sample, cut into contiguous shards."""

    name: str
    source: str
    ref: InputRef
    shards: list[list[str]]  # lines per shard
    bytes: int


def read_sample(name: str, spec: str, config: InvertConfig) -> Sample:
    """Up to sample_bytes of a category, cut into shards of about equal bytes."""
    corpus = config.open_corpus(spec)
    lines: list[str] = []
    sizes: list[int] = []
    total = 0
    for batch in corpus.iter_batches():
        for ln in batch:
            b = len(ln.encode("utf-8")) + 1
            if total + b > config.sample_bytes and lines:
                break
            lines.append(ln)
            sizes.append(b)
            total += b
        else:
            continue
        break
    if not any(ln.strip() for ln in lines):
        raise InputError(f"category {name!r} ({display_name(spec)}) is empty")
    n_shards = max(1, min(config.shards, len(lines)))
    bounds = np.searchsorted(np.cumsum(sizes), np.arange(1, n_shards) * total / n_shards)
    cut = [0, *bounds.tolist(), len(lines)]
    shards = [lines[a:b] for a, b in itertools.pairwise(cut) if b > a]
    return Sample(
        name=name,
        source=display_name(spec),
        ref=corpus.input_ref(f"category:{name}"),
        shards=shards,
        bytes=total,
    )


def merge_range(view: TokenizerView, config: InvertConfig) -> tuple[list[tuple[bytes, bytes]], int]:
    """The tokenizer's merges and the end of the constrained range; bad input is a usage error."""
    if view.model_type != "bpe":
        raise UsageError(
            f"tokenizer {view.label} is a {view.model_type} model: invert needs a BPE merge list"
        )
    all_merges = view.merges()
    if not all_merges:
        raise UsageError(f"tokenizer {view.label} has no merges")
    if config.start >= len(all_merges):
        raise UsageError(f"--start {config.start} is beyond the merge list ({len(all_merges)} merges)")
    if config.merges is not None and config.start + config.merges > len(all_merges):
        raise UsageError(
            f"--merges {config.merges} from --start {config.start} is beyond the merge list "
            f"({len(all_merges)} merges)"
        )
    last = config.start + (
        config.merges if config.merges is not None else min(DEFAULT_MERGES, len(all_merges) - config.start)
    )
    return all_merges, last
