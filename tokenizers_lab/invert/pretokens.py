"""A sample's pre-tokens under a tokenizer's own normalizer and pre-tokenizer, counted: the words
BPE merges act on, as exact bytes (byte-level Ġ strings and SentencePiece ▁ pieces decoded)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable

from tokenizers_lab.errors import UsageError
from tokenizers_lab.patterns import METASPACE_WORDS
from tokenizers_lab.tokenizer import (
    HFView,
    SentencePieceView,
    TiktokenView,
    TokenizerView,
    bytelevel_to_bytes,
)


def unit(view: TokenizerView) -> str:
    """What the merge list starts from: 'byte' (byte-level BPE) or 'char' (SentencePiece-style
    BPE, whose base symbols are characters with byte fallback)."""
    if isinstance(view, TiktokenView) or (isinstance(view, HFView) and view.convention == "bytelevel"):
        return "byte"
    return "char"


def count(view: TokenizerView, texts: Iterable[str]) -> Counter[bytes]:
    """Pre-tokens of every text, counted."""
    if view.model_type != "bpe":
        raise UsageError(f"tokenizer {view.label} is a {view.model_type} model: invert needs BPE merges")
    out: Counter[bytes] = Counter()
    if isinstance(view, TiktokenView):
        import regex

        pat = regex.compile(view.pattern)
        for t in texts:
            t = unicodedata.normalize("NFC", t) if view.nfc else t
            out.update(m.encode("utf-8") for m in pat.findall(t))
        return out
    if isinstance(view, SentencePieceView):
        import regex

        pat = regex.compile(METASPACE_WORDS)
        prefix = "\u2581" if view.proto.normalizer_spec.add_dummy_prefix else ""
        for t in texts:
            out.update(p.replace("\u2581", " ").encode("utf-8") for p in pat.findall(prefix + t.replace(" ", "\u2581")))
        return out
    assert isinstance(view, HFView)
    tok = view.tok
    for t in texts:
        if tok.normalizer is not None:
            t = tok.normalizer.normalize_str(t)
        pieces = [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(t)] if tok.pre_tokenizer is not None else [t]
        if view.convention == "bytelevel":
            out.update(bytelevel_to_bytes(p) or p.encode("utf-8") for p in pieces)
        else:
            out.update(p.replace("\u2581", " ").encode("utf-8") for p in pieces)
    return out
