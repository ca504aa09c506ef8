"""`transplant`'s report: the model, both tokenizers, how every new row was made, specials, leave-out
and bits per byte; rendered by `markdown.render`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokenizers_lab.report import Markdown, Provenance, RunInfo
from tokenizers_lab.transplant.evaluate import BpbSide, LeaveOutRow


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
    heuristic: BpbSide | None = None  # with --fit: the heuristic rows before the fit
    heuristic_ratio: float | None = None


@dataclass(frozen=True)
class TransplantReport(Markdown):
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
    fit: dict[str, Any] | None
    notes: tuple[str, ...]
    timings: dict[str, float]
