"""Robustness probes: round-trip fidelity over a whitespace/Unicode matrix, unreachable and
partial-UTF-8 tokens (Land & Bartolo 2024), StochasTok-style decomposability (Sims et al. 2025)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.tokenizer import Splitter, TokenizerView

# name -> text; each probe isolates one known lossy behaviour of some tokenizer family.
PROBES: dict[str, str] = {
    "plain": "The quick brown fox jumps over the lazy dog.",
    "double_space": "a  b   c",
    "leading_trailing": "  lead and trail  ",
    "tab": "col1\tcol2\t\tcol3",
    "newlines": "line one\n\nline two\n",
    "crlf": "first\r\nsecond\r\n",
    "nbsp": "100\u00a0km",
    "zwsp": "zero\u200bwidth",
    "ideographic_space": "東京\u3000大阪",
    "fullwidth": "ＡＢＣ１２３",
    "ligature": "\ufb01ne \ufb02ow",
    "combining": "cafe\u0301 nai\u0308ve",
    "precomposed": "café naïve",
    "emoji_zwj": "family: 👨\u200d👩\u200d👧\u200d👦 ok",
    "emoji_flag": "flags 🇹🇷🇯🇵",
    "rtl": "العربية والإنجليزية English",
    "bidi_marks": "abc\u200fאבג\u200edef",
    "homoglyph": "pаypal",  # Cyrillic а
    "turkish_i": "İstanbul ILIK ıslak",
    "accents_upper": "ÉCOLE Ñandú",
    "code_indent": "def f(x):\n    if x:\n        return x  # done\n",
    "control": "bell\x07 and\x0b vt",
    "replacement_char": "bad \ufffd byte",
    "numbers_punct": "$1,234.56 (approx.) -- 50% off!!!",
    "mixed_scripts": "Привет мир, 你好世界, नमस्ते दुनिया",
}


@dataclass(frozen=True)
class ProbeResult:
    """One probe under one tokenizer."""

    probe: str
    ok: bool
    tokens: int
    first_difference: int | None
    decoded: str | None  # shown only when it differs


@dataclass(frozen=True)
class VocabularyHealth:
    """Vocabulary-side robustness of one tokenizer."""

    tokens_checked: int
    unreachable: int
    unreachable_examples: tuple[str, ...]
    partial_utf8: int
    partial_utf8_share: float
    not_checked: int  # specials, partial-UTF-8, byte-fallback, continuation (##) and over-long tokens
    decomposable_share: float | None  # multi-byte tokens with >= 1 split into two vocabulary tokens
    mean_splits: float | None
    max_splits: int | None


def first_difference(a: str, b: str) -> int | None:
    """Index of the first differing character, None when equal."""
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def roundtrip(view: TokenizerView, probes: dict[str, str] | None = None) -> tuple[ProbeResult, ...]:
    """decode(encode(x)) == x for each probe."""
    probes = probes or PROBES
    names = list(probes)
    out = []
    for name, ids in zip(names, view.encode_batch([probes[n] for n in names])):
        text = probes[name]
        back = view.decode(ids)
        diff = first_difference(text, back)
        out.append(
            ProbeResult(
                probe=name,
                ok=diff is None,
                tokens=len(ids),
                first_difference=diff,
                decoded=None if diff is None else back,
            )
        )
    return tuple(out)


# Reachability encodes each token's own string; a longer token (no real vocabulary has one: the
# longest of the shared tokenizers is a few hundred bytes) is not checked, so a hostile multi-MB
# entry costs nothing (some encoders are quadratic in a piece's length).
MAX_CHECKED_TOKEN_BYTES = 4096


def vocabulary_health(view: TokenizerView) -> VocabularyHealth:
    """Unreachable tokens (their own string does not encode back to them), partial-UTF-8 tokens,
    and decomposability."""
    n = view.vocab_size
    strings: list[str] = []
    ids: list[int] = []
    partial = skipped = 0
    all_bytes: dict[bytes, int] = {}
    for i in range(n):
        b = view.token_bytes(i)
        if b is None or not b:
            skipped += 1
            continue
        all_bytes.setdefault(b, i)
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            partial += 1
            skipped += 1
            continue
        if view.is_continuation(i) or view.is_byte_fallback(i) or len(b) > MAX_CHECKED_TOKEN_BYTES:
            skipped += 1
            continue
        strings.append(s)
        ids.append(i)
    # In mid-text position: no dummy prefix space (SentencePiece, Metaspace) is added.
    encoded = view.encode_no_prefix_batch(strings)
    unreachable = [k for k, (i, e) in enumerate(zip(ids, encoded)) if e != [i]]
    splitter = Splitter(all_bytes)
    splits = [len(splitter.points(b)) for b in all_bytes if len(b) > 1]
    arr = np.asarray(splits)
    return VocabularyHealth(
        tokens_checked=len(strings),
        unreachable=len(unreachable),
        unreachable_examples=tuple(strings[k] for k in unreachable[:10]),
        partial_utf8=partial,
        partial_utf8_share=partial / n if n else 0.0,
        not_checked=skipped,
        decomposable_share=float((arr > 0).mean()) if arr.size else None,
        mean_splits=float(arr.mean()) if arr.size else None,
        max_splits=int(arr.max()) if arr.size else None,
    )


def offenders(view: TokenizerView, counts: dict[int, int], k: int = 10) -> tuple[tuple[str, int], ...]:
    """The k tokens that most often swallow a word boundary, as (token text, count)."""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return tuple(((view.token_bytes(i) or b"").decode("utf-8", errors="replace"), c) for i, c in top)


def roundtrip_rate(results: Sequence[ProbeResult]) -> float:
    """Share of probes that round-trip exactly."""
    return sum(r.ok for r in results) / len(results) if results else 0.0
