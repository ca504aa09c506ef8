"""Replay a BPE merge list on a sample (Hayase et al. 2024's counts), keeping every pair's count at
every step: the initial pair counts plus, per merge, the new counts of the pairs it changed.

Each distinct pre-token is stored once with its multiplicity; a merge touches only the words that
hold its pair (an inverted index), so the cost grows with the number of changes, not with
(pairs x merges). Symbols are ids: the 256 bytes, then merge t creates id 256 + t, so ids mean
the same thing in every category's replay.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

Pair = tuple[int, int]


CHAR_BASE = 1 << 30  # ids of multi-byte characters (char unit), far above 256 + merges


@dataclass(frozen=True)
class Plan:
    """What a merge list does to symbols, computed once and shared by every replay of it."""

    pairs: list[Pair | None]  # per merge: its pair of symbol ids (None: a part is not yet a symbol)
    result: list[int]  # per merge: the id of the symbol it makes
    redundant: list[bool]  # per merge: its result already existed (SentencePiece lists every split)
    atoms: dict[bytes, int] | None  # base symbols of the char unit (None: the 256 bytes)

    @property
    def constrained(self) -> list[Pair | None]:
        """The merges the LP constrains: None for a missing part or a redundant split."""
        return [None if r else p for p, r in zip(self.pairs, self.redundant)]


def merge_plan(merges: Sequence[tuple[bytes, bytes]], atoms: dict[bytes, int] | None = None) -> Plan:
    """A new symbol of merge t has id 256 + t; a redundant merge makes the existing symbol, so
    whichever split the trainer really used, the replay ends up with the same symbols. `atoms`
    are the base symbols (default: the 256 bytes)."""
    ids: dict[bytes, int] = dict(atoms) if atoms is not None else {bytes([b]): b for b in range(256)}
    pairs: list[Pair | None] = []
    result: list[int] = []
    redundant: list[bool] = []
    for t, (a, b) in enumerate(merges):
        ia, ib = ids.get(a), ids.get(b)
        pairs.append((ia, ib) if ia is not None and ib is not None else None)
        redundant.append(a + b in ids)
        result.append(ids.setdefault(a + b, 256 + t))
    return Plan(pairs=pairs, result=result, redundant=redundant, atoms=atoms)


def plan_for(merges: Sequence[tuple[bytes, bytes]], unit: str = "byte") -> Plan:
    """The plan of a merge list for unit 'byte' (byte-level BPE) or 'char' (SentencePiece-style
    BPE, base symbols numbered by atoms_of over the merges, so they agree across samples)."""
    return merge_plan(merges, atoms_of((), merges) if unit == "char" else None)


def merge_ids(
    merges: Sequence[tuple[bytes, bytes]], atoms: dict[bytes, int] | None = None
) -> list[Pair | None]:
    """The merges the LP constrains, as symbol-id pairs (see Plan.constrained)."""
    return merge_plan(merges, atoms).constrained


@dataclass
class Replay:
    """Counts of one sample under a merge list."""

    initial: dict[Pair, int]  # pair counts before any merge
    steps: list[list[tuple[Pair, int]]]  # per merge: (pair, count after the merge) of each changed pair
    merged_counts: list[int]  # per merge: the count of the merged pair when it was applied (0: absent)
    total_pairs: int  # d_i: pairs before any merge (Hayase et al.'s denominator)
    total_bytes: int

    def counts_at(self, t: int) -> dict[Pair, int]:
        """Pair counts before merge t (0-based): a convenience for tests and small samples."""
        counts = dict(self.initial)
        for step in self.steps[:t]:
            for p, c in step:
                if c:
                    counts[p] = c
                else:
                    counts.pop(p, None)
        return counts


def _pairs(word: list[int]) -> Iterable[Pair]:
    return pairwise(word)


def atoms_of(words: Iterable[bytes], merges: Sequence[tuple[bytes, bytes]]) -> dict[bytes, int]:
    """Base symbols for the char unit: every single byte, plus each multi-byte UTF-8 character
    seen in the words or the merges, numbered in code-point order (stable across categories)."""
    chars: set[str] = set()
    for w in words:
        chars.update(w.decode("utf-8", errors="ignore"))
    for a, b in merges:
        chars.update((a + b).decode("utf-8", errors="ignore"))
    atoms = {bytes([b]): b for b in range(256)}
    for c in sorted(chars):
        e = c.encode("utf-8")
        if len(e) > 1:
            atoms[e] = CHAR_BASE + ord(c)
    return atoms


def _split(word: bytes, atoms: dict[bytes, int] | None) -> list[int]:
    if atoms is None:
        return list(word)
    out = []
    for c in word.decode("utf-8", errors="surrogateescape"):
        e = c.encode("utf-8", errors="surrogateescape")
        out.extend([atoms[e]] if e in atoms else list(e))  # unknown characters: their bytes (fallback)
    return out


def replay(
    words: Mapping[bytes, int],
    merges: Sequence[tuple[bytes, bytes]],
    limit: int | None = None,
    unit: str = "byte",
    plan: Plan | None = None,
) -> Replay:
    """Apply the first `limit` merges, in order, to the weighted pre-tokens `words` (bytes -> count).
    unit 'byte' starts from bytes (byte-level BPE); 'char' from UTF-8 characters (SentencePiece BPE,
    ids from atoms_of over the merges, so they agree across categories). `plan` (plan_for of the
    same merges and unit) saves recomputing it for every sample."""
    merges = merges[:limit] if limit is not None else merges
    plan = plan if plan is not None and len(plan.pairs) == len(merges) else plan_for(merges, unit)
    pairs_of, result, atoms = plan.pairs, plan.result, plan.atoms
    table: list[list[int]] = []
    weight: list[int] = []
    counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, list[int]] = defaultdict(list)  # words that may hold the pair (a superset)
    total_bytes = 0
    for w, n in words.items():
        if n <= 0 or not w:
            continue
        k = len(table)
        sym = _split(w, atoms)
        table.append(sym)
        weight.append(n)
        total_bytes += len(w) * n
        for p in set(_pairs(sym)):
            where[p].append(k)
        for p in _pairs(sym):
            counts[p] += n
    initial = dict(counts)
    steps: list[list[tuple[Pair, int]]] = []
    merged_counts: list[int] = []
    for t, pair in enumerate(pairs_of):
        if pair is None or not counts.get(pair):
            steps.append([])
            merged_counts.append(0)
            continue
        merged_counts.append(counts[pair])
        new_id = result[t]
        a, b = pair
        before: dict[Pair, int] = {pair: counts[pair]}  # counts of the touched pairs before this merge
        counts[pair] = 0
        for k in set(where.pop(pair, ())):
            word, n = table[k], weight[k]
            # Merge left to right, non-overlapping (tokenizers' Word::merge), and change only the
            # pairs around each occurrence: (prev, a) -> (prev, new) and (b, next) -> (new, next).
            i = 0
            while True:
                try:
                    i = word.index(a, i)
                except ValueError:
                    break
                if i + 1 < len(word) and word[i + 1] == b:
                    if i > 0:
                        p1, p2 = (word[i - 1], a), (word[i - 1], new_id)
                        if p1 != pair:
                            if p1 not in before:
                                before[p1] = counts[p1]
                            counts[p1] -= n
                        if p2 not in before:  # holds the new id: never the merged pair
                            before[p2] = counts[p2]
                        counts[p2] += n
                        where[p2].append(k)
                    if i + 2 < len(word):
                        p1, p2 = (b, word[i + 2]), (new_id, word[i + 2])
                        if p1 != pair:
                            if p1 not in before:
                                before[p1] = counts[p1]
                            counts[p1] -= n
                        if p2 not in before:
                            before[p2] = counts[p2]
                        counts[p2] += n
                        where[p2].append(k)
                    word[i : i + 2] = [new_id]
                i += 1
        step = []
        for p, old in before.items():
            c = counts.get(p, 0)
            if c <= 0:
                counts.pop(p, None)
                c = 0
            if c != old:
                step.append((p, c))
        steps.append(step)
    return Replay(
        initial=initial,
        steps=steps,
        merged_counts=merged_counts,
        total_pairs=sum(initial.values()),
        total_bytes=total_bytes,
    )
