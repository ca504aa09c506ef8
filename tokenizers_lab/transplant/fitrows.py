"""Where a fit's trainable rows come from, step by step: the rows themselves (`DirectRows`, a
lazy AdamW on each estimated row) or a hypernetwork that predicts them from their decompositions
(`HyperRows`, ZeTT's objective: the language-modelling loss through the frozen model plus 0.5 x
the lexical loss the hypernetwork was pre-trained with). Both answer the same four questions:
which of a batch's tokens are trainable, their rows as tensors with gradient, the extra loss, and
the update after backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from tokenizers_lab.transplant.fitparts import LazyAdam

LEXICAL_WEIGHT = 0.5  # ZeTT: L = L_LM + 0.5 * L_lexical
CLIP = 1.0


class DirectRows:
    """Every estimated row its own parameter, moved by a lazy AdamW (only the rows a step holds)."""

    name = "rows"
    default_lr = 4e-3

    def __init__(self, torch: Any, W_in: Any, W_out: Any, tied: bool, used: list[int]) -> None:
        self.torch, self.W_in, self.W_out, self.tied = torch, W_in, W_out, tied
        self.used = set(used)
        self.opt = LazyAdam(torch, used, W_in.shape[0], W_in.shape[1], 1 if tied else 2)
        self._params: list[Any] = []

    def start(self, lr: float) -> None:
        """Nothing to set up: the lazy AdamW takes the rate at every step."""

    def trainable(self, ids: set[int]) -> list[int]:
        return sorted(i for i in ids if i in self.used)

    def params(self, rows: Any) -> tuple[Any, Any]:
        P_in = self.torch.nn.Parameter(self.W_in[rows].clone())
        P_out = P_in if self.tied else self.torch.nn.Parameter(self.W_out[rows].clone())
        self._params = [P_in] if self.tied else [P_in, P_out]
        return P_in, P_out

    def extra_loss(self) -> Any:
        return None

    def step(self, rows: Any, rate: float) -> Any:
        """Clip, update, write the rows back; which rows had a gradient."""
        torch = self.torch
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self._params]
        moved = sum(g.abs().sum(1) for g in grads) > 0
        norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
        if norm > CLIP:
            grads = [g / norm * CLIP for g in grads]
        with torch.no_grad():
            self.opt.step(rows, grads, rate)
            self.W_in[rows] = self.opt.value(0, rows, self._params[0].detach())
            if not self.tied:
                self.W_out[rows] = self.opt.value(1, rows, self._params[1].detach())
        return moved

    def finish(self) -> None:
        """The rows are written at every step."""


class HyperRows:
    """The rows of a batch's new tokens predicted by the hypernetwork from their decompositions;
    the network's weights are the parameters (AdamW, beta2 0.95). At the end every estimated token
    with a decomposition gets the network's row: tokens the fit text never held move too."""

    name = "hypernetwork"
    default_lr = 3e-4

    def __init__(
        self,
        torch: Any,
        hyper: Any,
        decomps: dict[int, list[int]],
        W_in: Any,
        W_out: Any,
        tied: bool,
        output_grad: float,
        seed: int,
    ) -> None:
        self.torch, self.hyper, self.decomps = torch, hyper, decomps
        self.W_in, self.W_out, self.tied, self.output_grad = W_in, W_out, tied, output_grad
        self.d = W_in.shape[1]
        self.rng = np.random.default_rng(seed)
        self.opt: Any = None
        self._out: Any = None

    def start(self, lr: float) -> None:
        torch = self.torch
        self.hyper.net.train()
        self.opt = torch.optim.AdamW(self.hyper.net.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)

    def trainable(self, ids: set[int]) -> list[int]:
        return sorted(i for i in ids if i in self.decomps)

    def params(self, rows: Any) -> tuple[Any, Any]:
        out = self.hyper.forward([self.decomps[i] for i in rows.tolist()])
        out.retain_grad()
        self._out = out
        P_in = out[:, : self.d]
        return P_in, (P_in if self.tied else out[:, self.d :])

    def extra_loss(self) -> Any:
        return LEXICAL_WEIGHT * self.hyper.lexical_loss(self.rng)

    def step(self, rows: Any, rate: float) -> Any:
        torch = self.torch
        g = self._out.grad
        moved = g.abs().sum(1) > 0 if g is not None else torch.zeros(len(rows), dtype=torch.bool)
        torch.nn.utils.clip_grad_norm_(self.hyper.net.parameters(), CLIP)
        for group in self.opt.param_groups:
            group["lr"] = rate
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return moved

    def finish(self) -> None:
        """Every estimated token with a decomposition gets the trained network's row (the output
        rows of an untied model only when the output role was trained)."""
        ids = sorted(self.decomps)
        rows_in, rows_out = self.hyper.predict([self.decomps[i] for i in ids])
        idx = self.torch.tensor(ids, dtype=self.torch.long)
        self.W_in[idx] = self.torch.from_numpy(rows_in)
        if not self.tied and self.output_grad > 0 and rows_out is not None:
            self.W_out[idx] = self.torch.from_numpy(rows_out)
