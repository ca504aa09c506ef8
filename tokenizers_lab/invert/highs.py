"""The lazy LP's HiGHS model: its columns (alpha_i, v_t, v_p) and rows, the solution read back
after each solve, and loose rows dropped; HiGHS silenced (its banner would corrupt stdout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tokenizers_lab.invert.rows import coefficients
from tokenizers_lab.invert.store import Problem
from tokenizers_lab.native import silenced

DROP_MARGIN = 1e-12  # a row whose activity exceeds this after DROP_AGE solves in a row leaves the model


DROP_AGE = 1


def quiet_highs(highspy: Any) -> Any:
    """A Highs object with logging off (its constructor prints a banner on file descriptor 1)."""
    with silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


class LazyLP:
    """The HiGHS model and the solution read back from it: columns alpha_i (n), v_t (one per
    step) and v_p (one per competing pair, added as pairs turn up); one simplex row, then the
    generated rows, `live` in HiGHS row order."""

    def __init__(self, prob: Problem, highspy: Any) -> None:
        self.prob = prob
        n, n_steps = prob.n, prob.n_steps
        self.h = h = quiet_highs(highspy)
        # Devex pricing: every re-solve adds thousands of rows, and dual steepest-edge weights cost a
        # pass over all rows per iteration; devex's iterations are cheap (on a 30k-merge, 10-category
        # problem: twice the iterations at a third of the cost each, the same shares to 1e-3)
        h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
        self.inf = highspy.kHighsInf
        # a category with no pairs left before the first constrained merge adds nothing to any row:
        # its weight would be free, so it is held at 0 (the job reports it unidentifiable)
        self._add_cols(n, 0.0, (prob.denom > 0).astype(float))
        self._add_cols(n_steps, 1.0, np.full(n_steps, self.inf))
        h.addRow(1.0, 1.0, n, np.arange(n, dtype=np.int32), np.ones(n))
        self.pair_col: dict[int, int] = {}
        self.alpha = np.full(n, 1.0 / n)
        self.v_step = np.zeros(n_steps)
        self.v_pair = np.zeros(prob.n_pairs)
        self.seen: set[tuple[int, int]] = set()  # rows in the model (or pending): walks skip them
        self.act = np.zeros(0)  # each live row's activity at the last solve
        self.age = np.zeros(0, dtype=np.int64)  # solves in a row each live row has been loose
        self.generated = 0  # rows added over all passes (a count: the rows themselves may be millions)
        self.live: list[tuple[int, int]] = []
        self.last_objective = -1.0

    def _add_cols(self, z: int, cost: float, upper: np.ndarray) -> None:
        self.h.addCols(
            z,
            np.full(z, cost),
            np.zeros(z),
            upper,
            0,
            np.zeros(z, dtype=np.int32),
            np.array([], dtype=np.int32),
            np.array([], dtype=float),
        )

    def add_rows(self, found: list[tuple[int, int]]) -> None:
        """Rows sum_i alpha_i c_i(t, p) + v_t + v_p >= 0 for (step, pair) in found."""
        n = self.prob.n
        new_pairs = sorted({p for _, p in found if p not in self.pair_col})
        if new_pairs:  # one v_p column per newly competing pair, added in one call
            base = self.h.getNumCol()
            self.pair_col.update({p: base + j for j, p in enumerate(new_pairs)})
            self._add_cols(len(new_pairs), 1.0, np.full(len(new_pairs), self.inf))
        width = n + 2
        index = np.empty((len(found), width), dtype=np.int32)
        value = np.empty((len(found), width))
        index[:, :n] = np.arange(n, dtype=np.int32)
        index[:, n] = n + np.array([t for t, _ in found], dtype=np.int32)
        index[:, n + 1] = np.array([self.pair_col[p] for _, p in found], dtype=np.int32)
        value[:, :n] = coefficients(self.prob, found)
        value[:, n:] = 1.0
        self.h.addRows(
            len(found),
            np.zeros(len(found)),
            np.full(len(found), self.inf),
            index.size,
            np.arange(0, index.size, width, dtype=np.int32),
            index.ravel(),
            value.ravel(),
        )
        self.generated += len(found)
        self.live.extend(found)

    def run(self) -> tuple[str, float]:
        """Solve; read alpha, the slacks and the rows' activities back. (status, objective)"""
        h, n, n_steps = self.h, self.prob.n, self.prob.n_steps
        h.run()
        status = h.modelStatusToString(h.getModelStatus()).lower()
        sol = h.getSolution()
        x = np.array(sol.col_value)
        objective = float(h.getInfo().objective_function_value)
        self.act = act = np.array(sol.row_value)[1:]
        grown = np.append(self.age, np.zeros(len(act) - len(self.age), np.int64))
        self.age = np.where(act > DROP_MARGIN, grown + 1, 0)
        self.alpha = np.clip(x[:n], 0.0, None)
        self.v_step = x[n : n + n_steps]
        cols = np.fromiter(self.pair_col.values(), dtype=np.int64, count=len(self.pair_col))
        self.v_pair[np.fromiter(self.pair_col.keys(), dtype=np.int64, count=len(self.pair_col))] = x[cols]
        return status, objective

    def drop_loose(self, objective: float) -> None:
        """When the objective rose, drop the rows loose for DROP_AGE solves in a row (they leave
        `seen`: a later walk re-adds any that become violated again)."""
        if objective <= self.last_objective + 1e-15:
            return
        loose = np.flatnonzero(self.age >= DROP_AGE)
        if loose.size:
            self.h.deleteRows(len(loose), (loose + 1).astype(np.int32))
            keep = np.ones(len(self.live), dtype=bool)
            keep[loose] = False
            for j in loose.tolist():
                self.seen.discard(self.live[j])
            self.live = [r for r, kk in zip(self.live, keep) if kk]
            self.age = self.age[keep]
        self.last_objective = objective
