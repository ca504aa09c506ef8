"""`train`'s report: per-size results, the corpus summary, and its Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokenizers_lab.report import Markdown, Provenance, RunInfo


@dataclass(frozen=True)
class LanguageRow:
    """Per-language compression of one trained tokenizer on the parallel corpus (Arnett-style)."""

    language: str
    tokens: int
    bytes: int
    bytes_per_token: float | None
    premium: float | None


@dataclass(frozen=True)
class SizeResult:
    """One trained tokenizer of the sweep."""

    vocab_size_requested: int
    vocab_size: int
    artifact: str
    sha256: str
    n_merges: int
    n_special: int
    mean_token_bytes: float
    max_token_bytes: int
    byte_tokens: int
    whitespace_spanning_tokens: int
    heldout_tokens: int
    heldout_bytes_per_token: float | None  # None: nothing was held out
    heldout_chars_per_token: float | None
    roundtrip_rate: float | None
    languages: tuple[LanguageRow, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CorpusSummary:
    """What was read and how it was split into training and held-out text."""

    records: int
    bytes: int
    invalid_utf8: int
    train_records: int
    heldout_records: int
    heldout_bytes: int


@dataclass(frozen=True)
class TrainReport(Markdown):
    """The train report: one source of truth for JSON and Markdown."""

    provenance: Provenance
    algorithm: str
    engine: str
    corpus: CorpusSummary
    results: tuple[SizeResult, ...]
    definitions: dict[str, str]
    run: RunInfo
    timings: dict[str, float]
    notes: tuple[str, ...] = ()
    charts: tuple[str, ...] = ()  # SVG files beside the report (each with a PNG twin)
    artifacts: dict[str, bytes] = field(default_factory=dict, metadata={"artifact": True}, repr=False)


DEFINITIONS = {
    "bytes_per_token": "UTF-8 bytes of the held-out records / tokens, no special tokens added",
    "chars_per_token": "Unicode code points of the held-out records / tokens",
    "roundtrip_rate": "share of held-out records with decode(encode(x)) == x (WordPiece: equal once "
    "whitespace is removed and case folded as its normalizer does)",
    "premium": "Arnett et al. 2025 convention: per-sentence token counts summed per language, "
    "divided by the pivot language's sum",
    "heldout": "every Nth non-blank record (N = heldout_every, offset = seed mod N) up to heldout_max_bytes, "
    "never used for training; or the separate --heldout corpus (up to heldout_max_bytes); "
    "heldout_every = 0 holds nothing out",
    "whitespace_spanning_tokens": "tokens with a space strictly inside once leading and trailing spaces are "
    "trimmed (superwords; indentation runs do not count)",
    "vocab_size": "ids in the vocabulary, special and byte-fallback tokens included",
}
