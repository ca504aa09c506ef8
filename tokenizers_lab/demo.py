"""`demo`: the main job on the embedded corpora — trains several tokenizers (SuperBPE included),
compares them (audit), infers a known training mixture back (invert), moves a tiny model onto
another tokenizer (transplant), and gathers every report into one folder."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokenizers_lab import train
from tokenizers_lab.demo_markdown import COMPARE_VOCAB, render
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import InputRef, Provenance, RunInfo, Stopwatch, dumps, make_provenance
from tokenizers_lab.transplant.example import TransplantRow

if TYPE_CHECKING:
    from tokenizers_lab.invert import InvertReport

# (step name, algorithm, vocab sizes, extra options): a BPE sweep, one of each family at equal
# vocab, and SuperBPE's fair baseline (plain BPE with SuperBPE's stage-1 regex).
STEPS: tuple[tuple[str, str, tuple[int, ...], dict], ...] = (
    ("bpe", "bpe", (1000, 2000, 4000), {}),
    ("bpe-stage1-regex", "bpe", (4000,), {"pretokenizer": "superbpe-stage1"}),
    ("superbpe", "superbpe", (4000,), {}),
    ("spm-unigram", "spm-unigram", (4000,), {}),
    ("bpe-metaspace", "bpe-metaspace", (4000,), {}),
    ("wordpiece", "wordpiece", (4000,), {}),
)
# The demo's audit step measures these trained tokenizers side by side (at COMPARE_VOCAB).
AUDIT_STEPS = ("bpe", "superbpe", "spm-unigram", "bpe-metaspace", "wordpiece")
# The demo's invert step: the embedded controlled example (tokenizers_lab/invert/example.py).
INVERT_BOOTSTRAP = 10
# The demo's transplant step: a tiny model on bpe at this size, moved onto this tokenizer.
TRANSPLANT_OLD = 2000  # = transplant.example.OLD_VOCAB, so embedded:tiny is the demo's model
TRANSPLANT_NEW = "bpe-metaspace"


@dataclass(frozen=True)
class DemoConfig:
    """The demo has one knob: the seed."""

    seed: int = 13


@dataclass(frozen=True)
class DemoRow:
    """One trained tokenizer of the demo."""

    step: str
    algorithm: str
    vocab_size: int
    heldout_bytes_per_token: float
    roundtrip_rate: float
    parallel_tokens: int
    median_premium: float | None
    max_premium: float | None
    superword_tokens: int
    report: str


@dataclass(frozen=True)
class AuditRow:
    """One tokenizer of the demo's audit step (the full audit is in audit/audit.md)."""

    tokenizer: str
    median_premium: float | None
    max_premium: float | None
    gini: float | None
    bytes_per_token: float | None
    renyi_efficiency: float | None
    roundtrip_rate: float
    unreachable: int
    digits: str


@dataclass(frozen=True)
class InvertRow:
    """One category of the demo's invert step (full report: invert/invert.md)."""

    category: str
    share: float
    ci_low: float | None
    ci_high: float | None
    truth: float | None
    baseline_share: float


@dataclass(frozen=True)
class DemoReport:
    """Summary of the demo run; the per-step train reports sit beside it."""

    provenance: Provenance
    rows: tuple[DemoRow, ...]
    superbpe_token_saving: float | None
    audit_rows: tuple[AuditRow, ...]
    invert_rows: tuple[InvertRow, ...]
    invert_log10_mse: float | None
    invert_baseline_log10_mse: float | None
    invert_merges: int
    transplant_rows: tuple[TransplantRow, ...]
    transplant_note: str
    run: RunInfo
    notes: tuple[str, ...] = ()  # the steps' own notes, each prefixed with its step
    charts: tuple[str, ...] = ()  # every step's SVG charts, by path (each with a PNG twin)
    artifacts: dict[str, bytes] = field(default_factory=dict, metadata={"artifact": True}, repr=False)

    def to_markdown(self) -> str:
        """Markdown summary of the demo (demo_markdown.render)."""
        return render(self)


def validate(config: DemoConfig) -> None:
    """The demo's one knob needs no checking; here for the common job sequence."""


def output_names(config: DemoConfig) -> list[str]:
    """Every file the demo writes that can be named before it runs (each step's own outputs in
    its sub-folder, the transplant folder as a whole): an existing one is refused before any work."""
    from tokenizers_lab import audit, invert

    names = ["demo.json", "demo.md", "transplant"]
    for step, algorithm, sizes, options in STEPS:
        names += [
            f"{step}/{n}"
            for n in train.output_names(train.TrainConfig(algorithm=algorithm, vocab_sizes=sizes, **options))
        ]
    names += [f"audit/{n}" for n in audit.output_names(audit.AuditConfig(seed=config.seed))]
    names += [f"invert/{n}" for n in invert.output_names(invert.InvertConfig(seed=config.seed))]
    return names


def run(config: DemoConfig, *, progress: Progress | None = None) -> DemoReport:
    """Run every demo step and collect their reports and artifacts."""
    clock = Stopwatch()
    artifacts: dict[str, bytes] = {}
    inputs: dict[str, InputRef] = {}
    reports, rows, tokens_at = _train_steps(config, artifacts, inputs, progress)
    notes = [f"{step}: {n}" for step, rep in reports.items() for n in rep.notes]
    audit_rows, audit_notes = _audit_step(config, reports, artifacts, progress)
    notes += [f"audit: {n}" for n in audit_notes]
    irep = _invert_step(config, artifacts, progress)
    notes += [f"invert: {n}" for n in irep.notes]
    t_rows, t_note = _transplant_step(reports, config, artifacts, progress)
    bpe, sbpe = tokens_at.get(("bpe-stage1-regex", COMPARE_VOCAB)), tokens_at.get(("superbpe", COMPARE_VOCAB))
    saving = 1 - sbpe / bpe if bpe and sbpe else None
    prov = make_provenance(
        "demo",
        config,
        sorted(inputs.values(), key=lambda i: i.name),
        config.seed,
        [("steps", "+".join(s for s, *_ in STEPS) + "+audit+invert+transplant")],
    )
    return DemoReport(
        provenance=prov,
        rows=tuple(rows),
        superbpe_token_saving=saving,
        audit_rows=tuple(audit_rows),
        invert_rows=tuple(
            InvertRow(
                category=c.name,
                share=c.share,
                ci_low=c.ci_low,
                ci_high=c.ci_high,
                truth=c.truth,
                baseline_share=c.baseline_share,
            )
            for c in irep.categories
        ),
        invert_log10_mse=irep.score.log10_mse if irep.score else None,
        invert_baseline_log10_mse=irep.score.baseline_log10_mse if irep.score else None,
        invert_merges=irep.solver.last_merge,
        transplant_rows=tuple(t_rows),
        transplant_note=t_note,
        run=clock.info(),
        notes=tuple(notes),
        charts=tuple(sorted(n for n in artifacts if n.endswith(".svg"))),
        artifacts=artifacts,
    )


def _train_steps(
    config: DemoConfig, artifacts: dict[str, bytes], inputs: dict[str, InputRef], progress: Progress | None
) -> tuple[dict[str, train.TrainReport], list[DemoRow], dict[tuple[str, int], int]]:
    """Every training step: its reports (by step), one row per trained size, and the tokens each
    size spends on the parallel corpus."""
    rows: list[DemoRow] = []
    tokens_at: dict[tuple[str, int], int] = {}
    reports: dict[str, train.TrainReport] = {}
    for step, algorithm, sizes, options in STEPS:
        if progress:
            progress(f"training {step}", None)
        rep = train.run(
            train.TrainConfig(algorithm=algorithm, vocab_sizes=sizes, seed=config.seed, **options),
            progress=progress,
        )
        reports[step] = rep
        for name, data in rep.artifacts.items():
            artifacts[f"{step}/{name}"] = data
        artifacts[f"{step}/train.json"] = dumps(rep).encode("utf-8")
        artifacts[f"{step}/train.md"] = rep.to_markdown().encode("utf-8")
        for ref in rep.provenance.inputs:
            inputs[ref.name] = ref
        for r in rep.results:
            premiums = [lr.premium for lr in r.languages if lr.premium is not None]
            total = sum(lr.tokens for lr in r.languages)
            # the demo always holds text out: both measures exist
            assert r.heldout_bytes_per_token is not None and r.roundtrip_rate is not None
            tokens_at[(step, r.vocab_size_requested)] = total
            rows.append(
                DemoRow(
                    step=step,
                    algorithm=algorithm,
                    vocab_size=r.vocab_size,
                    heldout_bytes_per_token=r.heldout_bytes_per_token,
                    roundtrip_rate=r.roundtrip_rate,
                    parallel_tokens=total,
                    median_premium=statistics.median(premiums) if premiums else None,
                    max_premium=max(premiums) if premiums else None,
                    superword_tokens=r.whitespace_spanning_tokens,
                    report=f"{step}/train.md",
                )
            )
    return reports, rows, tokens_at


def _audit_step(
    config: DemoConfig,
    reports: dict[str, train.TrainReport],
    artifacts: dict[str, bytes],
    progress: Progress | None,
) -> tuple[list[AuditRow], tuple[str, ...]]:
    """The audit of some trained tokenizers side by side: one row each, and the audit's notes."""
    from tokenizers_lab import audit  # numpy-heavy; imported when the demo reaches its audit step

    if progress:
        progress("auditing the trained tokenizers", None)
    views = [
        audit.views_from_train(reports[step], f"{step}-{COMPARE_VOCAB // 1000}k", COMPARE_VOCAB)
        for step in AUDIT_STEPS
    ]
    arep = audit.run(audit.AuditConfig(seed=config.seed), progress=progress, views=views)
    for name, data in arep.artifacts.items():
        artifacts[f"audit/{name}"] = data
    artifacts["audit/audit.json"] = dumps(arep).encode("utf-8")
    artifacts["audit/audit.md"] = arep.to_markdown().encode("utf-8")
    rows = []
    for a in arep.tokenizers:
        c = a.corpus_compression or a.parallel_compression
        rows.append(
            AuditRow(
                tokenizer=a.label,
                median_premium=a.fairness_summary.median_premium,
                max_premium=a.fairness_summary.max_premium,
                gini=a.fairness_summary.gini,
                bytes_per_token=c.bytes_per_token,
                renyi_efficiency=c.renyi_efficiency_full_vocab,
                roundtrip_rate=a.roundtrip_rate,
                unreachable=a.vocabulary.unreachable,
                digits=a.numbers.scheme,
            )
        )
    return rows, arep.notes


def _invert_step(config: DemoConfig, artifacts: dict[str, bytes], progress: Progress | None) -> InvertReport:
    """invert's embedded example: a BPE trained on a known mixture, the mixture recovered."""
    from tokenizers_lab import invert
    from tokenizers_lab.invert import example as invert_example

    if progress:
        progress("inverting a known mixture", None)
    irep = invert_example.run(
        invert.InvertConfig(bootstrap=INVERT_BOOTSTRAP, seed=config.seed), progress=progress
    )
    for name, data in irep.artifacts.items():
        artifacts[f"invert/{name}"] = data
    artifacts["invert/invert.json"] = dumps(irep).encode("utf-8")
    artifacts["invert/invert.md"] = irep.to_markdown().encode("utf-8")
    return irep


def _transplant_step(
    reports: dict, config: DemoConfig, artifacts: dict[str, bytes], progress: Progress | None
) -> tuple[list, str]:
    """A tiny model trained with the bpe-2k tokenizer, moved onto bpe-metaspace-4k by each method
    (needs the torch extra; without it the step says so and is skipped)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        return [], "Skipped: the transplant step needs the torch extra (pip install 'tokenizers-lab[torch]')."
    from tokenizers_lab.transplant import example as tdemo

    rows, arts = tdemo.run_step(
        reports["bpe"].artifacts[f"v{TRANSPLANT_OLD}/tokenizer.json"],
        reports[TRANSPLANT_NEW].artifacts["tokenizer.json"],
        config.seed,
        progress,
    )
    artifacts.update(arts)
    note = (
        f"A tiny Llama-architecture model (2 layers, d = 64) trained for {tdemo.STEPS} CPU steps on the "
        f"embedded corpora with the bpe-{TRANSPLANT_OLD // 1000}k tokenizer, moved onto {TRANSPLANT_NEW}-4k "
        "(▁ words and byte fallback instead of byte-level: shared tokens are found in the canonical byte "
        "space) by each method without another model; bits per byte on every "
        f"{tdemo.HELD_OUT_EVERY}th line, which training never saw; leave-out: {tdemo.LEAVE_OUT} hidden "
        "tokens (full reports: `transplant/METHOD/transplant.md`)."
    )
    return rows, note
