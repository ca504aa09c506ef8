"""`tokenlab encode`: how one tokenizer splits one text -- every token's id, its string in the
tokenizer's own convention, and the byte span of the text it covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenizers_lab.errors import InputError
from tokenizers_lab.report import Markdown

if TYPE_CHECKING:
    from tokenizers_lab.tokenizer import TokenizerView

MAX_TEXT_BYTES = 1 << 24  # 16 MiB: a quick look, not a corpus pass (`audit` streams corpora)


@dataclass(frozen=True)
class EncodeConfig:
    """What to encode with what."""

    tokenizer: str
    text: str
    pattern: str | None = None


@dataclass(frozen=True)
class Piece:
    """One token of the split: `start`/`end` are byte offsets into the text's UTF-8 (a token
    holding part of a character's bytes, in a byte-level model, covers exactly those bytes)."""

    index: int
    id: int
    token: str  # the vocabulary's own string (Ġ, ▁, ##, <0xNN>), or the special token's content
    start: int
    end: int
    text: str  # the covered text ('' for a token that covers none; partial characters as \\xNN)
    special: bool


@dataclass(frozen=True)
class EncodeReport(Markdown):
    """The split of one text."""

    tokenizer: dict[str, Any]
    text_bytes: int
    characters: int
    count: int
    tokens: tuple[Piece, ...]
    aligned: bool  # False: the tokenizer's normalizer changed the text so that spans are estimates


def read_text(text: str) -> str:
    """The text argument; `-` reads standard input (UTF-8)."""
    import sys

    if text != "-":
        return text
    data = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise InputError(
            f"standard input is over {MAX_TEXT_BYTES >> 20} MiB; use `tokenlab audit` for corpora"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"standard input is not UTF-8 (byte {e.start})") from None


def show_bytes(data: bytes) -> str:
    """Bytes as text, an incomplete UTF-8 sequence as \\xNN escapes."""
    return data.decode("utf-8", errors="backslashreplace")


def split(view: TokenizerView, text: str) -> tuple[list[int], list[tuple[int, int]], bool]:
    """(ids, byte span of each token, whether the spans are exact) of one text."""
    import numpy as np

    data = text.encode("utf-8")
    if not text:
        return [], [], True
    al = view.encode_aligned([text])
    ids = al.flat.tolist()
    ok = bool(al.line_ok[0]) if al.line_ok.size else True
    if al.byte_spans is not None:
        starts, ends = al.byte_spans[0], al.byte_spans[1]
    else:  # character spans -> bytes: each character's first byte, then the length
        where = np.zeros(len(text) + 1, np.int64)
        np.cumsum([len(c.encode("utf-8")) for c in text], out=where[1:])
        starts, ends = where[np.clip(al.starts, 0, len(text))], where[np.clip(al.ends, 0, len(text))]
    spans = [(int(min(s, len(data))), int(min(max(e, s), len(data)))) for s, e in zip(starts, ends)]
    return ids, spans, ok


def pieces(view: TokenizerView, text: str) -> tuple[tuple[Piece, ...], bool]:
    """Every token of text with its span and strings."""
    ids, spans, ok = split(view, text)
    data = text.encode("utf-8")
    specials = set(view.special_tokens.values())
    out = []
    for k, (i, (s, e)) in enumerate(zip(ids, spans)):
        token = view.id_to_token(i)
        out.append(
            Piece(k, i, token if token is not None else "", s, e, show_bytes(data[s:e]), i in specials)
        )
    return tuple(out), ok


def validate(config: EncodeConfig) -> None:
    """Nothing to check before loading: the tokenizer loader names its own errors."""


def run(config: EncodeConfig, progress: Any = None) -> EncodeReport:
    """Encode one text (no special tokens added) and lay every token over it."""
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(config.tokenizer, config.pattern)
    toks, ok = pieces(view, config.text)
    n_bytes = len(config.text.encode("utf-8"))
    return EncodeReport(view.describe(), n_bytes, len(config.text), len(toks), toks, ok)


def columns(tokens: Sequence[Piece]) -> str:
    """Plain tab-separated columns, one token a line (what a pipe gets)."""
    lines = ["index\tid\tstart\tend\ttoken\ttext"]
    for p in tokens:
        lines.append(f"{p.index}\t{p.id}\t{p.start}\t{p.end}\t{_cell(p.token)}\t{_cell(p.text)}")
    return "\n".join(lines) + "\n"


def _cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
