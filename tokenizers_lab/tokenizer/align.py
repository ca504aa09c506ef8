"""Token-to-character alignment: byte spans to character spans, flattened ids per line."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


Spans = tuple["np.ndarray", "np.ndarray"]  # (starts, ends) in characters, one pair per token


def utf8_widths(text: str) -> np.ndarray:
    """The UTF-8 length of each character of text."""
    import numpy as np

    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)


def byte_spans_to_chars(
    text: str, starts: np.ndarray | None, ends: np.ndarray | None, widths: np.ndarray | None = None
) -> Spans | None:
    """Byte offsets into text's UTF-8 -> character offsets (a token holding part of a
    character's bytes spans that whole character). `widths`: utf8_widths(text), when known."""
    import numpy as np

    if starts is None or ends is None:
        return None
    widths = utf8_widths(text) if widths is None else widths
    if widths.size and widths.max() == 1:
        return starts, ends
    # the character holding each byte (one past the last character at the end): a lookup, not a
    # binary search per token
    char_of_byte = np.append(np.repeat(np.arange(widths.size, dtype=np.int64), widths), widths.size)
    starts_c = char_of_byte[np.clip(starts, 0, char_of_byte.size - 1)]
    ends_c = np.where(ends > 0, char_of_byte[np.clip(ends - 1, 0, char_of_byte.size - 1)] + 1, 0)
    return starts_c, ends_c


def line_starts(texts: Sequence[str]) -> np.ndarray:
    """Where each text starts in "\n".join(texts)."""
    import numpy as np

    return (
        np.concatenate([[0], np.cumsum([len(t) + 1 for t in texts])[:-1]]).astype(np.int64)
        if texts
        else np.zeros(0, np.int64)
    )


def flatten(lists: Sequence[Sequence[int]]) -> np.ndarray:
    """Token-id lists as one int64 array."""
    import numpy as np

    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=sum(map(len, lists)))


@dataclass
class Aligned:
    """A batch of lines encoded at once, laid end to end one separator character apart (the
    coordinates of "\n".join(lines)): every token's id and character span in that text, and
    which lines' tokens could be aligned with their text."""

    flat: np.ndarray
    counts: np.ndarray  # ids per line
    line_of_token: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    line_ok: np.ndarray
    text_lengths: list[int]

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
        widths = utf8_widths(joined)
        in_bytes = np.concatenate([[0], np.cumsum(widths)])  # byte offset of each character
        first_char = line_starts(texts)
        line_bytes = (
            in_bytes[first_char + np.fromiter(map(len, texts), np.int64, len(texts))] - in_bytes[first_char]
        )
        sums = np.bincount(line_of_token, weights=tok_len, minlength=len(counts)).astype(np.int64)
        shift = sums - line_bytes
        line_ok = (shift == 0) | (shift == 1)
        line_base = np.concatenate([[0], np.cumsum(line_bytes + 1)[:-1]]) if texts else np.zeros(0, np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if texts else np.zeros(0, np.int64)
        csum = np.cumsum(tok_len)
        before_line = (csum[first - 1] * (first > 0)) if flat.size else np.zeros(len(counts), np.int64)
        ends_b = csum - before_line[line_of_token] - shift[line_of_token]
        ends_b = np.maximum(ends_b, 0)
        starts_b = np.maximum(ends_b - tok_len, 0)
        ends_b = ends_b + line_base[line_of_token]
        starts_b = starts_b + line_base[line_of_token]
        starts_c, ends_c = byte_spans_to_chars(joined, starts_b, ends_b, widths) or (starts_b, ends_b)
        return cls(flat, counts, line_of_token, starts_c, ends_c, line_ok, [len(t) for t in texts])

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

        return cls(flat, counts, line_of_token, cat(st), cat(en), line_ok, [len(t) for t in texts])
