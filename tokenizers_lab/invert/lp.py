"""Hayase et al. 2024's linear program, solved with HiGHS and lazy constraint generation.

Variables: mixture weights alpha on the simplex (in pair-mass units), one slack v_t >= 0 per merge
step and one slack v_p >= 0 per competing pair (created when the pair first competes). For every
step t and competing pair p:

    sum_i alpha_i (c_{i,m(t)}^(t) - c_{i,p}^(t)) / d_i + v_t + v_p >= 0,

minimising sum_t v_t + sum_p v_p. The full row set (steps x pairs) is far too large, so rows are
generated lazily: under the current solution, every pair's score (mixture count minus its slack)
is cut into constant stretches between its count changes and compared with the smallest cutoff
(merge score plus step slack) over each stretch by a sparse-table range minimum -- all pairs and
steps in a few vectorised passes, no per-step loop; the most violated rows (at most 20,000) are
added, HiGHS re-solves warm, rows that went loose are dropped, and this repeats until nothing is
violated. The constrained prefix grows in stages (1/16 ... 1/1 of the merges); a stage also ends
when the estimate and the objective stop moving ("stalled"). alpha converts to byte shares by
alpha_i * bytes_i / pairs_i, renormalised.

Counts are stored as sparse events. `Store` holds them per unit (a shard of one category's sample);
`aggregate` sums units into categories with integer weights (1 for the estimate, bootstrap
multiplicities for confidence intervals): pair counts are additive over text because merges act
word by word, so a resample never needs a new replay.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.errors import MissingExtraError
from tokenizers_lab.invert.replay import Pair, Replay

DROP_MARGIN = 1e-12  # a row whose activity exceeds this after DROP_AGE solves in a row leaves the model
DROP_AGE = 1
SPLIT = 32  # a violating stretch of a pair's score yields a row in each of up to SPLIT parts
ROW_CAP = 20_000  # most violated rows added per pass (HiGHS's re-solve cost grows with the rows)
# A stage ends early when, over STALL_PASSES solves, the objective rose less than STALL_OBJECTIVE
# (relative) and no share moved by STALL_SHARE: the remaining violated rows only shuffle slack.
RANGE_ITERATIONS = 3000  # simplex iterations allowed per optimal-face range solve
RANGE_MAX_ROWS = 50_000  # no range solves above this many live rows (each iteration gets slow)
RANGE_GIVE_UP = 3  # range solves in a row out of iterations after which the rest are not tried
STALL_PASSES = 10
STALL_OBJECTIVE = 5e-3
STALL_SHARE = 1e-4
# A prefix stage only warms up the next one: it ends on a looser rule.
STAGE_STALL_PASSES = 3
STAGE_STALL_OBJECTIVE = 2e-2
STAGE_STALL_SHARE = 1e-3
PREFIX_MIN = 500  # smallest prefix worth a stage of its own


@dataclass
class Store:
    """Every unit's pair counts over the merges, on one global pair numbering: events sorted by
    (unit, pair, step), step -1 holding the count before any merge."""

    unit: np.ndarray
    pid: np.ndarray
    t: np.ndarray
    delta: np.ndarray  # count change of the event (the initial count for step -1)
    pairs: np.ndarray  # d_u: pairs before any merge, per unit
    bytes: np.ndarray
    merge_pair: np.ndarray  # per merge: its pair id, -1 when no unit holds it
    n_pairs: int
    n_steps: int
    pair_list: list[Pair]  # pair id -> (left symbol, right symbol)


def store(replays: Sequence[Replay], merges: Sequence[Pair | None]) -> Store:
    """Number every pair seen by any unit and flatten each replay into count events."""
    pid: dict[Pair, int] = {}
    units, pids, ts, news = [], [], [], []
    n_steps = max((len(r.steps) for r in replays), default=0)
    for u, r in enumerate(replays):
        p_list = [pid.setdefault(p, len(pid)) for p in r.initial]
        c_list = list(r.initial.values())
        t_list = [-1] * len(p_list)
        for t, step in enumerate(r.steps):
            for p, c in step:
                p_list.append(pid.setdefault(p, len(pid)))
                c_list.append(c)
                t_list.append(t)
        units.append(np.full(len(p_list), u, dtype=np.int32))
        pids.append(np.array(p_list, dtype=np.int64))
        ts.append(np.array(t_list, dtype=np.int32))
        news.append(np.array(c_list, dtype=np.int64))
    unit = np.concatenate(units) if units else np.zeros(0, np.int32)
    p_arr = np.concatenate(pids) if pids else np.zeros(0, np.int64)
    t_arr = np.concatenate(ts) if ts else np.zeros(0, np.int32)
    new = np.concatenate(news) if news else np.zeros(0, np.int64)
    order = np.lexsort((t_arr, p_arr, unit))  # within a unit and pair, by step (stable)
    unit, p_arr, t_arr, new = unit[order], p_arr[order], t_arr[order], new[order]
    delta = new.copy()
    same = np.zeros(len(new), dtype=bool)
    same[1:] = (unit[1:] == unit[:-1]) & (p_arr[1:] == p_arr[:-1])
    delta[1:][same[1:]] -= new[:-1][same[1:]]  # new count minus the previous count of the same pair
    merge_pair = np.array([pid.get(m, -1) if m is not None else -1 for m in merges[:n_steps]], dtype=np.int64)
    return Store(unit=unit, pid=p_arr, t=t_arr, delta=delta,
                 pairs=np.array([r.total_pairs for r in replays], dtype=np.int64),
                 bytes=np.array([r.total_bytes for r in replays], dtype=np.int64),
                 merge_pair=merge_pair, n_pairs=len(pid), n_steps=n_steps, pair_list=list(pid))


@dataclass
class Problem:
    """Category-level counts: initial counts, per-step changes grouped by pair, and a lookup of any
    category's count of any pair before any step."""

    n: int
    n_pairs: int
    n_steps: int
    init_pid: np.ndarray
    init_cat: np.ndarray
    init_count: np.ndarray
    ev_cat: np.ndarray  # step events sorted by (step, pair)
    ev_delta: np.ndarray
    run_start: np.ndarray  # runs of equal (step, pair) among the step events
    run_pid: np.ndarray
    step_run: np.ndarray  # runs of step t: step_run[t]:step_run[t+1]
    key: np.ndarray  # lookup: (pair * n + category) * (T + 1) + step + 1, sorted
    key_count: np.ndarray  # the count from that step on
    merge_pair: np.ndarray
    merge_count: np.ndarray  # steps x categories: the merged pair's count when applied
    pairs: np.ndarray  # pairs before any merge
    bytes: np.ndarray
    denom: np.ndarray  # d_i: pairs just before the first constrained merge (aggregate's `first`)

    def lookup(self, pid: np.ndarray, cat: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Count of pair `pid` in category `cat` before step `t` (arrays broadcast together)."""
        pid, cat, t = np.broadcast_arrays(np.asarray(pid, np.int64), np.asarray(cat, np.int64),
                                          np.asarray(t, np.int64))
        group = pid * self.n + cat
        q = group * (self.n_steps + 1) + t
        j = np.searchsorted(self.key, q.ravel(), side="right") - 1
        jj = np.clip(j, 0, None)
        ok = (j >= 0) & (self.key[jj] // (self.n_steps + 1) == group.ravel()) if len(self.key) else j >= 0
        out = np.where(ok, self.key_count[jj] if len(self.key) else 0, 0)
        return out.reshape(pid.shape)


def aggregate(s: Store, group: Sequence[int], weight: Sequence[int] | None = None, first: int = 0) -> Problem:
    """Sum units into categories (`group[u]` = category of unit u) with integer weights. `first`
    is the first constrained merge: each category's denominator d_i is its pair count just before
    it (before any merge when 0, as in the paper)."""
    group_a = np.asarray(group, dtype=np.int64)
    w = np.ones(len(group_a), dtype=np.int64) if weight is None else np.asarray(weight, dtype=np.int64)
    n = int(group_a.max()) + 1 if len(group_a) else 0
    keep = w[s.unit] > 0
    cat = group_a[s.unit[keep]]
    pid, t = s.pid[keep], s.t[keep].astype(np.int64)
    val = s.delta[keep] * w[s.unit[keep]]
    T = s.n_steps
    key = ((pid * n + cat) * (T + 1)) + (t + 1)  # (pair, category, step) in lookup order
    ukey, inv = np.unique(key, return_inverse=True)
    summed = np.bincount(inv, weights=val, minlength=len(ukey)).round().astype(np.int64)
    nz = summed != 0
    ukey, summed = ukey[nz], summed[nz]
    g = ukey // (T + 1)
    e_t = ukey % (T + 1) - 1
    e_pid, e_cat = g // n, g % n
    # running count per (pair, category): cumulative sum within each group
    csum = np.cumsum(summed)
    opens = np.ones(len(g), dtype=bool)
    opens[1:] = g[1:] != g[:-1]
    start_idx = np.flatnonzero(opens)
    base = np.repeat(csum[start_idx] - summed[start_idx], np.diff(np.append(start_idx, len(g))))
    running = csum - base
    init = e_t < 0
    order = np.lexsort((e_cat[~init], e_pid[~init], e_t[~init]))
    st_t, st_pid = e_t[~init][order], e_pid[~init][order]
    st_cat, st_delta = e_cat[~init][order], summed[~init][order]
    new_run = np.ones(len(st_t), dtype=bool)
    new_run[1:] = (st_t[1:] != st_t[:-1]) | (st_pid[1:] != st_pid[:-1])
    run_start = np.flatnonzero(new_run)
    run_t = st_t[run_start]
    step_run = np.searchsorted(run_t, np.arange(T + 1))
    cut = int(run_start[step_run[first]]) if step_run[first] < len(run_start) else len(st_delta)
    denom = np.bincount(e_cat[init], weights=summed[init], minlength=n) + \
        np.bincount(st_cat[:cut], weights=st_delta[:cut], minlength=n)
    prob = Problem(n=n, n_pairs=s.n_pairs, n_steps=T, init_pid=e_pid[init], init_cat=e_cat[init],
                   init_count=summed[init], ev_cat=st_cat, ev_delta=st_delta, run_start=run_start,
                   run_pid=st_pid[run_start], step_run=step_run, key=ukey, key_count=running,
                   merge_pair=s.merge_pair, merge_count=np.zeros((T, n), dtype=np.int64),
                   pairs=np.bincount(group_a, weights=s.pairs * w, minlength=n),
                   bytes=np.bincount(group_a, weights=s.bytes * w, minlength=n), denom=denom)
    steps = np.arange(T)
    m = np.clip(s.merge_pair, 0, None)
    prob.merge_count = np.where((s.merge_pair >= 0)[:, None],
                                prob.lookup(m[:, None], np.arange(n)[None, :], steps[:, None]), 0)
    return prob


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
    walk_seconds: float
    missing_merges: int
    rows: tuple[tuple[int, int], ...]  # the (step, pair) rows in the final model (loose ones dropped)
    ranges: tuple[tuple[float, float] | None, ...] = ()  # byte share at min / max alpha_i on the optimal face
    generated: int = 0  # rows generated over all passes (some later dropped)
    violated_left: int = 0  # violated rows the last walk still found ("stalled" status), capped at row_cap
    binding: tuple[tuple[int, int], ...] = ()  # the final rows that hold with equality (what resamples start from)


def to_bytes(alpha: np.ndarray, prob: Problem) -> np.ndarray:
    """Pair-mass weights -> byte shares (Hayase et al.'s score_solution)."""
    mass = alpha * prob.bytes / np.maximum(prob.denom, 1)
    return mass / mass.sum() if mass.sum() > 0 else alpha


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
    s0 = np.bincount(prob.init_pid, weights=coef[prob.init_cat] * prob.init_count, minlength=prob.n_pairs) - v_pair
    agg = np.add.reduceat(coef[prob.ev_cat] * prob.ev_delta, prob.run_start) if len(prob.run_start) else np.zeros(0)
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


def _walk_segments(prob: Problem, seg: Segments, alpha: np.ndarray, v_step: np.ndarray, v_pair: np.ndarray,
                   tol: float, first: int, last: int, seen: set[tuple[int, int]], cap: int,
                   keep: np.ndarray | None = None) -> list[tuple[int, int]]:
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
        h = hit[c0:c0 + cap]
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


def _coefficients(prob: Problem, rows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per row (t, p): (c_{i,m(t)} - c_{i,p}) / d_i for every category i."""
    t = np.array([r[0] for r in rows], dtype=np.int64)
    p = np.array([r[1] for r in rows], dtype=np.int64)
    cats = np.arange(prob.n)[None, :]
    cp = prob.lookup(p[:, None], cats, t[:, None])
    return (prob.merge_count[t] - cp) / np.maximum(prob.denom, 1)


def solve(prob: Problem, k: int = 10, tol: float = 1e-9, max_passes: int = 2000, first: int = 0,
          seed_rows: Sequence[tuple[int, int]] = (), ranges: bool = False, row_cap: int = ROW_CAP) -> Solution:
    """Minimise total slack with lazily generated rows (HiGHS through highspy). Steps before
    `first` are replayed but not constrained; `seed_rows` start the row set (e.g. a previous
    solution's rows); `ranges` also finds, per category, the byte share at the smallest and the
    largest alpha_i on the optimal face (2n extra solves)."""
    try:
        import highspy
    except ImportError:
        raise MissingExtraError("invert needs HiGHS: pip install highspy") from None
    t0 = time.perf_counter()
    n, n_steps = prob.n, prob.n_steps
    h = _quiet_highs(highspy)
    # Devex pricing: every re-solve adds thousands of rows, and dual steepest-edge weights cost a
    # pass over all rows per iteration; devex's iterations are cheap (on a 30k-merge, 10-category
    # problem: twice the iterations at a third of the cost each, the same shares to 1e-3)
    h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
    inf = highspy.kHighsInf
    # a category with no pairs left before the first constrained merge adds nothing to any row: its
    # weight would be free, so it is held at 0 (the job reports it unidentifiable)
    h.addCols(n, np.zeros(n), np.zeros(n), (prob.denom > 0).astype(float), 0, np.zeros(n, dtype=np.int32),
              np.array([], dtype=np.int32), np.array([], dtype=float))
    h.addCols(n_steps, np.ones(n_steps), np.zeros(n_steps), np.full(n_steps, inf), 0,
              np.zeros(n_steps, dtype=np.int32), np.array([], dtype=np.int32), np.array([], dtype=float))
    h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
    pair_col: dict[int, int] = {}
    alpha = np.full(n, 1.0 / n)
    v_step = np.zeros(n_steps)
    v_pair = np.zeros(prob.n_pairs)
    seen: set[tuple[int, int]] = set()
    act = np.zeros(0)
    generated = 0  # rows added over all passes (a count: the rows themselves may be millions)
    live: list[tuple[int, int]] = []  # the rows in the model, in HiGHS row order after the simplex row
    last_objective = -1.0
    age = np.zeros(0, dtype=np.int64)
    passes = 0
    walk_seconds = 0.0
    status = "optimal"
    pending = [r for r in dict.fromkeys(seed_rows) if r[0] < n_steps and r[0] >= first]
    seen.update(pending)
    # Grow the constrained prefix (1/16, 1/8, ... of the merges): early merges pin alpha down with
    # short walks, so the full-length walks start near the optimum and need few passes.
    span = n_steps - first
    stages = [first + span // d for d in (16, 8, 4, 2) if span // d >= PREFIX_MIN] + [n_steps]
    stage = 0 if not seed_rows else len(stages) - 1
    seg = segments(prob)
    candidates = violable(prob, seg, first)
    history: list[tuple[float, np.ndarray]] = []  # (objective, shares) per solve of the current stage
    last_found = 0
    while passes < max_passes:
        if pending:
            found, pending = pending, []
        else:
            tw = time.perf_counter()
            found = _walk_segments(prob, seg, alpha, v_step, v_pair, tol, first, stages[stage], seen,
                                   min(row_cap, k * max(1, stages[stage] - first)), candidates)
            walk_seconds += time.perf_counter() - tw
            passes += 1
            last_found = len(found)
        final = stage == len(stages) - 1
        back, obj_tol, share_tol = (STALL_PASSES, STALL_OBJECTIVE, STALL_SHARE) if final else \
            (STAGE_STALL_PASSES, STAGE_STALL_OBJECTIVE, STAGE_STALL_SHARE)
        stalled = len(history) > back and history[-1][0] <= history[-1 - back][0] * (1 + obj_tol) and \
            float(np.abs(history[-1][1] - history[-1 - back][1]).max()) < share_tol
        if not found or stalled:
            if stage == len(stages) - 1:
                if found:
                    status = "stalled"
                break
            stage += 1
            history = []
            continue
        new_pairs = sorted({p for _, p in found if p not in pair_col})
        if new_pairs:  # one v_p column per newly competing pair, added in one call
            base = h.getNumCol()
            pair_col.update({p: base + j for j, p in enumerate(new_pairs)})
            z = len(new_pairs)
            h.addCols(z, np.ones(z), np.zeros(z), np.full(z, inf), 0, np.zeros(z, dtype=np.int32),
                      np.array([], dtype=np.int32), np.array([], dtype=float))
        coef = _coefficients(prob, found)
        width = n + 2
        index = np.empty((len(found), width), dtype=np.int32)
        value = np.empty((len(found), width))
        index[:, :n] = np.arange(n, dtype=np.int32)
        index[:, n] = n + np.array([t for t, _ in found], dtype=np.int32)
        index[:, n + 1] = np.array([pair_col[p] for _, p in found], dtype=np.int32)
        value[:, :n] = coef
        value[:, n:] = 1.0
        h.addRows(len(found), np.zeros(len(found)), np.full(len(found), inf), index.size,
                  np.arange(0, index.size, width, dtype=np.int32), index.ravel(), value.ravel())
        generated += len(found)
        live.extend(found)
        h.run()
        status = h.modelStatusToString(h.getModelStatus()).lower()
        sol = h.getSolution()
        x = np.array(sol.col_value)
        objective = float(h.getInfo().objective_function_value)
        act = np.array(sol.row_value)[1:]
        age = np.where(act > DROP_MARGIN, np.append(age, np.zeros(len(act) - len(age), np.int64)) + 1, 0)
        alpha = np.clip(x[:n], 0.0, None)
        history.append((objective, to_bytes(alpha, prob)))
        v_step = x[n:n + n_steps]
        cols = np.fromiter(pair_col.values(), dtype=np.int64, count=len(pair_col))
        v_pair[np.fromiter(pair_col.keys(), dtype=np.int64, count=len(pair_col))] = x[cols]
        if objective > last_objective + 1e-15:  # drop rows loose for DROP_AGE solves in a row (they
            # leave `seen`: a later walk re-adds any that become violated again)
            loose = np.flatnonzero(age >= DROP_AGE)
            if loose.size:
                h.deleteRows(len(loose), (loose + 1).astype(np.int32))
                keep = np.ones(len(live), dtype=bool)
                keep[loose] = False
                for j in loose.tolist():
                    seen.discard(live[j])
                live = [r for r, kk in zip(live, keep) if kk]
                age = age[keep]
            last_objective = objective
    tight = np.flatnonzero(act <= DROP_MARGIN) if generated else np.zeros(0, np.int64)
    binding = tuple(live[j] for j in tight.tolist() if j < len(live))
    pair_slack = float(v_pair.sum())
    step_slack = float(v_step.sum())
    objective = step_slack + pair_slack
    spans: list[tuple[float, float] | None] = []
    if ranges and generated:
        spans = _ranges(h, prob, objective, alpha, highspy) if len(live) <= RANGE_MAX_ROWS else [None] * n
    return Solution(alpha=tuple(alpha.tolist()), proportions=tuple(to_bytes(alpha, prob).tolist()),
                    objective=objective, step_slack=step_slack, pair_slack=pair_slack,
                    constraints=len(live), passes=passes, status=status,
                    seconds=time.perf_counter() - t0, walk_seconds=walk_seconds,
                    missing_merges=int((prob.merge_pair[first:] < 0).sum()
                                       + ((prob.merge_pair[first:] >= 0)
                                          & (prob.merge_count[first:].sum(axis=1) == 0)).sum()),
                    rows=tuple(live), ranges=tuple(spans), generated=generated,
                    violated_left=last_found if status == "stalled" else 0, binding=binding)


def _quiet_highs(highspy):  # type: ignore[no-untyped-def]
    """A Highs object with logging off. Its constructor prints a banner straight to file
    descriptor 1 (C stdio), which would corrupt JSON on stdout: fd 1 points at /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return h


def _ranges(h, prob: Problem, objective: float, alpha: np.ndarray, highspy) -> list[tuple[float, float] | None]:  # type: ignore[no-untyped-def]
    """Per category, the least and the most alpha_i on the LP's optimal face (total slack within
    1e-7 relative of the optimum, over the final rows), as byte shares with the other categories
    held at the estimate's byte conversion (so the estimate always lies inside). Each solve may
    take RANGE_ITERATIONS simplex iterations (a deterministic budget); a category whose two solves
    do not both finish gets None, and after RANGE_GIVE_UP unfinished solves in a row the others
    are not tried (all None)."""
    n = prob.n
    n_col = h.getNumCol()
    slack_cols = np.arange(n, n_col, dtype=np.int32)
    h.addRow(-highspy.kHighsInf, objective * (1 + 1e-7) + 1e-12, len(slack_cols), slack_cols,
             np.ones(len(slack_cols)))
    rate = prob.bytes / np.maximum(prob.denom, 1)
    z = float(alpha @ rate) or 1.0
    all_cols = np.arange(n_col, dtype=np.int32)
    h.setOptionValue("simplex_iteration_limit", RANGE_ITERATIONS)
    out: list[tuple[float, float] | None] = []
    failed = 0  # solves in a row that ran out of iterations
    for i in range(n):
        ends = [float(alpha[i])]
        exact = True
        for sign in (1.0, -1.0):
            if failed >= RANGE_GIVE_UP:  # the face is too large to walk within budget: stop trying
                exact = False
                break
            cost = np.zeros(n_col)
            cost[i] = sign
            h.changeColsCost(n_col, all_cols, cost)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                exact = False
                failed += 1
                continue
            failed = 0
            ends.append(max(0.0, float(h.getSolution().col_value[i])))
        out.append((min(ends) * rate[i] / z, max(ends) * rate[i] / z) if exact else None)
    return out
