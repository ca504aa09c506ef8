"""A sample's pre-tokens under a tokenizer's own normalizer and pre-tokenizer, counted: the words
BPE merges act on, as exact bytes (byte-level Ġ strings and SentencePiece ▁ pieces decoded)."""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import regex

from tokenizers_lab.errors import UsageError
from tokenizers_lab.native import silenced
from tokenizers_lab.patterns import METASPACE_WORDS, PATTERNS
from tokenizers_lab.tokenizer import (
    HFView,
    SentencePieceView,
    TiktokenView,
    TokenizerView,
    bytelevel_to_bytes,
)

CHECK_CHARS = 1 << 16  # characters of the first text split both ways before the regex path is trusted


def unit(view: TokenizerView) -> str:
    """What the merge list starts from: 'byte' (byte-level BPE) or 'char' (SentencePiece-style
    BPE, whose base symbols are characters with byte fallback)."""
    if isinstance(view, TiktokenView) or (isinstance(view, HFView) and view.convention == "bytelevel"):
        return "byte"
    return "char"


def _steps(node: dict | None) -> list[dict] | None:
    """A pre-tokenizer or normalizer config as a flat list of steps (None: no such component)."""
    if node is None:
        return []
    if node.get("type") == "Sequence":
        out: list[dict] = []
        for child in node.get("pretokenizers", node.get("normalizers", [])):
            sub = _steps(child)
            if sub is None:
                return None
            out += sub
        return out
    return [node]


def _byte_level_patterns(view: HFView) -> tuple[list[str], bool] | None:
    """The regexes of a byte-level tokenizer.json made only of Split(Regex, Isolated) steps and a
    ByteLevel step without prefix space (GPT-2's regex when it splits), after no normalizer or NFC;
    with whether NFC runs first. None: not of that shape."""
    if view.convention != "bytelevel":
        return None
    j = view._json
    norm, steps = _steps(j.get("normalizer")), _steps(j.get("pre_tokenizer"))
    if norm is None or steps is None or any(n.get("type") != "NFC" for n in norm):
        return None
    pats = []
    for st in steps:
        if (
            st.get("type") == "Split"
            and st.get("behavior") == "Isolated"
            and not st.get("invert")
            and "Regex" in st.get("pattern", {})
        ):
            pats.append(st["pattern"]["Regex"])
        elif st.get("type") == "ByteLevel" and not st.get("add_prefix_space"):
            if st.get("use_regex", True):
                pats.append(PATTERNS["r50k"])
        else:
            return None
    return pats, bool(norm)


def regex_splitter(view: HFView) -> Callable[[str], list[str]] | None:
    """The byte-level pre-tokenizer of a tokenizer.json (see _byte_level_patterns) as `regex`
    splits. Pieces are the same as `pre_tokenize_str`'s (tests and every run's first text check
    it) at a tenth of its cost. None: not of that shape."""
    shape = _byte_level_patterns(view)
    if shape is None:
        return None
    pats, nfc = shape
    try:
        compiled = [regex.compile(f"({p})") for p in pats]
    except regex.error:
        return None

    def split(text: str) -> list[str]:
        pieces = [unicodedata.normalize("NFC", text) if nfc else text]
        for pat in compiled:  # Isolated: every match is a piece, and so is every stretch between
            pieces = [x for p in pieces for x in pat.split(p) if x]
        return pieces

    return split


def gpt2_split(view: TokenizerView) -> bool:
    """Whether the view splits raw text with GPT-2's regex alone (no normalizer): what gigatoken's
    Rust pre-tokenizer counts."""
    if isinstance(view, TiktokenView):
        return view.pattern == PATTERNS["r50k"] and not view.nfc and not view.id_offset
    return isinstance(view, HFView) and _byte_level_patterns(view) == ([PATTERNS["r50k"]], False)


@functools.lru_cache(maxsize=1)
def _unassigned_table() -> np.ndarray:
    """Per code point: unassigned in this Python's Unicode tables (the oldest of the engines here),
    where regex engines built on other Unicode versions may class it differently."""
    return np.fromiter(
        (unicodedata.category(chr(cp)) == "Cn" for cp in range(sys.maxunicode + 1)),
        dtype=bool,
        count=sys.maxunicode + 1,
    )


def _has_unassigned(text: str) -> bool:
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return bool(_unassigned_table()[cps].any())


def count_gigatoken(view: TokenizerView, texts: Iterable[str]) -> Counter[bytes]:
    """Pre-tokens of every text under GPT-2's regex (`gpt2_split(view)` must hold), counted by
    gigatoken, several times faster than the regex module. A text holding a code point unassigned
    in this Python's Unicode tables, where regex engines of other Unicode versions part ways, is
    counted by the tokenizer's own pipeline instead."""
    from gigatoken.gigatoken_rs import pretokenized_counts

    out: Counter[bytes] = Counter()
    with silenced((1, 2)):  # it prints its thread count and timings from Rust
        for t in texts:
            if not _has_unassigned(t):
                out.update(dict(pretokenized_counts(t.encode("utf-8"))))
            elif isinstance(view, HFView):
                out.update(_hf_words(view, t))
            else:
                out.update(count(view, [t]))
    return out


def _hf_words(view: HFView, text: str) -> list[bytes]:
    """Pre-tokens of one text through the tokenizer.json pipeline (normalizer, pre-tokenizer), as
    exact bytes (byte-level strings decoded, ▁ back to a space)."""
    tok = view.tok
    if tok.normalizer is not None:
        text = tok.normalizer.normalize_str(text)
    pieces = (
        [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text)] if tok.pre_tokenizer is not None else [text]
    )
    if view.convention == "bytelevel":
        return [bytelevel_to_bytes(p) or p.encode("utf-8") for p in pieces]
    return [p.replace("\u2581", " ").encode("utf-8") for p in pieces]


def count(view: TokenizerView, texts: Iterable[str]) -> Counter[bytes]:
    """Pre-tokens of every text, counted."""
    if view.model_type != "bpe":
        raise UsageError(f"tokenizer {view.label} is a {view.model_type} model: invert needs BPE merges")
    out: Counter[bytes] = Counter()
    if isinstance(view, TiktokenView):
        pat = regex.compile(view.pattern)
        for t in texts:
            t = unicodedata.normalize("NFC", t) if view.nfc else t
            out.update(m.encode("utf-8") for m in pat.findall(t))
        return out
    if isinstance(view, SentencePieceView):
        pat = regex.compile(METASPACE_WORDS)
        prefix = "\u2581" if view.proto.normalizer_spec.add_dummy_prefix else ""
        for t in texts:
            out.update(
                p.replace("\u2581", " ").encode("utf-8")
                for p in pat.findall(prefix + t.replace(" ", "\u2581"))
            )
        return out
    assert isinstance(view, HFView)
    texts = list(texts)
    splitter = regex_splitter(view)
    head = texts[0][:CHECK_CHARS] if texts else ""
    if splitter is not None and [p.encode("utf-8") for p in splitter(head)] != _hf_words(view, head):
        splitter = None  # the regex engines disagree on this text: the tokenizer's own pipeline
    for t in texts:
        if splitter is not None:
            out.update(p.encode("utf-8") for p in splitter(t))
        else:
            out.update(_hf_words(view, t))
    return out
