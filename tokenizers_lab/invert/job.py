"""The `invert` job: read the samples, count the tokenizer's pre-tokens (forked workers or a Dask
cluster), derive count events from the merges, solve the LP and bootstrap it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import numpy as np

from tokenizers_lab.engine import (
    Engine,
    LocalEngine,
    engine_info,
    open_engine,
)
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.invert import chains, estimate, lp, pretokens
from tokenizers_lab.invert.config import (
    InvertConfig,
    parse_categories,
    parse_truth,
    validate,
)
from tokenizers_lab.invert.replay import Plan, Replay, plan_for, replay
from tokenizers_lab.invert.report import DEFINITIONS, CategoryResult, InvertReport, SolverStats
from tokenizers_lab.invert.samples import Sample, merge_range, read_sample
from tokenizers_lab.invert.shards import count_shards, events_on_engine
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import InputRef, Stopwatch, make_provenance
from tokenizers_lab.tokenizer import THREADS, TokenizerView, load_tokenizer


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
    st, group, distinct = _events(config, view, samples, merges, plan, engine, progress, timings)
    redundant = sum(plan.redundant[config.start :])
    t3 = time.perf_counter()
    prob = lp.aggregate(st, group, first=config.start)
    if not (prob.denom > 0).any():
        raise InputError(
            f"no sample has a pair left before merge {config.start}: every pre-token is already "
            "one token, so the constrained merges see none of the samples"
        )
    timings["count_table_seconds"] += time.perf_counter() - t3
    progress("solving the LP", None)
    sol = lp.solve(prob, k=config.competitors, first=config.start, ranges=True)
    shares = np.array(sol.proportions)
    t4 = time.perf_counter()
    boots = _bootstrap(config, st, group, [len(s.shards) for s in samples], sol, progress)
    timings["bootstrap_seconds"] = time.perf_counter() - t4
    names = [s.name for s in samples]
    ident = estimate.identifiability(prob, sol, names)
    base = estimate.baseline(prob, config.start)
    interval = estimate.interval(shares, boots)
    results = estimate.results(samples, distinct, prob, sol, shares, interval, ident, base, truth)
    notes = [*view.notes, *_notes(config, sol, ident, redundant, interval is None)]
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
    artifacts: dict[str, bytes] = {}
    chart_names = shares_chart(results, artifacts, notes)
    return InvertReport(
        provenance=prov,
        tokenizer=view.label,
        tokenizer_sha256=view.fingerprint,
        unit=unit,
        categories=tuple(results),
        solver=stats,
        bootstrap=len(boots),
        unidentifiable=ident.unidentifiable,
        similar=ident.similar,
        score=estimate.score(truth, names, shares, base) if truth else None,
        notes=tuple(notes),
        definitions=DEFINITIONS,
        run=clock.info({"highspy": version("highspy"), "numpy": np.__version__}, engine_info(engine)),
        timings=timings,
        charts=chart_names,
        artifacts=artifacts,
    )


def shares_chart(
    results: Sequence[CategoryResult], artifacts: dict[str, bytes], notes: list[str]
) -> tuple[str, ...]:
    """The estimated shares with their intervals as a bar chart (SVG + PNG), its name."""
    from tokenizers_lab import charts

    if not charts.available():
        notes.append(f"chart skipped: matplotlib is not installed ({charts.PLOT_EXTRA})")
        return ()
    artifacts.update(
        charts.shares_chart(
            [c.name for c in results],
            [c.share for c in results],
            [(c.ci_low, c.ci_high) for c in results],
            [c.truth for c in results],
            [c.baseline_share for c in results],
        )
    )
    return ("invert_shares.svg",)


def _events(
    config: InvertConfig,
    view: TokenizerView,
    samples: Sequence[Sample],
    merges: Sequence[tuple[bytes, bytes]],
    plan: Plan,
    engine: Engine,
    progress: Progress,
    timings: dict[str, float],
) -> tuple[lp.Store, list[int], list[int]]:
    """Every shard's pre-tokens counted and its count events derived from the merges: the store,
    the sample each shard belongs to, and each sample's distinct pre-tokens."""
    t2 = time.perf_counter()
    fast = chains.eligible(plan, pretokens.unit(view))
    pretokenize = 0.0
    unit_words: list[Counter[bytes]] = []
    replays: list[Replay] = []
    group: list[int] = []
    distinct: list[int] = [0] * len(samples)
    n_units = sum(len(s.shards) for s in samples)
    shards = [(cat, lines) for cat, s in enumerate(samples) for lines in s.shards]
    local = isinstance(engine, LocalEngine)
    st: lp.Store | None = None
    if not local:  # counted and replayed on the workers: pretokenize_seconds holds both
        group = [cat for cat, _ in shards]
        st = events_on_engine(engine, view, plan, merges, shards, fast, distinct, progress)
        pretokenize = time.perf_counter() - t2
        shards = []
    tp = time.perf_counter()
    for (cat, _), words in zip(
        shards, count_shards(view, [lines for _, lines in shards], config.execution.workers)
    ):
        progress(
            f"{'pre-tokenized' if fast else f'replaying {len(merges)} merges on'} {samples[cat].name}",
            len(group) / n_units,
        )
        distinct[cat] += len(words)
        group.append(cat)
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
    t3 = time.perf_counter()
    if not fast and local:
        st = lp.store(replays, plan.constrained)
        del replays
    timings["count_table_seconds"] = time.perf_counter() - t3
    assert st is not None
    return st, group, distinct


def _bootstrap(
    config: InvertConfig,
    st: lp.Store,
    group: list[int],
    shard_counts: list[int],
    sol: lp.Solution,
    progress: Progress,
) -> list[tuple[float, ...]]:
    """The LP re-solved on shards resampled with replacement within each sample."""
    if not config.bootstrap or max(shard_counts) <= 1:
        return []
    rng = np.random.default_rng(config.seed)
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

    boots = []
    # HiGHS releases the GIL while it solves: resamples run side by side on the cores
    with ThreadPoolExecutor(max(1, min(THREADS, config.bootstrap))) as pool:
        for b, props in enumerate(pool.map(resample, ws)):
            progress(f"bootstrap {b + 1}/{config.bootstrap}", (b + 1) / config.bootstrap)
            boots.append(props)
    return boots


def _notes(
    config: InvertConfig, sol: lp.Solution, ident: estimate.Identifiability, redundant: int, no_interval: bool
) -> list[str]:
    notes = []
    if sol.status == "stalled":
        notes.append(
            f"the lazy LP stopped when the estimate and objective stopped moving (over {lp.STALL_PASSES} "
            f"solves: objective +{lp.STALL_OBJECTIVE:.1%} at most, no share by {lp.STALL_SHARE:g}); "
            f"{sol.violated_left} violated rows were still being found: the slack is a lower bound"
        )
    elif sol.status != "optimal":
        notes.append(f"HiGHS ended with status {sol.status!r}: the estimate may be unreliable")
    if ident.unidentifiable:
        notes.append(
            "unidentifiable: "
            + "; ".join(" + ".join(g) for g in ident.unidentifiable)
            + " (the merges cannot tell these apart; read their combined share)"
        )
    if no_interval:
        notes.append("no confidence interval: give --bootstrap N and samples of at least two lines")
    if config.start:
        notes.append(
            f"merges 0..{config.start - 1} were replayed but not constrained (--start); each category's "
            "d_i counts its pairs left before merge --start"
        )
    for name in ident.exhausted:
        notes.append(
            f"{name}: no pair left before merge {config.start} (every pre-token is already one "
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
    return notes
