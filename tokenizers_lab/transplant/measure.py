"""What a transplant is measured with: the donor model (OMP), leave-out reconstruction of hidden old
tokens, and bits per byte of the original and the transplanted model on held-out text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError
from tokenizers_lab.tokenizer import TokenizerView, load_tokenizer
from tokenizers_lab.transplant import core
from tokenizers_lab.transplant.checkpoint import Checkpoint, open_checkpoint
from tokenizers_lab.transplant.config import TransplantConfig
from tokenizers_lab.transplant.evaluate import BpbSide
from tokenizers_lab.transplant.report import Bpb
from tokenizers_lab.transplant.vocab import (
    Vocab,
    build_vocab,
)


def load_donor(
    donor: str, new: Vocab, routes: list[str], src: list[int | None], tied: bool
) -> tuple[Checkpoint, dict[str, Any]]:
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
    out: dict[str, Any] = {
        "targets": D,
        "atoms": (D[shared], old_ids),
        "shared_new": np.array(shared, np.int64),
        "donor_vocab": dvocab,
        "targets_out": None,
        "atoms_out": None,
    }
    D_out_t = dk.output_embeddings()
    if not tied and D_out_t is not None:  # both untied: lm_head rows get their own code (tokensurgeon)
        D_out = np.full((n, dk.dim), np.nan, np.float32)
        D_out[:m] = D_out_t.numpy()[:m]
        out["targets_out"], out["atoms_out"] = D_out, (D_out[shared], old_ids)
    return dk, out


def omp_leave_out(space: core.OldSpace, inputs: dict[str, Any], new: Vocab, params: core.Params):
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
        return core.estimate(
            "omp",
            keys,
            space,
            dec,
            allowed,
            params,
            omp_targets=tg,
            omp_atoms=(D[atoms_new[keep]], old_ids[keep]),
        )

    return run


def measure_bpb(
    config: TransplantConfig,
    ck: Checkpoint,
    stage: Path,
    old_view: TokenizerView,
    new_view: TokenizerView,
    ids: dict[str, Any],
    heuristic: BpbSide | None = None,
) -> Bpb:
    from tokenizers_lab.transplant.evaluate import bits_per_byte, documents, load_causal_lm

    spec = config.eval_text or "embedded:domain"
    docs = documents(eval_lines(config))
    if not docs:
        raise InputError(f"evaluation text {spec} is empty")
    old_prefix, new_prefix = prefixes(ck, ids)
    model = load_causal_lm(ck.folder)
    orig = bits_per_byte(model, old_view.encode_batch, old_prefix, docs)
    del model
    model = load_causal_lm(stage)
    trans = bits_per_byte(model, new_view.encode_batch, new_prefix, docs)
    del model
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    from tokenizers_lab.corpus import display_name

    name = display_name(spec)
    return Bpb(
        name,
        len(docs),
        n_bytes,
        orig,
        trans,
        trans.bpb / orig.bpb if orig.bpb else float("nan"),
        trans.tokens / max(orig.tokens, 1),
        heuristic,
        heuristic.bpb / orig.bpb if heuristic is not None and orig.bpb else None,
    )


def eval_lines(config: TransplantConfig) -> list[str]:
    """The held-out lines bits per byte reads: --eval-text (default the embedded domain corpus) up
    to --eval-bytes."""
    from tokenizers_lab.corpus import Corpus

    lines: list[str] = []
    size = 0
    for line in Corpus(config.eval_text or "embedded:domain"):
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
        if size >= config.eval_bytes:
            break
    return lines


def prefixes(ck: Checkpoint, ids: dict[str, Any]) -> tuple[int, int]:
    """The id each document starts with, for the model's tokenizer and the new one (bos, else eos)."""

    def prefix(cfg: dict[str, Any], whose: str) -> int:
        for role in ("bos", "eos"):
            v = cfg.get(f"{role}_token_id")
            v = v[0] if isinstance(v, list) and v else v
            if isinstance(v, int):
                return v
        raise InputError(
            f"{whose} has neither a bos nor an eos token to start documents with (a tiktoken "
            "rank file holds no special tokens)"
        )

    return prefix(ck.config, "the model"), prefix(
        {f"{k}_token_id": v for k, v in ids.items()}, "the new tokenizer"
    )
