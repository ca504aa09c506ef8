"""From the LP's solution to the report's numbers: which categories the merges can tell apart,
the bootstrap interval, the per-category rows, the TC baseline and the score against a truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from tokenizers_lab.invert import lp
from tokenizers_lab.invert.config import SIMILAR_TV, UNIDENTIFIABLE_RANGE
from tokenizers_lab.invert.report import CategoryResult, Score
from tokenizers_lab.invert.samples import Sample


@dataclass(frozen=True)
class Identifiability:
    identifiable: np.ndarray  # bool per category
    unidentifiable: tuple[tuple[str, ...], ...]  # groups the merges cannot tell apart
    similar: tuple[tuple[str, str, float], ...]  # pairs with close initial pair distributions
    exhausted: tuple[str, ...]  # categories with no pair left before the first constrained merge


@dataclass(frozen=True)
class Interval:
    sd: np.ndarray  # the bootstrap's standard error per category
    low: np.ndarray
    high: np.ndarray


def tv_distances(prob: lp.Problem) -> np.ndarray:
    """Total-variation distance between every two categories' initial pair distributions."""
    n = prob.n
    dense = np.zeros((n, prob.n_pairs))
    np.add.at(dense, (prob.init_cat, prob.init_pid), prob.init_count)
    dense /= np.maximum(dense.sum(axis=1, keepdims=True), 1)
    out = np.zeros((n, n))
    for i in range(n):
        out[i] = 0.5 * np.abs(dense - dense[i]).sum(axis=1)
    return out


def baseline(prob: lp.Problem, first: int) -> np.ndarray:
    """TC: each constrained merge to the category where its pair is most frequent per pair."""
    rate = prob.merge_count[first:] / np.maximum(prob.denom, 1)
    has = rate.sum(axis=1) > 0
    votes = np.bincount(rate[has].argmax(axis=1), minlength=prob.n).astype(float)
    return votes / votes.sum() if votes.sum() else np.full(prob.n, 1.0 / prob.n)


def groups(n: int, close: np.ndarray) -> list[list[int]]:
    """Connected components of a boolean closeness matrix."""
    seen: set[int] = set()
    out = []
    for i in range(n):
        if i in seen:
            continue
        stack, comp = [i], []
        seen.add(i)
        while stack:
            j = stack.pop()
            comp.append(j)
            for q in np.flatnonzero(close[j]).tolist():
                if q not in seen:
                    seen.add(q)
                    stack.append(q)
        out.append(sorted(comp))
    return out


def identifiability(prob: lp.Problem, sol: lp.Solution, names: Sequence[str]) -> Identifiability:
    """Categories whose initial pair distributions are close (TV < SIMILAR_TV), whose feasible
    share range is wide, or that the merges never see, are not identifiable."""
    n = len(names)
    tv = tv_distances(prob)
    close = (tv < SIMILAR_TV) & ~np.eye(n, dtype=bool)
    wide = (
        np.array([r is not None and r[1] - r[0] > UNIDENTIFIABLE_RANGE for r in sol.ranges])
        if sol.ranges
        else np.zeros(n, bool)
    )
    exhausted = prob.denom <= 0  # no pairs left before merge --start: the merges see nothing of it
    wide |= exhausted
    unident = tuple(tuple(names[j] for j in g) for g in groups(n, close) if len(g) > 1)
    unident += tuple((names[j],) for j in np.flatnonzero(wide).tolist() if not close[j].any())
    similar = tuple(
        (names[i], names[j], float(tv[i, j]))
        for i in range(n)
        for j in range(i + 1, n)
        if tv[i, j] < 2 * SIMILAR_TV
    )
    return Identifiability(
        identifiable=~(close.any(axis=1) | wide),
        unidentifiable=unident,
        similar=similar,
        exhausted=tuple(names[i] for i in np.flatnonzero(exhausted).tolist()),
    )


def interval(shares: np.ndarray, boots: Sequence[tuple[float, ...]]) -> Interval | None:
    """A normal interval with the bootstrap's standard error and Student's t with B - 1 degrees
    of freedom (few resamples estimate the standard error loosely); with few, coarse shards the
    resampled LP estimates are biased and a percentile interval can miss the estimate itself."""
    if len(boots) < 2:
        return None
    sd = np.array(boots).std(axis=0, ddof=1)
    q = float(scipy.stats.t.ppf(0.975, len(boots) - 1))
    return Interval(sd, np.clip(shares - q * sd, 0, 1), np.clip(shares + q * sd, 0, 1))


def results(
    samples: Sequence[Sample],
    distinct: Sequence[int],
    prob: lp.Problem,
    sol: lp.Solution,
    shares: np.ndarray,
    ci: Interval | None,
    ident: Identifiability,
    base: np.ndarray,
    truth: dict[str, float] | None,
) -> list[CategoryResult]:
    out = []
    for i, s in enumerate(samples):
        span = sol.ranges[i] if sol.ranges else (float(shares[i]), float(shares[i]))
        lo, hi = span if span is not None else (None, None)
        out.append(
            CategoryResult(
                name=s.name,
                source=s.source,
                sample_bytes=s.bytes,
                shards=len(s.shards),
                pretokens=distinct[i],
                pairs=int(prob.pairs[i]),
                share=float(shares[i]),
                ci_low=float(ci.low[i]) if ci is not None else None,
                ci_high=float(ci.high[i]) if ci is not None else None,
                bootstrap_sd=float(ci.sd[i]) if ci is not None else None,
                range_low=lo,
                range_high=hi,
                identifiable=bool(ident.identifiable[i]),
                alpha=sol.alpha[i],
                baseline_share=float(base[i]),
                truth=truth[s.name] if truth else None,
            )
        )
    return out


def score(truth: dict[str, float], names: Sequence[str], shares: np.ndarray, base: np.ndarray) -> Score:
    """MSE of the estimate, of the TC baseline and of uniform shares against the known mixture."""
    known = np.array([truth[n] for n in names])
    mse = float(np.mean((shares - known) ** 2))
    bmse = float(np.mean((base - known) ** 2))
    umse = float(np.mean((1.0 / len(names) - known) ** 2))
    return Score(
        mse=mse,
        mae=float(np.mean(np.abs(shares - known))),
        log10_mse=_log10(mse),
        baseline_mse=bmse,
        baseline_log10_mse=_log10(bmse),
        uniform_log10_mse=_log10(umse),
    )


def _log10(x: float) -> float:
    return float(np.log10(x)) if x > 0 else -float("inf")
