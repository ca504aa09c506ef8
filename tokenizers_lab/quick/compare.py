"""`tokenlab compare`: several tokenizers side by side on one text (their splits and counts) or
on a corpus (tokens, bytes and characters per token, tokens relative to the first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokenizers_lab.corpus import CorpusOptions
from tokenizers_lab.errors import UsageError
from tokenizers_lab.quick.encode import Piece, pieces
from tokenizers_lab.report import Markdown


@dataclass(frozen=True)
class CompareConfig(CorpusOptions):
    """Tokenizers (two or more) and a text, or a corpus."""

    tokenizers: tuple[str, ...] = ()
    text: str | None = None
    corpus: str | None = None
    pattern: str | None = None
    encoder: str = "auto"


@dataclass(frozen=True)
class Side:
    """One tokenizer's result: its split of the text, or its counts over the corpus."""

    tokenizer: dict[str, Any]
    tokens: int
    bytes_per_token: float | None
    chars_per_token: float | None
    relative: float | None  # tokens / the first tokenizer's tokens
    pieces: tuple[Piece, ...] = ()  # the text's split (text mode only)


@dataclass(frozen=True)
class CompareReport(Markdown):
    """The tokenizers side by side."""

    input: str  # "text" or the corpus's name
    bytes: int
    characters: int
    lines: int
    sides: tuple[Side, ...]
    corpus_sha256: str | None = None
    notes: tuple[str, ...] = ()


def validate(config: CompareConfig) -> None:
    """Usage errors before any tokenizer loads."""
    if len(config.tokenizers) < 2:
        raise UsageError("compare needs two or more tokenizers")
    if (config.text is None) == (config.corpus is None):
        raise UsageError("compare needs a text or --corpus PATH (one of them)")
    config.check_corpus_options()


def run(config: CompareConfig, progress: Any = None) -> CompareReport:
    """Encode the text (or stream the corpus) with every tokenizer."""
    from tokenizers_lab.tokenizer import load_tokenizer

    validate(config)
    views = [load_tokenizer(spec, config.pattern) for spec in config.tokenizers]
    if config.text is not None:
        return _on_text(views, config.text)
    return _on_corpus(views, config, progress)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _on_text(views: list[Any], text: str) -> CompareReport:
    n_bytes, n_chars = len(text.encode("utf-8")), len(text)
    splits = [pieces(v, text)[0] for v in views]
    first = len(splits[0])
    sides = tuple(
        Side(v.describe(), len(p), _ratio(n_bytes, len(p)), _ratio(n_chars, len(p)), _ratio(len(p), first), p)
        for v, p in zip(views, splits)
    )
    return CompareReport("text", n_bytes, n_chars, text.count("\n") + 1 if text else 0, sides)


def _on_corpus(views: list[Any], config: CompareConfig, progress: Any) -> CompareReport:
    from tokenizers_lab.tokenizer.fast import sample_head, use_fastest

    corpus = config.open_corpus(config.corpus or "")
    counts = [0] * len(views)
    n_bytes = n_chars = n_lines = 0
    notes: list[str] = []
    for batch in corpus.iter_batches():
        if not n_lines:  # the fastest exact encoder, checked against the library on the first lines
            notes += [n for n in (use_fastest(v, sample_head(batch), config.encoder) for v in views) if n]
        for k, v in enumerate(views):
            counts[k] += int(v.encode_flat(batch)[1].sum())
        n_lines += len(batch)
        n_chars += sum(map(len, batch))
        n_bytes += sum(len(t.encode("utf-8")) for t in batch)
        if progress is not None:
            progress(f"encoding {corpus.name}: {n_bytes >> 20} MiB", None)
    sides = tuple(
        Side(v.describe(), c, _ratio(n_bytes, c), _ratio(n_chars, c), _ratio(c, counts[0]))
        for v, c in zip(views, counts)
    )
    return CompareReport(corpus.name, n_bytes, n_chars, n_lines, sides, corpus.sha256, tuple(notes))
