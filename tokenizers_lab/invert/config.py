"""`invert`'s configuration: InvertConfig, the --category/--truth parsers, validation before any
work, and the names of the files a run writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers_lab.corpus import CorpusOptions
from tokenizers_lab.engine import (
    EXECUTION,
    EngineSpec,
)
from tokenizers_lab.errors import UsageError, check_range
from tokenizers_lab.report import INPUT, OUTPUT

UNIDENTIFIABLE_RANGE = 0.02  # a share that can move this much on the LP's optimal face
SIMILAR_TV = 0.02  # total-variation distance of initial pair distributions below which two samples look alike
DEFAULT_MERGES = 30_000  # the paper's T


@dataclass(frozen=True)
class InvertConfig(CorpusOptions):
    """Everything that determines an inversion."""

    tokenizer: str | None = dataclasses.field(default=None, metadata=INPUT)
    categories: tuple[str, ...] = ()  # NAME=PATH (any corpus spec)
    merges: int | None = None  # merges constrained (default: up to 30,000 from --start)
    start: int = 0  # first merge constrained; earlier merges are replayed only (Llama 3: 100000)
    sample_bytes: int = 10_000_000  # per category
    shards: int = 10  # per category, for the bootstrap
    bootstrap: int = 8  # resamples; 8 warm-started ones cost about one point estimate on 2 cores
    bootstrap_passes: int = 3  # lazy passes per resample after its warm start (0: until converged)
    competitors: int = 10  # violated competitors added per step and pass
    truth: tuple[str, ...] = ()  # NAME=SHARE: known proportions to score the estimate against
    pattern: str | None = None
    seed: int = 13
    metric: str | None = dataclasses.field(default=None, metadata=OUTPUT)  # --metric: print this number
    # --engine/--address/--workers: local forks `workers` processes pre-tokenizing shards (0: one
    # per CPU); dask runs count (and replay) per shard on the cluster
    execution: EngineSpec = dataclasses.field(default=EngineSpec(), metadata=EXECUTION)


def parse_categories(specs: Sequence[str]) -> list[tuple[str, str]]:
    """NAME=PATH pairs; names unique."""
    out: list[tuple[str, str]] = []
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"--category {s!r}: expected NAME=PATH")
        out.append((name.strip(), path.strip()))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"--category {dup[0]!r} is given twice")
    return out


def parse_truth(specs: Sequence[str], names: Sequence[str]) -> dict[str, float] | None:
    """NAME=SHARE for every category (renormalised), or None."""
    if not specs:
        return None
    truth = {}
    for s in specs:
        name, sep, val = s.partition("=")
        try:
            truth[name.strip()] = float(val)
        except ValueError:
            raise UsageError(f"--truth {s!r}: expected NAME=SHARE") from None
        if not sep:
            raise UsageError(f"--truth {s!r}: expected NAME=SHARE")
        check_range(f"--truth {name.strip()}", truth[name.strip()], 0, 1)
    missing = [n for n in names if n not in truth]
    extra = [n for n in truth if n not in names]
    if missing or extra:
        raise UsageError(
            f"--truth must name every category once ({'missing ' + missing[0] if missing else 'unknown ' + extra[0]})"
        )
    total = sum(truth.values())
    if abs(total - 1) > 1e-3:  # known shares are a distribution: a typo must not be renormalised away
        raise UsageError(f"--truth shares sum to {total:g}, not 1")
    return {n: truth[n] / total for n in names}


def validate(config: InvertConfig) -> None:
    """Check options before any work (usage errors exit 2 without touching outputs)."""
    config.check_corpus_options()
    if config.merges is not None and config.merges < 1:
        raise UsageError("--merges must be at least 1")
    if config.start < 0:
        raise UsageError("--start must be 0 or more")
    if config.sample_bytes < 1:
        raise UsageError("--sample-bytes must be positive")
    if config.shards < 1 or config.bootstrap < 0 or config.bootstrap_passes < 0:
        raise UsageError("--shards must be at least 1, --bootstrap and --bootstrap-passes 0 or more")
    config.execution.validate()
    if config.competitors < 1:
        raise UsageError("--competitors must be at least 1")
    if config.tokenizer is None:  # the embedded example (invert.example) brings its own samples
        return
    cats = parse_categories(config.categories)
    if len(cats) < 2:
        raise UsageError("invert needs at least two --category NAME=PATH samples")
    parse_truth(config.truth, [n for n, _ in cats])


def output_names(config: InvertConfig) -> list[str]:
    return ["invert.json", "invert.md", "invert_shares.svg", "invert_shares.png"]
