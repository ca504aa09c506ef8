"""How a tokenizer chunks digits (Singh & Strouse 2024): single-digit, left-to-right k-digit
chunks (GPT-4's \\p{N}{1,3}), right-to-left chunks, or irregular (learned BPE merges)."""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tokenizers_lab.tokenizer import TokenizerView

MAX_DIGITS = 20
SAMPLES_PER_LENGTH = 20
CONSISTENT = 0.95


def digit_chunks(view: TokenizerView, ids: Sequence[int]) -> tuple[int, ...]:
    """Digits per token, for the tokens that hold digits."""
    out = []
    for i in ids:
        b = view.token_bytes(i) or b""
        n = sum(48 <= c <= 57 for c in b)
        if n:
            out.append(n)
    return tuple(out)


def l2r(n: int, k: int) -> tuple[int, ...]:
    return (k,) * (n // k) + ((n % k,) if n % k else ())


def r2l(n: int, k: int) -> tuple[int, ...]:
    return ((n % k,) if n % k else ()) + (k,) * (n // k)


@dataclass(frozen=True)
class NumberProfile:
    """Digit handling of one tokenizer."""

    scheme: str  # single-digit | L2R-k | R2L-k | irregular
    consistency: float  # share of integers chunked exactly as the scheme says
    best_fit: str
    with_space_scheme: str  # the same integers after a space (" 12345"), as inside text
    with_space_consistency: float
    single_token_numbers: dict[str, int]  # of the 10 / 90 / 900 strings of 1 / 2 / 3 digits
    comma_groups_aligned: float  # "1,234,567": share where every comma group is exactly one token
    decimal_examples: dict[str, str]
    year_single_token: float  # " 1900".." 2030" as one token (space included or not)
    examples: dict[str, str]


def _single_digits(n: int) -> tuple[int, ...]:
    return (1,) * n


def _schemes() -> list[tuple[str, Callable[[int], tuple[int, ...]]]]:
    out: list[tuple[str, Callable[[int], tuple[int, ...]]]] = [("single-digit", _single_digits)]
    for k in (2, 3, 4):
        out += [(f"L2R-{k}", functools.partial(l2r, k=k)), (f"R2L-{k}", functools.partial(r2l, k=k))]
    return out


def _classify(samples: list[tuple[str, tuple[int, ...]]]) -> tuple[str, float, str]:
    scores = []
    for name, fn in _schemes():
        hit = sum(1 for s, chunks in samples if chunks == fn(len(s)))
        scores.append((hit / len(samples), name))
    scores.sort(key=lambda t: (-t[0], t[1]))
    best_share, best = scores[0]
    scheme = best if best_share >= CONSISTENT else "irregular"
    return scheme, best_share, f"{best} ({best_share:.0%})"


def _show(view: TokenizerView, ids: Sequence[int]) -> str:
    return "|".join((view.token_bytes(i) or b"?").decode("utf-8", errors="replace") for i in ids)


def profile(view: TokenizerView, seed: int) -> NumberProfile:
    """Probe integers of 1-20 digits (bare and after a space), short numbers, comma-grouped
    numbers, decimals and years."""
    rng = random.Random(seed)
    ints = [
        str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n))
        for n in range(1, MAX_DIGITS + 1)
        for _ in range(SAMPLES_PER_LENGTH)
    ]
    bare = view.encode_batch(ints)
    spaced = view.encode_batch([" " + s for s in ints])
    scheme, share, best = _classify([(s, digit_chunks(view, ids)) for s, ids in zip(ints, bare)])
    sp_scheme, sp_share, _ = _classify([(s, digit_chunks(view, ids)) for s, ids in zip(ints, spaced)])
    short = (
        [str(i) for i in range(10)] + [str(i) for i in range(10, 100)] + [str(i) for i in range(100, 1000)]
    )
    single = Counter(len(s) for s, ids in zip(short, view.encode_batch(short)) if len(ids) == 1)
    grouped = [f"{rng.randrange(10**6, 10**12):,}" for _ in range(50)]
    aligned = 0
    for s, ids in zip(grouped, view.encode_batch(grouped)):
        aligned += digit_chunks(view, ids) == tuple(len(g) for g in s.split(","))
    decimals = ["3.14159", "0.5", "2.718281828", "1234.5678", "-0.001"]
    years = [f" {y}" for y in range(1900, 2031)]
    year_ids = view.encode_batch(years)
    year_single = sum(1 for ids in year_ids if len(digit_chunks(view, ids)) == 1) / len(years)
    examples = {
        s: _show(view, ids)
        for s, ids in zip(
            ["7", "42", "1234", "1234567", "12345678901"],
            view.encode_batch(["7", "42", "1234", "1234567", "12345678901"]),
        )
    }
    examples[" 2024"] = _show(view, view.encode(" 2024"))
    examples["1,234,567"] = _show(view, view.encode("1,234,567"))
    return NumberProfile(
        scheme=scheme,
        consistency=share,
        best_fit=best,
        with_space_scheme=sp_scheme,
        with_space_consistency=sp_share,
        single_token_numbers={
            "1-digit": single.get(1, 0),
            "2-digit": single.get(2, 0),
            "3-digit": single.get(3, 0),
        },
        comma_groups_aligned=aligned / len(grouped),
        decimal_examples={s: _show(view, ids) for s, ids in zip(decimals, view.encode_batch(decimals))},
        year_single_token=year_single,
        examples=examples,
    )
