"""How good a transplant is. Model-free: leave-out reconstruction (hide old tokens and their
merges, rebuild them, compare with the true rows). With the model: bits per byte on held-out
text, original model + tokenizer against transplanted model + new tokenizer."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.transplant.core import Estimate, OldSpace, Params, estimate
from tokenizers_lab.transplant.vocab import Decomposer

MIN_HIDDEN_BYTES = 3  # hidden tokens are multi-piece words, not single bytes
DOC_CHARS = 2000  # held-out lines are grouped into documents of about this many characters


@dataclass(frozen=True)
class LeaveOutRow:
    """One method rebuilding the hidden rows (input embeddings; output too when untied)."""

    method: str
    hidden: int
    rebuilt: int
    cosine: float
    centred_cosine: float
    median_rank: float
    mrr: float
    hit_at_1: float
    hit_at_10: float
    output_centred_cosine: float | None


def pick_hidden(space: OldSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    """n old ids to hide: non-special tokens of at least MIN_HIDDEN_BYTES bytes that still
    decompose into other tokens once hidden (checked afterwards), drawn from the sorted ids."""
    keys = space.vocab.keys
    cands = np.array(
        [i for i, k in enumerate(keys) if k is not None and len(k) >= MIN_HIDDEN_BYTES], np.int64
    )
    n = min(n, len(cands))
    return np.sort(rng.choice(cands, size=n, replace=False)) if n else cands[:0]


def score(
    est: np.ndarray,
    true: np.ndarray,
    E: np.ndarray,
    candidates: np.ndarray,
    true_ids: np.ndarray,
    mean: np.ndarray,
) -> dict[str, float]:
    """Cosine, mean-centred cosine and retrieval rank of the true row among candidate rows."""
    import torch

    def unit(x: np.ndarray) -> np.ndarray:
        nrm = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(nrm == 0, 1, nrm)

    cos = float(np.mean(np.sum(unit(est) * unit(true), 1)))
    ce, ct = unit(est - mean), unit(true - mean)
    ccos = float(np.mean(np.sum(ce * ct, 1)))
    bank = torch.from_numpy(np.ascontiguousarray(unit(E[candidates] - mean), dtype=np.float32))
    sims = torch.from_numpy(ce.astype(np.float32)) @ bank.T
    pos = {int(c): j for j, c in enumerate(candidates)}
    own = torch.tensor([pos[int(t)] for t in true_ids])
    true_sim = sims[torch.arange(len(own)), own]
    ranks = (sims > true_sim[:, None]).sum(1).numpy() + 1
    return {
        "cosine": cos,
        "centred_cosine": ccos,
        "median_rank": float(np.median(ranks)),
        "mrr": float(np.mean(1.0 / ranks)),
        "hit_at_1": float(np.mean(ranks <= 1)),
        "hit_at_10": float(np.mean(ranks <= 10)),
    }


def leave_out(
    space: OldSpace,
    methods: Sequence[str],
    n: int,
    seed: int,
    params: Params,
    allowed: np.ndarray,
    estimators: dict[str, Callable[..., Estimate]] | None = None,
    hidden: np.ndarray | None = None,
    timings: dict[str, float] | None = None,
) -> list[LeaveOutRow]:
    """Hide n old tokens (and every merge making or using them), rebuild them with each method
    from the remaining vocabulary, compare with their true rows. `estimators` may override how a
    method estimates (e.g. OMP, which needs donor rows of the hidden tokens); each method's time
    goes into `timings`."""
    rng = np.random.default_rng(seed)
    if hidden is None:
        hidden = pick_hidden(space, n, rng)
    dec = Decomposer(space.vocab, hidden)
    keys = [space.vocab.keys[i] for i in hidden]
    decomps = dec.decompose_many(keys)
    keep = np.array([d is not None and len(d) >= 2 for d in decomps], dtype=bool)
    hidden = hidden[keep]
    keys = [k for k, ok in zip(keys, keep) if ok]
    still = allowed.copy()
    still[hidden] = False
    candidates = np.flatnonzero(allowed)
    true_in = space.E_in[hidden]
    mean = space.mean
    rows = []
    for m in methods:
        t0 = time.perf_counter()
        if estimators and m in estimators:
            est = estimators[m](keys, hidden, dec, still)
        else:
            est = estimate(m, keys, space, dec, still, params)
        if timings is not None:
            timings[f"leave_out_{m}"] = time.perf_counter() - t0
        ok = np.array([r != "fallback" for r in est.routes], dtype=bool)
        if not ok.any():
            continue
        s = score(est.rows_in[ok], true_in[ok], space.E_in, candidates, hidden[ok], mean)
        out_c = None
        if space.E_out is not None and est.rows_out is not None:
            mo = space.E_out[: space.vocab.size].mean(0)
            a, b = est.rows_out[ok] - mo, space.E_out[hidden[ok]] - mo
            out_c = float(
                np.mean(
                    np.sum(a * b, 1)
                    / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
                )
            )
        rows.append(LeaveOutRow(m, len(hidden), int(ok.sum()), output_centred_cosine=out_c, **s))
    return rows


# ---------------------------------------------------------------------------------------
# Bits per byte
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BpbSide:
    """One model + tokenizer on the held-out text."""

    tokens: int
    bits: float
    bpb: float


def documents(lines: Sequence[str], chars: int = DOC_CHARS) -> list[str]:
    """Consecutive non-empty lines joined into documents of about `chars` characters."""
    docs, cur, size = [], [], 0
    for line in lines:
        if not line.strip():
            continue
        cur.append(line)
        size += len(line) + 1
        if size >= chars:
            docs.append("\n".join(cur))
            cur, size = [], 0
    if cur:
        docs.append("\n".join(cur))
    return docs


def load_causal_lm(folder: Path) -> Any:
    """A local causal LM through transformers, offline, never running remote code."""
    import torch
    from transformers import AutoModelForCausalLM

    from tokenizers_lab.transplant.checkpoint import quiet_transformers

    quiet_transformers()

    model = AutoModelForCausalLM.from_pretrained(
        str(folder), local_files_only=True, trust_remote_code=False, dtype=torch.float32
    )
    model.eval()
    return model


def pad_batch(torch: Any, seqs: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """Right-padded ids and their attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(list(s))
        mask[r, : len(s)] = 1
    return ids, mask


def bits_per_byte(
    model: Any,
    encode: Callable[[list[str]], list[list[int]]],
    prefix: int,
    docs: Sequence[str],
    max_len: int = 1024,
    batch_tokens: int = 1024,
    nll: Callable[[Any, Any], float] | None = None,
) -> BpbSide:
    """Σ NLL of every content token / (ln 2 · UTF-8 bytes): each document starts with the same
    `prefix` id so its first content token is scored too; documents longer than max_len are
    scored in consecutive windows, each re-prefixed. `nll(ids, mask)` -> the batch's summed NLL
    replaces the model's own forward (the fit scores other embedding matrices through the same
    layers, its vocabulary head a block of positions at a time: `Student.nll`)."""
    import torch

    seqs: list[list[int]] = []
    for ids in encode(list(docs)):
        for s in range(0, max(len(ids), 1), max_len - 1):
            seqs.append([prefix] + ids[s : s + max_len - 1])
    seqs.sort(key=len)
    nats = 0.0
    n_tokens = sum(len(s) - 1 for s in seqs)
    i = 0
    with torch.inference_mode():
        while i < len(seqs):
            j = i + 1
            while j < len(seqs) and len(seqs[j]) * (j - i + 1) <= batch_tokens:
                j += 1
            batch, attend = pad_batch(torch, seqs[i:j])
            if nll is not None:
                nats += nll(batch, attend)
            else:
                logits = model(input_ids=batch, attention_mask=attend).logits[:, :-1].float()
                for r in range(len(batch)):  # a row at a time: no padded copy of the batch's logits
                    n = int(attend[r].sum()) - 1
                    nats += float(
                        torch.nn.functional.cross_entropy(logits[r, :n], batch[r, 1 : n + 1], reduction="sum")
                    )
                del logits
            i = j
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    bits = nats / math.log(2)
    return BpbSide(n_tokens, bits, bits / max(n_bytes, 1))
