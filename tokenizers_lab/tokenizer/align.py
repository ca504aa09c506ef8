"""Token-to-character alignment: byte spans to character spans, flattened ids per line."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


Spans = tuple["np.ndarray", "np.ndarray"]  # (starts, ends) in characters, one pair per token


def _char_starts(data: bytes, chars: int) -> np.ndarray:
    """Each character's first byte in UTF-8 `data` (its lead bytes), then len(data)."""
    import numpy as np

    b = np.frombuffer(data, dtype=np.uint8)
    where = np.empty(chars + 1, np.int64)
    where[:chars] = np.flatnonzero((b & 0xC0) != 0x80)
    where[chars] = b.size
    return where


def _lookup_from_starts(where: np.ndarray) -> np.ndarray:
    """L with L[b + 1] - 1 the character holding byte b (L[nbytes + 1] - 1: one past the last
    character), from _char_starts: a prefix count of lead bytes, no per-character expansion."""
    import numpy as np

    nbytes, chars = int(where[-1]), where.size - 1
    lead = np.zeros(nbytes, np.int64)
    lead[where[:-1]] = 1
    lookup = np.empty(nbytes + 2, np.int64)
    lookup[0] = 0
    np.cumsum(lead, out=lookup[1 : nbytes + 1])
    lookup[nbytes + 1] = chars + 1
    return lookup


def _to_chars(lookup: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Spans:
    """Byte spans -> character spans through _lookup_from_starts's L (offsets outside the text
    clamped)."""
    import numpy as np

    top = lookup.size - 2
    starts_c = lookup[np.minimum(np.maximum(starts, 0), top) + 1] - 1
    ends_c = lookup[np.minimum(np.maximum(ends - 1, 0), top) + 1]
    ends_c[ends <= 0] = 0
    return starts_c, ends_c


def byte_spans_to_chars(text: str, starts: np.ndarray | None, ends: np.ndarray | None) -> Spans | None:
    """Byte offsets into text's UTF-8 -> character offsets (a token holding part of a
    character's bytes spans that whole character)."""
    if starts is None or ends is None:
        return None
    data = text.encode("utf-8")
    if len(data) == len(text):
        return starts, ends
    return _to_chars(_lookup_from_starts(_char_starts(data, len(text))), starts, ends)


def line_starts(texts: Sequence[str]) -> np.ndarray:
    """Where each text starts in "\n".join(texts)."""
    import numpy as np

    out = np.zeros(len(texts), np.int64)
    if len(texts) > 1:
        np.cumsum(np.fromiter(map(len, texts[:-1]), np.int64, len(texts) - 1) + 1, out=out[1:])
    return out


def flatten(lists: Sequence[Sequence[int]]) -> np.ndarray:
    """Token-id lists as one int64 array."""
    import numpy as np

    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=sum(map(len, lists)))


class Aligned:
    """A batch of lines encoded at once, laid end to end one separator character apart (the
    coordinates of "\n".join(lines)): every token's id and character span in that text, and
    which lines' tokens could be aligned with their text.

    Built from token byte lengths, it keeps the spans in UTF-8 bytes (`byte_spans`: starts, ends,
    and each character's first byte then the text's length in bytes, or None for ASCII text) and
    works out character spans only when they are first read: word-level measures compare words
    (converted to bytes, far fewer than tokens) with the byte spans directly."""

    def __init__(
        self,
        flat: np.ndarray,
        counts: np.ndarray,
        line_of_token: np.ndarray,
        starts: np.ndarray | None,
        ends: np.ndarray | None,
        line_ok: np.ndarray,
        text_lengths: list[int],
        byte_spans: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
        joined: str = "",
        data: bytes | None = None,
    ) -> None:
        self.flat, self.counts, self.line_of_token = flat, counts, line_of_token
        self.line_ok, self.text_lengths = line_ok, text_lengths
        self._starts, self._ends = starts, ends
        self.byte_spans = byte_spans
        self.joined = joined  # "\n".join(lines): the coordinates' text
        self._data = data

    @property
    def data(self) -> bytes:
        """The joined text's UTF-8."""
        if self._data is None:
            self._data = self.joined.encode("utf-8")
        return self._data

    def _chars(self) -> Spans:
        if self._starts is None or self._ends is None:
            assert self.byte_spans is not None
            starts_b, ends_b, where = self.byte_spans
            if where is None:  # ASCII: bytes are characters
                self._starts, self._ends = starts_b.copy(), ends_b.copy()
            else:
                self._starts, self._ends = _to_chars(_lookup_from_starts(where), starts_b, ends_b)
        return self._starts, self._ends

    @property
    def starts(self) -> np.ndarray:
        """Each token's first character."""
        return self._chars()[0]

    @property
    def ends(self) -> np.ndarray:
        """One past each token's last character."""
        return self._chars()[1]

    def set_line_spans(self, line: int, starts: np.ndarray, ends: np.ndarray) -> None:
        """Line `line`'s character spans from elsewhere (a library's offsets), the line then
        aligned; the byte spans are dropped, so every reader uses the characters."""
        sel = self.line_of_token == line
        self.starts[sel] = starts
        self.ends[sel] = ends
        self.line_ok[line] = True
        self.byte_spans = None

    @property
    def ids(self) -> list[list[int]]:
        """Each line's ids."""
        import numpy as np

        return (
            [a.tolist() for a in np.split(self.flat, np.cumsum(self.counts)[:-1])] if self.counts.size else []
        )

    @classmethod
    def from_byte_lengths(
        cls, texts: Sequence[str], flat: np.ndarray, counts: np.ndarray, lengths: np.ndarray
    ) -> Aligned:
        """Spans from token byte lengths laid end to end (a leading dummy-prefix space absorbed);
        `flat` holds every line's ids in order, `counts` how many each line has."""
        import numpy as np

        line_of_token = np.repeat(np.arange(len(counts)), counts)
        tok_len = lengths[flat] if flat.size else np.zeros(0, dtype=np.int64)
        joined = "\n".join(texts)
        data = joined.encode("utf-8")
        ascii_only = len(data) == len(joined)
        where = None if ascii_only else _char_starts(data, len(joined))
        first_char = line_starts(texts)
        last_char = first_char + np.fromiter(map(len, texts), np.int64, len(texts))
        line_bytes = last_char - first_char if where is None else where[last_char] - where[first_char]
        # each line's token bytes laid end to end (a prefix sum over every token of the batch)
        csum = np.zeros(flat.size + 1, np.int64)
        np.cumsum(tok_len, out=csum[1:])
        first = np.zeros(len(counts), np.int64)
        np.cumsum(counts[:-1], out=first[1:])
        before_line = csum[first]
        shift = csum[first + counts] - before_line - line_bytes  # 1: a dummy-prefix space
        line_ok = (shift == 0) | (shift == 1)
        line_base = np.zeros(len(counts), np.int64)
        np.cumsum(line_bytes[:-1] + 1, out=line_base[1:])
        ends_b = csum[1:] - (before_line + shift)[line_of_token]
        np.maximum(ends_b, 0, out=ends_b)
        starts_b = np.maximum(ends_b - tok_len, 0)
        base = line_base[line_of_token]
        ends_b += base
        starts_b += base
        return cls(
            flat,
            counts,
            line_of_token,
            None,
            None,
            line_ok,
            (last_char - first_char).tolist(),
            (starts_b, ends_b, where),
            joined,
            data,
        )

    @classmethod
    def from_char_spans(
        cls, texts: Sequence[str], ids: list[list[int]], spans: Sequence[tuple[np.ndarray, np.ndarray] | None]
    ) -> Aligned:
        """From per-line character spans (None: that line cannot be aligned)."""
        import numpy as np

        flat = flatten(ids)
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        line_of_token = np.repeat(np.arange(len(ids)), counts)
        base = line_starts(texts)
        st, en = [], []
        for b, n, sp in zip(base, counts, spans):
            if sp is None:
                st.append(np.zeros(n, np.int64))
                en.append(np.zeros(n, np.int64))
            else:
                st.append(sp[0] + b)
                en.append(sp[1] + b)
        line_ok = np.array([sp is not None for sp in spans], dtype=bool)

        def cat(xs: list) -> np.ndarray:
            return np.concatenate(xs) if xs else np.zeros(0, np.int64)

        return cls(
            flat,
            counts,
            line_of_token,
            cat(st),
            cat(en),
            line_ok,
            [len(t) for t in texts],
            None,
            "\n".join(texts),
        )
