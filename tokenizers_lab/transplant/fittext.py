"""The fit's texts: read and checked (script, overlap with the evaluation text), both
tokenizations aligned for ALM, ordered so the most frequent new tokens come first."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError

MIN_LINE_BYTES = 32  # shorter lines ("References", "1.") may repeat in any two texts


@dataclass
class FitText:
    """One training text in both tokenizations, with its ALM alignment."""

    new_ids: list[int]
    old_ids: list[int]
    new_chunk: np.ndarray | None  # chunk index of every new token (None: the two did not align)
    old_chunk: np.ndarray | None
    n_chunks: int
    teacher: np.ndarray | None = None  # teacher's summed log-prob per chunk, once computed
    teacher_h: Any = None  # teacher's hidden state at the end of every chunk, once computed


def script_of(ch: str) -> str | None:
    """A letter's script as the first word of its Unicode name (LATIN, CYRILLIC, CJK, ...)."""
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    first = name.split(" ")[0]
    return "HAN" if first == "CJK" else first


def scripts(texts: Sequence[str], limit: int = 200_000) -> Counter[str]:
    """Letters per script over the first `limit` characters."""
    c: Counter[str] = Counter()
    n = 0
    for t in texts:
        for ch in t:
            s = script_of(ch)
            if s:
                c[s] += 1
        n += len(t)
        if n >= limit:
            break
    return c


def line_hashes(lines: Sequence[str]) -> dict[int, int]:
    """hash of each stripped line of MIN_LINE_BYTES+ bytes -> its line number (1-based)."""
    out: dict[int, int] = {}
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if len(s.encode("utf-8")) >= MIN_LINE_BYTES:
            out.setdefault(hash(s), no)
    return out


def check_overlap(fit_lines: Sequence[str], eval_lines: Sequence[str], fit_name: str, eval_name: str) -> None:
    """Refuse a fit corpus that shares a line with the evaluation text: bits per byte must be
    measured on text the fit never saw."""
    ev = line_hashes(eval_lines)
    for no, line in enumerate(fit_lines, 1):
        s = line.strip()
        if len(s.encode("utf-8")) >= MIN_LINE_BYTES and hash(s) in ev:
            raise InputError(
                f"the fit corpus {fit_name} line {no} is also line {ev[hash(s)]} of the evaluation "
                f"text {eval_name}: fit on text the evaluation never reads"
            )


def chunk_ends(chunk: np.ndarray) -> np.ndarray:
    """Index of the last token of every aligned chunk (chunks are numbered in order, none empty)."""
    return np.flatnonzero(np.r_[chunk[1:] != chunk[:-1], True])


def byte_ends(ids: Sequence[int], keys: Sequence[bytes | None], n_bytes: int) -> np.ndarray | None:
    """Byte offset where each token ends, from the canonical keys; None when the keys do not spell
    the text's length (a normalizer changed it, a special token inside). A leading space the
    tokenizer added (SentencePiece's dummy prefix) is not text."""
    lens = np.fromiter((len(k) if (k := keys[i]) is not None else -(10**9) for i in ids), np.int64, len(ids))
    ends = np.cumsum(lens)
    first = keys[ids[0]] if len(ids) else None
    if len(ends) and int(ends[-1]) == n_bytes + 1 and first is not None and first[:1] == b" ":
        ends = np.maximum(ends - 1, 0)
    if not len(ends) or int(ends[-1]) != n_bytes or (lens < 0).any():
        return None
    return ends


def align(new_ends: np.ndarray, old_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """ALM's shortest aligned chunks: boundaries where both tokenizations end a token; the chunk of
    every token on each side, and the number of chunks."""
    common = np.intersect1d(new_ends, old_ends)
    return np.searchsorted(common, new_ends), np.searchsorted(common, old_ends), len(common)


def prepare_texts(
    texts: Sequence[str],
    new_encode: Callable[[list[str]], list[list[int]]],
    old_encode: Callable[[list[str]], list[list[int]]],
    new_keys: Sequence[bytes | None],
    old_keys: Sequence[bytes | None],
    max_tokens: int,
) -> list[FitText]:
    """Both tokenizations of each text (cut to max_tokens on the new side, the old side to the
    same bytes) with their alignment."""
    out = []
    new_all, old_all = new_encode(list(texts)), old_encode(list(texts))
    for text, n_ids, o_ids in zip(texts, new_all, old_all):
        if not n_ids or not o_ids:
            continue
        nb = len(text.encode("utf-8"))
        ne, oe = byte_ends(n_ids, new_keys, nb), byte_ends(o_ids, old_keys, nb)
        if len(n_ids) > max_tokens:
            n_ids = n_ids[:max_tokens]
            if ne is not None and oe is not None:
                cut = int(ne[max_tokens - 1])
                keep = int(np.searchsorted(oe, cut, side="right"))
                if keep and int(oe[keep - 1]) == cut:
                    o_ids, oe, ne = o_ids[:keep], oe[:keep], ne[:max_tokens]
                else:
                    ne = oe = None
            else:
                ne = oe = None
            o_ids = o_ids[: max(max_tokens * 2, 1)] if ne is None else o_ids
        if len(o_ids) > 2 * max_tokens:  # the old side may be longer; bound its cost too
            continue
        if ne is not None and oe is not None:
            nc, oc, k = align(ne, oe)
            out.append(FitText(list(n_ids), list(o_ids), nc, oc, k))
        else:
            out.append(FitText(list(n_ids), list(o_ids), None, None, 0))
    return out


def order_texts(texts: list[FitText], trainable: np.ndarray) -> tuple[list[int], int]:
    """Texts ordered so that each next one brings the most frequent estimated token not yet seen
    (ties: more estimated tokens, then position); texts with none come never. Also the number of
    distinct estimated tokens the texts hold."""
    freq: Counter[int] = Counter()
    holds: list[set[int]] = []
    for t in texts:
        s = {i for i in t.new_ids if trainable[i]}
        holds.append(s)
        freq.update(i for i in t.new_ids if trainable[i])
    seen: set[int] = set()
    by_token: dict[int, list[int]] = {}
    for j, s in enumerate(holds):
        for i in s:
            by_token.setdefault(i, []).append(j)
    order: list[int] = []
    used = [False] * len(texts)
    for tok, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])):
        if tok in seen:
            continue
        best = max(
            (j for j in by_token[tok] if not used[j]),
            key=lambda j: (len(holds[j] - seen), -j),
            default=None,
        )
        if best is None:
            continue
        used[best] = True
        order.append(best)
        seen |= holds[best]
    rest = sorted(
        (j for j in range(len(texts)) if not used[j] and holds[j]), key=lambda j: (-len(holds[j]), j)
    )
    return order + rest, len(freq)


def step_batches(order: list[int], texts: list[FitText], batch_tokens: int) -> list[list[int]]:
    """Consecutive texts of the order, up to batch_tokens new tokens each."""
    batches: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for j in order:
        n = len(texts[j].new_ids) + 1
        if cur and size + n > batch_tokens:
            batches.append(cur)
            cur, size = [], 0
        cur.append(j)
        size += n
    if cur:
        batches.append(cur)
    return batches
