"""Each tokenizer's audit: its languages' premium/compression/%Lang pass, the probes, digits and
CharBench features; several tokenizers side by side in forked processes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tokenizers_lab.audit import charbench, fairness, integrity, numbers, robustness
from tokenizers_lab.audit.compression import Tally, WordAlignment, no_space_language, word_spans
from tokenizers_lab.audit.config import AuditConfig
from tokenizers_lab.audit.report import LanguageCompression, TokenizerAudit
from tokenizers_lab.background import fork_map, forked_state
from tokenizers_lab.engine import Engine, ForkEngine, LocalEngine, cpu_count
from tokenizers_lab.parallel import ParallelCorpus
from tokenizers_lab.progress import Progress
from tokenizers_lab.tokenizer import TokenizerView


def _token_lengths(view: TokenizerView) -> dict[str, int]:
    c = Counter(int(x) for x in view.byte_lengths if x > 0)
    return {str(k): c[k] for k in sorted(c)}


@dataclass(frozen=True)
class Shared:
    """What every tokenizer's audit reads (forked workers inherit it, nothing is pickled)."""

    views: list[TokenizerView]
    tallies: list[Tally]
    par: ParallelCorpus
    config: AuditConfig
    validators: dict[str, integrity.Validator]
    items: Sequence[charbench.Item]
    predictions: dict[str, str] | None

    def audit(self, k: int, timings: dict[str, float], engine: Engine) -> TokenizerAudit:
        return _audit_one(
            self.views[k],
            self.tallies[k],
            self.par,
            self.config,
            self.validators,
            self.items,
            self.predictions,
            timings,
            engine,
        )


def audit_all(
    shared: Shared, timings: dict[str, float], engine: Engine, progress: Progress
) -> list[TokenizerAudit]:
    """Every tokenizer's audit. Locally, tokenizers run side by side in forked processes, one per
    core (each encodes on one thread, so the Python-side measures use every core too), largest
    vocabulary first; with one tokenizer, or on a Dask engine, each tokenizer's languages spread
    over the engine's threads or workers instead."""
    views = shared.views
    local = isinstance(engine, LocalEngine)
    processes = min(len(views), cpu_count()) if local else 1
    if processes <= 1:
        if local and cpu_count() > 1:  # one tokenizer: its languages side by side in processes
            engine = ForkEngine(cpu_count())
        audits = []
        for k, view in enumerate(views):
            progress(f"auditing {view.label} ({k + 1}/{len(views)} tokenizers)", k / len(views))
            audits.append(shared.audit(k, timings, engine))
        return audits
    progress(f"auditing {len(views)} tokenizers, {processes} side by side", 0.0)
    order = sorted(range(len(views)), key=lambda k: -views[k].vocab_size)
    done: dict[int, TokenizerAudit] = {}
    for k, audit, times in fork_map(_audit_task, order, processes, shared):
        done[k] = audit
        timings.update(times)
        progress(f"audited {views[k].label} ({len(done)}/{len(views)} tokenizers)", len(done) / len(views))
    return [done[k] for k in range(len(views))]


def _audit_task(k: int) -> tuple[int, TokenizerAudit, dict[str, float]]:
    """A forked worker's task: tokenizer k's audit, languages one after another."""
    times: dict[str, float] = {}
    return k, forked_state().audit(k, times, LocalEngine(1)), times


@dataclass
class _LanguagePass:
    """What one language of the parallel corpus gives one tokenizer (a task's result)."""

    lang: str
    raw: dict
    compression: LanguageCompression
    offenders: Counter
    ids: np.ndarray  # the distinct ids of the language's lines
    counts: np.ndarray  # and how often each occurs (a task sends these back, never the token stream)
    sizes: tuple[int, int, int]  # chars, bytes, words
    integrity: integrity.IntegrityRow | None  # %Lang/%Pure, when the language has a validator


@dataclass(frozen=True)
class _PassState:
    """What every language task of one tokenizer reads (shared once per worker)."""

    view: TokenizerView
    flags: tuple[np.ndarray, np.ndarray]
    strings: integrity.TokenStrings  # its table built before the workers start
    validators: dict[str, integrity.Validator]
    par: ParallelCorpus | None  # on engines whose workers inherit it (tasks then carry a name)
    align: bool = True  # the word-alignment measures (off under --skip alignment)


def _language_pass(state: _PassState, alpha: float, item: str | ParallelCorpus) -> _LanguagePass:
    """Encode one language (its lines, and Petrov's whole-text join) and measure it (a task). The
    item is the language's name where the workers inherit the corpus (threads, forked processes:
    shipping every language's text to them cost a third of the pass), else its lines."""
    view, flags = state.view, state.flags
    sub = item if isinstance(item, ParallelCorpus) else state.par.subset(item)  # type: ignore[union-attr]
    lang = sub.languages[0]
    lines = sub.lines[lang]
    joined = sub.joined(lang)
    if state.align:
        al = view.encode_aligned(lines)
        flat, nl, data = al.flat, al.joined, al.data
    else:  # ids only: no spans
        flat = view.encode_flat(lines)[0]
        nl = "\n".join(lines)
        data = nl.encode("utf-8")
    concat_ids = view.encode_flat([joined])[0]
    seps = max(len(lines) - 1, 0)
    spans = word_spans(nl)  # the words str.split() sees, as spans (the newlines separate too)
    chars, nbytes, words = len(nl) - seps, len(data) - seps, len(spans)
    raw = fairness.measure_language(view, sub, lang, flat, flags, concat_ids, (chars, nbytes), joined)
    t = Tally(view.vocab_size)
    t.add_counts(flat, chars, nbytes, words)
    align = WordAlignment()
    if state.align:
        align.add_aligned(lines, al, nl, spans)
    st = t.stats(view.vocab_size, alpha)
    comp = LanguageCompression(
        language=lang,
        bytes_per_token=st.bytes_per_token,
        chars_per_token=st.chars_per_token,
        tokens_per_word=st.tokens_per_word,
        fertility_meaningful=not no_space_language(lang),
        continued_words=align.continued_share,
        boundary_violations=align.violation_rate,
        aligned_lines=(align.aligned_lines / align.lines if align.lines else 0.0) if state.align else None,
        renyi_efficiency_full_vocab=st.renyi_efficiency_full_vocab,
        observed_types=st.observed_types,
    )
    offenders = align.offenders if not no_space_language(lang) else Counter()
    ids = np.nonzero(t.counts)[0]
    counts = t.counts[ids]
    v = state.validators.get(lang)
    row = integrity.measure_counts(view, lang, ids, counts, v, state.strings) if v is not None else None
    return _LanguagePass(lang, raw, comp, offenders, ids, counts, (chars, nbytes, words), row)


def _audit_one(
    view: TokenizerView,
    tally: Tally,
    par: ParallelCorpus,
    config: AuditConfig,
    validators: dict[str, integrity.Validator],
    items: Sequence[charbench.Item],
    predictions: dict[str, str] | None,
    timings: dict[str, float],
    engine: Engine,
) -> TokenizerAudit:
    t0 = time.perf_counter()
    flags = fairness.id_flags(view)
    raw, comp, lang_rows = {}, [], []
    par_tally = Tally(view.vocab_size)
    offenders: Counter[int] = Counter()

    strings = integrity.TokenStrings(view)
    view.byte_lengths  # noqa: B018 - worked out once, before the workers start (forked ones inherit it)
    if validators:
        strings.table()  # likewise
    # languages run side by side on the engine's workers (forked processes, or Dask's), each
    # measuring its own %Lang; results come back in language order
    inherits = engine.inherits
    shared = engine.share(
        _PassState(view, flags, strings, validators, par if inherits else None, config.measures("alignment"))
    )
    tasks = par.languages if inherits else (par.subset(lang) for lang in par.languages)
    for res in engine.imap(_language_pass, tasks, shared, config.alpha):
        raw[res.lang] = res.raw
        par_tally.add_sparse(res.ids, res.counts, *res.sizes)
        offenders.update(res.offenders)
        comp.append(res.compression)
        if res.integrity is not None:
            lang_rows.append(res.integrity)
    rows, summary = fairness.rows_and_summary(raw, config.pivot)
    t1 = time.perf_counter()
    timings[f"parallel_seconds.{view.label}"] = t1 - t0
    feats = charbench.features(view, items) if items else np.zeros((0, len(charbench.FEATURES)))
    by_task = tuple(
        charbench.summarize(task, feats[[i for i, it in enumerate(items) if it.task == task]])
        for task in charbench.TASKS
        if any(it.task == task for it in items)
    )
    scores = charbench.score(items, feats, predictions) if predictions is not None else ()
    probes = robustness.roundtrip(view)
    health = robustness.vocabulary_health(view)
    digits = numbers.profile(view, config.seed)
    timings[f"probes_seconds.{view.label}"] = time.perf_counter() - t1
    return TokenizerAudit(
        label=view.label,
        source=view.source,
        backend=view.backend,
        encoder=view.encoder,
        model_type=view.model_type,
        vocab_size=view.vocab_size,
        sha256=view.fingerprint,
        fairness=rows,
        fairness_summary=summary,
        languages=tuple(comp),
        parallel_compression=par_tally.stats(view.vocab_size, config.alpha),
        corpus_compression=tally.stats(view.vocab_size, config.alpha) if tally.bytes else None,
        integrity=tuple(lang_rows),
        numbers=digits,
        roundtrip_rate=robustness.roundtrip_rate(probes),
        roundtrip=probes,
        vocabulary=health,
        boundary_offenders=robustness.offenders(view, offenders),
        charbench=by_task,
        charbench_scores=scores,
        token_length_histogram=_token_lengths(view),
    )
