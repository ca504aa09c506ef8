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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenizers_lab.errors import MissingExtraError
from tokenizers_lab.invert.highs import DROP_MARGIN, LazyLP
from tokenizers_lab.invert.rows import Segments, segments, violable, walk_segments
from tokenizers_lab.invert.store import Problem, Store, aggregate, store, to_bytes

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
    binding: tuple[
        tuple[int, int], ...
    ] = ()  # the final rows that hold with equality (what resamples start from)


def solve(
    prob: Problem,
    k: int = 10,
    tol: float = 1e-9,
    max_passes: int = 2000,
    first: int = 0,
    seed_rows: Sequence[tuple[int, int]] = (),
    ranges: bool = False,
    row_cap: int = ROW_CAP,
) -> Solution:
    """Minimise total slack with lazily generated rows (HiGHS through highspy). Steps before
    `first` are replayed but not constrained; `seed_rows` start the row set (e.g. a previous
    solution's rows); `ranges` also finds, per category, the byte share at the smallest and the
    largest alpha_i on the optimal face (2n extra solves)."""
    try:
        import highspy
    except ImportError:
        raise MissingExtraError("invert needs HiGHS: pip install highspy") from None
    t0 = time.perf_counter()
    lp = LazyLP(prob, highspy)
    passes = 0
    walk_seconds = 0.0
    status = "optimal"
    pending = [r for r in dict.fromkeys(seed_rows) if r[0] < prob.n_steps and r[0] >= first]
    lp.seen.update(pending)
    # Grow the constrained prefix (1/16, 1/8, ... of the merges): early merges pin alpha down with
    # short walks, so the full-length walks start near the optimum and need few passes.
    span = prob.n_steps - first
    stages = [first + span // d for d in (16, 8, 4, 2) if span // d >= PREFIX_MIN] + [prob.n_steps]
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
            found = walk_segments(
                prob,
                seg,
                lp.alpha,
                lp.v_step,
                lp.v_pair,
                tol,
                first,
                stages[stage],
                lp.seen,
                min(row_cap, k * max(1, stages[stage] - first)),
                candidates,
            )
            walk_seconds += time.perf_counter() - tw
            passes += 1
            last_found = len(found)
        final = stage == len(stages) - 1
        if not found or _stalled(history, final):
            if final:
                if found:
                    status = "stalled"
                break
            stage += 1
            history = []
            continue
        lp.add_rows(found)
        status, objective = lp.run()
        history.append((objective, to_bytes(lp.alpha, prob)))
        lp.drop_loose(objective)
    tight = np.flatnonzero(lp.act <= DROP_MARGIN) if lp.generated else np.zeros(0, np.int64)
    pair_slack = float(lp.v_pair.sum())
    step_slack = float(lp.v_step.sum())
    objective = step_slack + pair_slack
    spans: list[tuple[float, float] | None] = []
    if ranges and lp.generated:
        spans = (
            _ranges(lp.h, prob, objective, lp.alpha, highspy)
            if len(lp.live) <= RANGE_MAX_ROWS
            else [None] * prob.n
        )
    return Solution(
        alpha=tuple(lp.alpha.tolist()),
        proportions=tuple(to_bytes(lp.alpha, prob).tolist()),
        objective=objective,
        step_slack=step_slack,
        pair_slack=pair_slack,
        constraints=len(lp.live),
        passes=passes,
        status=status,
        seconds=time.perf_counter() - t0,
        walk_seconds=walk_seconds,
        missing_merges=int(
            (prob.merge_pair[first:] < 0).sum()
            + ((prob.merge_pair[first:] >= 0) & (prob.merge_count[first:].sum(axis=1) == 0)).sum()
        ),
        rows=tuple(lp.live),
        ranges=tuple(spans),
        generated=lp.generated,
        violated_left=last_found if status == "stalled" else 0,
        binding=tuple(lp.live[j] for j in tight.tolist() if j < len(lp.live)),
    )


def _stalled(history: list[tuple[float, np.ndarray]], final: bool) -> bool:
    """Over the last few solves the objective rose less than a relative tolerance and no share
    moved by more than a small amount (looser while the prefix still grows)."""
    back, obj_tol, share_tol = (
        (STALL_PASSES, STALL_OBJECTIVE, STALL_SHARE)
        if final
        else (STAGE_STALL_PASSES, STAGE_STALL_OBJECTIVE, STAGE_STALL_SHARE)
    )
    return (
        len(history) > back
        and history[-1][0] <= history[-1 - back][0] * (1 + obj_tol)
        and float(np.abs(history[-1][1] - history[-1 - back][1]).max()) < share_tol
    )


def _ranges(
    h: Any, prob: Problem, objective: float, alpha: np.ndarray, highspy: Any
) -> list[tuple[float, float] | None]:
    """Per category, the least and the most alpha_i on the LP's optimal face (total slack within
    1e-7 relative of the optimum, over the final rows), as byte shares with the other categories
    held at the estimate's byte conversion (so the estimate always lies inside). Each solve may
    take RANGE_ITERATIONS simplex iterations (a deterministic budget); a category whose two solves
    do not both finish gets None, and after RANGE_GIVE_UP unfinished solves in a row the others
    are not tried (all None)."""
    n = prob.n
    n_col = h.getNumCol()
    slack_cols = np.arange(n, n_col, dtype=np.int32)
    h.addRow(
        -highspy.kHighsInf,
        objective * (1 + 1e-7) + 1e-12,
        len(slack_cols),
        slack_cols,
        np.ones(len(slack_cols)),
    )
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


# lp is where callers find the whole LP: the store and the row search are re-exported
__all__ = [
    "Problem",
    "Segments",
    "Solution",
    "Store",
    "aggregate",
    "segments",
    "solve",
    "store",
    "to_bytes",
    "violable",
    "walk_segments",
]
