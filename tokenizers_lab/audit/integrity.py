"""%Lang / %Pure: how many of a tokenizer's tokens are words or morphemes of a language.

Bayram et al. 2025 define %TR (valid Turkish tokens) and %Pure (tokens that are a root or a single
morpheme) for Turkish; their published numbers are type level (unique decoded tokens, word-boundary
markers stripped, whitespace-only tokens gone). Here the same is generalised to any language with
the pluggable offline validators of validators.py, at type and token level.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.audit.validators import (
    _LETTER,
    VALIDATORS,
    Validator,
    _dotted_i,
    build_validator,
    corpus_word_set,
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
    "corpus_word_set",
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
    """Per tokenizer, once: each id's text decoded on its own and stripped (its *type*; ids sharing
    a text share a type), whether its bytes are partial UTF-8, whether a type holds a letter, and
    each type's lowercased form when first asked. Every language's measure is then array sums."""

    def __init__(self, view: TokenizerView) -> None:
        self.view = view
        self._table: tuple[np.ndarray, np.ndarray, list[str], np.ndarray] | None = None
        self._lowered: dict[bool, list[str]] = {}

    def table(self) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
        """(type of each id, -1 for specials and whitespace-only tokens; partial-UTF-8 flag of
        each id; the types' texts; has-a-letter flag of each type)."""
        if self._table is None:
            n = self.view.vocab_size
            type_of = np.full(n, -1, np.int64)
            partial = np.zeros(n, bool)
            index: dict[str, int] = {}
            for i, b in enumerate(self.view.all_token_bytes):
                if b is None:
                    continue  # special tokens: none are added when encoding
                try:
                    s = b.decode("utf-8").strip()
                except UnicodeDecodeError:
                    s = b.decode("utf-8", errors="replace").strip()
                    partial[i] = True
                if s:
                    type_of[i] = index.setdefault(s, len(index))
            texts = list(index)
            letter = np.fromiter((_LETTER.search(t) is not None for t in texts), bool, len(texts))
            self._table = (type_of, partial, texts, letter)
        return self._table

    def lowered(self, lang: str) -> list[str]:
        """lower(text, lang) of every type, computed once per process for each of the two
        lowercasings (the language matters only for dotted-I languages): a language's measure then
        looks its types up instead of lowercasing each one again."""
        dotted = _dotted_i(lang)
        got = self._lowered.get(dotted)
        if got is None:
            got = self._lowered[dotted] = lower_all(self.table()[2], lang)
        return got


def lower_all(texts: list[str], lang: str) -> list[str]:
    """[lower(t, lang) for t in texts] in one pass over their joined text. The separator is NUL or a
    noncharacter no text holds (neither composes with anything, neither is cased nor
    case-ignorable), so each text lowercases as it would alone, final sigma included; one by one
    when every candidate occurs (byte-level vocabularies hold NUL itself)."""
    for sep in ("\x00", "\ufdd0", "\ufdd1", "\ufdd2"):
        if not any(sep in t for t in texts):
            got = lower(sep.join(texts), lang).split(sep)
            if len(got) == len(texts):
                return got
    return [lower(t, lang) for t in texts]


def measure(
    view: TokenizerView,
    lang: str,
    encoded: Sequence[Sequence[int]] | np.ndarray,
    validator: Validator,
    strings: TokenStrings | None = None,
) -> IntegrityRow:
    """%Lang/%Pure of one language's token ids (flat, or one list per line)."""
    flat = encoded if isinstance(encoded, np.ndarray) else flatten(encoded)
    flat = flat[flat >= 0]
    bins = np.bincount(flat) if flat.size else np.zeros(0, np.int64)
    ids = np.nonzero(bins)[0]
    return measure_counts(view, lang, ids, bins[ids], validator, strings)


def measure_counts(
    view: TokenizerView,
    lang: str,
    ids: np.ndarray,
    counts: np.ndarray,
    validator: Validator,
    strings: TokenStrings | None = None,
) -> IntegrityRow:
    """Decode each token on its own, strip word-boundary whitespace, lowercase per language, and
    ask the validator. Whitespace-only tokens leave the denominator (as in Bayram's code); partial
    UTF-8 tokens and punctuation/digit tokens stay in it as invalid. `ids` are distinct, with
    their `counts` in the language's text."""
    strings = strings or TokenStrings(view)
    type_of, id_partial, texts, has_letter = strings.table()
    inside = ids < type_of.size
    ids, counts = ids[inside], counts[inside]
    kept = type_of[ids] >= 0
    count = np.bincount(type_of[ids][kept], weights=counts[kept], minlength=len(texts)).astype(np.int64)
    seen = np.nonzero(count)[0]  # the language's types
    partial = np.zeros(len(texts), bool)
    partial[type_of[ids[id_partial[ids] & kept]]] = True
    whole = seen[~partial[seen]]
    valid = np.zeros(len(texts), bool)
    lowered, is_valid = strings.lowered(lang), validator.is_valid
    valid[whole] = [is_valid(lowered[t]) for t in whole.tolist()]
    pure: np.ndarray | None = None
    if validator.is_pure is not None:
        is_pure = validator.is_pure
        pure = np.zeros(len(texts), bool)
        pure[whole] = [is_pure(lowered[t]) for t in whole.tolist()]
    letters = has_letter & ~partial & (count > 0)
    n_types, n_tokens = int(seen.size), int(count.sum())

    def share(chosen: np.ndarray, weighted: bool, within: np.ndarray | None = None) -> float | None:
        pool = count > 0 if within is None else within
        if weighted:
            total = int(count[pool].sum())
            return int(count[chosen & pool].sum()) / total if total else None
        size = int(pool.sum())
        return int((chosen & pool).sum()) / size if size else None

    def most_frequent(mask: np.ndarray, n: int = 8) -> tuple[str, ...]:
        """The n most frequent types, ties by text; only the types at or above the n-th largest
        count are sorted (a key call per type of the language cost more than the rest)."""
        chosen = np.nonzero(mask)[0]
        if chosen.size > n:
            c = count[chosen]
            chosen = chosen[c >= np.partition(c, c.size - n)[c.size - n]]
        top = heapq.nsmallest(n, chosen.tolist(), key=lambda t: (-int(count[t]), texts[t]))
        return tuple(texts[t] for t in top)

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
        partial_utf8_types=int((partial & (count > 0)).sum()),
        nonletter_types=n_types - int(letters.sum()) - int((partial & (count > 0)).sum()),
        examples_valid=most_frequent(valid),
        examples_invalid=most_frequent(letters & ~valid),
    )
