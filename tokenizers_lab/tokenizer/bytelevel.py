"""Byte tables: GPT-2's byte-level alphabet, SentencePiece's metaspace and byte-fallback pieces,
merges recovered from ranks, and where a token splits into two vocabulary entries."""

from __future__ import annotations

import re
from typing import Any

BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table used by byte-level BPE."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


BYTE_ENCODER = bytes_to_unicode()


BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


# str.translate table: byte-level characters -> chr(byte); every other Latin-1 character -> a
# character above U+00FF, so that encoding the result as Latin-1 fails exactly on non-byte-level input.
_BYTELEVEL_TABLE = {**dict.fromkeys(range(256), 256), **{ord(c): b for c, b in BYTE_DECODER.items()}}


def bytelevel_to_bytes(s: str) -> bytes | None:
    """Bytes of a byte-level token string (Ġ = space), or None if it is not byte-level."""
    try:
        return s.translate(_BYTELEVEL_TABLE).encode("latin-1")
    except UnicodeEncodeError:
        return None


# str.translate table: chr(byte) -> its byte-level character (a list: indexed by code point)
_TO_BYTELEVEL = [BYTE_ENCODER[b] for b in range(256)]


def bytes_to_bytelevel(b: bytes) -> str:
    """Byte-level string (GPT-2 alphabet) of raw bytes."""
    return b.decode("latin-1").translate(_TO_BYTELEVEL)


def metaspace_to_bytes(s: str) -> bytes:
    """Bytes of a SentencePiece-style piece: ▁ is a space, <0xNN> is one byte."""
    m = BYTE_FALLBACK.match(s)
    if m:
        return bytes([int(m.group(1), 16)])
    return s.replace("\u2581", " ").encode("utf-8")


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover the ordered merge list of a rank-based BPE (tiktoken-style).

    For every multi-byte token, run BPE on its bytes using only ranks below its own; the two
    parts that remain are the merge that created it. Merges come out in rank order.
    """
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best_i, best_r = -1, rank
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < best_r:
                    best_i, best_r = i, r
            if best_i < 0:
                break
            parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        if len(parts) == 2 and parts[0] in ranks and parts[1] in ranks:
            merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


class Splitter:
    """Where a token splits into two entries of a vocabulary (str or bytes keys).

    Only split points k where both k and len(token) - k are lengths some entry has are tried, so a
    token costs a test per distinct entry length instead of one slice per position (quadratic in
    its length: one 20 MB entry kept an audit busy for minutes). Exact: a half of any other
    length cannot be an entry."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab
        self.length_set = {len(t) for t in vocab}
        self.lengths = sorted(self.length_set)

    def points(self, token: Any) -> list[int]:
        """Every k with token[:k] and token[k:] both in the vocabulary, ascending."""
        n = len(token)
        vocab, lengths = self.vocab, self.length_set
        out = []
        for k in self.lengths:
            if k >= n:
                break
            if n - k in lengths and token[:k] in vocab and token[k:] in vocab:
                out.append(k)
        return out
