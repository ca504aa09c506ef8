"""`train`: train tokenizers from corpora with `tokenizers` / `sentencepiece`, sweep vocab sizes.

Algorithms (registry `ALGORITHMS`): bpe, bpe-metaspace, unigram, wordpiece, char-bpe, spm-bpe,
spm-unigram, spm-char, superbpe. Every artifact is a standard tokenizer.json that stock
`tokenizers` loads; SentencePiece runs also write their .model.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gc
import hashlib
import io
import itertools
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tokenizers_lab.corpus import Corpus, ParallelCorpus, display_name, load_parallel
from tokenizers_lab.engine import (
    EXECUTION,
    Background,
    Engine,
    EngineSpec,
    LocalEngine,
    engine_info,
    in_background,
    open_engine,
)
from tokenizers_lab.errors import InputError, LabError, UsageError, check_range, unknown_name
from tokenizers_lab.patterns import METASPACE_WORDS, PATTERNS, resolve_pattern
from tokenizers_lab.report import (
    INPUT,
    Provenance,
    RunInfo,
    Stopwatch,
    make_provenance,
    md_provenance,
    md_table,
)
from tokenizers_lab.tokenizer import THREADS, HFView, bytelevel_to_bytes

Progress = Callable[[str, float | None], None]


def _no_progress(stage: str, fraction: float | None) -> None:
    return None


@dataclass(frozen=True)
class Algorithm:
    """One entry of the algorithm registry."""

    engine: str  # "tokenizers" or "sentencepiece"
    byte_level: bool
    description: str
    default_specials: tuple[str, ...]
    truncatable: bool  # a smaller vocabulary is a prefix of a larger one (sweeps train once)


ALGORITHMS: dict[str, Algorithm] = {
    "bpe": Algorithm("tokenizers", True, "byte-level BPE with a GPT-2/cl100k-style regex pre-tokenizer",
                     ("<|endoftext|>",), True),
    "bpe-metaspace": Algorithm("tokenizers", False, "BPE over ▁-marked words with byte fallback (Llama-style)",
                               ("<unk>", "<s>", "</s>"), False),  # its alphabet depends on the size
    "unigram": Algorithm("tokenizers", False, "Unigram LM (tokenizers' UnigramTrainer), Metaspace, byte fallback",
                         ("<unk>", "<s>", "</s>"), False),
    "wordpiece": Algorithm("tokenizers", False, "WordPiece (BERT-style), trained deterministically",
                           ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), False),
    "char-bpe": Algorithm("tokenizers", True, "KL3M-style character-level byte BPE (tokens of at most 3 chars)",
                          ("<|endoftext|>",), True),
    "spm-bpe": Algorithm("sentencepiece", False, "SentencePiece BPE", ("<unk>", "<s>", "</s>"), False),
    "spm-unigram": Algorithm("sentencepiece", False, "SentencePiece Unigram", ("<unk>", "<s>", "</s>"), False),
    "spm-char": Algorithm("sentencepiece", False, "SentencePiece character model", ("<unk>", "<s>", "</s>"), False),
    "superbpe": Algorithm("tokenizers", True, "SuperBPE two-stage curriculum (superword tokens span spaces)",
                          ("<|endoftext|>",), False),
}

NORMALIZATIONS = ("none", "nfc", "nfkc", "nfkc-lower", "lower")
EMBEDDED_DEFAULT = ("embedded:parallel", "embedded:code", "embedded:domain")
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
# Stage-2 symbols of SuperBPE: stage-1 id i is the code point _SYM + i (never whitespace, no
# normalizer runs on them), so stock BpeTrainer can continue merging over stage-1 tokens.
_SYM = 0x20000
# WordPiece continuation characters are shifted into private-use planes before BPE training.
_CONT_BMP = 0xF0000
# Cut stage-2 words where a stage-1 bigram is too rare to ever be merged (exact; tests compare).
PRUNE_RARE_BOUNDARIES = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run."""

    corpora: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    algorithm: str = "bpe"
    vocab_sizes: tuple[int, ...] = (8000,)
    min_frequency: int = 2
    special_tokens: tuple[str, ...] | None = None
    pretokenizer: str | None = None
    split_digits: bool = False
    normalization: str = "none"
    max_token_length: int | None = None
    character_coverage: float = 0.9995
    superbpe_transition: float = 0.9
    superbpe_colon_rule: bool = True
    export_tiktoken: bool = False
    parallel: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    pivot: str = "eng_Latn"
    heldout_every: int = 100
    heldout: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    heldout_max_bytes: int = 2_000_000
    errors: str = "strict"
    field: str = "text"
    column: str = "text"
    seed: int = 13
    threads: int = 0
    # --engine/--address/--workers: where word counting runs (wordpiece, superbpe stage 2)
    execution: EngineSpec = dataclasses.field(default=EngineSpec(), metadata=EXECUTION)  # `field` is taken

    def resolved_corpora(self) -> tuple[str, ...]:
        return self.corpora or EMBEDDED_DEFAULT

    def resolved_parallel(self) -> tuple[str, ...]:
        if self.parallel:
            return self.parallel
        return ("embedded:parallel",) if not self.corpora else ()

    def preset(self) -> str:
        """The pre-tokenizer preset of byte-level algorithms (per-algorithm default)."""
        if self.pretokenizer:
            return self.pretokenizer
        return {"superbpe": "superbpe-stage1", "char-bpe": "gpt2"}.get(self.algorithm, "cl100k")

    def specials(self) -> tuple[str, ...]:
        return self.special_tokens if self.special_tokens is not None else ALGORITHMS[self.algorithm].default_specials


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


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------

def validate(config: TrainConfig) -> None:
    """Refuse bad options before any work is done."""
    config.execution.validate()
    if config.algorithm not in ALGORITHMS:
        raise unknown_name("algorithm", config.algorithm, ALGORITHMS)
    if config.normalization not in NORMALIZATIONS:
        raise unknown_name("normalization", config.normalization, NORMALIZATIONS)
    if not config.vocab_sizes:
        raise UsageError("no vocabulary size given")
    if len(set(config.vocab_sizes)) != len(config.vocab_sizes):
        raise UsageError("a vocabulary size is listed twice")
    algo = ALGORITHMS[config.algorithm]
    n_special = len(config.specials())
    # Every algorithm but WordPiece carries 256 byte symbols (byte-level or byte fallback).
    floor = n_special + 2 if config.algorithm == "wordpiece" else 256 + n_special + 1
    for v in config.vocab_sizes:
        if v < floor:
            raise UsageError(f"vocab size {v} is below the alphabet: {config.algorithm} needs at least {floor} "
                             f"(256 byte symbols + {n_special} special tokens + 1)")
        if v > 2_000_000:
            raise UsageError(f"vocab size {v} is out of range (at most 2,000,000)")
    if config.min_frequency < 0:
        raise UsageError("--min-frequency must be >= 0")
    if config.max_token_length is not None and config.max_token_length < 2:
        raise UsageError("--max-token-length must be at least 2")
    check_range("--character-coverage", config.character_coverage, 0, 1, lo_open=True)
    check_range("--superbpe-transition", config.superbpe_transition, 0, None, lo_open=True)
    if not 0 < config.superbpe_transition <= 1 and config.superbpe_transition < 256:
        raise UsageError("--superbpe-transition is a fraction of the vocab (0, 1] or an absolute size")
    if config.export_tiktoken and not algo.byte_level:
        raise UsageError(f"--export tiktoken needs a byte-level BPE algorithm (bpe, char-bpe, superbpe), "
                         f"not {config.algorithm}")
    if config.heldout_every < 0 or config.heldout_every == 1:
        raise UsageError("--heldout-every must be 0 (hold nothing out) or at least 2")
    if config.pretokenizer:
        resolve_pattern(config.pretokenizer)


# ---------------------------------------------------------------------------------------
# Corpus pass: stream, fingerprint, split held-out, write the training file
# ---------------------------------------------------------------------------------------

@dataclass
class _Prepared:
    """What the trainers read: `train_paths` (a held-out-free copy, or the user's own plain text
    files when nothing is held out) and, once `finish()` has run, the corpus summary."""

    train_paths: list[Path]
    workdir: Path
    heldout: list[str]
    corpora: list[Corpus]
    char_counts: Counter[str]
    summary: CorpusSummary | None = None
    heldout_corpora: list[Corpus] = field(default_factory=list)
    scan: Background | None = None  # the background pass over directly-read files
    longest: int = 0  # UTF-8 bytes of the longest training record (SentencePiece's sentence limit)
    engine: Engine = field(default_factory=LocalEngine)  # where word counting runs

    def finish(self) -> CorpusSummary:
        """Wait for the background pass (its errors are the user's, e.g. invalid UTF-8) and
        refuse an empty corpus."""
        if self.scan is not None:
            self.scan, scan = None, self.scan
            self.summary = scan.result()
        assert self.summary is not None
        if self.summary.train_records == 0:
            raise InputError(f"corpus {', '.join(c.spec for c in self.corpora)} is empty (no non-blank text)")
        return self.summary


def _summary(corpora: Sequence[Corpus], n_train: int, heldout: Sequence[str], held_bytes: int) -> CorpusSummary:
    return CorpusSummary(
        records=sum(c.stats.records for c in corpora), bytes=sum(c.stats.bytes for c in corpora),
        invalid_utf8=sum(c.stats.invalid_utf8 for c in corpora),
        train_records=n_train, heldout_records=len(heldout), heldout_bytes=held_bytes)


MAX_WORD_CHARS = 1 << 16  # the longest word (a run without whitespace) a trainer is given
_LONG_WORD = re.compile(rf"(?<!\S)\S{{{MAX_WORD_CHARS + 1}}}\S*")  # from a run's start only: linear


def _check_words(batch: Sequence[str], corpus: Corpus) -> None:
    """Refuse a record holding a run of over MAX_WORD_CHARS characters without whitespace. Trainers
    pay word length times merges for it (one 5 MB word kept tokenizers' BPE busy for over ten
    minutes); natural text has no such words, base64 blobs and binary files do. Only records
    longer than the limit are searched, so ordinary text costs one length test per record."""
    for i, rec in enumerate(batch):
        if len(rec) > MAX_WORD_CHARS and (m := _LONG_WORD.search(rec)):
            record = corpus.stats.records - len(batch) + i + 1
            raise InputError(f"{display_name(corpus.spec)} record {record} holds a word of {len(m.group()):,} "
                             f"characters without whitespace (trainers take words up to {MAX_WORD_CHARS:,}): "
                             "split or drop it")


def _train_native(train: Callable[..., Any], *args: Any, prep: _Prepared | None = None) -> None:
    """A native trainer's call (tokenizers, sentencepiece) off the main thread: Ctrl-C acts at once,
    and a bad record found by the corpus pass running beside it stops the wait."""
    in_background(train, *args, watch=(prep.scan if prep is not None else None,))


def _longest(batch: Sequence[str]) -> int:
    return max((len(r.encode("utf-8")) for r in batch), default=0)


def _scan(corpora: Sequence[Corpus], char_counts: Counter[str] | None, heldout: Sequence[str] = (),
          held_bytes: int = 0, longest: list[int] | None = None) -> CorpusSummary:
    """One pass that fingerprints and validates corpora the trainer reads by itself (and measures
    their characters and longest record where asked)."""
    n_train = 0
    for c in corpora:
        for batch in c.iter_batches():
            _check_words(batch, c)
            batch = list(filter(str.strip, batch))
            n_train += len(batch)
            if char_counts is not None and batch:
                char_counts.update("".join(batch))
            if longest is not None:
                longest[0] = max(longest[0], _longest(batch))
    return _summary(corpora, n_train, heldout, held_bytes)


def _read_heldout(config: TrainConfig) -> tuple[list[Corpus], list[str], int]:
    """A separate held-out corpus (--heldout): read whole (so its fingerprint is complete), kept
    up to heldout_max_bytes."""
    corpora = [Corpus(s, errors=config.errors, field_name=config.field, column=config.column)
               for s in config.heldout]
    kept: list[str] = []
    size = 0
    for c in corpora:
        for batch in c.iter_batches():
            for rec in batch:
                if size < config.heldout_max_bytes and rec.strip():
                    kept.append(rec)
                    size += len(rec.encode("utf-8"))
    if not kept:
        raise InputError(f"held-out corpus {', '.join(config.heldout)} is empty (no non-blank text)")
    return corpora, kept, size


def _prepare(config: TrainConfig, workdir: Path, progress: Progress) -> _Prepared:
    corpora = [Corpus(s, errors=config.errors, field_name=config.field, column=config.column)
               for s in config.resolved_corpora()]
    want_chars = config.algorithm in ("unigram", "bpe-metaspace")
    # SentencePiece skips, silently, every sentence longer than its limit: it must know the longest
    want_longest = ALGORITHMS[config.algorithm].engine == "sentencepiece"
    longest = [0]
    char_counts: Counter[str] = Counter()
    split = config.heldout_every > 0 and not config.heldout
    heldout: list[str] = []
    held_bytes = 0
    held_corpora: list[Corpus] = []
    if config.heldout:
        progress("reading held-out corpus", None)
        held_corpora, heldout, held_bytes = _read_heldout(config)
    if not split:
        direct = [c.plain_files() for c in corpora]
        if config.errors == "strict" and all(f is not None for f in direct):
            # No copy: the trainer reads the files; fingerprint and validation run beside it
            # (both engines release the GIL while training).
            prep = _Prepared([p for f in direct for p in f], workdir, heldout, corpora, char_counts,
                             heldout_corpora=held_corpora)
            if want_chars or want_longest:  # the alphabet / longest record is needed before training
                progress("reading corpus", None)
                prep.summary = _scan(corpora, char_counts if want_chars else None, heldout, held_bytes, longest)
                prep.longest = longest[0]
            else:
                prep.scan = Background(_scan, corpora, None, heldout, held_bytes)
            return prep
    k = max(config.heldout_every, 1)
    offset = config.seed % k
    n = n_train = 0
    path = workdir / "train.txt"
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for c in corpora:
            progress(f"reading {display_name(c.spec)}", None)
            for batch in c.iter_batches():
                _check_words(batch, c)
                batch = list(filter(str.strip, batch))  # blank records carry nothing to learn
                if not batch:
                    continue
                if split and held_bytes < config.heldout_max_bytes:
                    first = (offset - n) % k  # global non-blank record index = offset mod k
                    held = batch[first::k]
                    del batch[first::k]
                    heldout.extend(held)
                    held_bytes += sum(len(h.encode("utf-8")) for h in held)
                    n += len(held)
                n += len(batch)
                n_train += len(batch)
                if batch:
                    out.write("\n".join(batch))
                    out.write("\n")
                    if want_chars:
                        char_counts.update("".join(batch))
                    if want_longest:
                        longest[0] = max(longest[0], _longest(batch))
    prep = _Prepared([path], workdir, heldout, corpora, char_counts, heldout_corpora=held_corpora,
                     summary=_summary(corpora, n_train, heldout, held_bytes), longest=longest[0])
    prep.finish()
    return prep


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------

def _normalizer(name: str, default: Any = None) -> Any:
    from tokenizers import normalizers

    return {
        "none": default,
        "nfc": normalizers.NFC(),
        "nfkc": normalizers.NFKC(),
        "nfkc-lower": normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
        "lower": normalizers.Lowercase(),
    }[name]


def _bytelevel_pretokenizer(preset: str, split_digits: bool) -> Any:
    from tokenizers import Regex, pre_tokenizers

    steps = [pre_tokenizers.Digits(individual_digits=True)] if split_digits else []
    if preset in ("gpt2", "r50k"):
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        _, regex = resolve_pattern(preset)
        steps += [pre_tokenizers.Split(Regex(regex), behavior="isolated"),
                  pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    pt = steps[0] if len(steps) == 1 else pre_tokenizers.Sequence(steps)
    # Guard against the str-vs-Regex pitfall: a working split cuts this sentence into words.
    if len(pt.pre_tokenize_str("split me please")) < 3:
        raise LabError(f"pre-tokenizer preset {preset!r} does not split words")
    return pt


def _bpe_trainer(vocab_size: int, config: TrainConfig, specials: Sequence[str], **overrides: Any) -> Any:
    """tokenizers' BpeTrainer with the config's settings; byte-level by default (all 256 byte
    symbols in the initial alphabet, so unseen bytes still encode). `overrides` win."""
    from tokenizers import pre_tokenizers, trainers

    args: dict[str, Any] = dict(vocab_size=vocab_size, min_frequency=config.min_frequency, show_progress=False,
                                special_tokens=list(specials),
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    if config.max_token_length:
        args["max_token_length"] = config.max_token_length
    args.update(overrides)
    return trainers.BpeTrainer(**args)


def _train_bytelevel_bpe(prep: _Prepared, vocab: int, config: TrainConfig, preset: str, **kw: Any) -> Any:
    from tokenizers import Tokenizer, decoders, models

    tok = Tokenizer(models.BPE())
    norm = _normalizer(config.normalization)
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = _bytelevel_pretokenizer(preset, config.split_digits)
    tok.decoder = decoders.ByteLevel()
    _train_native(tok.train, [str(p) for p in prep.train_paths], _bpe_trainer(vocab, config, config.specials(), **kw),
                  prep=prep)
    return tok


def _truncate_bpe(tj: dict, vocab_size: int) -> dict:
    """A trained BPE tokenizer.json cut to its first `vocab_size` ids (merges are a prefix)."""
    model = tj["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < vocab_size}
    merges = []
    for m in model["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a + b in vocab and a in vocab and b in vocab:
            merges.append([a, b])
        elif a + b not in vocab:
            break
    model["vocab"], model["merges"] = vocab, merges
    tj["added_tokens"] = [t for t in tj.get("added_tokens", []) if t["id"] < vocab_size]
    return tj


def _truncations(full: dict, sizes: Sequence[int], reserved: int = 0) -> list[tuple[int, dict]]:
    """(size, tokenizer.json) for each size of a sweep: the largest as trained, the others cut
    from a copy (ids below size - reserved)."""
    top = max(sizes)
    return [(v, full if v == top else _truncate_bpe(json.loads(json.dumps(full)), v - reserved))
            for v in sorted(sizes)]


def _add_byte_fallback(tj: dict, kind: str) -> dict:
    """Append the 256 <0xNN> tokens and switch the model to byte fallback (lossless on any text)."""
    model = tj["model"]
    if kind == "bpe":
        n = len(model["vocab"])
        for i, t in enumerate(BYTE_TOKENS):
            model["vocab"].setdefault(t, n + i)
    else:
        low = min((s for _, s in model["vocab"]), default=0.0) - 10.0
        have = {p for p, _ in model["vocab"]}
        model["vocab"] += [[t, low] for t in BYTE_TOKENS if t not in have]
    model["byte_fallback"] = True
    tj["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    return tj


def _metaspace_parts(config: TrainConfig) -> tuple[Any, Any]:
    """Llama-style ▁ handling: the normalizer always prepends one ▁ (the decoder strips exactly
    that one), so leading spaces survive a round trip; words split at ▁."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    steps = [pre_tokenizers.Split(Regex(METASPACE_WORDS), behavior="isolated")]
    if config.split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    pt = steps[0] if len(steps) == 1 else pre_tokenizers.Sequence(steps)
    norm = [n for n in (_normalizer(config.normalization),) if n is not None]
    norm += [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]
    return normalizers.Sequence(norm), pt


def _tok_from_json(tj: dict) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(tj, ensure_ascii=False))


def _tj(tok: Any) -> dict:
    return json.loads(tok.to_str())


# ---------------------------------------------------------------------------------------
# Trainers, one per algorithm: each returns {vocab_size: (tokenizer.json dict, extra files, checks)}
# ---------------------------------------------------------------------------------------

# (tokenizer.json as a dict, or the trained Tokenizer itself when nothing needs editing; extra
# files; checks) per vocab size.
TrainOut = dict[int, tuple[Any, dict[str, bytes], dict[str, Any]]]


def _train_bpe(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    tok = _train_bytelevel_bpe(prep, max(sizes), config, config.preset())
    if len(sizes) == 1:
        return {sizes[0]: (tok, {}, {})}
    return {v: (tj, {}, {}) for v, tj in _truncations(_tj(tok), sizes)}


def _train_char_bpe(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    max_chars = config.max_token_length or 3
    cfg = config if config.normalization != "none" else replace(config, normalization="nfkc")
    # KL3M pass max_chars + 1 to tokenizers' trainer (its length counts the internal string).
    tok = _train_bytelevel_bpe(prep, max(sizes), replace(cfg, max_token_length=max_chars + 1),
                               config.preset(), min_frequency=min(config.min_frequency, 1))
    return {v: (tj, {}, {"max_chars": max_chars}) for v, tj in _truncations(_tj(tok), sizes)}


def _train_bpe_metaspace(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """Characters beyond half the merge budget fall back to bytes instead of crowding out merges:
    the alphabet depends on the vocabulary size, so a sweep trains each size directly (a prefix of
    the largest would keep the largest's alphabet)."""
    from tokenizers import Tokenizer, models

    counts = Counter(prep.char_counts)
    counts["\u2581"] += counts.pop(" ", 0) + prep.summary.train_records  # spaces + the prepended ▁
    out: TrainOut = {}
    for v in sizes:
        tok = Tokenizer(models.BPE(byte_fallback=True))
        tok.normalizer, tok.pre_tokenizer = _metaspace_parts(config)
        alphabet = _top_chars(counts, (v - 256 - len(config.specials())) // 2)
        _train_native(tok.train, [str(p) for p in prep.train_paths],
                      _bpe_trainer(v - 256, config, config.specials(), initial_alphabet=alphabet,
                                   limit_alphabet=len(alphabet)), prep=prep)
        out[v] = (_add_byte_fallback(_tj(tok), "bpe"), {}, {})
    return out


def _train_unigram(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    from tokenizers import Tokenizer, models, trainers

    out = {}
    specials = config.specials()
    for v in sizes:
        tok = Tokenizer(models.Unigram())
        tok.normalizer, tok.pre_tokenizer = _metaspace_parts(config)
        need = len(prep.char_counts) + 1 + len(specials) + 256
        if v < need:
            raise UsageError(f"vocab size {v} is below the alphabet of this corpus: unigram needs at least "
                             f"{need} ({len(prep.char_counts) + 1} characters + {len(specials)} specials + 256 bytes)")
        trainer = trainers.UnigramTrainer(vocab_size=v - 256, special_tokens=list(specials),
                                          unk_token=specials[0] if specials else None, show_progress=False,
                                          max_piece_length=config.max_token_length or 16)
        _train_native(tok.train, [str(p) for p in prep.train_paths], trainer, prep=prep)
        tj = _tj(tok)
        # tokenizers' EM sums in parallel, so scores can differ in the last bit between runs.
        # Equal scores are then ordered by piece, so ids do not depend on the trainer's tie order.
        n_sp = len(specials)
        pieces = [[p, round(sc, 9)] for p, sc in tj["model"]["vocab"]]
        _fix_required_chars(pieces, n_sp)
        tj["model"]["vocab"] = pieces[:n_sp] + sorted(pieces[n_sp:], key=lambda ps: (-ps[1], ps[0]))
        out[v] = (_add_byte_fallback(tj, "unigram"), {}, {})
    return out


def _fix_required_chars(pieces: list[list], first: int) -> None:
    """tokenizers' UnigramTrainer gives the required characters it did not learn synthetic scores
    min_score + k * 0.0001 (k = 0, 1, ...) in hash-set order, which Rust randomises per process, so
    which character gets which score, and so its id, changes from run to run. The
    characters on that grid keep their multiset of scores, handed out in code-point order: the same
    corpus then always yields the same ids. They may sit among learned pieces of equal score, so
    they are found by their scores, not their position."""
    body = pieces[first:]
    if len(body) < 2:
        return
    low = min(sc for _, sc in body)
    on_grid: dict[int, list[int]] = {}
    for i, (piece, sc) in enumerate(body, start=first):
        k = round((sc - low) / 1e-4)
        if len(piece) == 1 and k >= 0 and abs(sc - (low + k * 1e-4)) < 2e-9:
            on_grid.setdefault(k, []).append(i)
    run: list[int] = []
    k = 0
    while k in on_grid:  # the synthetic scores are consecutive grid points from the minimum
        run += on_grid[k]
        k += 1
    if len(run) < 2:
        return
    scores = sorted((pieces[i][1] for i in run), reverse=True)
    chars = sorted(pieces[i][0] for i in run)
    for i, c, sc in zip(sorted(run), chars, scores):
        pieces[i] = [c, sc]


def _continuation_table(chars: Iterable[str]) -> dict[str, str]:
    """Private-use stand-ins for word-internal characters: BMP characters shift into plane 15,
    the rest take plane-16 code points in code-point order. (Text that already holds plane-15/16
    private-use characters would be ambiguous; such text is vanishingly rare.)"""
    table, astral = {}, 0
    for ch in sorted(chars):
        o = ord(ch)
        if o < 0xFFFE:
            table[ch] = chr(_CONT_BMP + o)
        else:
            table[ch] = chr(0x100000 + astral)
            astral += 1
    return table


def _train_wordpiece(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """WordPiece as tokenizers' own trainer builds it (BPE with a ## prefix), made deterministic.

    tokenizers' WordPieceTrainer assigns ids to ##-tokens in hash-map order, so its output changes
    from run to run (tokenizers#1794). Here continuation characters become private-use characters,
    so plain (deterministic) BPE learns the same kind of vocabulary; ## is restored afterwards.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    norm = _normalizer(config.normalization, normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False))
    word_tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    if norm is not None:
        word_tok.normalizer = norm
    word_tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = _count_words(prep.train_paths, word_tok, bert_default=config.normalization == "none",
                          engine=prep.engine)
    plain = list(counts)
    joined = "\n".join(plain)
    table = _continuation_table(set(joined) - {"\n"})
    trans = {ord(k): v for k, v in table.items()}
    # Mark every character, then restore each word's first: one C-level translate for all words.
    marked = [w[0] + m[1:] for w, m in zip(plain, joined.translate(trans).split("\n"))]
    words = dict(zip(plain, marked))
    unmap = {v: k for k, v in table.items()}
    by_count: dict[int, list[str]] = {}
    for w, m in words.items():
        by_count.setdefault(counts[w], []).append(m)
    char_counts: Counter[str] = Counter()
    for n, group in by_count.items():  # weighted character counts, one C-level count per frequency
        for c, k in Counter("".join(group)).items():
            char_counts[c] += k * n
    words_file = str(_write_words(prep.workdir / "words.txt", words, counts))
    # The word tables are on disk now; free them before tokenizers builds its own (peak memory).
    del counts, plain, joined, marked, words, by_count
    gc.collect()
    out = {}
    specials = config.specials()
    for v in sizes:
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        alphabet = _top_chars(char_counts, (v - len(specials)) // 2)
        trainer = trainers.BpeTrainer(vocab_size=v - len(specials), min_frequency=config.min_frequency,
                                      show_progress=False, initial_alphabet=alphabet,
                                      limit_alphabet=len(alphabet))
        _train_native(bpe.train, [words_file], trainer, prep=prep)
        learned = sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])
        vocab = {s: i for i, s in enumerate(specials)}
        for s, _ in learned:
            plain = "".join(unmap.get(c, c) for c in s)
            key = ("##" + plain) if s[0] in unmap else plain
            vocab.setdefault(key, len(vocab))
        tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]" if "[UNK]" in vocab else specials[0],
                                         max_input_chars_per_word=100))
        if norm is not None:
            tok.normalizer = norm
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        tok.add_special_tokens([AddedToken(s, special=True) for s in specials])
        out[v] = (_tj(tok), {}, {})
    return out


class _BertSplitter:
    """BertNormalizer(clean_text, handle_chinese_chars; no lowercase/accents) + BertPreTokenizer as
    one str.translate and a split: control characters deleted, whitespace -> " ", punctuation and
    CJK ideographs -> " c ". Characters are classified by the tested regexes in patterns.py the
    first time they are seen, so the table stays as small as the corpus alphabet."""

    def __init__(self) -> None:
        import regex

        from tokenizers_lab.patterns import BERT_CONTROL, BERT_WORDS

        self._control, self._words = regex.compile(BERT_CONTROL), regex.compile(BERT_WORDS)
        self._table: dict[int, str | None] = {}

    def _learn(self, chars: Iterable[str]) -> None:
        for c in chars:
            if self._control.fullmatch(c):
                self._table[ord(c)] = None
            elif not self._words.fullmatch(c):
                self._table[ord(c)] = " "  # whitespace: no word matches it
            elif self._words.match(c + "a").end() == 1 or self._words.match("a" + c).end() == 1:
                self._table[ord(c)] = f" {c} "  # isolated: punctuation or CJK
            else:
                self._table[ord(c)] = c

    def words(self, text: str) -> list[str]:
        new = {c for c in set(text) if ord(c) not in self._table}
        if new:
            self._learn(sorted(new))
        return [w for w in text.translate(self._table).split(" ") if w]


class _WordCounter:
    """Words of text chunks after a tokenizer's normalizer and pre-tokenizer, counted (a picklable
    callable: engine workers run it). With the default BERT normalizer the split is `_BertSplitter`
    (identical words, tested against tokenizers' components)."""

    def __init__(self, tok: Any, bert_default: bool) -> None:
        self.tok = None if bert_default else tok
        self.bert = _BertSplitter() if bert_default else None
        self.chunk_chars = (1 << 22) if bert_default else (1 << 13)  # tokenizers' components: 8 KB

    def __call__(self, chunks: Sequence[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for chunk in chunks:
            if self.bert is not None:
                counts.update(self.bert.words(chunk))
                continue
            if self.tok.normalizer is not None:
                chunk = self.tok.normalizer.normalize_str(chunk)
            counts.update(w for w, _ in self.tok.pre_tokenizer.pre_tokenize_str(chunk))
        return counts


TASK_CHARS = 4_000_000  # text per word-counting task


def _text_chunks(paths: Sequence[Path], size: int, task_chars: int = TASK_CHARS) -> Iterator[list[str]]:
    """Text files as chunks of about `size` characters ending at a line end, grouped into lists
    of about `task_chars` (one engine task each)."""
    group: list[str] = []
    n = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            while True:
                chunk = f.read(size)
                if not chunk:
                    break
                chunk += f.readline()
                group.append(chunk)
                n += len(chunk)
                if n >= task_chars:
                    yield group
                    group, n = [], 0
    if group:
        yield group


def _count_on(engine: Engine, counter: Any, paths: Sequence[Path], size: int) -> Counter[str]:
    """Chunks of the files counted by `counter` on the engine's workers, summed here in order
    (Counter sums are exact: any grouping gives the same counts)."""
    total: Counter[str] = Counter()
    shared = engine.share(counter)
    for part in engine.imap(_call, _text_chunks(paths, size), shared):
        total.update(part)
    return total


def _call(fn: Any, arg: Any) -> Any:
    """fn(arg): a task shipping a callable object to a worker."""
    return fn(arg)


def _count_words(paths: Sequence[Path], tok: Any, bert_default: bool,
                 engine: Engine | None = None) -> Counter[str]:
    """Words of text files after the tokenizer's normalizer and pre-tokenizer, counted."""
    counter = _WordCounter(tok, bert_default)
    return _count_on(engine or LocalEngine(), counter, paths, counter.chunk_chars)


def _write_words(path: Path, words: dict[str, str], counts: Counter[str]) -> Path:
    """Weighted words as a file for a WhitespaceSplit trainer: tokenizers reads files faster, and
    in parallel, than a Python iterator."""
    with open(path, "w", encoding="utf-8") as f:
        for batch in _repeat_words(words, counts):
            f.write("\n".join(batch))
            f.write("\n")
    return path


def _repeat_words(words: dict[str, str], counts: Counter[str]) -> Iterator[list[str]]:
    """Feed (word, count) pairs to a WhitespaceSplit trainer without materialising the corpus."""
    batch: list[str] = []
    for w in sorted(words):
        left = counts[w]
        m = words[w] + " "
        while left > 0:  # at most 1000 copies per line
            batch.append(m * min(left, 1000))
            left -= 1000
        if len(batch) >= 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def _train_spm(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    import sentencepiece as spm

    from tokenizers_lab.spm_convert import spm_to_hf

    model_type = {"spm-bpe": "bpe", "spm-unigram": "unigram", "spm-char": "char"}[config.algorithm]
    norm = {"none": "identity", "nfc": "nfkc", "nfkc": "nfkc", "nfkc-lower": "nfkc_cf", "lower": "nmt_nfkc_cf"}
    specials = config.specials()
    out = {}
    for v in sizes:
        buf = io.BytesIO()
        kwargs = dict(
            input=[str(p) for p in prep.train_paths], model_writer=buf, model_type=model_type, vocab_size=v,
            character_coverage=config.character_coverage, byte_fallback=True, num_threads=config.threads or os.cpu_count() or 1,
            minloglevel=2, input_sentence_size=0, shuffle_input_sentence=False,
            normalization_rule_name=norm[config.normalization], remove_extra_whitespaces=False,
            split_digits=config.split_digits, max_sentence_length=max(1 << 16, prep.longest + 1),
            max_sentencepiece_length=config.max_token_length or 16, allow_whitespace_only_pieces=True,
            unk_piece=specials[0] if specials else "<unk>", bos_piece=specials[1] if len(specials) > 1 else "<s>",
            eos_piece=specials[2] if len(specials) > 2 else "</s>",
            user_defined_symbols=list(specials[3:]), hard_vocab_limit=model_type != "char",
        )
        if model_type == "char":
            kwargs.pop("max_sentencepiece_length")
        try:
            _train_native(functools.partial(spm.SentencePieceTrainer.train, **kwargs), prep=prep)
        except RuntimeError as e:
            msg = str(e).splitlines()[0]
            need = re.search(r"(\d+) vs (\d+)", msg)
            if need and "required_chars" in msg:
                raise UsageError(f"vocab size {v} is below the alphabet of this corpus: {config.algorithm} needs "
                                 f"at least {need.group(2)} pieces at --character-coverage "
                                 f"{config.character_coverage}") from None
            if "Vocabulary size" in msg or "vocab_size" in msg:
                raise UsageError(f"vocab size {v} does not fit this corpus for {config.algorithm}: "
                                 f"{msg.split(']')[-1].strip()}") from None
            raise LabError(f"sentencepiece failed: {msg}") from None
        model = _stable_spm(buf.getvalue())
        tok = spm_to_hf(model)
        sp = spm.SentencePieceProcessor(model_proto=model)
        agree = sum(sp.encode(t) == tok.encode(t, add_special_tokens=False).ids for t in prep.heldout)
        checks = {"hf_agreement": agree / len(prep.heldout) if prep.heldout else None}
        out[v] = (tok, {"tokenizer.model": model}, checks)
    return out


def _stable_spm(model: bytes) -> bytes:
    """Drop the temporary input path sentencepiece records, so same input -> same bytes."""
    from tokenizers_lab.tokenizer import load_spm_proto

    proto = load_spm_proto(model)
    del proto.trainer_spec.input[:]
    proto.trainer_spec.input.append("train.txt")
    return proto.SerializeToString(deterministic=True)


def _top_chars(counts: Counter[str], k: int) -> list[str]:
    """The k most frequent characters, ties broken by code point (tokenizers' limit_alphabet breaks
    ties in hash-map order, which makes its output vary from run to run)."""
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max(1, k)]]


def _train_superbpe(prep: _Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """SuperBPE (Liu et al. 2025): stage 1 = BPE with whitespace-aware pre-tokens up to transition t;
    stage 2 = keep merging over stage-1 tokens with whitespace no longer a boundary.

    Stock `tokenizers` cannot resume training from merges, so stage 2 maps every stage-1 token to
    one code point and runs stock BpeTrainer over those symbol strings; its merges are mapped back
    to byte-level strings and appended. The first t merges equal stage 1's by construction (checked).
    """
    import regex
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    stage2 = PATTERNS["superbpe-stage2"]
    split2 = regex.compile(f"({stage2})")
    out = {}
    for v in sizes:
        t = int(config.superbpe_transition * v) if config.superbpe_transition <= 1 else int(config.superbpe_transition)
        t = max(min(t, v), 256 + len(config.specials()) + 1)
        # Stage-2 pre-token counting does not depend on stage 1: it runs while tokenizers trains
        # stage 1 (which releases the GIL and leaves a core idle in its serial merge loop).
        pending = Background(_count_stage2, prep.train_paths, split2, config.superbpe_colon_rule,
                             _normalizer(config.normalization), prep.engine)
        s1 = _tj(_train_bytelevel_bpe(prep, t, config, config.preset()))
        counts = pending.result(watch=(prep.scan,))
        vocab1: dict[str, int] = s1["model"]["vocab"]
        merges1 = [m if isinstance(m, list) else m.split(" ", 1) for m in s1["model"]["merges"]]
        id_to_str = {i: s for s, i in vocab1.items()}
        words = _stage1_symbols(sorted(counts), vocab1, merges1, set(config.specials()), counts,
                                config.min_frequency)
        if PRUNE_RARE_BOUNDARIES:
            words = _pair_fragments(words)
        symbols = set("".join(words.values())) - {" "}
        n_new = v - len(vocab1)
        extra_needed = max(0, n_new)
        s2 = Tokenizer(models.BPE())
        s2.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        vocab = dict(vocab1)
        merges = [list(m) for m in merges1]
        if extra_needed:
            margin = extra_needed + max(64, extra_needed // 10)  # room for strings that map back to one token
            trainer = trainers.BpeTrainer(vocab_size=len(symbols) + margin, min_frequency=config.min_frequency,
                                          show_progress=False,
                                          max_token_length=config.max_token_length or None)
            _train_native(s2.train, [str(_write_words(prep.workdir / "stage2.txt", words, counts))], trainer,
                          prep=prep)
            for m in _tj(s2)["model"]["merges"]:
                a, b = m.split(" ", 1) if isinstance(m, str) else m
                sa = "".join(id_to_str[ord(c) - _SYM] for c in a)
                sb = "".join(id_to_str[ord(c) - _SYM] for c in b)
                if sa + sb not in vocab:
                    if len(vocab) >= v:
                        break
                    vocab[sa + sb] = len(vocab)
                merges.append([sa, sb])
        tok = Tokenizer(models.BPE(vocab, [tuple(m) for m in merges]))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(stage2), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        if config.normalization != "none":
            tok.normalizer = _normalizer(config.normalization)
        from tokenizers import AddedToken

        tok.add_special_tokens([AddedToken(s, special=True) for s in config.specials()])
        tj = _tj(tok)
        final_merges = [m if isinstance(m, list) else m.split(" ", 1) for m in tj["model"]["merges"]]
        words_per_token = [(bytelevel_to_bytes(s) or b"").strip().count(b" ") + 1
                           for s in vocab if s not in vocab1]
        checks = {
            "transition": t,
            "stage1_merges": len(merges1),
            "stage1_merges_preserved": final_merges[:len(merges1)] == merges1,
            "stage2_merges": len(final_merges) - len(merges1),
            "max_words_per_token": max(words_per_token, default=1),
            "colon_rule": config.superbpe_colon_rule,
        }
        out[v] = (tj, {}, checks)
    return out


class _Stage2Counter:
    """Stage-2 pre-tokens of every training line (tokenizers' Split "isolated": matches and the
    gaps between them), counted (a picklable callable: engine workers run it)."""

    def __init__(self, split2: Any, colon_rule: bool, normalizer: Any = None) -> None:
        self.split2, self.colon_rule, self.normalizer = split2, colon_rule, normalizer

    def __call__(self, chunks: Sequence[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for chunk in chunks:
            lines = chunk.split("\n")  # as file iteration splits: text mode made every line end "\n"
            for line in [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else []):
                if self.normalizer is not None:
                    line = self.normalizer.normalize_str(line)
                parts = _colon_split(line) if self.colon_rule and ": " in line else (line,)
                for part in parts:
                    counts.update(p for p in self.split2.split(part) if p)
        return counts


def _count_stage2(paths: Sequence[Path], split2: Any, colon_rule: bool, normalizer: Any = None,
                  engine: Engine | None = None) -> Counter[str]:
    """Stage-2 pre-tokens of every training line, counted (on the engine's workers)."""
    return _count_on(engine or LocalEngine(), _Stage2Counter(split2, colon_rule, normalizer), paths, 1 << 16)


def _stage1_symbols(pieces: list[str], vocab1: dict[str, int], merges1: list[list[str]],
                    specials: set[str], counts: Counter[str], min_frequency: int) -> dict[str, str]:
    """Each stage-2 pre-token as a string of stage-1 symbols (one code point per stage-1 id).

    Encoding uses tiktoken over the stage-1 ranks (id order = merge order, equal ids to tokenizers'
    BPE; checked in tests) on all cores, with tokenizers' own BPE for the rare very long pieces
    where tiktoken's merge loop is quadratic.
    """
    import numpy as np
    import tiktoken
    from tokenizers import Tokenizer, models, pre_tokenizers

    ranks = {bytelevel_to_bytes(s): i for s, i in vocab1.items() if s not in specials}
    enc = tiktoken.Encoding(name="stage1", pat_str=r"(?s:.+)", mergeable_ranks=ranks, special_tokens={})
    hf = Tokenizer(models.BPE(vocab1, [tuple(m) for m in merges1]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)

    def encode(chunk: list[str]) -> list[list[int]]:
        return [enc.encode_ordinary(p) if len(p) < 2048 else hf.encode(p, add_special_tokens=False).ids
                for p in chunk]

    step = max(1, (len(pieces) + THREADS - 1) // THREADS)
    with ThreadPoolExecutor(THREADS) as ex:
        parts = list(ex.map(encode, [pieces[i:i + step] for i in range(0, len(pieces), step)]))
    ids = [x for part in parts for x in part]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32, count=int(lengths.sum()))
    sym = flat + np.uint32(_SYM)
    if PRUNE_RARE_BOUNDARIES and min_frequency >= 2 and len(flat) > 1:
        # A stage-1 bigram seen fewer than min_frequency times in the corpus can never be inside a
        # stage-2 merge (any pair spanning it is at most that frequent), so words are cut there with
        # a space: WhitespaceSplit drops the boundary and tokenizers indexes far fewer pairs.
        weights = np.fromiter((counts[p] for p in pieces), dtype=np.int64, count=len(pieces))
        word = np.repeat(np.arange(len(pieces)), lengths)
        inside = np.flatnonzero(word[:-1] == word[1:])
        keys = (flat[inside].astype(np.uint64) << np.uint64(32)) | flat[inside + 1].astype(np.uint64)
        _, inverse = np.unique(keys, return_inverse=True)
        totals = np.bincount(inverse, weights=weights[word[inside]])
        cuts = inside[totals[inverse] < min_frequency] + 1
        sym = np.insert(sym, cuts, np.uint32(0x20))
        starts = np.concatenate([[0], np.cumsum(lengths)])
        starts = starts + np.searchsorted(cuts, starts, side="left")
        bounds = starts.tolist()
    else:
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    text = sym.astype("<u4").tobytes().decode("utf-32-le")
    return {p: text[bounds[i]:bounds[i + 1]] for i, p in enumerate(pieces)}


def _pair_fragments(words: dict[str, str]) -> dict[str, str]:
    """Drop the one-symbol fragments of stage-2 words: they hold no pair, so BPE's merges are the
    same without them (pair counts unchanged; symbol ids keep their order), and tokenizers reads
    and indexes much less."""
    out = {}
    for piece, w in words.items():
        if " " in w:
            w = " ".join(f for f in w.split(" ") if len(f) > 1)
        elif len(w) < 2:
            continue
        if w:
            out[piece] = w
    return out


def _colon_split(piece: str) -> list[str]:
    """Cut a pre-token between ':' and a following space, so no token holds ': ' (SuperBPE rule)."""
    if ": " not in piece:
        return [piece]
    parts = piece.split(": ")
    return [parts[0] + ":"] + [" " + p + ":" for p in parts[1:-1]] + [" " + parts[-1]]


TRAINERS: dict[str, Callable[[_Prepared, TrainConfig, Sequence[int]], TrainOut]] = {
    "bpe": _train_bpe,
    "bpe-metaspace": _train_bpe_metaspace,
    "unigram": _train_unigram,
    "wordpiece": _train_wordpiece,
    "char-bpe": _train_char_bpe,
    "spm-bpe": _train_spm,
    "spm-unigram": _train_spm,
    "spm-char": _train_spm,
    "superbpe": _train_superbpe,
}


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

def _vocab_stats(view: HFView) -> dict[str, Any]:
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


def _evaluate(view: HFView, heldout: Sequence[str], parallel: ParallelCorpus | None, pivot: str) -> dict[str, Any]:
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
            counts[lang] = (sum(len(x) for x in view.encode_batch(lines)), sum(len(s.encode("utf-8")) for s in lines))
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


def _tiktoken_agreement(rank_file: bytes, pattern: str, view: HFView, heldout: Sequence[str]) -> float | None:
    import tiktoken

    ranks = {base64.b64decode(t): int(r) for t, r in (ln.split() for ln in rank_file.splitlines() if ln)}
    enc = tiktoken.Encoding(name="export", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    if not heldout:
        return None
    return sum(enc.encode_ordinary(t) == view.encode(t) for t in heldout) / len(heldout)


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

def run(config: TrainConfig, progress: Progress | None = None) -> TrainReport:
    """Train one tokenizer per vocabulary size and measure each on held-out and parallel text."""
    progress = progress or _no_progress
    validate(config)
    clock = Stopwatch()
    algo = ALGORITHMS[config.algorithm]
    timings: dict[str, float] = {}
    parallel = None
    if config.resolved_parallel():
        parallel = load_parallel(list(config.resolved_parallel()), errors=config.errors)
        if config.pivot not in parallel.lines:
            raise unknown_name("pivot language", config.pivot, parallel.lines)
    sizes = sorted(config.vocab_sizes)
    with tempfile.TemporaryDirectory(prefix="tokenlab-train-") as tmp, open_engine(config.execution) as eng:
        t0 = time.perf_counter()
        prep = _prepare(config, Path(tmp), progress)
        prep.engine = eng
        timings["read_seconds"] = time.perf_counter() - t0
        progress(f"training {config.algorithm}", None)
        t0 = time.perf_counter()
        try:
            trained = TRAINERS[config.algorithm](prep, config, sizes)
        except Exception:
            prep.finish()  # a corpus error (invalid UTF-8, empty) explains the failure better
            raise
        summary = prep.finish()
        timings["train_seconds"] = time.perf_counter() - t0
        ran_on = engine_info(eng)
    t0 = time.perf_counter()
    results, artifacts, notes = [], {}, []
    nulls = sum(c.stats.null_records for c in prep.corpora)
    if nulls:
        notes.append(f"{nulls} records whose text field is null were skipped")
    sweep = len(sizes) > 1
    for v in sizes:
        obj, files, checks = trained[v]
        tok = _tok_from_json(obj) if isinstance(obj, dict) else obj
        text = tok.to_str(pretty=True) + "\n"  # tokenizers' own (Rust) writer, as tok.save() does
        tj = obj if isinstance(obj, dict) else json.loads(text)
        prefix = f"v{v}/" if sweep else ""
        artifacts[prefix + "tokenizer.json"] = text.encode("utf-8")
        for name, data in files.items():
            artifacts[prefix + name] = data
        artifacts.update({prefix + n: d for n, d in hf_folder_files(config.specials()).items()})
        view = HFView(tok, f"{config.algorithm}-{v}", prefix + "tokenizer.json",
                      hashlib.sha256(text.encode("utf-8")).hexdigest(), tj)
        if view.vocab_size < v:
            if sweep:  # a folder v2000/ must not hold 1,017 tokens
                raise InputError(f"the corpus fills only {view.vocab_size} tokens, fewer than the sweep's {v}: "
                                 f"sweep sizes up to {view.vocab_size}, or give more text (a single "
                                 "--vocab-size trains what the corpus holds, with a note)")
            notes.append(f"vocab {v}: the corpus fills only {view.vocab_size} tokens (the trainer ran out of "
                         "pairs to merge); the tokenizer holds what was reached")
        progress(f"evaluating vocab {v}", None)
        ev = _evaluate(view, prep.heldout, parallel, config.pivot)
        extra = dict(checks)
        if config.export_tiktoken:
            pattern = export_pattern(config)
            rank_file = tiktoken_export(tj, config.specials())
            artifacts[prefix + "tokenizer.tiktoken"] = rank_file
            extra["tiktoken_pattern"] = pattern
            extra["tiktoken_agreement"] = _tiktoken_agreement(rank_file, pattern, view, prep.heldout)
        stats = _vocab_stats(view)
        results.append(SizeResult(
            vocab_size_requested=v, vocab_size=view.vocab_size, artifact=prefix + "tokenizer.json",
            sha256=view.fingerprint, n_merges=len(tj["model"].get("merges", []) or []),
            n_special=len(view.special_tokens), extra=extra, **stats, **ev))
    timings["evaluate_seconds"] = time.perf_counter() - t0
    inputs = [c.input_ref() for c in prep.corpora] + [c.input_ref("heldout") for c in prep.heldout_corpora]
    if parallel is not None:
        inputs.append(parallel.input_ref())
    corpus_sig = "+".join(f"{display_name(c.spec)}@{c.sha256[:7]}" for c in prep.corpora)
    sig = [("algo", config.algorithm), ("vocab", _vocab_field(sizes, results))]
    if algo.byte_level:
        sig.append(("pre", config.preset()))
    sig.append(("corpus", corpus_sig))
    import sentencepiece
    import tokenizers

    engine = f"{algo.engine} {tokenizers.__version__ if algo.engine == 'tokenizers' else sentencepiece.__version__}"
    return TrainReport(
        provenance=make_provenance("train", config, inputs, config.seed, sig),
        algorithm=config.algorithm, engine=engine, corpus=summary, results=tuple(results),
        definitions=DEFINITIONS, run=clock.info({"tokenizers": tokenizers.__version__,
                                                 "sentencepiece": sentencepiece.__version__}, ran_on),
        timings=timings, notes=tuple(notes), artifacts=artifacts,
    )


def _vocab_field(sizes: Sequence[int], results: Sequence[SizeResult]) -> str:
    """The signature's vocab field: the sizes asked for, each with the size reached where the
    corpus could not fill it (16000>6422)."""
    reached = {r.vocab_size_requested: r.vocab_size for r in results}
    return ",".join(f"{v}>{reached[v]}" if reached.get(v, v) < v else str(v) for v in sizes)


# Special-token roles transformers reads from tokenizer_config.json, by the tokens' usual names.
SPECIAL_ROLES = {"<|endoftext|>": ("bos", "eos", "unk"), "<s>": ("bos",), "</s>": ("eos",), "<unk>": ("unk",),
                 "<pad>": ("pad",), "[PAD]": ("pad",), "[UNK]": ("unk",), "[CLS]": ("cls",), "[SEP]": ("sep",),
                 "[MASK]": ("mask",), "<mask>": ("mask",), "<|pad|>": ("pad",), "<bos>": ("bos",),
                 "<eos>": ("eos",)}
HF_FOLDER_FILES = ("tokenizer_config.json", "special_tokens_map.json")


def hf_folder_files(specials: Sequence[str]) -> dict[str, bytes]:
    """tokenizer_config.json and special_tokens_map.json beside tokenizer.json, so that
    `AutoTokenizer.from_pretrained(folder)` knows its bos/eos/unk/pad tokens. Roles come from the
    specials' usual names; a model without its own pad token pads with eos (as GPT-2 and Llama
    fine-tuning recipes set it); other specials become additional_special_tokens."""
    roles: dict[str, str] = {}
    extra = []
    for tok in specials:
        names = SPECIAL_ROLES.get(tok, ())
        for role in names:
            roles.setdefault(f"{role}_token", tok)
        if not names:
            extra.append(tok)
    if "pad_token" not in roles and "eos_token" in roles:
        roles["pad_token"] = roles["eos_token"]
    smap: dict[str, Any] = dict(roles)
    if extra:
        smap["additional_special_tokens"] = extra
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
           "model_max_length": 1_000_000, **smap}

    def dump(obj: dict[str, Any]) -> bytes:
        return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    return {"tokenizer_config.json": dump(cfg), "special_tokens_map.json": dump(smap)}


def output_names(config: TrainConfig) -> list[str]:
    """Files `run` + the writer will create (checked for clashes before any work)."""
    names = ["train.json", "train.md"]
    sizes = sorted(config.vocab_sizes)
    prefixes = [f"v{v}/" for v in sizes] if len(sizes) > 1 else [""]
    for p in prefixes:
        names.append(p + "tokenizer.json")
        names += [p + n for n in HF_FOLDER_FILES]
        if ALGORITHMS.get(config.algorithm, ALGORITHMS["bpe"]).engine == "sentencepiece":
            names.append(p + "tokenizer.model")
        if config.export_tiktoken:
            names.append(p + "tokenizer.tiktoken")
    return names

