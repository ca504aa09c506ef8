"""Counting the samples' pre-tokens and count events shard by shard: here, in forked worker processes
(which die with the parent), or on the engine's workers."""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator, Sequence

from tokenizers_lab.background import fork_map, forked_state
from tokenizers_lab.engine import Engine, cpu_count
from tokenizers_lab.invert import chains, lp, pretokens
from tokenizers_lab.invert.replay import Plan, Replay, replay
from tokenizers_lab.progress import Progress
from tokenizers_lab.tokenizer import TokenizerView


def _chunks(lines: list[str], size: int = 1 << 20) -> list[str]:
    """Lines re-joined into ~1 MB texts (newlines kept: pre-tokenizers see them as in the file)."""
    out, buf, n = [], [], 0
    for ln in lines:
        buf.append(ln)
        n += len(ln)
        if n >= size:
            out.append("\n".join(buf) + "\n")
            buf, n = [], 0
    if buf:
        out.append("\n".join(buf) + "\n")
    return out


def _count_one(lines: list[str]) -> Counter[bytes]:
    return pretokens.count(forked_state(), _chunks(lines))


def count_shards(view: TokenizerView, shards: list[list[str]], workers: int) -> Iterator[Counter[bytes]]:
    """Every shard's pre-tokens, counted, in order. GPT-2 splitting is counted by gigatoken here
    (its own threads), once the first shard gave the same counts both ways; else in `workers`
    forked processes (0: one per available CPU) when there are several shards, else here."""
    if shards and pretokens.gpt2_split(view) and importlib.util.find_spec("gigatoken") is not None:
        first = _chunks(shards[0])
        fast = pretokens.count_gigatoken(view, first)
        if fast == pretokens.count(view, first):
            yield fast
            for lines in shards[1:]:
                yield pretokens.count_gigatoken(view, _chunks(lines))
            return
        view.notes.append(
            f"{view.label}: pre-tokens counted by the regex module (gigatoken's counts differed on the "
            "first shard)"
        )
    n = min(workers or cpu_count(), len(shards))
    yield from fork_map(_count_one, shards, n, view)


def _shard_store(
    job: tuple[TokenizerView, Plan, list[tuple[bytes, bytes]]], lines: list[str]
) -> tuple[int, lp.Store]:
    """A task: one shard's pre-tokens counted, and its count events by the chain method."""
    view, plan, merges = job
    words = pretokens.count(view, _chunks(lines))
    return len(words), chains.store([words], plan, merges)


def _shard_replay(
    job: tuple[TokenizerView, Plan, list[tuple[bytes, bytes]]], lines: list[str]
) -> tuple[int, Replay]:
    """A task: one shard's pre-tokens counted, and the merge list replayed on them."""
    view, plan, merges = job
    words = pretokens.count(view, _chunks(lines))
    return len(words), replay(words, merges, plan=plan)


def events_on_engine(
    engine: Engine,
    view: TokenizerView,
    plan: Plan,
    merges: Sequence[tuple[bytes, bytes]],
    shards: list[tuple[int, list[str]]],
    fast: bool,
    distinct: list[int],
    progress: Progress,
) -> lp.Store:
    """Every shard counted and replayed where it is sent; the events gathered here, in shard order
    (the same Store as the local path: tests compare them)."""
    job = engine.share((view, plan, merges))
    parts = []
    for k, ((ci, _), (n_words, part)) in enumerate(
        zip(shards, engine.imap(_shard_store if fast else _shard_replay, (lines for _, lines in shards), job))
    ):
        progress(f"counted and replayed {k + 1}/{len(shards)} shards on {engine.name}", k / len(shards))
        distinct[ci] += n_words
        parts.append(part)
    return chains.merge_stores(parts, plan) if fast else lp.store(parts, plan.constrained)
