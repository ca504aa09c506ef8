"""The fit's pieces: the model's layers as teacher and student, the teacher's cached quantities,
the ALM term, a lazy AdamW."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from tokenizers_lab.errors import LabError
from tokenizers_lab.transplant.evaluate import pad_batch
from tokenizers_lab.transplant.fittext import FitText, chunk_ends

TEMPERATURE = 100.0  # tokenkit's binarization_temp
HEAD_CHUNK = 64  # positions per vocabulary-head block at most (its logits are recomputed in backward)
HEAD_BLOCK_FLOATS = 5_000_000  # a block's logits at most (20 MB): 32 positions of a 152k vocabulary
EPS = 1e-6


class Student:
    """The shared transformer with either matrix pair: old (teacher) or new with trainable rows."""

    def __init__(self, model: Any, torch: Any) -> None:
        self.torch = torch
        self.model = model
        self.base = model.base_model
        for p in model.parameters():
            p.requires_grad_(False)

    def checkpoint_layers(self) -> None:
        """Recompute each decoder layer in backward instead of keeping its activations (a third
        more compute, a fraction of the memory): transformers' own layer checkpointing, switched
        on for the layer modules alone so that every dropout inside stays in eval mode."""
        from functools import partial

        from torch.utils.checkpoint import checkpoint
        from transformers.modeling_layers import GradientCheckpointingLayer

        for m in self.base.modules():
            if isinstance(m, GradientCheckpointingLayer):
                m.gradient_checkpointing = True
                setattr(m, "_gradient_checkpointing_func", partial(checkpoint, use_reentrant=False))  # noqa: B010
                m.training = True  # the layer's own flag only: its children stay in eval mode

    @property
    def depth(self) -> int:
        return int(self.base.config.num_hidden_layers)

    def hidden(self, emb: Any, mask: Any, layers: int | None = None) -> Any:
        """The final-normed hidden states after the first `layers` decoder layers (None: all)."""
        cfg = self.base.config
        full = cfg.num_hidden_layers
        cfg.num_hidden_layers = full if layers is None else min(layers, full)
        try:
            return self.base(inputs_embeds=emb, attention_mask=mask).last_hidden_state
        finally:
            cfg.num_hidden_layers = full

    def target_logp(self, h: Any, targets: Any, W: Any, P: Any = None, rows: Any = None) -> Any:
        """log p(target) at each position, the head in blocks of head_chunk positions (with P: the
        trainable rows `rows` of W replaced by P; the blocks' logits are recomputed in backward)."""
        torch = self.torch
        from torch.utils.checkpoint import checkpoint

        def block(hb: Any, tb: Any, Pb: Any) -> Any:
            logits = hb @ W.T
            if Pb is not None:
                logits = logits.index_copy(1, rows, hb @ Pb.T)
            return torch.log_softmax(logits, -1).gather(1, tb[:, None])[:, 0]

        outs = []
        chunk = head_chunk(W.shape[0])
        for s in range(0, h.shape[0], chunk):
            hb, tb = h[s : s + chunk], targets[s : s + chunk]
            if P is not None and torch.is_grad_enabled():
                outs.append(checkpoint(block, hb, tb, P, use_reentrant=False))
            else:
                outs.append(block(hb, tb, P))
        return torch.cat(outs) if outs else h.new_zeros(0)

    def nll(self, ids: Any, mask: Any, W_in: Any, W_out: Any) -> float:
        """Σ -log p of every row's next tokens (`mask` marks each row's tokens) with these matrices:
        the head in blocks, never a whole batch's logits (0.6 GB for 1024 positions of a 150k
        vocabulary)."""
        h = self.hidden(self.torch.nn.functional.embedding(ids, W_in), mask)
        total = 0.0
        for r in range(len(ids)):
            n = int(mask[r].sum()) - 1
            total -= float(self.target_logp(h[r, :n], ids[r, 1 : n + 1], W_out).double().sum())
        return total


def head_chunk(vocab: int) -> int:
    """Positions per block of the vocabulary head: HEAD_CHUNK, halved until a block's logits fit
    in HEAD_BLOCK_FLOATS. Each block's logits, their softmax and its gradient are alive at once in
    backward: for Qwen2's 152k vocabulary 64-position blocks held ~75 MB more at the fit's peak
    than 32-position ones, at the same step time (16 positions was slower)."""
    chunk = HEAD_CHUNK
    while chunk > 8 and chunk * vocab > HEAD_BLOCK_FLOATS:
        chunk //= 2
    return chunk


def teacher_sums(
    torch: Any, student: Student, texts: list[FitText], batch: list[int], prefix: int, W_in: Any, W_out: Any
) -> None:
    """The teacher's summed log-probability of every aligned chunk, once per text (cached on it)."""
    todo = [j for j in batch if texts[j].teacher is None and texts[j].old_chunk is not None]
    if not todo:
        return
    ids, mask = pad_batch(torch, [[prefix] + texts[j].old_ids for j in todo])
    with torch.no_grad():
        h = student.hidden(torch.nn.functional.embedding(ids, W_in), mask)
        for r, j in enumerate(todo):
            n = len(texts[j].old_ids)
            lp = student.target_logp(h[r, :n], ids[r, 1 : n + 1], W_out).double().numpy()
            chunk = texts[j].old_chunk
            assert chunk is not None
            texts[j].teacher = np.bincount(chunk, weights=lp, minlength=texts[j].n_chunks)


def teacher_states(
    torch: Any,
    student: Student,
    texts: list[FitText],
    batch: list[int],
    prefix: int,
    W_in: Any,
    layers: int | None,
) -> None:
    """The teacher's hidden state at the end of every aligned chunk, once per text (cached on it)."""
    todo = [j for j in batch if texts[j].teacher_h is None and texts[j].old_chunk is not None]
    if not todo:
        return
    ids, mask = pad_batch(torch, [[prefix] + texts[j].old_ids for j in todo])
    with torch.no_grad():
        h = student.hidden(torch.nn.functional.embedding(ids, W_in), mask, layers)
        for r, j in enumerate(todo):
            chunk = texts[j].old_chunk
            assert chunk is not None
            texts[j].teacher_h = h[r, 1 + torch.from_numpy(chunk_ends(chunk))].clone()


def check_head(student: Student, W_out: Any, prefix: int) -> None:
    """The fit computes logits as hidden @ W_out^T: refuse a model whose head is more than that
    (a bias, logit soft-capping or scaling) rather than fit the wrong function."""
    torch = student.torch
    ids = torch.tensor([[prefix, prefix]])
    with torch.no_grad():
        ref = student.model(input_ids=ids).logits[0].float()
        h = student.hidden(student.model.get_input_embeddings()(ids), torch.ones_like(ids))[0]
        mine = h @ W_out.T
    if not torch.allclose(ref, mine, rtol=1e-3, atol=1e-3 * float(ref.abs().max())):
        raise LabError(
            "--fit needs a model whose output head is hidden states times the output embeddings "
            f"(this {type(student.model).__name__} adds more: bias, soft-capping or scaling)"
        )


def _alm(torch: Any, teacher: np.ndarray, chunk: np.ndarray, n_chunks: int, lp: Any) -> Any:
    """ALM over one text: the binary KL between exp(teacher/T) and exp(student/T) of every aligned
    chunk's summed log-probability, times T (the binary cross-entropy's gradient)."""
    s = torch.zeros(n_chunks, dtype=lp.dtype).index_add(0, torch.from_numpy(chunk), lp)
    y = torch.from_numpy(teacher / TEMPERATURE).to(lp.dtype).clamp_max(0) - EPS
    x = (s / TEMPERATURE).clamp_max(0) - EPS
    py = torch.exp(y)
    kl = py * (y - x) + (1 - py) * (_log1mexp(torch, y) - _log1mexp(torch, x))
    return kl.sum() * TEMPERATURE


class LazyAdam:
    """AdamW (beta2 0.95, no weight decay) over embedding rows, updating only the rows a step
    touches (their own step counts for the bias correction): a lazy Adam, as for sparse
    embedding gradients."""

    def __init__(
        self,
        torch: Any,
        ids: Sequence[int],
        n_rows: int,
        dim: int,
        mats: int,
        betas: tuple[float, float] = (0.9, 0.95),
    ) -> None:
        self.torch = torch
        self.pos = torch.full((n_rows,), -1, dtype=torch.long)  # row id -> its state (only rows it may touch)
        self.pos[torch.tensor(list(ids), dtype=torch.long)] = torch.arange(len(ids))
        self.m = torch.zeros((mats, len(ids), dim))
        self.v = torch.zeros((mats, len(ids), dim))
        self.t = torch.zeros(len(ids))
        self.b1, self.b2 = betas
        self._delta: list[Any] = []

    def step(self, ids: Any, grads: list[Any], lr: float) -> None:
        torch = self.torch
        rows = self.pos[ids]
        self.t[rows] += 1
        t = self.t[rows][:, None]
        self._delta = []
        for k, g in enumerate(grads):
            m = self.m[k, rows] * self.b1 + (1 - self.b1) * g
            v = self.v[k, rows] * self.b2 + (1 - self.b2) * g * g
            self.m[k, rows], self.v[k, rows] = m, v
            mhat = m / (1 - self.b1**t)
            vhat = v / (1 - self.b2**t)
            self._delta.append(-lr * mhat / (torch.sqrt(vhat) + 1e-8))

    def value(self, k: int, rows: Any, current: Any) -> Any:
        """The rows after the last step."""
        return current + self._delta[k]


def _log1mexp(torch: Any, x: Any) -> Any:
    """log(1 - exp(x)) for x < 0, stable at both ends."""
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


class RssPeak:
    """The largest resident set size seen while it runs (sampled every 20 ms from /proc by a
    thread): the fit's own peak, which the process's lifetime peak (getrusage) would hide behind
    whatever came before it. Where /proc is absent, the lifetime peak."""

    INTERVAL = 0.02

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _now_kb() -> int:
        try:
            with open("/proc/self/statm", encoding="ascii") as f:
                return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self._now_kb())
            self._stop.wait(self.INTERVAL)

    def __enter__(self) -> RssPeak:
        self.peak_kb = self._now_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._now_kb())

    @property
    def mb(self) -> float:
        return self.peak_kb / 1024
