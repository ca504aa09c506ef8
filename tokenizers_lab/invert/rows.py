"""Where the LP's constraints are violated: per pair, the segments of merges over which its score
is a linear function of the shares, walked to find the most violated rows to add (lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.invert.store import Problem

SPLIT = 32  # a violating stretch of a pair's score yields a row in each of up to SPLIT parts


@dataclass
class Segments:
    """Each pair's count history cut into constant stretches: stretch j holds pair pid[j] from
    step start[j] to end[j] (inclusive, as seen when those steps are checked). `init` marks the
    stretch before the pair's first change; `run` is the change (run index) that starts the others."""

    pid: np.ndarray
    start: np.ndarray
    end: np.ndarray
    init: np.ndarray  # bool
    order: np.ndarray  # run indices sorted by (pair, step): the changes in stretch order
    group_first: np.ndarray  # per stretch after a change: index (into order) of its pair's first change


def segments(prob: Problem) -> Segments:
    """Static stretch layout of a problem (computed once, reused by every walk)."""
    T, P = prob.n_steps, prob.n_pairs
    run_t = np.repeat(np.arange(T), np.diff(prob.step_run))
    order = np.lexsort((run_t, prob.run_pid))
    r_pid, r_t = prob.run_pid[order], run_t[order]
    first_of = np.full(P, T - 1, dtype=np.int64)  # initial stretch ends at the pair's first change
    newp = np.ones(len(r_pid), dtype=bool)
    newp[1:] = r_pid[1:] != r_pid[:-1]
    first_of[r_pid[newp]] = r_t[newp]
    nxt = np.full(len(r_pid), T - 1, dtype=np.int64)
    same_next = np.zeros(len(r_pid), dtype=bool)
    same_next[:-1] = r_pid[1:] == r_pid[:-1]
    nxt[:-1][same_next[:-1]] = r_t[1:][same_next[:-1]]
    group_first = np.maximum.accumulate(np.where(newp, np.arange(len(r_pid)), 0))
    pid = np.concatenate([np.arange(P), r_pid])
    start = np.concatenate([np.zeros(P, dtype=np.int64), r_t + 1])
    end = np.concatenate([first_of, nxt])
    init = np.concatenate([np.ones(P, dtype=bool), np.zeros(len(r_pid), dtype=bool)])
    return Segments(pid=pid, start=start, end=end, init=init, order=order, group_first=group_first)


def _values(prob: Problem, seg: Segments, coef: np.ndarray, v_pair: np.ndarray | float) -> np.ndarray:
    """Every stretch's score: the coef-weighted count of its pair there, minus the pair's slack."""
    s0 = (
        np.bincount(prob.init_pid, weights=coef[prob.init_cat] * prob.init_count, minlength=prob.n_pairs)
        - v_pair
    )
    agg = (
        np.add.reduceat(coef[prob.ev_cat] * prob.ev_delta, prob.run_start)
        if len(prob.run_start)
        else np.zeros(0)
    )
    c = np.cumsum(agg[seg.order])
    before = np.where(seg.group_first > 0, c[seg.group_first - 1], 0.0)
    later = s0[prob.run_pid[seg.order]] + c - before
    return np.concatenate([s0, later])


class _RangeMin:
    """Sparse table over a vector: the minimum (and its position) of any range in O(1) numpy ops."""

    def __init__(self, x: np.ndarray) -> None:
        self.mins, self.args = [x], [np.arange(len(x))]
        width = 1
        while 2 * width <= len(x):
            a, b = self.mins[-1][:-width], self.mins[-1][width:]
            take_b = b < a
            self.mins.append(np.where(take_b, b, a))
            self.args.append(np.where(take_b, self.args[-1][width:], self.args[-1][:-width]))
            width *= 2

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minimum and argmin over [x[j], y[j]] (inclusive, x <= y) for every j."""
        level = np.floor(np.log2(y - x + 1)).astype(np.int64)
        m = np.empty(len(x))
        arg = np.empty(len(x), dtype=np.int64)
        for k in np.unique(level).tolist():
            sel = np.flatnonzero(level == k)
            a, b = x[sel], y[sel] - (1 << k) + 1
            ma, mb = self.mins[k][a], self.mins[k][b]
            pick = mb < ma
            m[sel] = np.where(pick, mb, ma)
            arg[sel] = np.where(pick, self.args[k][b], self.args[k][a])
        return m, arg


def _active(prob: Problem, first: int, last: int) -> np.ndarray:
    """Steps whose merge is constrained: in [first, last) and held by some category."""
    active = (prob.merge_pair >= 0) & (prob.merge_count.sum(axis=1) > 0)
    active[:first] = False
    active[last:] = False
    return active


def violable(prob: Problem, seg: Segments, first: int) -> np.ndarray:
    """Indices of the stretches that some mixture could ever violate: a row (t, p) needs
    sum_i alpha_i (c_ip - c_im(t)) / d_i > 0, so some category must count p above the merge at a
    step of the stretch (exact pruning, computed once; most pairs are rare and never qualify)."""
    active = _active(prob, first, prob.n_steps)
    lo, hi = seg.start, np.minimum(seg.end, prob.n_steps - 1)
    ok = np.flatnonzero(lo <= hi)
    keep = np.zeros(len(seg.start), dtype=bool)
    for i in range(prob.n):  # in raw counts: integer sums are exact in float64
        onehot = np.zeros(prob.n)
        onehot[i] = 1.0
        value = _values(prob, seg, onehot, 0.0)[ok]
        m, _ = _RangeMin(np.where(active, prob.merge_count[:, i], np.inf))(lo[ok], hi[ok])
        keep[ok[value > m]] = True
    return np.flatnonzero(keep)


def walk_segments(
    prob: Problem,
    seg: Segments,
    alpha: np.ndarray,
    v_step: np.ndarray,
    v_pair: np.ndarray,
    tol: float,
    first: int,
    last: int,
    seen: set[tuple[int, int]],
    cap: int,
    keep: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """All violated rows at once, without a per-step loop: each stretch of a pair's score is
    compared with the smallest cutoff (merge score + step slack) over its steps by a sparse-table
    range minimum; a violating stretch yields its most violated step. Only the stretches in `keep`
    (violable's) are looked at when given. Returns up to `cap` rows, the most violated first."""
    coef = alpha / np.maximum(prob.denom, 1)
    value = _values(prob, seg, coef, v_pair)
    T = prob.n_steps
    cutoff = np.where(_active(prob, first, last), prob.merge_count @ coef + v_step + tol, np.inf)
    rmq = _RangeMin(cutoff)
    lo, hi, pid = seg.start, np.minimum(seg.end, T - 1), seg.pid
    if keep is not None:
        lo, hi, value, pid = lo[keep], hi[keep], value[keep], pid[keep]
    ok = (lo <= hi) & (lo < last)
    lo, hi, val, pid = lo[ok], np.minimum(hi[ok], max(last - 1, 0)), value[ok], pid[ok]
    m1, _ = rmq(lo, hi)
    hit = np.flatnonzero(val - m1 > 0)
    if not hit.size:
        return []
    # the most violating stretches first, in chunks of `cap`: a violating stretch gives a row at
    # the most violated step of each of up to SPLIT equal parts
    hit = hit[np.argsort(m1[hit] - val[hit], kind="stable")]
    found: list[tuple[int, int]] = []
    for c0 in range(0, len(hit), cap):
        h = hit[c0 : c0 + cap]
        lo_h, hi_h, val_h, pid_h = lo[h], hi[h], val[h], pid[h]
        parts = np.minimum(SPLIT, hi_h - lo_h + 1)
        rep = np.repeat(np.arange(len(h)), parts)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(parts) - parts, parts)
        span = (hi_h - lo_h + 1)[rep]
        x = lo_h[rep] + (span * j) // parts[rep]
        y = lo_h[rep] + (span * (j + 1)) // parts[rep] - 1
        m2, a2 = rmq(x, y)
        excess = val_h[rep] - m2
        good = np.flatnonzero(excess > 0)
        good = good[np.argsort(-excess[good], kind="stable")]
        for q in good.tolist():
            row = (int(a2[q]), int(pid_h[rep[q]]))
            if row[1] == prob.merge_pair[row[0]] or row in seen:
                continue
            seen.add(row)
            found.append(row)
            if len(found) >= cap:
                return found
    return found


def coefficients(prob: Problem, rows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per row (t, p): (c_{i,m(t)} - c_{i,p}) / d_i for every category i."""
    t = np.array([r[0] for r in rows], dtype=np.int64)
    p = np.array([r[1] for r in rows], dtype=np.int64)
    cats = np.arange(prob.n)[None, :]
    cp = prob.lookup(p[:, None], cats, t[:, None])
    return (prob.merge_count[t] - cp) / np.maximum(prob.denom, 1)
