"""`tokenlab audit` with no tokenizer: the embedded default, tokenizers trained on the embedded
corpora on the spot (a few seconds each) and audited side by side. Builds an ordinary audit: the
job never imports this module."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tokenizers_lab.audit.config import DEFAULT_TOKENIZERS, AuditConfig, output_names, validate
from tokenizers_lab.audit.job import run as run_audit
from tokenizers_lab.audit.report import AuditReport
from tokenizers_lab.errors import UsageError
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.tokenizer import HFView, SentencePieceView, TokenizerView

if TYPE_CHECKING:
    from tokenizers_lab.train import TrainReport

__all__ = [
    "AuditConfig",
    "AuditReport",
    "default_views",
    "output_names",
    "run",
    "validate",
    "views_from_train",
]


def run(config: AuditConfig, *, progress: Progress | None = None) -> AuditReport:
    """Audit the default tokenizers trained on the embedded corpora (with the config's seed)."""
    progress = progress or no_progress
    validate(config)
    return run_audit(config, progress=progress, views=default_views(config.seed, progress))


def views_from_train(report: TrainReport, label: str, vocab: int | None = None) -> TokenizerView:
    """A view over the artifacts of a train report (one size, or `vocab` of a sweep); the .model
    for SentencePiece."""
    from tokenizers import Tokenizer

    result = next((r for r in report.results if vocab is None or r.vocab_size_requested == vocab), None)
    if result is None:
        raise UsageError(f"the train report has no vocabulary size {vocab}")
    prefix = result.artifact[: -len("tokenizer.json")]
    art = report.artifacts
    if prefix + "tokenizer.model" in art:
        data = art[prefix + "tokenizer.model"]
        view: TokenizerView = SentencePieceView(
            data, label, "tokenizer.model", hashlib.sha256(data).hexdigest()
        )
    else:
        data = art[prefix + "tokenizer.json"]
        view = HFView(Tokenizer.from_str(data.decode("utf-8")), label, "tokenizer.json", result.sha256)
    view.nbytes = len(data)
    return view


def default_views(seed: int, progress: Progress) -> list[TokenizerView]:
    """Train the default tokenizers on the embedded corpora (a few seconds each)."""
    from tokenizers_lab import train

    out = []
    for label, algorithm, size in DEFAULT_TOKENIZERS:
        progress(f"training {label} on the embedded corpora", None)
        rep = train.run(train.TrainConfig(algorithm=algorithm, vocab_sizes=(size,), seed=seed))
        out.append(views_from_train(rep, label))
    return out
