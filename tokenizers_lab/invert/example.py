"""`tokenlab invert` with no tokenizer: the paper's controlled experiment in miniature on the
embedded corpora. A byte-level BPE is trained on a known mixture of the even lines of six
categories; the odd lines (text the tokenizer never saw) are the samples; the report scores the
estimate against the known shares."""

from __future__ import annotations

import hashlib
import itertools

from tokenizers_lab.corpus import Corpus
from tokenizers_lab.invert.config import InvertConfig, output_names, validate
from tokenizers_lab.invert.job import infer
from tokenizers_lab.invert.report import InvertReport
from tokenizers_lab.invert.samples import Sample
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.report import InputRef, Stopwatch
from tokenizers_lab.tokenizer import HFView

# (name, corpus, repetitions of its training half in the mixture)
EXAMPLE: tuple[tuple[str, str, int], ...] = (
    ("code", "embedded:code", 3),
    ("domain", "embedded:domain", 2),
    ("deu", "embedded:parallel/deu_Latn.txt", 1),
    ("rus", "embedded:parallel/rus_Cyrl.txt", 2),
    ("tur", "embedded:parallel/tur_Latn.txt", 1),
    ("zho", "embedded:parallel/zho_Hans.txt", 1),
)
EXAMPLE_MERGES = 800
EXAMPLE_SHARDS = 5


def _lines(spec: str) -> list[str]:
    if spec.startswith("embedded:parallel/"):
        from tokenizers_lab.corpus import embedded_path

        path = embedded_path("parallel") / spec.split("/", 1)[1]
        return [ln for ln in path.read_text("utf-8").splitlines() if ln.strip()]
    return [ln for ln in Corpus(spec) if ln.strip()]


def example_tokenizer(seed: int = 13) -> tuple[HFView, dict[str, float], list[Sample]]:
    """Train the example tokenizer; return it, the true byte shares and the held-out samples."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    train: list[str] = []
    truth_bytes: dict[str, int] = {}
    samples: list[Sample] = []
    for name, spec, reps in EXAMPLE:
        lines = _lines(spec)
        even, odd = lines[0::2], lines[1::2]
        train += even * reps
        truth_bytes[name] = reps * sum(len(x.encode("utf-8")) + 1 for x in even)
        text = "\n".join(odd).encode("utf-8")
        ref = InputRef(
            role=f"category:{name}",
            name=f"{spec} (odd lines)",
            sha256=hashlib.sha256(text).hexdigest(),
            bytes=len(text) + 1,
        )
        cut = [len(odd) * j // EXAMPLE_SHARDS for j in range(EXAMPLE_SHARDS + 1)]
        samples.append(
            Sample(
                name=name,
                source=f"{spec} (odd lines)",
                ref=ref,
                shards=[odd[a:b] for a, b in itertools.pairwise(cut)],
                bytes=len(text) + 1,
            )
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = __import__("tokenizers").decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + EXAMPLE_MERGES,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(train, trainer)
    data = tok.to_str().encode("utf-8")
    view = HFView(
        tok, "embedded-mixture-bpe", "trained on the embedded corpora", hashlib.sha256(data).hexdigest()
    )
    total = sum(truth_bytes.values())
    return view, {k: v / total for k, v in truth_bytes.items()}, samples


__all__ = ["EXAMPLE", "InvertConfig", "InvertReport", "example_tokenizer", "output_names", "run", "validate"]


def run(config: InvertConfig, *, progress: Progress | None = None) -> InvertReport:
    """Train on a known embedded mixture and recover it (the config's merges, start, bootstrap,
    competitors and seed apply; its tokenizer and categories are the example's own)."""
    progress = progress or no_progress
    validate(config)
    clock = Stopwatch()
    progress("training a BPE on a known mixture of the embedded corpora", None)
    view, truth, samples = example_tokenizer(config.seed)
    cfg = InvertConfig(
        tokenizer=None,
        categories=tuple(f"{n}={s}" for n, s, _ in EXAMPLE),
        merges=config.merges,
        start=config.start,
        shards=EXAMPLE_SHARDS,
        bootstrap=config.bootstrap,
        competitors=config.competitors,
        truth=tuple(f"{k}={v:.6f}" for k, v in truth.items()),
        seed=config.seed,
    )
    return infer(cfg, view, samples, truth, progress, clock, {})
