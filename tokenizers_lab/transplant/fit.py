"""`transplant --fit`: train the estimated rows of the new embedding matrices against the original
model as teacher, on a CPU, in minutes.

Only the rows of new (estimated) tokens move: every copied row and every other weight stays as it
was, a tied model stays tied (one row serves input and output), an untied one fits its input and
output rows. The transformer is the original model's, shared by teacher and student: the teacher
reads the fit text with the old tokenizer and the old matrices, the student with the new
tokenizer and the new matrices.

Objectives (`--fit-objective`):
- `alm`: Approximate Likelihood Matching (Minixhofer et al. 2025, tokenkit's
  `compute_alm_loss`, unconstrained chunks): both tokenizations of a text are cut at every byte
  offset where both have a token boundary; over each such shortest chunk the student's summed
  log-probability is pulled towards the teacher's by a binary cross-entropy between
  exp(logp / T) of each side (temperature T = 100 as in tokenkit's configs), written here as the
  binary KL (the same gradient, zero at the optimum). The teacher's chunk sums are computed once
  per text and cached.
- `ce`: next-token cross-entropy of the student on the new tokenization (what bits per byte
  measures).
- `alm+ce` (default): their sum.
- `hidden`: Token Distillation (Dobler et al., ICLR 2026), generalised from one merged phrase to a
  whole retokenized text: at the end of every aligned chunk both sides have read the same bytes,
  and the student's hidden state there is pulled towards the teacher's by mean squared error
  (their `MSE-on-hiddens`). The hidden states are the final-normed states after `layers` decoder
  layers (all by default, their `target_layer=-1`; fewer layers cost less per step and need no
  vocabulary head). The teacher's states are computed once per text and cached.
- `hidden+ce`: that plus the next-token cross-entropy (full depth).

A row serves twice: as input (its token read) and, through the head, as output (its token
predicted). `output_grad` weighs the output role in the row's gradient: 0 fits rows through their
input role only, 1 through both, 0.3 by default (SmolLM2-135M onto a German 32k BPE, 10 minutes:
lr 1e-2 diverged, 4e-3 reached 1.163x of the original bits per byte through the input role, 1.133x
with output_grad 0.3; onto GPT-2 1.126x, where both roles at 1e-2 gave 1.133x). Untied models
keep their output rows when output_grad is 0.

With `spelling` > 0 a first phase (fitspell.py) fits each estimated row alone to its old spelling,
also rows the fit text never holds; that share of the minutes is its budget.

Rows come from a source (fitrows.py): by default every estimated row is its own parameter; with
`--method hypernet` the hypernetwork's weights are trained instead, with ZeTT's objective (the
loss above plus 0.5 x its lexical loss), and at the end it predicts the row of every estimated
token, also those the fit text never held.

The steps go where the new tokens are: texts are ordered so that each next one brings the most
frequent estimated token not yet seen, and only estimated tokens that occur in the chosen texts
are trainable. AdamW (beta2 0.95, no weight decay: it would pull rows towards zero), gradient
clipping at 1.0, a linear warm-up over the first 10% and a linear decay to 10% of the peak
learning rate, over the steps or the minutes given.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, raise_if_interrupted
from tokenizers_lab.native import return_freed_memory, trim_heap
from tokenizers_lab.transplant.evaluate import pad_batch
from tokenizers_lab.transplant.fitparts import (
    RssPeak,
    Student,
    _alm,
    check_head,
    teacher_states,
    teacher_sums,
)
from tokenizers_lab.transplant.fitrows import DirectRows, HyperRows
from tokenizers_lab.transplant.fitspell import spelling_phase
from tokenizers_lab.transplant.fittext import (  # noqa: F401 - the fit's API, one import away
    FitText,
    align,
    byte_ends,
    check_overlap,
    chunk_ends,
    order_texts,
    prepare_texts,
    scripts,
    step_batches,
)

OBJECTIVES = ("alm+ce", "alm", "ce", "hidden", "hidden+ce")
WARMUP = 0.1
FINAL_LR = 0.1


@dataclass
class FitResult:
    """What the fit did, for the report."""

    objective: str
    layers: int | None  # `hidden`: the decoder layers whose output was matched (None: all)
    rows: str  # "rows" (each estimated row fitted) or "hypernetwork" (its weights fitted, all rows predicted)
    steps: int
    seconds: float
    texts: int
    tokens: int  # student tokens processed (repeats counted)
    new_tokens_in_texts: int
    new_tokens_fitted: int  # distinct estimated tokens whose rows received gradient
    estimated_rows: int
    lr: float
    output_grad: float
    first_loss: float | None
    last_loss: float | None
    stopped_by: str
    seconds_per_step: float
    peak_rss_mb: float
    losses: list[float] = field(default_factory=list)
    spelling: dict[str, Any] | None = None  # the spelling phase (fitspell.py), when it ran

    MACHINE = ("seconds", "seconds_per_step", "peak_rss_mb")  # vary from run to run: the report's timings

    def summary(self) -> dict[str, Any]:
        """What the report's fit block holds: the same on every run with --fit-steps."""
        return {k: v for k, v in vars(self).items() if k != "losses" and k not in self.MACHINE}


@dataclass(frozen=True)
class FitSettings:
    """How a fit runs (the CLI's --fit-* options)."""

    objective: str = "alm+ce"
    lr: float | None = None  # None: the row source's default (rows 4e-3, hypernetwork 3e-4)
    batch_tokens: int = 512
    steps: int | None = None
    minutes: float | None = None
    seed: int = 13
    output_grad: float = 0.3
    layers: int | None = None  # `hidden` alone: the decoder layers whose output is matched (None: all)
    spelling: float = 0.15  # share of the minutes for the spelling phase (0: none; steps alone: 40 passes)


def fit(
    model: Any,
    old: tuple[np.ndarray, np.ndarray | None],
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    estimated: np.ndarray,
    texts: list[FitText],
    prefixes: tuple[int, int],
    settings: FitSettings,
    *,
    hypernet: tuple[Any, dict[int, list[int]]] | None = None,
    spelling: tuple[list[int], dict[int, list[int]]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the rows of `new_in`/`new_out` (in place) whose ids are True in `estimated`, against
    the model with the `old` (input, output) matrices as teacher, over `texts`; stop after the
    settings' steps or minutes. `prefixes`: the (old, new) id each sequence starts with. With
    `hypernet` (the network and the decomposition of each estimated id), the network is trained
    and predicts the rows instead. With `spelling` (the context's old ids, each estimated id's old
    pieces) and settings.spelling > 0, the direct rows first go through the spelling phase."""
    import torch

    with _all_cores_and_seed(torch, settings.seed), return_freed_memory(), RssPeak() as rss:
        result = _fit(
            torch,
            model,
            old,
            new_in,
            new_out,
            estimated,
            texts,
            prefixes,
            settings,
            hypernet,
            spelling,
            progress,
        )
    result.peak_rss_mb = rss.mb
    return result


@contextlib.contextmanager
def _all_cores_and_seed(torch: Any, seed: int) -> Iterator[None]:
    """Every core for torch, and its random state seeded inside a fork of the caller's."""
    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(before)


def _fit(
    torch: Any,
    model: Any,
    old: tuple[np.ndarray, np.ndarray | None],
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    estimated: np.ndarray,
    texts: list[FitText],
    prefixes: tuple[int, int],
    cfg: FitSettings,
    hypernet: tuple[Any, dict[int, list[int]]] | None,
    spelling: tuple[list[int], dict[int, list[int]]] | None,
    progress: Callable[[str], None] | None,
) -> FitResult:
    say = progress or (lambda _msg: None)
    t_start = time.perf_counter()
    student = Student(model, torch)
    Wo_in = torch.from_numpy(old[0])
    Wo_out = torch.from_numpy(old[1]) if old[1] is not None else Wo_in
    check_head(student, Wo_out, prefixes[0])
    order, in_texts = order_texts(texts, estimated)
    if not order:
        raise InputError("the fit corpus contains none of the new (estimated) tokens: nothing to fit")
    Wn_in = torch.from_numpy(new_in)
    Wn_out = torch.from_numpy(new_out) if new_out is not None else Wn_in
    spell = spelling if hypernet is None else None
    spelled = spelling_phase(
        torch, student, (Wo_in, Wn_in), texts, estimated, spell, new_out is None, cfg, say
    )
    student.checkpoint_layers()  # after the spelling phase: it reads a key-value cache, which checkpointing drops
    source = _source(torch, order, texts, estimated, Wn_in, Wn_out, cfg, hypernet)
    lr = cfg.lr if cfg.lr is not None else source.default_lr
    source.start(lr)
    touched = torch.zeros(len(new_in), dtype=torch.bool)
    batches = step_batches(order, texts, cfg.batch_tokens)
    use_alm, use_ce, use_hidden = ("alm" in cfg.objective, "ce" in cfg.objective, "hidden" in cfg.objective)
    layers = cfg.layers if cfg.objective == "hidden" else None
    ctx = _Ctx(torch, student, texts, estimated, Wn_in, Wn_out, use_alm, use_ce, cfg.output_grad, prefixes[1])
    ctx.use_hidden, ctx.layers = use_hidden, layers
    budget = cfg.minutes * 60 - (spelled.seconds if spelled else 0.0) if cfg.minutes else None
    total_steps = cfg.steps if cfg.steps else None
    losses: list[float] = []
    tokens = 0
    step = 0
    stopped_by = "steps" if cfg.steps else "minutes"
    t0 = time.perf_counter()
    last_say = 0.0
    while True:
        if total_steps is not None and step >= total_steps:
            break
        elapsed = time.perf_counter() - t0
        if budget is not None and elapsed >= budget:
            stopped_by = "minutes"
            break
        batch = batches[step % len(batches)]
        if use_alm:
            teacher_sums(torch, student, texts, batch, prefixes[0], Wo_in, Wo_out)
        if use_hidden:
            teacher_states(torch, student, texts, batch, prefixes[0], Wo_in, layers)
        trim_heap()  # the teacher's freed activations: the update's peak is its own
        loss, n = _update(ctx, batch, source, _rate(lr, step, total_steps, elapsed, budget), touched)
        losses.append(loss)
        tokens += n
        step += 1
        trim_heap()  # the step's freed activations back to the kernel: the next step's peak is its own
        raise_if_interrupted()
        now = time.perf_counter()
        if now - last_say >= 5 or step == 1:
            last_say = now
            if total_steps:
                eta = (now - t0) / step * (total_steps - step)
            else:
                eta = max(0.0, (budget or 0) - (now - t0))
            say(
                f"fit step {step}{'/' + str(total_steps) if total_steps else ''}: loss {losses[-1]:.4f}, ETA {eta:.0f}s"
            )
    source.finish()
    return FitResult(
        objective=cfg.objective,
        layers=layers,
        rows=source.name,
        steps=step,
        seconds=time.perf_counter() - t_start,
        texts=len({j for b in batches[: min(step, len(batches))] for j in b}),
        tokens=tokens,
        new_tokens_in_texts=in_texts,
        new_tokens_fitted=int(touched.sum()),
        estimated_rows=int(estimated.sum()),
        lr=lr,
        output_grad=cfg.output_grad,
        first_loss=losses[0] if losses else None,
        last_loss=float(np.mean(losses[-5:])) if losses else None,
        stopped_by=stopped_by,
        seconds_per_step=(time.perf_counter() - t0) / max(step, 1),
        peak_rss_mb=0.0,  # set by fit() from its sampler
        losses=losses,
        spelling=spelled.summary() if spelled is not None else None,
    )


def _source(
    torch: Any,
    order: list[int],
    texts: list[FitText],
    estimated: np.ndarray,
    W_in: Any,
    W_out: Any,
    cfg: FitSettings,
    hypernet: tuple[Any, dict[int, list[int]]] | None,
) -> DirectRows | HyperRows:
    """The fit's row source: the hypernetwork when given, else the rows of the estimated tokens the
    chosen texts hold."""
    tied = W_out is W_in
    if hypernet is not None:
        net, decomps = hypernet
        return HyperRows(torch, net, decomps, W_in, W_out, tied, cfg.output_grad, cfg.seed)
    used = sorted({i for j in order for i in texts[j].new_ids if estimated[i]})
    return DirectRows(torch, W_in, W_out, tied, used)


def _rate(lr: float, step: int, total_steps: int | None, elapsed: float, budget: float | None) -> float:
    """The learning rate: a linear warm-up over the first WARMUP of the steps (or the minutes),
    then a linear decay to FINAL_LR of the peak."""
    frac = step / total_steps if total_steps else elapsed / budget if budget else 0.0
    if total_steps is not None:
        warm = min(1.0, (step + 1) / max(1, math.ceil(WARMUP * total_steps)))
    else:
        warm = min(1.0, (frac + 1e-9) / WARMUP)
    return lr * warm * (1 - (1 - FINAL_LR) * min(frac, 1.0))


@dataclass
class _Ctx:
    """What every step of a fit reads."""

    torch: Any
    student: Student
    texts: list[FitText]
    estimated: np.ndarray
    W_in: Any  # the new matrices, updated in place
    W_out: Any
    use_alm: bool
    use_ce: bool
    output_grad: float
    prefix: int
    use_hidden: bool = False
    layers: int | None = None


def _update(
    ctx: _Ctx, batch: list[int], source: DirectRows | HyperRows, rate: float, touched: Any
) -> tuple[float, int]:
    """One step: the rows of the estimated tokens this batch holds are its parameters (through the
    source), every other row a constant of the step (Adam would otherwise move rows by its
    normalised step on the faint push-down gradient every softmax gives them, whether they occur
    or not). (loss, tokens)."""
    torch = ctx.torch
    ids = {i for j in batch for i in ctx.texts[j].new_ids if ctx.estimated[i]}
    rows = torch.tensor(source.trainable(ids), dtype=torch.long)
    P_in, P_out = source.params(rows)
    loss, n = _loss(ctx, batch, rows, P_in, P_out)
    extra = source.extra_loss()
    (loss if extra is None else loss + extra).backward()
    touched[rows] |= source.step(rows, rate)
    return float(loss.detach()), n


def _loss(ctx: _Ctx, batch: list[int], rows: Any, P_in: Any, P_out: Any) -> tuple[Any, int]:
    """The objective on a batch, the rows `rows` taken from P_in / P_out (the head sees P_out with
    its gradient scaled by output_grad)."""
    torch = ctx.torch
    ids, mask = pad_batch(torch, [[ctx.prefix] + ctx.texts[j].new_ids for j in batch])
    slot = torch.full((ctx.W_in.shape[0],), -1, dtype=torch.long)
    slot[rows] = torch.arange(len(rows))
    sl = slot[ids]
    emb = torch.nn.functional.embedding(ids, ctx.W_in)
    emb = torch.where((sl >= 0)[..., None], P_in[sl.clamp_min(0)], emb)
    h = ctx.student.hidden(emb, mask, ctx.layers)
    head = P_out if ctx.output_grad == 1.0 else P_out.detach() + ctx.output_grad * (P_out - P_out.detach())
    total_alm, n_chunks, total_ce, n_tok = h.new_zeros(()), 0, h.new_zeros(()), 0
    total_h, n_h = h.new_zeros(()), 0
    for r, j in enumerate(batch):
        t = ctx.texts[j]
        n = len(t.new_ids)
        n_tok += n
        if ctx.use_hidden and t.teacher_h is not None and t.new_chunk is not None:
            mine = h[r, 1 + torch.from_numpy(chunk_ends(t.new_chunk))]
            total_h = total_h + ((mine - t.teacher_h) ** 2).sum()
            n_h += t.teacher_h.numel()
        if not (ctx.use_ce or ctx.use_alm):
            continue
        lp = ctx.student.target_logp(h[r, :n], ids[r, 1 : n + 1], ctx.W_out, head, rows)
        if ctx.use_ce:
            total_ce = total_ce - lp.sum()
        if ctx.use_alm and t.teacher is not None and t.new_chunk is not None:
            total_alm = total_alm + _alm(torch, t.teacher, t.new_chunk, t.n_chunks, lp)
            n_chunks += t.n_chunks
    loss = h.new_zeros(())
    if ctx.use_ce and n_tok:
        loss = loss + total_ce / n_tok
    if ctx.use_alm and n_chunks:
        loss = loss + total_alm / n_chunks
    if ctx.use_hidden and n_h:
        loss = loss + total_h / n_h
    return loss, n_tok
