"""%Lang / %Pure: how many of a tokenizer's tokens are words or morphemes of a language.

Bayram et al. 2025 define %TR (valid Turkish tokens) and %Pure (tokens that are a root or a single
morpheme) for Turkish; their published numbers are type level (unique decoded tokens, word-boundary
markers stripped, whitespace-only tokens gone). Here the same is generalised to any language with
the pluggable offline validators of validators.py, at type and token level.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.audit.validators import (
    _LETTER,
    VALIDATORS,
    Validator,
    _dotted_i,
    build_validator,
    corpus_words,
    lower,
    parse_validator,
)
from tokenizers_lab.tokenizer import TokenizerView, flatten

__all__ = [
    "VALIDATORS",
    "IntegrityRow",
    "TokenStrings",
    "Validator",
    "build_validator",
    "corpus_words",
    "lower",
    "measure",
    "parse_validator",
]


@dataclass(frozen=True)
class IntegrityRow:
    """%Lang / %Pure of one tokenizer on one language's text."""

    language: str
    validator: str
    validator_version: str
    frequency_based: bool
    types: int
    tokens: int
    lang_type: float | None  # Bayram's convention: valid unique stripped token strings / unique
    lang_token: float | None  # occurrence-weighted
    lang_type_letters: float | None  # types with at least one letter only
    pure_type: float | None
    pure_token: float | None
    partial_utf8_types: int
    nonletter_types: int
    examples_valid: tuple[str, ...]
    examples_invalid: tuple[str, ...]


class TokenStrings:
    """Each id's text decoded on its own and stripped, and whether its bytes are partial UTF-8;
    each text's lowercased form and whether it holds a letter. Computed once per tokenizer and
    shared by every language (the per-language work is then lookups)."""

    def __init__(self, view: TokenizerView) -> None:
        self.view = view
        self._cache: dict[int, tuple[str, bool] | None] = {}
        self._lower: dict[tuple[str, bool], str] = {}
        self._letter: dict[str, bool] = {}

    def get(self, i: int) -> tuple[str, bool] | None:
        if i not in self._cache:
            b = self.view.token_bytes(i)
            if b is None:
                self._cache[i] = None  # special tokens: none are added when encoding
            else:
                try:
                    self._cache[i] = (b.decode("utf-8").strip(), False)
                except UnicodeDecodeError:
                    self._cache[i] = (b.decode("utf-8", errors="replace").strip(), True)
        return self._cache[i]

    def lower(self, s: str, lang: str) -> str:
        """lower(s, lang), cached (the language matters only for the dotted-I languages)."""
        key = (s, _dotted_i(lang))
        got = self._lower.get(key)
        if got is None:
            got = self._lower[key] = lower(s, lang)
        return got

    def has_letter(self, s: str) -> bool:
        got = self._letter.get(s)
        if got is None:
            got = self._letter[s] = _LETTER.search(s) is not None
        return got


def measure(
    view: TokenizerView,
    lang: str,
    encoded: Sequence[Sequence[int]] | np.ndarray,
    validator: Validator,
    strings: TokenStrings | None = None,
) -> IntegrityRow:
    """Decode each token on its own, strip word-boundary whitespace, lowercase per language, and
    ask the validator. Whitespace-only tokens leave the denominator (as in Bayram's code); partial
    UTF-8 tokens and punctuation/digit tokens stay in it as invalid."""
    flat = encoded if isinstance(encoded, np.ndarray) else flatten(encoded)
    bins = np.bincount(flat) if flat.size else np.zeros(0, np.int64)
    nz = np.nonzero(bins)[0]
    counts = dict(zip(nz.tolist(), bins[nz].tolist()))
    strings = strings or TokenStrings(view)
    per_type: Counter[str] = Counter()
    partial: set[str] = set()
    for i, c in counts.items():
        got = strings.get(i)
        if got is None:
            continue
        s, is_partial = got
        if is_partial:
            partial.add(s)
        if s:
            per_type[s] += c
    forms = {s: strings.lower(s, lang) for s in per_type}
    valid = {s for s in per_type if s not in partial and validator.is_valid(forms[s])}
    pure = (
        {s for s in per_type if s not in partial and validator.is_pure(forms[s])}
        if validator.is_pure
        else None
    )
    letters = {s for s in per_type if strings.has_letter(s) and s not in partial}
    n_types, n_tokens = len(per_type), sum(per_type.values())

    def share(chosen: set[str], weighted: bool, within: set[str] | None = None) -> float | None:
        pool = per_type.keys() if within is None else within
        if weighted:
            total = sum(per_type[s] for s in pool)
            return sum(per_type[s] for s in chosen if s in pool) / total if total else None
        return len(chosen & set(pool)) / len(pool) if pool else None

    def most_frequent(pool: Iterable[str]) -> tuple[str, ...]:
        return tuple(heapq.nsmallest(8, pool, key=lambda s: (-per_type[s], s)))

    return IntegrityRow(
        language=lang,
        validator=f"{validator.kind}:{validator.source}" if validator.source else validator.kind,
        validator_version=validator.version,
        frequency_based=validator.frequency_based,
        types=n_types,
        tokens=n_tokens,
        lang_type=share(valid, False),
        lang_token=share(valid, True),
        lang_type_letters=share(valid, False, letters),
        pure_type=share(pure, False) if pure is not None else None,
        pure_token=share(pure, True) if pure is not None else None,
        partial_utf8_types=len(partial),
        nonletter_types=n_types - len(letters) - len(partial & set(per_type)),
        examples_valid=most_frequent(valid),
        examples_invalid=most_frequent(letters - valid),
    )
