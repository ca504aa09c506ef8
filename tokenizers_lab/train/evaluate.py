"""Measures of a trained tokenizer: vocabulary statistics, held-out compression and round-trip,
parallel-text premiums, and the tiktoken export with its agreement check."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from tokenizers_lab.errors import LabError
from tokenizers_lab.parallel import ParallelCorpus
from tokenizers_lab.patterns import PATTERNS, resolve_pattern
from tokenizers_lab.tokenizer import HFView, bytelevel_to_bytes
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.report import LanguageRow


def vocab_stats(view: HFView) -> dict[str, Any]:
    lengths, spanning, byte_tokens = [], 0, 0
    for i in range(view.vocab_size):
        b = view.token_bytes(i)
        if b is None:
            continue
        if view.is_byte_fallback(i):
            byte_tokens += 1
        lengths.append(len(b))
        if b" " in b.strip(b" "):  # whitespace strictly inside: the token bridges two words
            spanning += 1
    return {
        "mean_token_bytes": sum(lengths) / len(lengths) if lengths else 0.0,
        "max_token_bytes": max(lengths, default=0),
        "whitespace_spanning_tokens": spanning,
        "byte_tokens": byte_tokens,
    }


def _roundtrip_ok(view: HFView, text: str, ids: list[int]) -> bool:
    back = view.decode(ids)
    if view.model_type == "wordpiece":
        norm = view.tok.normalizer.normalize_str(text) if view.tok.normalizer else text
        return "".join(back.split()) == "".join(norm.split())
    return back == text


def evaluate(
    view: HFView, heldout: Sequence[str], parallel: ParallelCorpus | None, pivot: str
) -> dict[str, Any]:
    ids = view.encode_batch(heldout) if heldout else []
    n_tokens = sum(len(x) for x in ids)
    n_bytes = sum(len(t.encode("utf-8")) for t in heldout)
    n_chars = sum(len(t) for t in heldout)
    rt = sum(_roundtrip_ok(view, t, x) for t, x in zip(heldout, ids))
    langs: list[LanguageRow] = []
    if parallel is not None:
        counts = {}
        for lang in parallel.languages:
            lines = parallel.lines[lang]
            counts[lang] = (
                sum(len(x) for x in view.encode_batch(lines)),
                sum(len(s.encode("utf-8")) for s in lines),
            )
        base = counts.get(pivot, (0, 0))[0]
        for lang, (tk, by) in sorted(counts.items()):
            langs.append(LanguageRow(lang, tk, by, by / tk if tk else None, tk / base if base else None))
    # nothing held out (--heldout-every 0): nothing measured, so null, never a perfect 1 or a 0
    return {
        "heldout_tokens": n_tokens,
        "heldout_bytes_per_token": n_bytes / n_tokens if n_tokens else None,
        "heldout_chars_per_token": n_chars / n_tokens if n_tokens else None,
        "roundtrip_rate": rt / len(heldout) if heldout else None,
        "languages": tuple(langs),
    }


def export_pattern(config: TrainConfig) -> str:
    """The tiktoken pat_str equivalent to a byte-level algorithm's pre-tokenizer."""
    if config.algorithm == "superbpe":
        return PATTERNS["superbpe-stage2"]
    return resolve_pattern("r50k" if config.preset() == "gpt2" else config.preset())[1]


def tiktoken_export(tj: dict, specials: Sequence[str]) -> bytes:
    """A byte-level BPE tokenizer.json as a tiktoken rank file (rank = id, specials excluded)."""
    lines = []
    for s, i in sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if s in specials:
            continue
        b = bytelevel_to_bytes(s)
        if b is None:
            raise LabError(f"token {s!r} is not byte-level; cannot export to tiktoken")
        lines.append(base64.b64encode(b) + b" " + str(i).encode())
    return b"\n".join(lines) + b"\n"


def tiktoken_agreement(rank_file: bytes, pattern: str, view: HFView, heldout: Sequence[str]) -> float | None:
    import tiktoken

    ranks = {base64.b64decode(t): int(r) for t, r in (ln.split() for ln in rank_file.splitlines() if ln)}
    enc = tiktoken.Encoding(name="export", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    if not heldout:
        return None
    return sum(enc.encode_ordinary(t) == view.encode(t) for t in heldout) / len(heldout)
