"""`train`'s report: per-size results, the corpus summary, and its Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tokenizers_lab.report import (
    Provenance,
    RunInfo,
    md_provenance,
    md_table,
)


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
class TrainReport:
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
    artifacts: dict[str, bytes] = field(default_factory=dict, metadata={"artifact": True}, repr=False)

    def to_markdown(self) -> str:
        """Render the report as Markdown (from the same fields as the JSON)."""
        p = self.provenance
        out = [f"# tokenlab train — {self.algorithm}", "", f"`{p.signature}`", "",
               f"Engine: {self.engine}. Corpus: {self.corpus.records} records, {self.corpus.bytes} bytes "
               f"({self.corpus.invalid_utf8} invalid UTF-8 sequences); held out "
               f"{self.corpus.heldout_records} records ({self.corpus.heldout_bytes} bytes).", "",
               "## Vocabularies", ""]
        rows = [(r.vocab_size_requested, r.vocab_size, r.artifact, r.n_merges, r.mean_token_bytes,
                 r.max_token_bytes, r.whitespace_spanning_tokens, r.heldout_bytes_per_token,
                 r.heldout_chars_per_token, r.roundtrip_rate) for r in self.results]
        out.append(md_table(["requested", "vocab", "artifact", "merges", "mean bytes/token", "max bytes",
                             "tokens spanning a space", "held-out bytes/token", "chars/token",
                             "held-out round-trip"], rows))
        langs = sorted({lr.language for r in self.results for lr in r.languages})
        if langs:
            out += ["", "## Per language (parallel corpus; premium = tokens / pivot tokens)", ""]
            head = ["language"] + [f"{r.vocab_size_requested} bytes/token" for r in self.results] + \
                   [f"{r.vocab_size_requested} premium" for r in self.results]
            table = []
            for lang in langs:
                bpt = [next((x.bytes_per_token for x in r.languages if x.language == lang), "") for r in self.results]
                prem = [next((x.premium for x in r.languages if x.language == lang), "") for r in self.results]
                table.append([lang, *bpt, *["" if v is None else v for v in prem]])
            out.append(md_table(head, table))
        extras = [(r.vocab_size_requested, json.dumps(r.extra, sort_keys=True)) for r in self.results if r.extra]
        if extras:
            out += ["", "## Algorithm checks", "", md_table(["vocab", "checks"], extras)]
        if self.notes:
            out += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        out += ["", "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in sorted(self.definitions.items())]
        out += ["", md_provenance(p)]
        return "\n".join(out) + "\n"


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
