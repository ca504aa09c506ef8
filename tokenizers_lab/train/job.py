"""The `train` job: one tokenizer per vocabulary size, measured; `run(config, *, progress=None)`."""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokenizers_lab.corpus import display_name
from tokenizers_lab.engine import (
    engine_info,
    open_engine,
)
from tokenizers_lab.errors import InputError, unknown_name
from tokenizers_lab.parallel import ParallelCorpus, load_parallel
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.report import Stopwatch, make_provenance
from tokenizers_lab.tokenizer import HFView
from tokenizers_lab.train.bpe import train_bpe, train_bpe_metaspace, train_char_bpe
from tokenizers_lab.train.common import TrainOut, tok_from_json
from tokenizers_lab.train.config import (
    ALGORITHMS,
    SPECIAL_ROLES,
    TrainConfig,
    validate,
)
from tokenizers_lab.train.evaluate import (
    evaluate,
    export_pattern,
    tiktoken_agreement,
    tiktoken_export,
    vocab_stats,
)
from tokenizers_lab.train.prepare import Prepared, prepare
from tokenizers_lab.train.report import DEFINITIONS, SizeResult, TrainReport
from tokenizers_lab.train.spm import train_spm
from tokenizers_lab.train.superbpe import train_superbpe
from tokenizers_lab.train.unigram import train_unigram
from tokenizers_lab.train.wordpiece import train_wordpiece

TRAINERS: dict[str, Callable[[Prepared, TrainConfig, Sequence[int]], TrainOut]] = {
    "bpe": train_bpe,
    "bpe-metaspace": train_bpe_metaspace,
    "unigram": train_unigram,
    "wordpiece": train_wordpiece,
    "char-bpe": train_char_bpe,
    "spm-bpe": train_spm,
    "spm-unigram": train_spm,
    "spm-char": train_spm,
    "superbpe": train_superbpe,
}


def run(config: TrainConfig, *, progress: Progress | None = None) -> TrainReport:
    """Train one tokenizer per vocabulary size and measure each on held-out and parallel text."""
    progress = progress or no_progress
    validate(config)
    clock = Stopwatch()
    algo = ALGORITHMS[config.algorithm]
    timings: dict[str, float] = {}
    parallel = None
    if config.resolved_parallel():
        parallel = load_parallel(list(config.resolved_parallel()), errors=config.errors)
        if config.pivot not in parallel.lines:
            raise unknown_name("pivot language", config.pivot, parallel.lines)
    sizes = sorted(config.vocab_sizes)
    with tempfile.TemporaryDirectory(prefix="tokenlab-train-") as tmp, open_engine(config.execution) as eng:
        t0 = time.perf_counter()
        prep = prepare(config, Path(tmp), progress)
        prep.engine = eng
        timings["read_seconds"] = time.perf_counter() - t0
        progress(f"training {config.algorithm}", None)
        t0 = time.perf_counter()
        try:
            trained = TRAINERS[config.algorithm](prep, config, sizes)
        except Exception:
            prep.finish()  # a corpus error (invalid UTF-8, empty) explains the failure better
            raise
        summary = prep.finish()
        timings["train_seconds"] = time.perf_counter() - t0
        ran_on = engine_info(eng)
    t0 = time.perf_counter()
    results: list[SizeResult] = []
    artifacts: dict[str, bytes] = {}
    notes: list[str] = []
    nulls = sum(c.stats.null_records for c in prep.corpora)
    if nulls:
        notes.append(f"{nulls} records whose text field is null were skipped")
    sweep = len(sizes) > 1
    for v in sizes:
        progress(f"evaluating vocab {v}", None)
        results.append(_size_result(v, trained[v], config, prep, parallel, sweep, artifacts, notes))
    timings["evaluate_seconds"] = time.perf_counter() - t0
    charts = _sweep_chart(config, results, artifacts, notes) if sweep else ()
    inputs = [c.input_ref() for c in prep.corpora] + [c.input_ref("heldout") for c in prep.heldout_corpora]
    if parallel is not None:
        inputs.append(parallel.input_ref())
    corpus_sig = "+".join(f"{display_name(c.spec)}@{c.sha256[:7]}" for c in prep.corpora)
    sig = [("algo", config.algorithm), ("vocab", _vocab_field(sizes, results))]
    if algo.byte_level:
        sig.append(("pre", config.preset()))
    sig.append(("corpus", corpus_sig))
    import sentencepiece
    import tokenizers

    engine = f"{algo.engine} {tokenizers.__version__ if algo.engine == 'tokenizers' else sentencepiece.__version__}"
    trainers = {r.extra.get("trainer") for r in results}
    if len(trainers) == 1 and None not in trainers:  # the trainer that ran, where it was chosen
        engine = str(trainers.pop())
    return TrainReport(
        provenance=make_provenance("train", config, inputs, config.seed, sig),
        algorithm=config.algorithm,
        engine=engine,
        corpus=summary,
        results=tuple(results),
        definitions=DEFINITIONS,
        run=clock.info(
            {"tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__}, ran_on
        ),
        timings=timings,
        notes=tuple(notes),
        charts=charts,
        artifacts=artifacts,
    )


def _sweep_chart(
    config: TrainConfig, results: list[SizeResult], artifacts: dict[str, bytes], notes: list[str]
) -> tuple[str, ...]:
    """Bytes per token and the premiums against vocabulary size (SVG + PNG), its name."""
    from tokenizers_lab import charts

    if not charts.available():
        notes.append(f"sweep chart skipped: matplotlib is not installed ({charts.PLOT_EXTRA})")
        return ()
    premiums: dict[str, list[float | None]] = {"median premium": [], "max premium": []}
    for r in results:
        values = [x.premium for x in r.languages if x.premium is not None]
        premiums["median premium"].append(statistics.median(values) if values else None)
        premiums["max premium"].append(max(values) if values else None)
    artifacts.update(
        charts.sweep_chart(
            f"{config.algorithm}: vocabulary-size sweep",
            [r.vocab_size_requested for r in results],
            [r.heldout_bytes_per_token for r in results],
            premiums if any(v is not None for v in premiums["max premium"]) else {},
        )
    )
    return ("train_sweep.svg",)


def _size_result(
    v: int,
    trained: Any,
    config: TrainConfig,
    prep: Prepared,
    parallel: ParallelCorpus | None,
    sweep: bool,
    artifacts: dict[str, bytes],
    notes: list[str],
) -> SizeResult:
    """One trained size: its files into `artifacts` (under v<size>/ in a sweep), its measures."""
    obj, files, checks = trained
    tok = tok_from_json(obj) if isinstance(obj, dict) else obj
    text = tok.to_str(pretty=True) + "\n"  # tokenizers' own (Rust) writer, as tok.save() does
    tj = obj if isinstance(obj, dict) else json.loads(text)
    prefix = f"v{v}/" if sweep else ""
    artifacts[prefix + "tokenizer.json"] = text.encode("utf-8")
    for name, data in files.items():
        artifacts[prefix + name] = data
    artifacts.update({prefix + n: d for n, d in hf_folder_files(config.specials()).items()})
    view = HFView(
        tok,
        f"{config.algorithm}-{v}",
        prefix + "tokenizer.json",
        hashlib.sha256(text.encode("utf-8")).hexdigest(),
        tj,
    )
    if view.vocab_size < v:
        if sweep:  # a folder v2000/ must not hold 1,017 tokens
            raise InputError(
                f"the corpus fills only {view.vocab_size} tokens, fewer than the sweep's {v}: "
                f"sweep sizes up to {view.vocab_size}, or give more text (a single "
                "--vocab-size trains what the corpus holds, with a note)"
            )
        notes.append(
            f"vocab {v}: the corpus fills only {view.vocab_size} tokens (the trainer ran out of "
            "pairs to merge); the tokenizer holds what was reached"
        )
    _choose_encoder(view, prep.heldout, parallel, config, notes)
    ev = evaluate(view, prep.heldout, parallel, config.pivot)
    extra = dict(checks)
    extra["encoder"] = view.encoder
    note = extra.pop("note", None)  # a trainer's word on how it ran (once for a sweep)
    if note and note not in notes:
        notes.append(note)
    if config.export_tiktoken:
        pattern = export_pattern(config)
        rank_file = tiktoken_export(tj, config.specials())
        artifacts[prefix + "tokenizer.tiktoken"] = rank_file
        extra["tiktoken_pattern"] = pattern
        extra["tiktoken_agreement"] = tiktoken_agreement(rank_file, pattern, view, prep.heldout)
    return SizeResult(
        vocab_size_requested=v,
        vocab_size=view.vocab_size,
        artifact=prefix + "tokenizer.json",
        sha256=view.fingerprint,
        n_merges=len(tj["model"].get("merges", []) or []),
        n_special=len(view.special_tokens),
        extra=extra,
        **vocab_stats(view),
        **ev,
    )


# the fast encoder's check costs ~0.2-1 s: with less text to evaluate the library is done sooner
FAST_MIN_CHARS = 4_000_000


def _choose_encoder(
    view: HFView,
    heldout: Sequence[str],
    parallel: ParallelCorpus | None,
    config: TrainConfig,
    notes: list[str],
) -> None:
    """gigatoken for the evaluation (checked on its own text) when there is enough text to gain."""
    by_lang = [parallel.lines[lang] for lang in parallel.languages] if parallel is not None else []
    if sum(map(len, heldout)) + sum(len(t) for lines in by_lang for t in lines) < FAST_MIN_CHARS:
        return
    from tokenizers_lab.tokenizer.fast import sample_head, use_fastest  # numpy: only when used

    sample = sample_head(heldout) + [t for lines in by_lang for t in sample_head(lines, 4000)]
    why = use_fastest(view, sample, config.execution.encoder)
    if why and why not in notes:
        notes.append(why)


def _vocab_field(sizes: Sequence[int], results: Sequence[SizeResult]) -> str:
    """The signature's vocab field: the sizes asked for, each with the size reached where the
    corpus could not fill it (16000>6422)."""
    reached = {r.vocab_size_requested: r.vocab_size for r in results}
    return ",".join(f"{v}>{reached[v]}" if reached.get(v, v) < v else str(v) for v in sizes)


def hf_folder_files(specials: Sequence[str]) -> dict[str, bytes]:
    """tokenizer_config.json and special_tokens_map.json beside tokenizer.json, so that
    `AutoTokenizer.from_pretrained(folder)` knows its bos/eos/unk/pad tokens. Roles come from the
    specials' usual names; a model without its own pad token pads with eos (as GPT-2 and Llama
    fine-tuning recipes set it); other specials become additional_special_tokens."""
    roles: dict[str, str] = {}
    extra = []
    for tok in specials:
        names = SPECIAL_ROLES.get(tok, ())
        for role in names:
            roles.setdefault(f"{role}_token", tok)
        if not names:
            extra.append(tok)
    if "pad_token" not in roles and "eos_token" in roles:
        roles["pad_token"] = roles["eos_token"]
    smap: dict[str, Any] = dict(roles)
    if extra:
        smap["additional_special_tokens"] = extra
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1_000_000,
        **smap,
    }

    def dump(obj: dict[str, Any]) -> bytes:
        return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    return {"tokenizer_config.json": dump(cfg), "special_tokens_map.json": dump(smap)}
