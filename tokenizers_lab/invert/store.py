"""The count store and the LP's problem: every sample's count events for each merge, aggregated per
group of shards (with bootstrap weights) into the constraint data the LP reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.invert.replay import Pair, Replay


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
    return Store(
        unit=unit,
        pid=p_arr,
        t=t_arr,
        delta=delta,
        pairs=np.array([r.total_pairs for r in replays], dtype=np.int64),
        bytes=np.array([r.total_bytes for r in replays], dtype=np.int64),
        merge_pair=merge_pair,
        n_pairs=len(pid),
        n_steps=n_steps,
        pair_list=list(pid),
    )


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
        pid, cat, t = np.broadcast_arrays(
            np.asarray(pid, np.int64), np.asarray(cat, np.int64), np.asarray(t, np.int64)
        )
        group = pid * self.n + cat
        q = group * (self.n_steps + 1) + t
        j = np.searchsorted(self.key, q.ravel(), side="right") - 1
        jj = np.clip(j, 0, None)
        ok = (j >= 0) & (self.key[jj] // (self.n_steps + 1) == group.ravel()) if len(self.key) else j >= 0
        out = np.where(ok, self.key_count[jj] if len(self.key) else 0, 0)
        return out.reshape(pid.shape)


def aggregate(
    s: Store, group: Sequence[int], weight: Sequence[int] | np.ndarray | None = None, first: int = 0
) -> Problem:
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
    denom = np.bincount(e_cat[init], weights=summed[init], minlength=n) + np.bincount(
        st_cat[:cut], weights=st_delta[:cut], minlength=n
    )
    prob = Problem(
        n=n,
        n_pairs=s.n_pairs,
        n_steps=T,
        init_pid=e_pid[init],
        init_cat=e_cat[init],
        init_count=summed[init],
        ev_cat=st_cat,
        ev_delta=st_delta,
        run_start=run_start,
        run_pid=st_pid[run_start],
        step_run=step_run,
        key=ukey,
        key_count=running,
        merge_pair=s.merge_pair,
        merge_count=np.zeros((T, n), dtype=np.int64),
        pairs=np.bincount(group_a, weights=s.pairs * w, minlength=n),
        bytes=np.bincount(group_a, weights=s.bytes * w, minlength=n),
        denom=denom,
    )
    steps = np.arange(T)
    m = np.clip(s.merge_pair, 0, None)
    prob.merge_count = np.where(
        (s.merge_pair >= 0)[:, None], prob.lookup(m[:, None], np.arange(n)[None, :], steps[:, None]), 0
    )
    return prob


def to_bytes(alpha: np.ndarray, prob: Problem) -> np.ndarray:
    """Pair-mass weights -> byte shares (Hayase et al.'s score_solution)."""
    mass = alpha * prob.bytes / np.maximum(prob.denom, 1)
    return mass / mass.sum() if mass.sum() > 0 else alpha
