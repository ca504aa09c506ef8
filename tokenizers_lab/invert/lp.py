"""Hayase et al. 2024's linear program, solved with HiGHS and lazy constraint generation.

Variables: mixture weights alpha on the simplex (in pair-mass units), one slack v_t >= 0 per merge
step and one slack v_p >= 0 per competing pair (created when the pair first competes). For every
step t and competing pair p:

    sum_i alpha_i (c_{i,m(t)}^(t) - c_{i,p}^(t)) / d_i + v_t + v_p >= 0,

minimising sum_t v_t + sum_p v_p. The full row set (steps x pairs) is far too large, so a walk
over the merges finds, under the current solution, the k most violated competitors of each step,
adds those rows, re-solves (HiGHS warm-starts from the previous basis) and repeats until a walk
finds nothing. alpha converts to byte shares by alpha_i * bytes_i / pairs_i, renormalised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.errors import MissingExtraError
from tokenizers_lab.invert.replay import Pair, Replay


@dataclass
class Problem:
    """Every category's pair counts over the merges, on one global pair numbering."""

    initial: np.ndarray  # categories x pairs, counts before any merge
    steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per merge: (category, pair id, count change)
    merge_pair: np.ndarray  # per merge: its pair id, -1 when no category holds it
    pairs: np.ndarray  # d_i
    bytes: np.ndarray


def build(replays: Sequence[Replay], merges: Sequence[Pair | None]) -> Problem:
    """Number every pair seen by any category and turn each replay into count changes."""
    pid: dict[Pair, int] = {}
    for r in replays:
        for p in r.initial:
            pid.setdefault(p, len(pid))
        for step in r.steps:
            for p, _ in step:
                pid.setdefault(p, len(pid))
    n, n_pairs, n_steps = len(replays), len(pid), max((len(r.steps) for r in replays), default=0)
    initial = np.zeros((n, n_pairs), dtype=np.int64)
    per_step: list[list[tuple[int, int, int]]] = [[] for _ in range(n_steps)]
    for i, r in enumerate(replays):
        current = dict(r.initial)
        for p, c in r.initial.items():
            initial[i, pid[p]] = c
        for t, step in enumerate(r.steps):
            for p, c in step:
                per_step[t].append((i, pid[p], c - current.get(p, 0)))
                current[p] = c
    steps = []
    for rows in per_step:
        a = np.array(rows, dtype=np.int64).reshape(-1, 3)
        steps.append((a[:, 0], a[:, 1], a[:, 2]))
    merge_pair = np.array([pid.get(m, -1) if m is not None else -1 for m in merges[:n_steps]], dtype=np.int64)
    return Problem(initial=initial, steps=steps, merge_pair=merge_pair,
                   pairs=np.array([r.total_pairs for r in replays], dtype=float),
                   bytes=np.array([r.total_bytes for r in replays], dtype=float))


@dataclass(frozen=True)
class Solution:
    """What the solver found."""

    alpha: tuple[float, ...]  # pair-mass weights
    proportions: tuple[float, ...]  # byte shares
    objective: float
    step_slack: float
    pair_slack: float
    constraints: int
    passes: int
    status: str
    seconds: float
    missing_merges: int


def _walk(prob: Problem, w: np.ndarray, v_step: np.ndarray, v_pair: np.ndarray, k: int, tol: float,
          seen: set[tuple[int, int]]) -> list[tuple[int, int, np.ndarray]]:
    """Replay the mixture's counts under weights w = alpha / d; collect up to k violated
    competitors per step as (step, pair, alpha coefficients)."""
    counts = prob.initial.copy()
    prio = w @ counts
    found = []
    for t, (cat, pids, delta) in enumerate(prob.steps):
        m = prob.merge_pair[t]
        if m >= 0 and counts[:, m].any():
            score = prio - v_pair
            score[m] = -np.inf
            viol = np.flatnonzero(score > prio[m] + v_step[t] + tol)
            if viol.size:
                top = viol[np.argsort(-score[viol], kind="stable")[:k]]
                for p in top.tolist():
                    if (t, p) not in seen:
                        seen.add((t, p))
                        found.append((t, p, (counts[:, m] - counts[:, p]) / prob.pairs))
        if delta.size:
            np.add.at(counts, (cat, pids), delta)
            np.add.at(prio, pids, w[cat] * delta)
    return found


def solve(prob: Problem, k: int = 3, tol: float = 1e-9, max_passes: int = 200) -> Solution:
    """Minimise total slack with lazily generated rows (HiGHS through highspy)."""
    try:
        import highspy
    except ImportError:
        raise MissingExtraError("invert needs HiGHS: pip install highspy") from None
    t0 = time.perf_counter()
    n, n_steps = prob.initial.shape[0], len(prob.steps)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    for _ in range(n):
        h.addCol(0.0, 0.0, 1.0, 0, np.array([], dtype=np.int32), np.array([], dtype=float))
    for _ in range(n_steps):
        h.addCol(1.0, 0.0, inf, 0, np.array([], dtype=np.int32), np.array([], dtype=float))
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
    pair_col: dict[int, int] = {}
    alpha = np.full(n, 1.0 / n)
    v_step = np.zeros(n_steps)
    v_pair = np.zeros(prob.initial.shape[1])
    seen: set[tuple[int, int]] = set()
    passes = rows = 0
    status = "optimal"
    while passes < max_passes:
        found = _walk(prob, alpha / prob.pairs, v_step, v_pair, k, tol, seen)
        passes += 1
        if not found:
            break
        new_pairs = sorted({p for _, p, _ in found if p not in pair_col})
        if new_pairs:  # one v_p column per newly competing pair, added in one call
            first = h.getNumCol()
            pair_col.update({p: first + j for j, p in enumerate(new_pairs)})
            z = len(new_pairs)
            h.addCols(z, np.ones(z), np.zeros(z), np.full(z, inf), 0, np.zeros(z, dtype=np.int32),
                      np.array([], dtype=np.int32), np.array([], dtype=float))
        # all rows of the pass in one call (row-by-row addRow costs ~0.5 ms each)
        width = n + 2
        index = np.empty((len(found), width), dtype=np.int32)
        value = np.empty((len(found), width))
        index[:, :n] = np.arange(n, dtype=np.int32)
        for j, (t, p, coef) in enumerate(found):
            index[j, n], index[j, n + 1] = n + t, pair_col[p]
            value[j, :n] = coef
        value[:, n:] = 1.0
        h.addRows(len(found), np.zeros(len(found)), np.full(len(found), inf), index.size,
                  np.arange(0, index.size, width, dtype=np.int32), index.ravel(), value.ravel())
        rows += len(found)
        h.run()
        status = h.modelStatusToString(h.getModelStatus()).lower()
        x = np.array(h.getSolution().col_value)
        alpha = np.clip(x[:n], 0.0, None)
        v_step = x[n:n + n_steps]
        for p, col in pair_col.items():
            v_pair[p] = x[col]
    x = np.array(h.getSolution().col_value) if rows else np.concatenate([alpha, v_step])
    byte_mass = alpha * prob.bytes / prob.pairs
    props = byte_mass / byte_mass.sum() if byte_mass.sum() > 0 else alpha
    pair_slack = float(sum(x[c] for c in pair_col.values()))
    return Solution(alpha=tuple(alpha.tolist()), proportions=tuple(props.tolist()),
                    objective=float(v_step.sum()) + pair_slack, step_slack=float(v_step.sum()),
                    pair_slack=pair_slack, constraints=rows, passes=passes, status=status,
                    seconds=time.perf_counter() - t0, missing_merges=int((prob.merge_pair < 0).sum()))
