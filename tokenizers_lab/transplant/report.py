"""`transplant`'s report: the model, both tokenizers, how every new row was made, specials, leave-out
and bits per byte; rendered by `markdown.render`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenizers_lab.report import Markdown, Provenance, RunInfo
from tokenizers_lab.transplant import core
from tokenizers_lab.transplant.evaluate import BpbSide, LeaveOutRow

if TYPE_CHECKING:
    from tokenizers_lab.transplant.checkpoint import Checkpoint
    from tokenizers_lab.transplant.config import TransplantConfig
    from tokenizers_lab.transplant.vocab import Vocab


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
    charts: tuple[str, ...] = ()  # SVG files beside the report (each with a PNG twin)


def model_facts(ck: Checkpoint) -> ModelFacts:
    return ModelFacts(
        ",".join(ck.config.get("architectures") or []) or ck.config.get("model_type", "?"),
        ck.rows,
        ck.dim,
        ck.tied,
        ck.dtype,
        ck.input_name,
        ck.output_name,
        ck.bytes,
    )


def row_fields(
    config: TransplantConfig,
    pair: Any,
    old: Vocab,
    new: Vocab,
    routes: list[str],
    final: list[str],
    specials: list[tuple[str, str, str]],
    rows: int,
    undecomposable: int,
) -> dict[str, Any]:
    """The report's account of the rows: routes, overlaps, specials, chat template."""
    return {
        "new_rows": rows,
        "padding_rows": rows - pair.new_view.vocab_size,
        "routes": core.route_counts(final),
        "raw_overlap": len(set(new.native) & set(old.native) - {None}),
        "canonical_overlap": sum(1 for r in routes if r in ("exact", "canonical")),
        "undecomposable": undecomposable,
        "specials": tuple(SpecialRow(t, new.specials[t], how, o) for t, how, o in specials),
        "added_specials": tuple(pair.added),
        "chat_template": config.chat_template if pair.template is not None else "none",
    }
