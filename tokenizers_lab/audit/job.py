"""The `audit` job: load the tokenizers, measure each on the parallel and monolingual corpora
(locally or on a Dask cluster) and the probes, evaluate the gates."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

from tokenizers_lab import charts
from tokenizers_lab.audit import (
    charbench,
    gates,
    integrity,
    robustness,
)
from tokenizers_lab.audit.compression import Tally, no_space_language
from tokenizers_lab.audit.config import AuditConfig, baseline_options, parsed_options
from tokenizers_lab.audit.partitions import corpus_partitions, tally_partition
from tokenizers_lab.audit.passes import Shared, audit_all
from tokenizers_lab.audit.report import (
    DEFINITIONS,
    AuditReport,
    TokenizerAudit,
    gate_values,
)
from tokenizers_lab.background import fork_map, forked_state
from tokenizers_lab.engine import Engine, LocalEngine, cpu_count, engine_info, open_engine
from tokenizers_lab.errors import InputError, UsageError, unknown_name
from tokenizers_lab.parallel import ParallelCorpus, load_parallel
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import InputRef, Stopwatch, make_provenance, to_jsonable
from tokenizers_lab.tokenizer import (
    THREADS,
    TokenizerView,
    load_tokenizer,
)
from tokenizers_lab.tokenizer.fast import gigatoken_version, sample_head, use_fastest


def load_views(config: AuditConfig) -> list[TokenizerView]:
    """The tokenizers the config names (the embedded default is `audit.example`'s)."""
    if not config.tokenizers:
        raise UsageError(
            "audit needs tokenizers (tokenizers_lab.audit.example.run audits the embedded default)"
        )
    views = [load_tokenizer(spec, config.pattern) for spec in config.tokenizers]
    labels = [v.label for v in views]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise UsageError(f"two tokenizers are labelled {dup[0]!r}; label them: name=path")
    return views


def _load_parallel(config: AuditConfig) -> ParallelCorpus:
    par = load_parallel(
        list(config.resolved_parallel()), errors=config.errors, languages=list(config.languages) or None
    )
    if config.pivot not in par.lines:
        raise unknown_name("pivot language", config.pivot, par.lines)
    return par


def run(
    config: AuditConfig, *, progress: Progress | None = None, views: Sequence[TokenizerView] | None = None
) -> AuditReport:
    """Measure every tokenizer on the parallel corpus, the monolingual corpora and the probes."""
    progress = progress or (lambda stage, fraction: None)
    gate_list, validator_specs = parsed_options(config)
    baseline, change_gates = baseline_options(config)
    with open_engine(config.execution, THREADS) as engine:
        report = _run(config, progress, views, engine, gate_list, validator_specs, baseline)
    if baseline is None:
        return report
    from tokenizers_lab.diff import compare

    return dataclasses.replace(report, baseline=compare(baseline, to_jsonable(report), change_gates))


def _run(
    config: AuditConfig,
    progress: Progress,
    views: Sequence[TokenizerView] | None,
    engine: Engine,
    gate_list: list[gates.Gate],
    validator_specs: list[tuple[str, str, str]],
    baseline: dict | None = None,
) -> AuditReport:
    clock = Stopwatch()
    t_start = time.perf_counter()
    par = _load_parallel(config)
    views = list(views) if views is not None else load_views(config)
    notes: list[str] = [n for v in views for n in v.notes]
    timings: dict[str, float] = {"load_seconds": time.perf_counter() - t_start}
    t0 = time.perf_counter()
    _choose_encoders(config, views, par, notes)
    timings["encoder_check_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    validators = _validators(config, par, validator_specs, notes)
    timings["validators_seconds"] = time.perf_counter() - t0
    # CharBench items (the words come from the pivot text and the monolingual corpora)
    word_source: list[str] = list(par.lines[config.pivot])
    if config.charbench_words:
        p = Path(config.charbench_words)
        if not p.is_file():
            raise InputError(f"--charbench-words file not found: {p}")
        word_source = p.read_text("utf-8", errors="replace").splitlines()

    t0 = time.perf_counter()
    tallies, corpus_refs = _tally_corpora(config, views, engine, word_source, progress, notes)
    items = (
        charbench.make_items(charbench.collect_words(word_source), config.charbench_per_bucket, config.seed)
        if config.charbench_per_bucket
        else []
    )
    if (config.predictions or config.charbench_model) and not items:
        raise UsageError("--predictions and --charbench-model need CharBench items (--charbench-items > 0)")
    predictions = charbench.read_predictions(Path(config.predictions)) if config.predictions else None
    if config.charbench_model:
        progress("answering CharBench items with the local model", None)
        predictions = charbench.predict_with_model(Path(config.charbench_model), items)
    timings["corpora_seconds"] = time.perf_counter() - t0
    audits = audit_all(
        Shared(views, tallies, par, config, validators, items, predictions), timings, engine, progress
    )

    results = gates.check(gate_list, gate_values(audits))
    artifacts: dict[str, bytes] = {}
    if items:
        artifacts["charbench_items.jsonl"] = charbench.items_jsonl(items)
    if config.charbench_model and predictions is not None:
        artifacts["charbench_predictions.jsonl"] = charbench.predictions_jsonl(predictions)
    charts = _charts(config, par, audits, views, artifacts, notes) if config.plots else []

    inputs = _inputs(config, views, par, corpus_refs)
    sig = [
        ("tok", "+".join(f"{v.label}@{v.short_fingerprint}" for v in views)),
        ("parallel", f"{par.name}@{par.sha256[:7]}"),
        ("corpus", "+".join(f"{r.name}@{r.sha256[:7]}" for r in corpus_refs) or "none"),
        ("pivot", config.pivot),
        ("alpha", f"{config.alpha:g}"),
        ("val", "+".join(sorted(f"{lang}={kind}" for lang, kind, _ in validator_specs))),
    ]
    if config.skip:
        sig.append(("skip", "+".join(config.skip)))
    import sentencepiece
    import tokenizers

    return AuditReport(
        provenance=make_provenance("audit", config, inputs, config.seed, sig),
        pivot=config.pivot,
        parallel=par.name,
        languages=tuple(par.languages),
        corpora=tuple(r.name for r in corpus_refs),
        validators={
            lang: f"{v.kind} {v.source} ({v.version})".strip() + (f"; {v.note}" if v.note else "")
            for lang, v in sorted(validators.items())
        },
        charbench_items=len(items),
        tokenizers=tuple(audits),
        gates=results,
        charts=tuple(charts),
        notes=tuple(notes),
        definitions=DEFINITIONS,
        run=clock.info(
            {
                "tokenizers": tokenizers.__version__,
                "sentencepiece": sentencepiece.__version__,
                "gigatoken": gigatoken_version() or "not installed",
            },
            engine_info(engine),
        ),
        skipped=config.skip,
        timings=timings,
        artifacts=artifacts,
    )


def _inputs(
    config: AuditConfig, views: Sequence[TokenizerView], par: ParallelCorpus, corpus_refs: list[InputRef]
) -> list[InputRef]:
    """Every input by content: tokenizers, the parallel corpus, the corpora, the baseline report."""
    inputs = [InputRef(role="tokenizer", name=v.label, sha256=v.fingerprint, bytes=v.nbytes) for v in views]
    inputs.append(par.input_ref())
    inputs.extend(corpus_refs)
    if config.baseline:
        data = Path(config.baseline).read_bytes()
        inputs.append(
            InputRef("baseline", Path(config.baseline).name, hashlib.sha256(data).hexdigest(), len(data))
        )
    return inputs


# characters of the parallel corpus the encoder check reads, spread over its languages
CHECK_PARALLEL_CHARS = 256_000


def _choose_encoders(
    config: AuditConfig, views: list[TokenizerView], par: ParallelCorpus, notes: list[str]
) -> None:
    """Each tokenizer's encoder: gigatoken where it gives the reference ids on this run's input (the
    head of every language, every corpus's first batch, the probes), else the format's library."""
    per_lang = max(1, CHECK_PARALLEL_CHARS // max(1, len(par.languages)))
    sample = [t for lang in par.languages for t in sample_head(par.lines[lang], per_lang)]
    sample += list(robustness.PROBES.values())
    for spec in config.resolved_corpora():
        if spec != "-":  # stdin is read once, by the measuring pass
            head = next(config.open_corpus(spec).iter_batches(), [])
            sample += sample_head(head)
    for view in views:
        why = use_fastest(view, sample, config.execution.encoder)
        if why:
            notes.append(why)


def _validators(
    config: AuditConfig, par: ParallelCorpus, specs: list[tuple[str, str, str]], notes: list[str]
) -> dict[str, integrity.Validator]:
    """The %Lang validator of each language, built once (LANG may be *: every spaced language)."""
    chosen: dict[str, tuple[str, str]] = {}  # language -> (kind, arg); the first spec naming it wins
    for lang, kind, arg in specs:
        targets = [x for x in par.languages if not no_space_language(x)] if lang == "*" else [lang]
        if lang != "*" and lang not in par.lines:
            raise unknown_name("--validator language", lang, par.lines)
        for target in targets:
            chosen.setdefault(target, (kind, arg))
    # the corpus-words sets (the default: one per language, a second of CPU per 100 languages)
    # are built side by side in forked processes
    own = [lang for lang, (kind, _) in chosen.items() if kind == "corpus-words"]
    processes = min(cpu_count(), len(own) // 16)  # below that, forking costs more than it saves
    word_sets = dict(zip(own, fork_map(_word_set, own, processes, par)))
    validators: dict[str, integrity.Validator] = {}
    for target, (kind, arg) in chosen.items():
        if target in word_sets:
            validators[target] = integrity.corpus_words(par.lines[target], target, word_sets[target])
        else:
            validators[target] = integrity.build_validator(kind, arg, target, par.lines[target])
    if not config.validators and config.measures("integrity"):
        notes.append(
            "%Lang uses the corpus-words proxy (no --validator given): a token counts when it is a "
            "whole word of the audited text; give a lexicon, hunspell or turkish validator for real %Lang"
        )
    return validators


def _word_set(lang: str) -> frozenset[str]:
    """A fork_map task: the corpus-words set of one language of the inherited parallel corpus."""
    par = forked_state()
    return integrity.corpus_word_set(par.lines[lang], lang)


def _tally_corpora(
    config: AuditConfig,
    views: list[TokenizerView],
    engine: Engine,
    word_source: list[str],
    progress: Progress,
    notes: list[str],
) -> tuple[list[Tally], list[InputRef]]:
    """The monolingual corpora in one streamed pass shared by every tokenizer: each tokenizer's
    tally and each corpus's reference (their words also join `word_source`)."""
    tallies = [Tally(v.vocab_size) for v in views]
    corpus_refs: list[InputRef] = []
    corpora = [config.open_corpus(spec) for spec in config.resolved_corpora()]
    shared_views = engine.share(views) if corpora else None
    parts = corpus_partitions(config, corpora, corpus_refs, word_source, progress, notes)
    # locally one partition at a time: the encoders already use every core
    mono = LocalEngine(1) if isinstance(engine, LocalEngine) else engine
    for per_view in mono.imap(tally_partition, parts, shared_views):
        for t, (ids, counts, chars, nbytes, words) in zip(tallies, per_view):
            t.add_sparse(ids, counts, chars, nbytes, words)
    if corpora and not any(t.bytes for t in tallies):
        raise InputError("the monolingual corpora hold no text")
    return tallies, corpus_refs


def _charts(
    config: AuditConfig,
    par: ParallelCorpus,
    audits: list[TokenizerAudit],
    views: list[TokenizerView],
    artifacts: dict[str, bytes],
    notes: list[str],
) -> list[str]:
    """The charts (SVG and PNG) into `artifacts`, the SVG names (none, with a note, without
    matplotlib): premiums sorted, their distribution past ALL_BARS languages, token lengths."""
    if not charts.available():
        notes.append(f"charts skipped: matplotlib is not installed ({charts.PLOT_EXTRA})")
        return []
    premiums = {a.label: [r.premium_sum for r in a.fairness] for a in audits}
    artifacts.update(charts.premium_chart(par.languages, premiums, config.pivot, "sum"))
    if len(par.languages) - 1 > charts.ALL_BARS:
        artifacts.update(charts.premium_distribution(par.languages, premiums, config.pivot, "sum"))
    lengths = {a.label: view.byte_lengths[view.byte_lengths > 0] for a, view in zip(audits, views)}
    artifacts.update(charts.length_histogram(lengths))
    return sorted(n for n in artifacts if n.endswith(".svg"))
