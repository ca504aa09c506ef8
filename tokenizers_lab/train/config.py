"""`train`'s configuration: the algorithm registry, TrainConfig, its validation (before any work) and
the names of the files a run writes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tokenizers_lab.corpus import CorpusOptions
from tokenizers_lab.engine import (
    EXECUTION,
    EngineSpec,
)
from tokenizers_lab.errors import UsageError, check_range, unknown_name
from tokenizers_lab.patterns import resolve_pattern
from tokenizers_lab.report import INPUT, OUTPUT


@dataclass(frozen=True)
class Algorithm:
    """One entry of the algorithm registry."""

    engine: str  # "tokenizers" or "sentencepiece"
    byte_level: bool
    description: str
    default_specials: tuple[str, ...]
    truncatable: bool  # a smaller vocabulary is a prefix of a larger one (sweeps train once)


ALGORITHMS: dict[str, Algorithm] = {
    "bpe": Algorithm(
        "tokenizers",
        True,
        "byte-level BPE with a GPT-2/cl100k-style regex pre-tokenizer",
        ("<|endoftext|>",),
        True,
    ),
    "bpe-metaspace": Algorithm(
        "tokenizers",
        False,
        "BPE over ▁-marked words with byte fallback (Llama-style)",
        ("<unk>", "<s>", "</s>"),
        False,
    ),  # its alphabet depends on the size
    "unigram": Algorithm(
        "tokenizers",
        False,
        "Unigram LM (tokenizers' UnigramTrainer), Metaspace, byte fallback",
        ("<unk>", "<s>", "</s>"),
        False,
    ),
    "wordpiece": Algorithm(
        "tokenizers",
        False,
        "WordPiece (BERT-style), trained deterministically",
        ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        False,
    ),
    "char-bpe": Algorithm(
        "tokenizers",
        True,
        "KL3M-style character-level byte BPE (tokens of at most 3 chars)",
        ("<|endoftext|>",),
        True,
    ),
    "spm-bpe": Algorithm("sentencepiece", False, "SentencePiece BPE", ("<unk>", "<s>", "</s>"), False),
    "spm-unigram": Algorithm(
        "sentencepiece", False, "SentencePiece Unigram", ("<unk>", "<s>", "</s>"), False
    ),
    "spm-char": Algorithm(
        "sentencepiece", False, "SentencePiece character model", ("<unk>", "<s>", "</s>"), False
    ),
    "superbpe": Algorithm(
        "tokenizers",
        True,
        "SuperBPE two-stage curriculum (superword tokens span spaces)",
        ("<|endoftext|>",),
        False,
    ),
}


NORMALIZATIONS = ("none", "nfc", "nfkc", "nfkc-lower", "lower")


EMBEDDED_DEFAULT = ("embedded:parallel", "embedded:code", "embedded:domain")


BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


@dataclass(frozen=True)
class TrainConfig(CorpusOptions):
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
    seed: int = 13
    threads: int = 0
    metric: str | None = dataclasses.field(default=None, metadata=OUTPUT)  # --metric: print this number
    # --engine/--address/--workers: where word counting runs (wordpiece, superbpe stage 2)
    execution: EngineSpec = dataclasses.field(default=EngineSpec(), metadata=EXECUTION)

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
        return (
            self.special_tokens
            if self.special_tokens is not None
            else ALGORITHMS[self.algorithm].default_specials
        )


def validate(config: TrainConfig) -> None:
    """Refuse bad options before any work is done."""
    config.execution.validate()
    config.check_corpus_options()
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
            raise UsageError(
                f"vocab size {v} is below the alphabet: {config.algorithm} needs at least {floor} "
                f"(256 byte symbols + {n_special} special tokens + 1)"
            )
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
        raise UsageError(
            f"--export tiktoken needs a byte-level BPE algorithm (bpe, char-bpe, superbpe), "
            f"not {config.algorithm}"
        )
    if config.heldout_every < 0 or config.heldout_every == 1:
        raise UsageError("--heldout-every must be 0 (hold nothing out) or at least 2")
    if config.pretokenizer:
        resolve_pattern(config.pretokenizer)


# Special-token roles transformers reads from tokenizer_config.json, by the tokens' usual names.
SPECIAL_ROLES = {
    "<|endoftext|>": ("bos", "eos", "unk"),
    "<s>": ("bos",),
    "</s>": ("eos",),
    "<unk>": ("unk",),
    "<pad>": ("pad",),
    "[PAD]": ("pad",),
    "[UNK]": ("unk",),
    "[CLS]": ("cls",),
    "[SEP]": ("sep",),
    "[MASK]": ("mask",),
    "<mask>": ("mask",),
    "<|pad|>": ("pad",),
    "<bos>": ("bos",),
    "<eos>": ("eos",),
}


HF_FOLDER_FILES = ("tokenizer_config.json", "special_tokens_map.json")


def output_names(config: TrainConfig) -> list[str]:
    """Files `run` + the writer will create (checked for clashes before any work)."""
    names = ["train.json", "train.md"]
    sizes = sorted(config.vocab_sizes)
    prefixes = [f"v{v}/" for v in sizes] if len(sizes) > 1 else [""]
    if len(sizes) > 1:
        names += ["train_sweep.svg", "train_sweep.png"]
    for p in prefixes:
        names.append(p + "tokenizer.json")
        names += [p + n for n in HF_FOLDER_FILES]
        if ALGORITHMS.get(config.algorithm, ALGORITHMS["bpe"]).engine == "sentencepiece":
            names.append(p + "tokenizer.model")
        if config.export_tiktoken:
            names.append(p + "tokenizer.tiktoken")
    return names
