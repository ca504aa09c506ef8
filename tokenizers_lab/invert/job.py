"""The `invert` job: read the samples, count the tokenizer's pre-tokens (forked workers or a Dask
cluster), derive count events from the merges, solve the LP and bootstrap it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import numpy as np
import scipy.stats

from tokenizers_lab.engine import (
    Engine,
    LocalEngine,
    engine_info,
    open_engine,
)
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.invert import chains, lp, pretokens
from tokenizers_lab.invert.config import (
    SIMILAR_TV,
    UNIDENTIFIABLE_RANGE,
    InvertConfig,
    parse_categories,
    parse_truth,
    validate,
)
from tokenizers_lab.invert.replay import Replay, plan_for, replay
from tokenizers_lab.invert.report import DEFINITIONS, CategoryResult, InvertReport, Score, SolverStats
from tokenizers_lab.invert.samples import Sample, merge_range, read_sample
from tokenizers_lab.invert.shards import count_shards, events_on_engine
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import InputRef, Stopwatch, make_provenance
from tokenizers_lab.tokenizer import THREADS, TokenizerView, load_tokenizer


def _tv_distances(prob: lp.Problem) -> np.ndarray:
    """Total-variation distance between every two categories' initial pair distributions."""
    n = prob.n
    dense = np.zeros((n, prob.n_pairs))
    np.add.at(dense, (prob.init_cat, prob.init_pid), prob.init_count)
    dense /= np.maximum(dense.sum(axis=1, keepdims=True), 1)
    out = np.zeros((n, n))
    for i in range(n):
        out[i] = 0.5 * np.abs(dense - dense[i]).sum(axis=1)
    return out


def _baseline(prob: lp.Problem, first: int) -> np.ndarray:
    """TC: each constrained merge to the category where its pair is most frequent per pair."""
    rate = prob.merge_count[first:] / np.maximum(prob.denom, 1)
    has = rate.sum(axis=1) > 0
    votes = np.bincount(rate[has].argmax(axis=1), minlength=prob.n).astype(float)
    return votes / votes.sum() if votes.sum() else np.full(prob.n, 1.0 / prob.n)


def _groups(n: int, close: np.ndarray) -> list[list[int]]:
    """Connected components of a boolean closeness matrix."""
    seen, out = set(), []
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


def run(
    config: InvertConfig, *, progress: Progress | None = None, view: TokenizerView | None = None
) -> InvertReport:
    """Infer the mixture of the tokenizer's training data over the given categories."""
    progress = progress or (lambda stage, fraction: None)
    clock = Stopwatch()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    validate(config)
    if config.tokenizer is None and view is None:
        raise UsageError(
            "invert needs a tokenizer (tokenizers_lab.invert.example.run is the embedded example)"
        )
    cats = parse_categories(config.categories)
    if len(cats) < 2:
        raise UsageError("invert needs at least two --category NAME=PATH samples")
    truth = parse_truth(config.truth, [n for n, _ in cats])
    if view is None:
        assert config.tokenizer is not None
        view = load_tokenizer(config.tokenizer, config.pattern)
    merge_range(view, config)
    timings["load_seconds"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    samples = []
    for i, (name, spec) in enumerate(cats):
        progress(f"reading {name}", i / len(cats))
        samples.append(read_sample(name, spec, config))
    timings["read_seconds"] = time.perf_counter() - t1
    return infer(config, view, samples, truth, progress, clock, timings)


def infer(
    config: InvertConfig,
    view: TokenizerView,
    samples: Sequence[Sample],
    truth: dict[str, float] | None,
    progress: Progress,
    clock: Stopwatch,
    timings: dict[str, float],
) -> InvertReport:
    """The inversion proper, on samples already read."""
    with open_engine(config.execution) as engine:
        return _infer(config, view, samples, truth, progress, clock, timings, engine)


def _infer(
    config: InvertConfig,
    view: TokenizerView,
    samples: Sequence[Sample],
    truth: dict[str, float] | None,
    progress: Progress,
    clock: Stopwatch,
    timings: dict[str, float],
    engine: Engine,
) -> InvertReport:
    all_merges, last = merge_range(view, config)
    merges = all_merges[:last]
    unit = pretokens.unit(view)
    plan = plan_for(merges, unit)  # once: every shard replays the same merge list
    t2 = time.perf_counter()
    fast = chains.eligible(plan, unit)
    pretokenize = 0.0
    unit_words: list[Counter[bytes]] = []
    replays: list[Replay] = []
    group: list[int] = []
    distinct: list[int] = [0] * len(samples)
    n_units = sum(len(s.shards) for s in samples)
    shards = [(ci, lines) for ci, s in enumerate(samples) for lines in s.shards]
    local = isinstance(engine, LocalEngine)
    if not local:  # counted and replayed on the workers: pretokenize_seconds holds both
        group = [ci for ci, _ in shards]
        st = events_on_engine(engine, view, plan, merges, shards, fast, distinct, progress)
        pretokenize = time.perf_counter() - t2
        shards = []
    tp = time.perf_counter()
    for (ci, _), words in zip(
        shards, count_shards(view, [lines for _, lines in shards], config.execution.workers)
    ):
        progress(
            f"{'pre-tokenized' if fast else f'replaying {len(merges)} merges on'} {samples[ci].name}",
            len(group) / n_units,
        )
        distinct[ci] += len(words)
        group.append(ci)
        if fast:
            unit_words.append(words)
        else:
            pretokenize += time.perf_counter() - tp
            replays.append(replay(words, merges, plan=plan))
            tp = time.perf_counter()
    pretokenize += time.perf_counter() - tp
    if fast and local:  # the chain method: every unit's events at once
        progress(f"counting pair events of {len(merges)} merges", None)
        st = chains.store(unit_words, plan, merges)
        del unit_words
    timings["pretokenize_seconds"] = pretokenize
    timings["replay_seconds"] = time.perf_counter() - t2 - pretokenize
    ids = plan.constrained
    redundant = sum(plan.redundant[config.start :])
    t3 = time.perf_counter()
    if not fast and local:
        st = lp.store(replays, ids)
        del replays
    prob = lp.aggregate(st, group, first=config.start)
    if not (prob.denom > 0).any():
        raise InputError(
            f"no sample has a pair left before merge {config.start}: every pre-token is already "
            "one token, so the constrained merges see none of the samples"
        )
    timings["count_table_seconds"] = time.perf_counter() - t3
    progress("solving the LP", None)
    sol = lp.solve(prob, k=config.competitors, first=config.start, ranges=True)
    shares = np.array(sol.proportions)

    # bootstrap over shards
    t4 = time.perf_counter()
    boots = []
    rng = np.random.default_rng(config.seed)
    shard_counts = [len(s.shards) for s in samples]
    if config.bootstrap and max(shard_counts) > 1:
        # every resample's weights drawn here, in order: the threads below never change a result
        ws = [
            np.concatenate([rng.multinomial(k, np.full(k, 1.0 / k)) for k in shard_counts])
            for _ in range(config.bootstrap)
        ]

        def resample(w: np.ndarray) -> tuple[float, ...]:
            # warm start: the rows binding at the point estimate, then at most bootstrap_passes
            # lazy passes (0: until converged, as the point estimate)
            return lp.solve(
                lp.aggregate(st, group, w, first=config.start),
                k=config.competitors,
                first=config.start,
                seed_rows=sol.binding or sol.rows,
                max_passes=config.bootstrap_passes or 2000,
            ).proportions

        # HiGHS releases the GIL while it solves: resamples run side by side on the cores
        with ThreadPoolExecutor(max(1, min(THREADS, config.bootstrap))) as pool:
            for b, props in enumerate(pool.map(resample, ws)):
                progress(f"bootstrap {b + 1}/{config.bootstrap}", (b + 1) / config.bootstrap)
                boots.append(props)
    timings["bootstrap_seconds"] = time.perf_counter() - t4
    # normal interval with the bootstrap's standard error: with few, coarse shards the resampled
    # LP estimates are biased and a percentile interval can miss the estimate itself
    # Student's t with B - 1 degrees of freedom: few resamples estimate the standard error loosely
    sd = np.array(boots).std(axis=0, ddof=1) if len(boots) >= 2 else None
    q = float(scipy.stats.t.ppf(0.975, len(boots) - 1)) if sd is not None else 0.0
    ci = None if sd is None else (np.clip(shares - q * sd, 0, 1), np.clip(shares + q * sd, 0, 1))

    tv = _tv_distances(prob)
    names = [s.name for s in samples]
    close = (tv < SIMILAR_TV) & ~np.eye(len(samples), dtype=bool)
    wide = (
        np.array([r is not None and r[1] - r[0] > UNIDENTIFIABLE_RANGE for r in sol.ranges])
        if sol.ranges
        else np.zeros(len(samples), bool)
    )
    exhausted = prob.denom <= 0  # no pairs left before merge --start: the merges see nothing of it
    wide |= exhausted
    identifiable = ~(close.any(axis=1) | wide)
    groups = _groups(len(samples), close)
    unident = tuple(tuple(names[j] for j in g) for g in groups if len(g) > 1)
    unident += tuple((names[j],) for j in np.flatnonzero(wide) if not close[j].any())
    similar = tuple(
        (names[i], names[j], float(tv[i, j]))
        for i in range(len(samples))
        for j in range(i + 1, len(samples))
        if tv[i, j] < 2 * SIMILAR_TV
    )
    base = _baseline(prob, config.start)

    results = []
    for i, s in enumerate(samples):
        span = sol.ranges[i] if sol.ranges else (float(shares[i]), float(shares[i]))
        lo, hi = span if span is not None else (None, None)
        results.append(
            CategoryResult(
                name=s.name,
                source=s.source,
                sample_bytes=s.bytes,
                shards=len(s.shards),
                pretokens=distinct[i],
                pairs=int(prob.pairs[i]),
                share=float(shares[i]),
                ci_low=float(ci[0][i]) if ci is not None else None,
                ci_high=float(ci[1][i]) if ci is not None else None,
                bootstrap_sd=float(sd[i]) if sd is not None else None,
                range_low=lo,
                range_high=hi,
                identifiable=bool(identifiable[i]),
                alpha=sol.alpha[i],
                baseline_share=float(base[i]),
                truth=truth[s.name] if truth else None,
            )
        )
    score = None
    if truth:
        tv_ = np.array([truth[n] for n in names])
        mse = float(np.mean((shares - tv_) ** 2))
        bmse = float(np.mean((base - tv_) ** 2))
        umse = float(np.mean((1.0 / len(names) - tv_) ** 2))
        score = Score(
            mse=mse,
            mae=float(np.mean(np.abs(shares - tv_))),
            log10_mse=_log10(mse),
            baseline_mse=bmse,
            baseline_log10_mse=_log10(bmse),
            uniform_log10_mse=_log10(umse),
        )
    notes = list(view.notes)
    if sol.status == "stalled":
        notes.append(
            f"the lazy LP stopped when the estimate and objective stopped moving (over {lp.STALL_PASSES} "
            f"solves: objective +{lp.STALL_OBJECTIVE:.1%} at most, no share by {lp.STALL_SHARE:g}); "
            f"{sol.violated_left} violated rows were still being found: the slack is a lower bound"
        )
    elif sol.status != "optimal":
        notes.append(f"HiGHS ended with status {sol.status!r}: the estimate may be unreliable")
    if unident:
        notes.append(
            "unidentifiable: "
            + "; ".join(" + ".join(g) for g in unident)
            + " (the merges cannot tell these apart; read their combined share)"
        )
    if ci is None:
        notes.append("no confidence interval: give --bootstrap N and samples of at least two lines")
    if config.start:
        notes.append(
            f"merges 0..{config.start - 1} were replayed but not constrained (--start); each category's "
            "d_i counts its pairs left before merge --start"
        )
    for i in np.flatnonzero(exhausted):
        notes.append(
            f"{names[i]}: no pair left before merge {config.start} (every pre-token is already one "
            "token): its share is held at 0 and cannot be measured by these merges"
        )
    if redundant:
        notes.append(
            f"{redundant} redundant merges (a token an earlier merge already made: SentencePiece lists "
            "every split of a piece) were replayed but not constrained"
        )
    if sol.missing_merges - redundant:
        notes.append(
            f"{sol.missing_merges - redundant} constrained merges never occur in any sample at their step "
            "(no constraint): a category the tokenizer saw may be missing"
        )
    stats = SolverStats(
        status=sol.status,
        objective=sol.objective,
        step_slack=sol.step_slack,
        pair_slack=sol.pair_slack,
        constraints=sol.generated,
        passes=sol.passes,
        missing_merges=sol.missing_merges - redundant,
        redundant_merges=redundant,
        violated_left=sol.violated_left,
        first_merge=config.start,
        last_merge=last,
        merges_in_list=len(all_merges),
        competitors_per_step=config.competitors,
    )
    timings["solve_seconds"] = sol.seconds  # times live here only: the rest of a report is reproducible
    timings["walk_seconds"] = sol.walk_seconds
    inputs = [InputRef(role="tokenizer", name=view.label, sha256=view.fingerprint, bytes=view.nbytes)] + [
        s.ref for s in samples
    ]
    prov = make_provenance(
        "invert",
        config,
        inputs,
        config.seed,
        [
            ("tok", f"{view.label}@{view.short_fingerprint}"),
            ("merges", f"{config.start}-{last}"),
            ("cats", "+".join(f"{s.name}@{s.ref.sha256[:7]}" for s in samples)),
            ("sample", str(config.sample_bytes)),
            ("shards", str(config.shards)),
            ("boot", str(config.bootstrap)),
        ],
    )
    return InvertReport(
        provenance=prov,
        tokenizer=view.label,
        tokenizer_sha256=view.fingerprint,
        unit=unit,
        categories=tuple(results),
        solver=stats,
        bootstrap=len(boots),
        unidentifiable=unident,
        similar=similar,
        score=score,
        notes=tuple(notes),
        definitions=DEFINITIONS,
        run=clock.info({"highspy": version("highspy"), "numpy": np.__version__}, engine_info(engine)),
        timings=timings,
    )


def _log10(x: float) -> float:
    return float(np.log10(x)) if x > 0 else -float("inf")
