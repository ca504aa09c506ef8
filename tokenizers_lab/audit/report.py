"""`audit`'s report: per-tokenizer measures, the values gates read; rendered by `markdown.render`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokenizers_lab.audit.charbench import FeatureSummary, TaskScore
from tokenizers_lab.audit.compression import CompressionStats
from tokenizers_lab.audit.fairness import FairnessSummary, LanguageFairness
from tokenizers_lab.audit.gates import GateResult
from tokenizers_lab.audit.integrity import IntegrityRow
from tokenizers_lab.audit.numbers import NumberProfile
from tokenizers_lab.audit.robustness import ProbeResult, VocabularyHealth
from tokenizers_lab.report import Markdown, Provenance, RunInfo

if TYPE_CHECKING:
    from tokenizers_lab.diff.compare import Comparison


@dataclass(frozen=True)
class LanguageCompression:
    """Compression of one tokenizer on one language of the parallel corpus."""

    language: str
    bytes_per_token: float | None
    chars_per_token: float | None
    tokens_per_word: float | None
    fertility_meaningful: bool  # False for scripts written without spaces
    continued_words: float | None  # PCW: words split into >= 2 tokens (tokens aligned in context)
    boundary_violations: float | None  # word boundaries falling inside a token
    aligned_lines: float | None  # share of lines whose token spans could be aligned (None: --skip alignment)
    renyi_efficiency_full_vocab: float | None
    observed_types: int


@dataclass(frozen=True)
class TokenizerAudit:
    """Everything measured for one tokenizer."""

    label: str
    source: str
    backend: str
    model_type: str
    vocab_size: int
    sha256: str
    fairness: tuple[LanguageFairness, ...]
    fairness_summary: FairnessSummary
    languages: tuple[LanguageCompression, ...]
    parallel_compression: CompressionStats
    corpus_compression: CompressionStats | None
    integrity: tuple[IntegrityRow, ...]
    numbers: NumberProfile
    roundtrip_rate: float
    roundtrip: tuple[ProbeResult, ...]
    vocabulary: VocabularyHealth
    boundary_offenders: tuple[tuple[str, int], ...]
    charbench: tuple[FeatureSummary, ...]
    charbench_scores: tuple[TaskScore, ...]
    token_length_histogram: dict[str, int]
    encoder: str = ""  # what encoded: gigatoken (checked exact on this input) or the backend itself


DEFINITIONS = {
    "premium_sum": "Arnett et al. 2025: per-sentence token counts (no special tokens) summed per language, over "
    "the pivot language's sum",
    "premium_concat": "Petrov et al. 2023: each file's lines (read().split('\\n'), so a final newline adds an "
    "empty line) joined with one space and encoded once, no special tokens; over the pivot",
    "char_premium / byte_premium": "code points / UTF-8 bytes of the language over the pivot's: what a "
    "tokenizer-independent encoding would cost",
    "unk_char_share": "Petrov's estimate: characters lost when UNK ids are dropped before decoding, over all "
    "characters; a language with more than 10% is invalid and left out of summaries",
    "byte_fallback_share": "tokens that are SentencePiece <0xNN> byte pieces, over all tokens",
    "partial_utf8_share": "tokens whose bytes are not valid UTF-8 on their own (byte-level pieces of a "
    "character), over all tokens",
    "gini": "Tokenizer Fairness Gini (TokEval) of tokens per sentence across valid languages",
    "bytes_per_token / chars_per_token": "UTF-8 bytes / code points of the text over its tokens",
    "tokens_per_word": "fertility: tokens over whitespace-separated words; meaningless for scripts without "
    "spaces (zh, ja, th, my, km, lo, bo), flagged there",
    "continued_words": "PCW: words overlapped by two or more tokens, tokens aligned in context by their "
    "character offsets",
    "boundary_violations": "ADT-style: boundaries between whitespace-separated words that fall inside a "
    "token (a token holding one word's last character and the next word's first)",
    "renyi": "Zouhar et al. 2023: H_alpha(p) = log2(sum p^alpha)/(1-alpha) over token-id frequencies, divided by "
    "log2 |V|; full_vocab uses every id of the vocabulary (the paper), observed uses the types seen "
    "(tokenization-scorer); shannon is alpha = 1",
    "vocab_utilization": "ids seen on the text over all ids (specials included in |V|)",
    "lang_type": "%Lang (Bayram et al. 2025 generalised): unique tokens, each decoded alone, whitespace "
    "stripped, lowercased per language (Turkish I/ı), that the validator accepts, over unique "
    "non-empty tokens; partial-UTF-8 and punctuation/digit tokens count as invalid, whitespace-"
    "only tokens leave the denominator, no special tokens are added",
    "lang_token": "the same, weighted by occurrences",
    "lang_type_letters": "the same over types holding at least one letter",
    "pure_type": "%Pure: unique tokens that are a root or a single morpheme, over unique tokens",
    "charbench": "Uzan & Pinter 2025 templates; target_token_length is the character length of the token that "
    "holds the queried index (index tasks), in the bare word and inside the prompt",
    "digits": "integers of 1-20 digits classified as single-digit, L2R-k or R2L-k when >= 95% follow it, else "
    "irregular; comma groups aligned = every group of '1,234,567' is one token",
    "roundtrip": "decode(encode(x)) == x on the probe matrix, first differing character reported",
    "unreachable": "tokens whose own string does not encode to exactly that token (also tried without one "
    "leading space for prefix-space models); partial-UTF-8 and ## tokens are not checked",
    "decomposable_share": "StochasTok: multi-byte tokens with at least one split into two vocabulary tokens",
}


@dataclass(frozen=True)
class AuditReport(Markdown):
    """The audit of one or more tokenizers on the same corpora."""

    provenance: Provenance
    pivot: str
    parallel: str
    languages: tuple[str, ...]
    corpora: tuple[str, ...]
    validators: dict[str, str]
    charbench_items: int
    tokenizers: tuple[TokenizerAudit, ...]
    gates: tuple[GateResult, ...]
    charts: tuple[str, ...]
    notes: tuple[str, ...]
    definitions: dict[str, str]
    run: RunInfo
    skipped: tuple[str, ...] = ()  # measures left out by --skip (their fields are null)
    baseline: Comparison | None = None  # with --baseline: what changed since that report
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict, metadata={"artifact": True}, repr=False)

    @property
    def tripped(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.tripped)

    def gate_values(self) -> dict[str, dict[str, float | None]]:
        return gate_values(self.tokenizers)


def gate_values(audits: Sequence[TokenizerAudit]) -> dict[str, dict[str, float | None]]:
    """Per tokenizer, every value a --fail-on gate can name."""
    return gate_values_of_json([dataclasses.asdict(a) for a in audits])


def gate_values_of_json(audits: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """The same from the report's JSON (`tokenizers[]`): what `tokenlab diff` and `--baseline`
    compare, so a gate names one value whether it reads a live audit or a saved report."""
    out = {}
    for a in audits:
        v: dict[str, float | None] = {}
        for r in a["fairness"]:
            lang = r["language"]
            v[f"premium.{lang}"] = r["premium_sum"]
            v[f"premium_concat.{lang}"] = r["premium_concat"]
            v[f"tokens_per_sentence.{lang}"] = r["tokens_per_sentence"]
            v[f"unk_share.{lang}"] = r["unk_char_share"]
        for c in a["languages"]:
            v[f"fertility.{c['language']}"] = c["tokens_per_word"]
            v[f"pcw.{c['language']}"] = c["continued_words"]
        for i in a["integrity"]:
            v[f"lang.{i['language']}"] = i["lang_type"]
            v[f"lang_token.{i['language']}"] = i["lang_token"]
            v[f"pure.{i['language']}"] = i["pure_type"]
        for s in a["charbench_scores"]:
            v[f"charbench.{s['task']}"] = s["accuracy"]
        fs = a["fairness_summary"]
        above = fs["languages_above_2x"]
        v.update(
            median_premium=fs["median_premium"],
            max_premium=fs["max_premium"],
            above_2x=None if above is None else float(above),
            gini=fs["gini"],
            roundtrip=a["roundtrip_rate"],
            unreachable=float(a["vocabulary"]["unreachable"]),
            partial_utf8=float(a["vocabulary"]["partial_utf8"]),
            digits_consistency=a["numbers"]["consistency"],
        )
        cc = a["corpus_compression"] or a["parallel_compression"]
        v.update(
            bytes_per_token=cc["bytes_per_token"],
            chars_per_token=cc["chars_per_token"],
            renyi=cc["renyi_efficiency_full_vocab"],
            renyi_observed=cc["renyi_efficiency_observed"],
            utilization=cc["vocab_utilization"],
        )
        out[a["label"]] = v
    return out
