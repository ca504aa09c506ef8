"""`invert`'s report: per-category shares with intervals, the solver's statistics, the score
against a known mixture; rendered by `markdown.render`."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenizers_lab.invert.config import SIMILAR_TV, UNIDENTIFIABLE_RANGE
from tokenizers_lab.report import Markdown, Provenance, RunInfo


@dataclass(frozen=True)
class CategoryResult:
    """The estimate for one category."""

    name: str
    source: str
    sample_bytes: int
    shards: int
    pretokens: int  # distinct pre-tokens in the sample
    pairs: int  # d_i: symbol pairs before any merge
    share: float  # estimated share of the training bytes
    ci_low: float | None  # 95 % normal interval, estimate +- 1.96 bootstrap standard errors
    ci_high: float | None
    bootstrap_sd: float | None
    range_low: float | None  # the share at the optimal-face points of least / most alpha_i (None: the
    range_high: float | None  # range solves ran out of their iteration budget)
    identifiable: bool
    alpha: float  # the LP's weight in pair-mass units
    baseline_share: float  # token classification (TC) baseline
    truth: float | None


@dataclass(frozen=True)
class SolverStats:
    """How the LP went."""

    status: str
    objective: float
    step_slack: float
    pair_slack: float
    constraints: int
    passes: int
    missing_merges: int  # constrained merges whose pair no sample holds at its step
    violated_left: int  # rows the last walk still found violated when the solver stalled (at most 20,000)
    redundant_merges: (
        int  # merges whose token an earlier merge already made (SentencePiece splits): not constrained
    )
    first_merge: int
    last_merge: int  # exclusive
    merges_in_list: int
    competitors_per_step: int


@dataclass(frozen=True)
class Score:
    """The estimate against known proportions (controlled runs)."""

    mse: float
    mae: float
    log10_mse: float
    baseline_mse: float
    baseline_log10_mse: float
    uniform_log10_mse: float


@dataclass(frozen=True)
class InvertReport(Markdown):
    """Mixture inference for one tokenizer."""

    provenance: Provenance
    tokenizer: str
    tokenizer_sha256: str
    unit: str  # 'byte' or 'char': what the merges start from
    categories: tuple[CategoryResult, ...]
    solver: SolverStats
    bootstrap: int
    unidentifiable: tuple[tuple[str, ...], ...]
    similar: tuple[tuple[str, str, float], ...]  # sample pairs whose pair distributions nearly coincide
    score: Score | None
    notes: tuple[str, ...]
    definitions: dict[str, str]
    run: RunInfo
    timings: dict[str, float] = field(default_factory=dict)
    charts: tuple[str, ...] = ()  # SVG files beside the report (each with a PNG twin)
    artifacts: dict[str, bytes] = field(default_factory=dict, metadata={"artifact": True}, repr=False)


DEFINITIONS = {
    "share": "Hayase et al. 2024: the LP's alpha_i (pair-mass units) times bytes_i / pairs_i of the sample, "
    "renormalised: the estimated share of the tokenizer's training bytes",
    "lp": "minimise sum_t v_t + sum_p v_p subject to sum_i alpha_i (c_i,m(t) - c_i,p) / d_i + v_t + v_p >= 0 for "
    "every constrained merge t and competing pair p, alpha on the simplex; c counted before merge t on "
    "each category's sample, d_i its pairs before the first constrained merge (before any merge without --start); rows generated lazily (k most violated "
    "competitors per step and pass) and solved with HiGHS",
    "ci": "95 % interval: the estimate +- t(0.975, B - 1) standard deviations of the estimates over B bootstrap "
    "resamples of each sample's shards (contiguous byte ranges); each resample starts from the rows "
    "binding at the main solution and runs at most bootstrap_passes lazy passes (0: until converged); "
    "Student's t because few resamples estimate the deviation loosely (a percentile interval can miss "
    "the estimate when shards are few and coarse)",
    "range": "the share at the points of the LP's optimal face (total slack within 1e-7 relative of the "
    "optimum, over the rows generated) that minimise and maximise alpha_i; a wide range means the "
    "merges do not pin the category down; empty when a range solve used up its 3,000 simplex "
    "iterations or the LP kept more than 50,000 rows",
    "identifiable": f"range narrower than {UNIDENTIFIABLE_RANGE} and no other sample within total-variation "
    f"distance {SIMILAR_TV} of its initial pair distribution",
    "baseline": "token classification (the paper's TC baseline, on the replay): each constrained merge goes to "
    "the category whose sample has the highest count of its pair per pair at that step; shares of "
    "merges",
    "missing_merges": "constrained merges whose pair occurs in no sample when applied (no row)",
    "mse": "mean over categories of (estimate - truth)^2, as in the paper (log10 reported)",
}
