"""A ZeTT-style hypernetwork small enough for a CPU (Minixhofer et al. 2024; residual form as in
tokenkit): it maps a token's decomposition — the sequence of its pieces' old rows — to the
token's row, as FVT's mean plus a learned correction whose output layer starts at zero (so step
0 is exactly FVT). Trained on the old vocabulary itself with ZeTT's lexical objective: hide a
random part of the vocabulary with every merge that makes or uses it, decompose the hidden tokens
from what is left, regress their true rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tokenizers_lab.transplant.vocab import Decomposer

MAX_PIECES = 8  # longer decompositions keep their first pieces for the network (FVT part uses all)
HIDDEN = 256
LAYERS = 2
HEADS = 4
HIDE_SHARE = 0.15  # of the vocabulary hidden per round of example generation
ROUNDS = 6
BATCH = 256
LR = 1e-3
VALID_SHARE = 0.1


def _net(torch: Any, features: int, outputs: int) -> Any:
    from torch import nn

    class Hyper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(features, HIDDEN)
            self.pos = nn.Parameter(torch.zeros(MAX_PIECES, HIDDEN))
            layer = nn.TransformerEncoderLayer(
                HIDDEN, HEADS, 2 * HIDDEN, dropout=0.0, batch_first=True, norm_first=True
            )
            self.enc = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(HIDDEN)
            self.out = nn.Linear(HIDDEN, outputs)
            nn.init.zeros_(self.out.weight)  # residual starts at zero: the net begins as FVT
            nn.init.zeros_(self.out.bias)

        def forward(self, x: Any, mask: Any) -> Any:
            h = self.inp(x) + self.pos[: x.shape[1]]
            h = self.enc(h, src_key_padding_mask=~mask)
            m = mask.unsqueeze(2).to(h.dtype)
            pooled = (self.norm(h) * m).sum(1) / m.sum(1).clamp_min(1.0)
            return self.out(pooled)

    return Hyper()


@dataclass
class Hypernet:
    """A trained hypernetwork over an old model's rows (input, and output when untied)."""

    net: Any
    E_in: np.ndarray
    E_out: np.ndarray | None
    scale: float
    examples: tuple[list[list[int]], np.ndarray] = ([], np.zeros(0, np.int64))  # the training split
    norm: float = 1.0  # mean squared distance of a row from the mean row: the lexical loss's unit

    @cached_property
    def features(self) -> np.ndarray:
        """Input rows, and output rows beside them when untied: what the network reads and predicts."""
        return self.E_in if self.E_out is None else np.concatenate([self.E_in, self.E_out], 1)

    def _batch(self, decomps: Sequence[Sequence[int]]) -> tuple[Any, Any, Any]:
        import torch

        feats = self.features
        n, f = len(decomps), feats.shape[1]
        x = np.zeros((n, MAX_PIECES, f), np.float32)
        mask = np.zeros((n, MAX_PIECES), bool)
        fvt = np.zeros((n, f), np.float32)
        for r, d in enumerate(decomps):
            rows = feats[np.asarray(d, np.int64)]
            fvt[r] = rows.mean(0)
            k = min(len(d), MAX_PIECES)
            x[r, :k] = rows[:k] / self.scale
            mask[r, :k] = True
        return torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(fvt)

    def forward(self, decomps: Sequence[Sequence[int]]) -> Any:
        x, mask, fvt = self._batch(decomps)
        return fvt + self.scale * self.net(x, mask)

    def lexical_loss(self, rng: np.random.Generator) -> Any:
        """ZeTT's lexical loss on a random batch of the training examples: squared distance of the
        predicted rows from the true ones, in units of the rows' spread."""
        import torch

        decs, ids = self.examples
        b = rng.integers(0, len(ids), size=BATCH)
        target = torch.from_numpy(self.features[ids[b]])
        return ((self.forward([decs[i] for i in b]) - target) ** 2).sum(1).mean() / self.norm

    def predict(self, decomps: Sequence[Sequence[int] | None]) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows for each decomposition (zero where there is none)."""
        import torch

        d = self.E_in.shape[1]
        f = d if self.E_out is None else 2 * d
        out = np.zeros((len(decomps), f), np.float32)
        present = [(i, x) for i, x in enumerate(decomps) if x]
        self.net.eval()
        with torch.inference_mode():
            for s in range(0, len(present), 4096):
                part = present[s : s + 4096]
                out[[i for i, _ in part]] = self.forward([x for _, x in part]).numpy()
        return out[:, :d], (out[:, d:] if self.E_out is not None else None)


def examples(space: Any, rng: np.random.Generator, exclude: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """(decomposition, old id) pairs: in each round a random HIDE_SHARE of the multi-byte tokens is
    hidden and decomposed by what is left. Tokens in `exclude` are never targets."""
    keys = space.vocab.keys
    cands = np.array([i for i, k in enumerate(keys) if k is not None and len(k) >= 2], np.int64)
    cands = np.setdiff1d(cands, exclude)
    seen: set[tuple[int, tuple[int, ...]]] = set()
    decs: list[list[int]] = []
    ids: list[int] = []
    for _ in range(ROUNDS):
        hidden = rng.choice(cands, size=max(1, int(HIDE_SHARE * len(cands))), replace=False)
        dec = Decomposer(space.vocab, hidden)
        for i, d in zip(hidden.tolist(), dec.decompose_many([keys[i] for i in hidden])):
            if d is not None and len(d) >= 2 and (i, tuple(d)) not in seen:
                seen.add((i, tuple(d)))
                decs.append(d)
                ids.append(i)
    return decs, np.asarray(ids, np.int64)


def train(
    space: Any, steps: int = 600, seed: int = 13, exclude: np.ndarray | None = None
) -> tuple[Hypernet, dict]:
    """Train on the old vocabulary; returns the network and a summary with its validation score
    against FVT (centred cosine on held-back examples). Torch's global random state is seeded only
    inside a fork of it: the caller's state is as it was afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _train(space, steps, seed, exclude)


def _train(space: Any, steps: int, seed: int, exclude: np.ndarray | None) -> tuple[Hypernet, dict]:
    import torch

    rng = np.random.default_rng(seed)
    exclude = np.zeros(0, np.int64) if exclude is None else exclude
    n = space.vocab.size
    E_in = np.ascontiguousarray(space.E_in[:n], dtype=np.float32)
    E_out = None if space.E_out is None else np.ascontiguousarray(space.E_out[:n], dtype=np.float32)
    d = E_in.shape[1]
    feats = E_in if E_out is None else np.concatenate([E_in, E_out], 1)
    scale = float(feats.std())
    net = _net(torch, feats.shape[1], feats.shape[1])
    decs, ids = examples(space, rng, exclude)
    order = rng.permutation(len(ids))
    n_valid = max(1, int(VALID_SHARE * len(ids)))
    valid, trn = order[:n_valid], order[n_valid:]
    target = torch.from_numpy(feats)
    mean = target.mean(0)
    norm = float(((target - mean) ** 2).sum(1).mean())
    hyper = Hypernet(net, E_in, E_out, scale, ([decs[i] for i in trn], ids[trn]), norm)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=max(steps, 1), pct_start=0.1)
    net.train()
    losses = []
    for _ in range(steps):
        loss = hyper.lexical_loss(rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    net.eval()

    def centred_cos(a: Any, b: Any) -> float:
        a, b = a[:, :d] - mean[:d], b[:, :d] - mean[:d]
        return float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())

    with torch.inference_mode():
        vd = [decs[i] for i in valid]
        x, mask, fvt = hyper._batch(vd)
        pred = fvt + scale * net(x, mask)
        truth = target[ids[valid]]
        hn, base = centred_cos(pred, truth), centred_cos(fvt, truth)
    info = {
        "examples": len(trn),
        "validation_examples": len(valid),
        "steps": steps,
        "batch": BATCH,
        "parameters": sum(p.numel() for p in net.parameters()),
        "first_loss": losses[0] if losses else None,
        "last_loss": float(np.mean(losses[-20:])) if losses else None,
        "validation_centred_cosine": hn,
        "validation_centred_cosine_fvt": base,
        "beats_fvt": hn > base,
    }
    return hyper, info
