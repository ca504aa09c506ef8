"""`audit`'s configuration: AuditConfig, its validation (gates and their keys included) before any
work, and the names of the files a run writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tokenizers_lab.audit import (
    charbench,
    compression,
    gates,
    integrity,
)
from tokenizers_lab.corpus import CorpusOptions
from tokenizers_lab.engine import EXECUTION, EngineSpec
from tokenizers_lab.errors import UsageError, check_range, unknown_name
from tokenizers_lab.report import INPUT, OUTPUT
from tokenizers_lab.tokenizer import (
    parse_spec,
)

# What the standalone default audit trains on the embedded corpora (the demo passes its own).
DEFAULT_TOKENIZERS: tuple[tuple[str, str, int], ...] = (
    ("bpe-4k", "bpe", 4000),
    ("superbpe-4k", "superbpe", 4000),
    ("spm-unigram-4k", "spm-unigram", 4000),
    ("wordpiece-4k", "wordpiece", 4000),
)


EMBEDDED_MONOLINGUAL = ("embedded:code", "embedded:domain")

# measures --skip can leave out: what each costs and which --fail-on metrics it feeds. Premiums,
# compression, Rényi, the probes and digits are always measured.
SKIPPABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "alignment": ("token spans aligned to words: PCW, boundary violations, their offenders", ("pcw",)),
    "integrity": ("%Lang/%Pure and building their validators", ("lang", "lang_token", "pure")),
}


@dataclass(frozen=True)
class AuditConfig(CorpusOptions):
    """Everything that determines an audit."""

    tokenizers: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    pattern: str | None = None
    parallel: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    corpora: tuple[str, ...] = dataclasses.field(default=(), metadata=INPUT)
    languages: tuple[str, ...] = ()
    pivot: str = "eng_Latn"
    alpha: float = compression.DEFAULT_ALPHA
    validators: tuple[str, ...] = ()
    charbench_per_bucket: int = 25
    charbench_words: str | None = None
    predictions: str | None = None
    charbench_model: str | None = None
    fail_on: tuple[str, ...] = ()
    baseline: str | None = dataclasses.field(default=None, metadata=INPUT)  # an earlier audit.json
    fail_on_change: tuple[str, ...] = ()  # change gates against the baseline (diff.gates)
    skip: tuple[str, ...] = ()  # of SKIPPABLE
    plots: bool = True
    metric: str | None = dataclasses.field(default=None, metadata=OUTPUT)  # --metric: print this number
    max_corpus_bytes: int = 0
    seed: int = 13
    execution: EngineSpec = dataclasses.field(default=EngineSpec(), metadata=EXECUTION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip", tuple(sorted(set(self.skip))))  # one spelling per choice

    def resolved_parallel(self) -> tuple[str, ...]:
        return self.parallel or ("embedded:parallel",)

    def resolved_corpora(self) -> tuple[str, ...]:
        """The monolingual text: --corpus; with only --parallel given, none (compression and Rényi
        are then measured on that parallel text, never on bundled text the user did not pass);
        with no text at all, the embedded samples."""
        if self.corpora:
            return self.corpora
        return () if self.parallel else EMBEDDED_MONOLINGUAL

    def resolved_validators(self) -> tuple[str, ...]:
        if "integrity" in self.skip:
            return ()
        return self.validators or ("*=corpus-words",)

    def measures(self, name: str) -> bool:
        """Whether a SKIPPABLE measure runs."""
        return name not in self.skip


# ---------------------------------------------------------------------------------------


def parsed_options(config: AuditConfig) -> tuple[list[gates.Gate], list[tuple[str, str, str]]]:
    config.execution.validate()
    check_range("--alpha", config.alpha, 0, None, lo_open=True)  # inf (min-entropy) is not computed
    check_range("--max-corpus-bytes", config.max_corpus_bytes, 0)
    if config.charbench_per_bucket < 0:
        raise UsageError("--charbench-items must be 0 (off) or more")
    if config.predictions and config.charbench_model:
        raise UsageError("give --predictions or --charbench-model, not both")
    for name in config.skip:
        if name not in SKIPPABLE:
            raise unknown_name("--skip measure", name, SKIPPABLE)
    if config.validators and "integrity" in config.skip:
        raise UsageError("--validator given with --skip integrity: %Lang would not be measured")
    parsed = [gates.parse(g) for g in config.fail_on]
    metric = [g for g in [metric_gate(config)] if g is not None]
    for option, g in [("--fail-on", g) for g in parsed] + [("--metric", g) for g in metric]:
        left_out = next((n for n in config.skip if g.metric in SKIPPABLE[n][1]), None)
        if left_out:
            raise UsageError(f"{option} {g.text!r}: {g.metric} is not measured under --skip {left_out}")
    vals = [integrity.parse_validator(v) for v in config.resolved_validators()]
    langs = [lang for lang, _, _ in vals]
    dup = {x for x in langs if langs.count(x) > 1}
    if dup:
        raise UsageError(f"--validator given twice for {sorted(dup)[0]}")
    if parsed or metric:
        keys = _gate_keys(config, langs)
        gates.check_keys(parsed, _labels(config), keys)
        gates.check_keys(metric, _labels(config), keys, "--metric")
    return parsed, vals


def metric_gate(config: AuditConfig) -> gates.Gate | None:
    """--metric parsed: a gate metric, or None for a dotted report path or no --metric (a usage
    error names what is wrong)."""
    from tokenizers_lab.audit.exports import parse_metric

    return parse_metric(config.metric, _labels(config)) if config.metric else None


def metric_answer(config: AuditConfig) -> Callable[[Any], str]:
    """What `--metric` prints for this audit: a gate metric's value, or a report path's (the name
    was checked by validate)."""
    from tokenizers_lab import metric
    from tokenizers_lab.audit.exports import metric_value

    gate, name = metric_gate(config), (config.metric or "").strip()
    if gate is None:
        return lambda report: metric.value(report, name)
    return lambda report: metric_value(report, gate)


def _labels(config: AuditConfig) -> list[str]:
    """The tokenizer labels of a run, from the command line alone (nothing loaded)."""
    if not config.tokenizers:
        return [label for label, _, _ in DEFAULT_TOKENIZERS]
    return [parse_spec(s, config.pattern).label for s in config.tokenizers]


def _gate_keys(config: AuditConfig, validator_langs: Sequence[str]) -> dict[str, list[str]]:
    """The keys each keyed gate metric will have, from the inputs' names (a directory listing of
    the parallel folders): what lets a misspelt gate fail before any encoding."""
    from tokenizers_lab.parallel import parallel_languages

    langs = parallel_languages(config.resolved_parallel(), config.languages or None)
    checked = langs if "*" in validator_langs else [x for x in langs if x in validator_langs]
    keys = dict.fromkeys(
        ("premium", "premium_concat", "tokens_per_sentence", "unk_share", "fertility", "pcw"), langs
    )
    keys.update(dict.fromkeys(("lang", "lang_token", "pure"), checked))
    answered = (config.predictions or config.charbench_model) and config.charbench_per_bucket > 0
    keys["charbench"] = [*charbench.TASKS, "all"] if answered else []
    return keys


def baseline_options(config: AuditConfig) -> tuple[dict | None, list]:
    """The baseline report and the parsed change gates, checked before any encoding: a gate
    naming nothing the baseline has fails here (with did-you-mean)."""
    from tokenizers_lab.diff import gates as change_gates
    from tokenizers_lab.diff.compare import load_report, named_metrics
    from tokenizers_lab.diff.flatten import flatten

    if config.fail_on_change and not config.baseline:
        raise UsageError("--fail-on-change needs --baseline OLD.json (the report to compare with)")
    parsed = [change_gates.parse(t) for t in config.fail_on_change]
    if not config.baseline:
        return None, parsed
    old = load_report(config.baseline, "--baseline")
    if old["provenance"]["command"] != "audit":
        raise UsageError(
            f"--baseline {config.baseline} is a {old['provenance']['command']} report, not an audit"
        )
    change_gates.check_names(parsed, named_metrics(old), sorted(flatten(old)))
    return old, parsed


def validate(config: AuditConfig) -> None:
    """Check options before any work (usage errors exit 2 without touching outputs)."""
    config.check_corpus_options()
    parsed_options(config)
    baseline_options(config)


def output_names(config: AuditConfig) -> list[str]:
    """Files an audit writes into --out (checked before any work)."""
    names = ["audit.json", "audit.md"]
    if config.charbench_per_bucket:
        names.append("charbench_items.jsonl")
    if config.charbench_model:
        names.append("charbench_predictions.jsonl")
    if config.plots:
        from tokenizers_lab.charts import ALL_BARS
        from tokenizers_lab.parallel import parallel_languages

        stems = ["audit_premium", "audit_token_lengths"]
        if len(parallel_languages(config.resolved_parallel(), config.languages or None)) - 1 > ALL_BARS:
            stems.append("audit_premium_distribution")
        names += [f"{s}.{ext}" for s in stems for ext in ("svg", "png")]
    return names
