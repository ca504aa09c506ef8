"""Cross-lingual fairness on parallel text: token counts and premiums in both published
conventions (Petrov et al. 2023: the language's lines joined by a space and encoded once; Arnett
et al. 2025: per-sentence counts summed), character and byte premiums as tokenizer-independent
baselines, UNK and byte-fallback shares with Petrov et al.'s validity rule, per-tokenizer summaries.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.errors import unknown_name
from tokenizers_lab.parallel import ParallelCorpus
from tokenizers_lab.tokenizer import TokenizerView

# Petrov et al. 2023 blank a (tokenizer, language) pair when more than this share of its
# characters is hidden under UNK tokens.
UNK_INVALID_SHARE = 0.10


@dataclass(frozen=True)
class LanguageFairness:
    """One language of a parallel corpus under one tokenizer."""

    language: str
    sentences: int
    chars: int
    bytes: int
    tokens_concat: int  # Petrov: the language's lines joined by a space, encoded once
    tokens_sum: int  # Arnett (CTC): per-sentence counts summed
    premium_concat: float | None
    premium_sum: float | None
    char_premium: float | None
    byte_premium: float | None
    tokens_per_sentence: float
    unk_tokens: int
    unk_char_share: float
    byte_fallback_share: float
    partial_utf8_share: float
    valid: bool


@dataclass(frozen=True)
class FairnessSummary:
    """Per-tokenizer aggregate over languages (Arnett convention unless named otherwise)."""

    pivot: str
    languages: int
    median_premium: float | None
    max_premium: float | None
    max_premium_language: str | None
    languages_above_2x: int | None  # None: no valid non-pivot language (nothing to count)
    gini: float | None  # None: fewer than two valid languages
    mean_tokens_per_sentence: float


def gini(costs: Sequence[float]) -> float | None:
    """Tokenizer Fairness Gini (TokEval): sum_i sum_j |c_i - c_j| / (2 n^2 mean); 0 = parity.
    Undefined (None) over fewer than two languages or no tokens: never a parity of 0 by default."""
    c = np.asarray(costs, dtype=float)
    if c.size < 2 or c.mean() == 0:
        return None
    return float(np.abs(c[:, None] - c[None, :]).sum() / (2 * c.size**2 * c.mean()))


def _id_flags(view: TokenizerView) -> tuple[np.ndarray, np.ndarray]:
    """Per id: is it a <0xNN> byte-fallback piece; are its bytes not valid UTF-8 on their own."""
    n = view.vocab_size
    fallback = np.zeros(n, dtype=bool)
    partial = np.zeros(n, dtype=bool)
    for i, b in enumerate(view.all_token_bytes):
        fallback[i] = view.is_byte_fallback(i)
        if b:
            try:
                b.decode("utf-8")
            except UnicodeDecodeError:
                partial[i] = True
    return fallback, partial


def _unk_char_share(view: TokenizerView, text: str, ids: Sequence[int] | np.ndarray) -> tuple[int, float]:
    """(UNK tokens, share of characters hidden under them): Petrov's estimate, i.e. the text
    length lost when UNK ids are dropped before decoding, over the text length."""
    unk = view.unk_id
    if unk is None or not text:
        return 0, 0.0
    arr = np.asarray(ids, dtype=np.int64)
    n_unk = int((arr == unk).sum())
    if n_unk == 0:
        return 0, 0.0
    kept = view.decode(arr[arr != unk].tolist())
    return n_unk, max(0.0, min(1.0, (len(text) - len(kept)) / len(text)))


def _ratio(x: float, base: float) -> float | None:
    return x / base if base else None


def measure_language(
    view: TokenizerView,
    parallel: ParallelCorpus,
    lang: str,
    flat: np.ndarray,
    flags: tuple[np.ndarray, np.ndarray],
    concat_ids: Sequence[int] | np.ndarray | None = None,
    sizes: tuple[int, int] | None = None,
    joined: str | None = None,
) -> dict:
    """Raw counts of one language from its per-line ids (flat) and the ids of the whole-text
    (Petrov) encoding, computed here when not given (`joined`: parallel.joined(lang), when the
    caller has it)."""
    fallback, partial = flags
    lines = parallel.lines[lang]
    joined = parallel.joined(lang) if joined is None else joined
    if concat_ids is None:
        concat_ids = view.encode(joined)
    tokens_concat = len(concat_ids)
    n_unk, unk_share = _unk_char_share(view, joined, concat_ids)
    # ids outside the vocabulary tables (none, for every encoder here) are left out of the shares
    inside = flat
    if flat.size and (flat.min() < 0 or flat.max() >= len(fallback)):
        inside = flat[(flat >= 0) & (flat < len(fallback))]
    return dict(
        sentences=len(lines),
        chars=sizes[0] if sizes else sum(map(len, lines)),
        bytes=sizes[1] if sizes else sum(len(s.encode("utf-8")) for s in lines),
        tokens_concat=tokens_concat,
        tokens_sum=int(flat.size),
        unk_tokens=n_unk,
        unk_char_share=unk_share,
        byte_fallback_share=np.count_nonzero(fallback[inside]) / inside.size if inside.size else 0.0,
        partial_utf8_share=np.count_nonzero(partial[inside]) / inside.size if inside.size else 0.0,
    )


def rows_and_summary(
    raw: dict[str, dict], pivot: str
) -> tuple[tuple[LanguageFairness, ...], FairnessSummary]:
    """Premiums against the pivot and the per-tokenizer summary."""
    p = raw[pivot]
    rows = tuple(
        LanguageFairness(
            language=lang,
            **r,
            premium_concat=_ratio(r["tokens_concat"], p["tokens_concat"]),
            premium_sum=_ratio(r["tokens_sum"], p["tokens_sum"]),
            char_premium=_ratio(r["chars"], p["chars"]),
            byte_premium=_ratio(r["bytes"], p["bytes"]),
            tokens_per_sentence=r["tokens_sum"] / r["sentences"] if r["sentences"] else 0.0,
            valid=r["unk_char_share"] <= UNK_INVALID_SHARE,
        )
        for lang, r in sorted(raw.items())
    )
    others = [r for r in rows if r.language != pivot and r.valid and r.premium_sum is not None]
    sums = [r.premium_sum for r in others if r.premium_sum is not None]
    worst = max(others, key=lambda r: r.premium_sum or 0.0, default=None)
    summary = FairnessSummary(
        pivot=pivot,
        languages=len(rows),
        median_premium=statistics.median(sums) if sums else None,
        max_premium=worst.premium_sum if worst else None,
        max_premium_language=worst.language if worst else None,
        languages_above_2x=sum(1 for r in others if (r.premium_sum or 0) > 2.0) if others else None,
        gini=gini([r.tokens_per_sentence for r in rows if r.valid]),
        mean_tokens_per_sentence=float(np.mean([r.tokens_per_sentence for r in rows])) if rows else 0.0,
    )
    return rows, summary


def id_flags(view: TokenizerView) -> tuple[np.ndarray, np.ndarray]:
    """Per id: byte-fallback piece; bytes not valid UTF-8 on their own."""
    return _id_flags(view)


def fairness(
    view: TokenizerView,
    parallel: ParallelCorpus,
    pivot: str = "eng_Latn",
) -> tuple[tuple[LanguageFairness, ...], FairnessSummary]:
    """Per-language counts and premiums of one tokenizer on a parallel corpus, and a summary."""
    if pivot not in parallel.lines:
        raise unknown_name("pivot language", pivot, parallel.lines)
    flags = _id_flags(view)
    raw = {
        lang: measure_language(view, parallel, lang, view.encode_flat(parallel.lines[lang])[0], flags)
        for lang in parallel.languages
    }
    return rows_and_summary(raw, pivot)
