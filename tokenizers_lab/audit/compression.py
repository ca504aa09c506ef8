"""Compression and vocabulary-use measures: bytes/chars per token, fertility, proportion of
continued words, word-boundary violations, Rényi and Shannon efficiency, vocabulary utilization.

Entropies are in bits; efficiency divides by log2 |V| under two conventions: the full vocabulary
(Zouhar et al. 2023, the paper) and the observed types (what tokenization-scorer does by default),
which depends on corpus size and so only compares runs on identical text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tokenizers_lab.tokenizer import Aligned, Spans, line_starts

DEFAULT_ALPHA = 2.5
# Scripts written without spaces between words: whitespace fertility says nothing there.
NO_SPACE_SCRIPTS = frozenset({"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo", "Tibt", "Bopo", "Yiii"})


_SPACES = np.array(sorted(c for c in range(0x3001) if chr(c).isspace()), dtype=np.uint32)
_IS_SPACE = np.zeros(0x3002, dtype=bool)  # by code point, every code point above 0x3000 at 0x3001
_IS_SPACE[_SPACES] = True


def word_spans(text: str) -> np.ndarray:
    """(start, end) character offsets of the whitespace-separated words of text (what
    str.split() sees), vectorised."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if cps.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    word = np.zeros(cps.size + 2, np.int8)  # 1 inside a word, padded with a space either side
    np.logical_not(_IS_SPACE[np.minimum(cps, 0x3001)], out=word[1:-1].view(bool))
    edges = np.diff(word)
    out = np.empty((int(np.count_nonzero(edges == 1)), 2), np.int64)
    out[:, 0] = np.flatnonzero(edges == 1)
    out[:, 1] = np.flatnonzero(edges == -1)
    return out


def renyi_entropy(counts: np.ndarray, alpha: float = DEFAULT_ALPHA) -> float:
    """H_alpha(p) = 1/(1-alpha) log2 sum p^alpha; alpha = 1 is Shannon entropy."""
    c = np.asarray(counts, dtype=float)
    c = c[c > 0]
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    if abs(alpha - 1.0) < 1e-12:
        return float(-(p * np.log2(p)).sum())
    return float(np.log2((p**alpha).sum()) / (1.0 - alpha))


def efficiency(entropy: float, size: int) -> float | None:
    """Entropy over log2 of a vocabulary size (None for a size below 2)."""
    return entropy / float(np.log2(size)) if size > 1 else None


def no_space_language(lang: str) -> bool:
    """True for FLORES-style codes whose script has no spaces between words (zho_Hans, tha_Thai)."""
    return lang.rsplit("_", 1)[-1] in NO_SPACE_SCRIPTS


@dataclass(frozen=True)
class CompressionStats:
    """Compression of one tokenizer on one body of text."""

    tokens: int
    bytes: int
    chars: int
    words: int
    bytes_per_token: float | None
    chars_per_token: float | None
    tokens_per_word: float | None
    observed_types: int
    vocab_utilization: float
    type_token_ratio: float | None
    renyi_alpha: float
    renyi_entropy: float
    renyi_efficiency_full_vocab: float | None
    renyi_efficiency_observed: float | None
    shannon_entropy: float
    shannon_efficiency_full_vocab: float | None
    shannon_efficiency_observed: float | None


class Tally:
    """Streaming per-id counts and text sizes for one tokenizer (memory: one array of |V|)."""

    def __init__(self, vocab_size: int) -> None:
        self.counts = np.zeros(vocab_size, dtype=np.int64)
        self.bytes = self.chars = self.words = 0

    def add_counts(self, flat: np.ndarray, chars: int, nbytes: int, words: int) -> None:
        """Count token ids whose text sizes are already known."""
        self._add_ids(flat)
        self.chars += chars
        self.bytes += nbytes
        self.words += words

    def add_sparse(self, ids: np.ndarray, counts: np.ndarray, chars: int, nbytes: int, words: int) -> None:
        """Add counts of the given ids (a partial tally from elsewhere) and their text sizes."""
        if ids.size:
            top = int(ids.max()) + 1
            if top > self.counts.size:
                self.counts = np.concatenate([self.counts, np.zeros(top - self.counts.size, dtype=np.int64)])
            self.counts[ids] += counts
        self.chars += chars
        self.bytes += nbytes
        self.words += words

    def _add_ids(self, flat: np.ndarray) -> None:
        if flat.size:
            top = int(flat.max()) + 1
            if top > self.counts.size:
                self.counts = np.concatenate([self.counts, np.zeros(top - self.counts.size, dtype=np.int64)])
            self.counts += np.bincount(flat, minlength=self.counts.size)

    def add_flat(self, texts: Sequence[str], flat: np.ndarray) -> None:
        """Count a batch: the texts and all their token ids in one array."""
        nl = "\n".join(texts)  # sizes by whole-string operations; the separators are taken off
        seps = max(len(texts) - 1, 0)
        self.add_counts(flat, len(nl) - seps, len(nl.encode("utf-8")) - seps, len(nl.split()))

    def stats(self, vocab_size: int, alpha: float = DEFAULT_ALPHA) -> CompressionStats:
        """The measures of everything counted so far."""
        n = int(self.counts.sum())
        types = int((self.counts > 0).sum())
        h_a, h_1 = renyi_entropy(self.counts, alpha), renyi_entropy(self.counts, 1.0)
        return CompressionStats(
            tokens=n,
            bytes=self.bytes,
            chars=self.chars,
            words=self.words,
            bytes_per_token=self.bytes / n if n else None,
            chars_per_token=self.chars / n if n else None,
            tokens_per_word=n / self.words if self.words else None,
            observed_types=types,
            vocab_utilization=types / vocab_size if vocab_size else 0.0,
            type_token_ratio=types / n if n else None,
            renyi_alpha=alpha,
            renyi_entropy=h_a,
            renyi_efficiency_full_vocab=efficiency(h_a, vocab_size),
            renyi_efficiency_observed=efficiency(h_a, types),
            shannon_entropy=h_1,
            shannon_efficiency_full_vocab=efficiency(h_1, vocab_size),
            shannon_efficiency_observed=efficiency(h_1, types),
        )


@dataclass
class WordAlignment:
    """Word-level counts from token spans: continued words and boundary violations."""

    words: int = 0
    continued: int = 0
    boundaries: int = 0
    violations: int = 0
    aligned_lines: int = 0
    lines: int = 0
    offenders: Counter[int] = field(default_factory=Counter)

    def add(self, text: str, ids: Sequence[int], spans: Spans | None) -> None:
        """Align one line's tokens (character spans, or None when they cannot be aligned)."""
        self.add_aligned([text], Aligned.from_char_spans([text], [list(ids)], [spans]))

    def add_aligned(
        self, texts: Sequence[str], al: Aligned, joined: str | None = None, words: np.ndarray | None = None
    ) -> None:
        """Align a batch encoded by TokenizerView.encode_aligned (same coordinates; `joined` is
        "\n".join(texts) and `words` its word_spans, when the caller has them)."""
        self.lines += len(texts)
        self.aligned_lines += int(al.line_ok.sum())
        if not al.line_ok.any():
            return
        joined = "\n".join(texts) if joined is None else joined
        base = line_starts(texts)
        w = word_spans(joined) if words is None else words
        line_of_word = np.searchsorted(base, w[:, 0], "right") if w.size else np.zeros(0, np.int64)
        if w.size and not al.line_ok.all():
            keep = al.line_ok[line_of_word - 1]
            w, line_of_word = w[keep], line_of_word[keep]
        # tokens in UTF-8 bytes where the alignment has them (words go to bytes instead: far fewer
        # than tokens), else in characters; both give the same counts (words start and end on
        # character boundaries)
        if al.byte_spans is not None:
            starts_all, ends_all, where = al.byte_spans
        else:
            starts_all, ends_all, where = al.starts, al.ends, None
        tok = al.line_ok[al.line_of_token] & (ends_all > starts_all) if al.flat.size else np.zeros(0, bool)
        if tok.all():  # the usual case: no copies
            ids_arr, starts, ends = al.flat, starts_all, ends_all
        else:
            ids_arr, starts, ends = al.flat[tok], starts_all[tok], ends_all[tok]
        if w.size == 0:
            return
        self.words += len(w)
        if starts.size == 0:
            return
        if where is None:
            ws, we, last_start = w[:, 0], w[:, 1], w[:, 1] - 1
        else:
            ws, we, last_start = where[w[:, 0]], where[w[:, 1]], where[w[:, 1] - 1]
        # tokens overlapping [ws, we): those starting before we minus those ending at or before ws,
        # counted once per position (two prefix sums, not two binary searches per word)
        size = max(int(we[-1]), int(ends[-1]), int(starts[-1])) + 2
        starts_upto = np.bincount(starts, minlength=size).cumsum()  # [p]: tokens starting at or before p
        ends_upto = np.bincount(ends, minlength=size).cumsum()  # [p]: tokens ending at or before p
        overlap = starts_upto[we - 1] - ends_upto[ws]
        self.continued += int((overlap >= 2).sum())
        same_line = line_of_word[1:] == line_of_word[:-1]
        self.boundaries += int(same_line.sum())
        # the token holding a word's last character (the first ending after that character's
        # first byte) also holds the next word's first one
        last = np.minimum(ends_upto[last_start[:-1]], ends.size - 1)
        crossing = same_line & (starts[last] < we[:-1]) & (ends[last] > ws[1:])
        self.violations += int(crossing.sum())
        if crossing.any():
            u, c = np.unique(ids_arr[last[crossing]], return_counts=True)
            for i, n in zip(u.tolist(), c.tolist()):
                self.offenders[i] += n

    @property
    def continued_share(self) -> float | None:
        return self.continued / self.words if self.words else None

    @property
    def violation_rate(self) -> float | None:
        return self.violations / self.boundaries if self.boundaries else None
