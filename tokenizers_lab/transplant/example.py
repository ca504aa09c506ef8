"""The demo's transplant step: a tiny Llama-architecture model trained for a few hundred CPU steps on
the embedded corpora with one demo tokenizer (byte-level BPE), then moved onto another (metaspace
BPE with byte fallback: the conventions differ, so shared tokens are found in the canonical byte
space) by every method that needs no extra model, each scored by leave-out reconstruction and
bits per byte on held-out lines."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers_lab.corpus import Corpus
from tokenizers_lab.errors import LabError, MissingExtraError
from tokenizers_lab.progress import Progress
from tokenizers_lab.transplant.config import TransplantConfig, output_names, validate
from tokenizers_lab.transplant.job import run_on
from tokenizers_lab.transplant.report import TransplantReport

__all__ = [
    "TransplantConfig",
    "TransplantReport",
    "embedded_tiny",
    "output_names",
    "run",
    "run_step",
    "validate",
]

METHODS = ("random", "fvt", "tokenadapt", "hypernet")
CORPORA = ("embedded:domain", "embedded:parallel/eng_Latn.txt", "embedded:code")
HELD_OUT_EVERY = 5  # every 5th line is held out from LM training and scores bits per byte
STEPS = 300
SEQ = 96
BATCH = 16
HYPERNET_STEPS = 150
OLD_VOCAB = 2000  # the tiny model's tokenizer: the demo's byte-level BPE at this size
LEAVE_OUT = 150


@dataclass(frozen=True)
class TransplantRow:
    """One method of the demo's transplant step."""

    method: str
    copied: int
    estimated: int
    fallback: int
    bpb_original: float
    bpb: float
    bpb_ratio: float
    length_ratio: float
    leave_out_centred_cosine: float | None


def _lines() -> tuple[list[str], list[str]]:
    from tokenizers_lab.corpus import embedded_path

    lines: list[str] = []
    for spec in CORPORA:
        if spec.startswith("embedded:parallel/"):
            path = embedded_path("parallel") / spec.split("/", 1)[1]
            lines += [ln for ln in path.read_text("utf-8").splitlines() if ln.strip()]
        else:
            lines += [ln for ln in Corpus(spec) if ln.strip()]
    train = [ln for i, ln in enumerate(lines) if i % HELD_OUT_EVERY]
    held = [ln for i, ln in enumerate(lines) if not i % HELD_OUT_EVERY]
    return train, held


def tiny_model(folder: Path, tokenizer_json: bytes, seed: int) -> Path:
    """Train a tiny causal LM with the given tokenizer on the demo lines and save it as a folder.
    One thread and a fixed seed: the same machine gives the same weights."""
    try:
        import torch
        import transformers  # noqa: F401 - the torch extra's other half, needed below
    except ImportError:
        raise MissingExtraError(
            "the transplant step needs the torch extra: pip install 'tokenizers-lab[torch]'"
        ) from None
    from tokenizers import Tokenizer

    from tokenizers_lab.transplant.checkpoint import quiet_transformers

    quiet_transformers()
    tok = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    eos = tok.token_to_id("<|endoftext|>")
    if eos is None:
        raise LabError("the tiny model's tokenizer has no <|endoftext|> token")
    train, _ = _lines()
    stream: list[int] = []
    for enc in tok.encode_batch(train, add_special_tokens=False):
        stream += enc.ids + [eos]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # the weights' initialisation draws from torch's global state: seeded in a fork of it only
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _train_tiny(folder, tok, tokenizer_json, stream, eos, seed, threads)


def _train_tiny(
    folder: Path, tok: Any, tokenizer_json: bytes, stream: list[int], eos: int, seed: int, threads: int
) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    try:
        cfg = LlamaConfig(
            vocab_size=tok.get_vocab_size(),
            hidden_size=64,
            intermediate_size=172,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=SEQ + 1,
            tie_word_embeddings=True,
            bos_token_id=eos,
            eos_token_id=eos,
            pad_token_id=eos,
        )
        model = LlamaForCausalLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS, pct_start=0.1)
        data = torch.tensor(stream)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(STEPS):
            starts = torch.randint(0, len(data) - SEQ - 1, (BATCH,), generator=gen)
            x = torch.stack([data[s : s + SEQ + 1] for s in starts.tolist()])
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        model.save_pretrained(folder)
    finally:
        torch.set_num_threads(threads)
    (folder / "tokenizer.json").write_bytes(tokenizer_json)
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|endoftext|>",
                "eos_token": "<|endoftext|>",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return folder


def embedded_tiny(folder: Path, seed: int) -> Path:
    """The demo's tiny model with its bpe-2k tokenizer, both trained on the embedded corpora."""
    from tokenizers_lab import train

    rep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(OLD_VOCAB,), seed=seed))
    return tiny_model(folder, rep.artifacts["tokenizer.json"], seed)


def run_step(
    old_tokenizer: bytes,
    new_tokenizer: bytes,
    seed: int,
    progress: Callable[[str, float | None], None] | None = None,
) -> tuple[list[TransplantRow], dict[str, bytes]]:
    """Train the tiny model, transplant it with each method; rows and the per-method reports."""
    import torch

    from tokenizers_lab.transplant import TransplantConfig, run

    rows: list[TransplantRow] = []
    artifacts: dict[str, bytes] = {}
    _, held = _lines()
    with tempfile.TemporaryDirectory(prefix="tokenlab-demo-transplant-") as tmp:
        work = Path(tmp)
        if progress:
            progress("transplant: training a tiny model", None)
        model = tiny_model(work / "model", old_tokenizer, seed)
        (work / "new").mkdir()
        (work / "new" / "tokenizer.json").write_bytes(new_tokenizer)
        (work / "held.txt").write_text("\n".join(held) + "\n", encoding="utf-8")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for method in METHODS:
                if progress:
                    progress(f"transplant: {method}", None)
                cfg = TransplantConfig(
                    model=str(model),
                    tokenizer=str(work / "new" / "tokenizer.json"),
                    method=method,
                    out=str(work / method),
                    aux_model="none",
                    evaluate=True,
                    eval_text=str(work / "held.txt"),
                    eval_bytes=1_000_000,
                    leave_out=LEAVE_OUT,
                    hypernet_steps=HYPERNET_STEPS,
                    seed=seed,
                )
                rep = run(cfg)
                from tokenizers_lab.report import dumps

                artifacts[f"transplant/{method}/transplant.json"] = dumps(rep).encode("utf-8")
                artifacts[f"transplant/{method}/transplant.md"] = rep.to_markdown().encode("utf-8")
                for name in rep.charts:  # the SVG and its PNG twin
                    for chart in (work / method).glob(name.removesuffix(".svg") + ".*"):
                        artifacts[f"transplant/{method}/{chart.name}"] = chart.read_bytes()
                r = rep.routes
                copied = r.get("exact", 0) + r.get("canonical", 0) + r.get("special", 0)
                lo = {x.method: x.centred_cosine for x in rep.leave_out}
                b = rep.bpb
                assert b is not None
                rows.append(
                    TransplantRow(
                        method,
                        copied,
                        sum(r.values()) - copied - r.get("fallback", 0) - r.get("padding", 0),
                        r.get("fallback", 0),
                        b.original.bpb,
                        b.transplanted.bpb,
                        b.ratio,
                        b.length_ratio,
                        lo.get(method),
                    )
                )
        finally:
            torch.set_num_threads(threads)
    from tokenizers_lab import charts

    if charts.available():  # every method side by side
        bpb = charts.bpb_chart([(r.method, r.bpb_original, r.bpb, None) for r in rows])
        artifacts.update({f"transplant/{name}": data for name, data in bpb.items()})
    return rows, artifacts


def run(config: TransplantConfig, *, progress: Progress | None = None) -> TransplantReport:
    """`tokenlab transplant embedded:tiny ...`: the demo's tiny model, trained on the embedded
    corpora in a temporary folder, transplanted as an ordinary model folder."""
    validate(config)
    with tempfile.TemporaryDirectory(prefix="tokenlab-tiny-") as tmp:
        if progress:
            progress("training the embedded tiny model", None)
        return run_on(config, embedded_tiny(Path(tmp) / "tiny", config.seed), progress=progress)
