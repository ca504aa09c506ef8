"""`transplant`'s configuration: TransplantConfig, its validation before any work, the output check."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tokenizers_lab.engine import EXECUTION
from tokenizers_lab.errors import MissingExtraError, OutputExistsError, UsageError, check_range, unknown_name
from tokenizers_lab.report import OUTPUT
from tokenizers_lab.transplant import core

TINY = "embedded:tiny"  # the demo's tiny model, trained on the embedded corpora on the fly


CHAT_TEMPLATES = ("keep", "new", "none")
DEFAULT_FIT_MINUTES = 5.0
MAX_FIT_SEQ = 512


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
    # --fit: train the estimated rows against the original model (fit.py)
    fit_corpus: str | None = None
    fit_minutes: float | None = None
    fit_steps: int | None = None
    fit_objective: str = "alm+ce"
    fit_lr: float | None = None  # None: 4e-3 for rows, 3e-4 for the hypernetwork's weights
    fit_output_grad: float = 0.3
    fit_batch_tokens: int = 512
    fit_seq_len: int = 256
    fit_layers: int | None = None  # --fit-objective hidden: match after this many decoder layers (None: all)
    fit_spelling: float = 0.15  # share of the fit's minutes for the spelling phase (fitspell.py; 0: none)
    pattern: str | None = None
    seed: int = 13
    metric: str | None = dataclasses.field(default=None, metadata=OUTPUT)  # --metric: print this number
    # replace an existing `out` (the previous model folder goes as a whole); never changes a number
    force: bool = dataclasses.field(default=False, metadata=EXECUTION)

    @property
    def fitting(self) -> bool:
        return self.fit_corpus is not None

    def fit_budget(self) -> tuple[int | None, float | None]:
        """(steps, minutes) the fit stops at, whichever comes first; minutes default to
        DEFAULT_FIT_MINUTES when neither is given."""
        if self.fit_steps is None and self.fit_minutes is None:
            return None, DEFAULT_FIT_MINUTES
        return self.fit_steps, self.fit_minutes

    def params(self) -> core.Params:
        return core.Params(self.tau, self.top_k, self.global_weight, self.threshold, self.omp_k)


def output_names(config: TransplantConfig) -> list[str]:
    return ["transplant.json", "transplant.md", "report.html", "transplant_bpb.svg", "transplant_bpb.png"]


def validate(config: TransplantConfig) -> None:
    """Option checks that need no input read, and the output folder's (the job writes `out`
    itself: a model folder is too large to hold in memory as report artifacts)."""
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
    _validate_fit(config)
    check_out(Path(config.out), config.force)


def _validate_fit(config: TransplantConfig) -> None:
    """--fit-* options: they need --fit-corpus and torch; ranges; the corpus must exist."""
    from tokenizers_lab.transplant.fit import OBJECTIVES

    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    given = [
        "--" + name.replace("_", "-")
        for name in (
            "fit_minutes",
            "fit_steps",
            "fit_objective",
            "fit_lr",
            "fit_output_grad",
            "fit_batch_tokens",
            "fit_seq_len",
            "fit_layers",
            "fit_spelling",
        )
        if getattr(config, name) != defaults[name]
    ]
    if not config.fitting:
        if given:
            raise UsageError(f"{given[0]} needs --fit-corpus PATH: the text the new rows are fitted on")
        return
    if config.fit_objective not in OBJECTIVES:
        raise unknown_name("--fit-objective", config.fit_objective, OBJECTIVES)
    if config.fit_minutes is not None:
        check_range("--fit-minutes", config.fit_minutes, 0, None, lo_open=True)
    if config.fit_steps is not None:
        check_range("--fit-steps", config.fit_steps, 1)
    if config.fit_lr is not None:
        check_range("--fit-lr", config.fit_lr, 0, 1, lo_open=True)
    check_range("--fit-output-grad", config.fit_output_grad, 0, 1)
    check_range("--fit-batch-tokens", config.fit_batch_tokens, 16)
    check_range("--fit-seq-len", config.fit_seq_len, 8, MAX_FIT_SEQ)
    check_range("--fit-spelling", config.fit_spelling, 0, 1)
    if config.fit_layers is not None:
        check_range("--fit-layers", config.fit_layers, 1)
        if config.fit_objective != "hidden":
            raise UsageError("--fit-layers needs --fit-objective hidden (the other objectives read the head)")
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        raise MissingExtraError("--fit needs the torch extra: pip install 'tokenizers-lab[torch]'")
    from tokenizers_lab.corpus import Corpus

    Corpus(config.fit_corpus or "")  # resolves the spec: a missing file is found now, not after the model


def check_out(out: Path, force: bool) -> None:
    """The output folder must not exist unless --force."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
