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

A row serves twice: as input (its token read) and, through the head, as output (its token
predicted). `output_grad` weighs the output role in the row's gradient; 0 (the default) fits rows
through their input role only. Measured on SmolLM2-135M onto GPT-2 (FLORES dev to devtest, 60
steps): rows fitted through both roles predicted the fit text better and held-out text worse
than the heuristic rows (they were over-predicted in contexts the fit never showed); fitted through
the input role only, held-out bits per byte improved. Untied models keep their output rows
unless output_grad > 0.

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
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, LabError, raise_if_interrupted

OBJECTIVES = ("alm+ce", "alm", "ce")
TEMPERATURE = 100.0  # tokenkit's binarization_temp
HEAD_CHUNK = 128  # positions per vocabulary-head block (its logits are recomputed in backward)
MIN_LINE_BYTES = 32  # shorter lines ("References", "1.") may repeat in any two texts
WARMUP = 0.1
FINAL_LR = 0.1
EPS = 1e-6


@dataclass
class FitText:
    """One training text in both tokenizations, with its ALM alignment."""

    new_ids: list[int]
    old_ids: list[int]
    new_chunk: np.ndarray | None  # chunk index of every new token (None: the two did not align)
    old_chunk: np.ndarray | None
    n_chunks: int
    teacher: np.ndarray | None = None  # teacher's summed log-prob per chunk, once computed


@dataclass
class FitResult:
    """What the fit did, for the report."""

    objective: str
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

    MACHINE = ("seconds", "seconds_per_step", "peak_rss_mb")  # vary from run to run: the report's timings

    def summary(self) -> dict[str, Any]:
        """What the report's fit block holds: the same on every run with --fit-steps."""
        return {k: v for k, v in vars(self).items() if k != "losses" and k not in self.MACHINE}


def script_of(ch: str) -> str | None:
    """A letter's script as the first word of its Unicode name (LATIN, CYRILLIC, CJK, ...)."""
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    first = name.split(" ")[0]
    return "HAN" if first == "CJK" else first


def scripts(texts: Sequence[str], limit: int = 200_000) -> Counter[str]:
    """Letters per script over the first `limit` characters."""
    c: Counter[str] = Counter()
    n = 0
    for t in texts:
        for ch in t:
            s = script_of(ch)
            if s:
                c[s] += 1
        n += len(t)
        if n >= limit:
            break
    return c


def line_hashes(lines: Sequence[str]) -> dict[int, int]:
    """hash of each stripped line of MIN_LINE_BYTES+ bytes -> its line number (1-based)."""
    out: dict[int, int] = {}
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if len(s.encode("utf-8")) >= MIN_LINE_BYTES:
            out.setdefault(hash(s), no)
    return out


def check_overlap(fit_lines: Sequence[str], eval_lines: Sequence[str], fit_name: str, eval_name: str) -> None:
    """Refuse a fit corpus that shares a line with the evaluation text: bits per byte must be
    measured on text the fit never saw."""
    ev = line_hashes(eval_lines)
    for no, line in enumerate(fit_lines, 1):
        s = line.strip()
        if len(s.encode("utf-8")) >= MIN_LINE_BYTES and hash(s) in ev:
            raise InputError(
                f"the fit corpus {fit_name} line {no} is also line {ev[hash(s)]} of the evaluation "
                f"text {eval_name}: fit on text the evaluation never reads"
            )


def byte_ends(ids: Sequence[int], keys: Sequence[bytes | None], n_bytes: int) -> np.ndarray | None:
    """Byte offset where each token ends, from the canonical keys; None when the keys do not spell
    the text's length (a normalizer changed it, a special token inside). A leading space the
    tokenizer added (SentencePiece's dummy prefix) is not text."""
    lens = np.fromiter((len(k) if (k := keys[i]) is not None else -(10**9) for i in ids), np.int64, len(ids))
    ends = np.cumsum(lens)
    first = keys[ids[0]] if len(ids) else None
    if len(ends) and int(ends[-1]) == n_bytes + 1 and first is not None and first[:1] == b" ":
        ends = np.maximum(ends - 1, 0)
    if not len(ends) or int(ends[-1]) != n_bytes or (lens < 0).any():
        return None
    return ends


def align(new_ends: np.ndarray, old_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """ALM's shortest aligned chunks: boundaries where both tokenizations end a token; the chunk of
    every token on each side, and the number of chunks."""
    common = np.intersect1d(new_ends, old_ends)
    return np.searchsorted(common, new_ends), np.searchsorted(common, old_ends), len(common)


def prepare_texts(
    texts: Sequence[str],
    new_encode: Callable[[list[str]], list[list[int]]],
    old_encode: Callable[[list[str]], list[list[int]]],
    new_keys: Sequence[bytes | None],
    old_keys: Sequence[bytes | None],
    max_tokens: int,
) -> list[FitText]:
    """Both tokenizations of each text (cut to max_tokens on the new side, the old side to the
    same bytes) with their alignment."""
    out = []
    new_all, old_all = new_encode(list(texts)), old_encode(list(texts))
    for text, n_ids, o_ids in zip(texts, new_all, old_all):
        if not n_ids or not o_ids:
            continue
        nb = len(text.encode("utf-8"))
        ne, oe = byte_ends(n_ids, new_keys, nb), byte_ends(o_ids, old_keys, nb)
        if len(n_ids) > max_tokens:
            n_ids = n_ids[:max_tokens]
            if ne is not None and oe is not None:
                cut = int(ne[max_tokens - 1])
                keep = int(np.searchsorted(oe, cut, side="right"))
                if keep and int(oe[keep - 1]) == cut:
                    o_ids, oe, ne = o_ids[:keep], oe[:keep], ne[:max_tokens]
                else:
                    ne = oe = None
            else:
                ne = oe = None
            o_ids = o_ids[: max(max_tokens * 2, 1)] if ne is None else o_ids
        if len(o_ids) > 2 * max_tokens:  # the old side may be longer; bound its cost too
            continue
        if ne is not None and oe is not None:
            nc, oc, k = align(ne, oe)
            out.append(FitText(list(n_ids), list(o_ids), nc, oc, k))
        else:
            out.append(FitText(list(n_ids), list(o_ids), None, None, 0))
    return out


def order_texts(texts: list[FitText], trainable: np.ndarray) -> tuple[list[int], int]:
    """Texts ordered so that each next one brings the most frequent estimated token not yet seen
    (ties: more estimated tokens, then position); texts with none come never. Also the number of
    distinct estimated tokens the texts hold."""
    freq: Counter[int] = Counter()
    holds: list[set[int]] = []
    for t in texts:
        s = {i for i in t.new_ids if trainable[i]}
        holds.append(s)
        freq.update(i for i in t.new_ids if trainable[i])
    seen: set[int] = set()
    by_token: dict[int, list[int]] = {}
    for j, s in enumerate(holds):
        for i in s:
            by_token.setdefault(i, []).append(j)
    order: list[int] = []
    used = [False] * len(texts)
    for tok, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])):
        if tok in seen:
            continue
        best = max(
            (j for j in by_token[tok] if not used[j]),
            key=lambda j: (len(holds[j] - seen), -j),
            default=None,
        )
        if best is None:
            continue
        used[best] = True
        order.append(best)
        seen |= holds[best]
    rest = sorted(
        (j for j in range(len(texts)) if not used[j] and holds[j]), key=lambda j: (-len(holds[j]), j)
    )
    return order + rest, len(freq)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Student:
    """The shared transformer with either matrix pair: old (teacher) or new with trainable rows."""

    def __init__(self, model: Any, torch: Any) -> None:
        self.torch = torch
        self.model = model
        self.base = model.base_model
        for p in model.parameters():
            p.requires_grad_(False)

    def hidden(self, emb: Any, mask: Any) -> Any:
        return self.base(inputs_embeds=emb, attention_mask=mask).last_hidden_state

    def target_logp(self, h: Any, targets: Any, W: Any, P: Any = None, rows: Any = None) -> Any:
        """log p(target) at each position, the head in blocks of HEAD_CHUNK positions (with P: the
        trainable rows `rows` of W replaced by P; the blocks' logits are recomputed in backward)."""
        torch = self.torch
        from torch.utils.checkpoint import checkpoint

        def block(hb: Any, tb: Any, Pb: Any) -> Any:
            logits = hb @ W.T
            if Pb is not None:
                logits = logits.index_copy(1, rows, hb @ Pb.T)
            return torch.log_softmax(logits, -1).gather(1, tb[:, None])[:, 0]

        outs = []
        for s in range(0, h.shape[0], HEAD_CHUNK):
            hb, tb = h[s : s + HEAD_CHUNK], targets[s : s + HEAD_CHUNK]
            if P is not None and torch.is_grad_enabled():
                outs.append(checkpoint(block, hb, tb, P, use_reentrant=False))
            else:
                outs.append(block(hb, tb, P))
        return torch.cat(outs) if outs else h.new_zeros(0)


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


def fit(
    model: Any,
    E_old_in: np.ndarray,
    E_old_out: np.ndarray | None,
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    estimated: np.ndarray,
    texts: list[FitText],
    old_prefix: int,
    new_prefix: int,
    *,
    objective: str = "alm+ce",
    lr: float = 1e-2,
    batch_tokens: int = 512,
    steps: int | None = None,
    minutes: float | None = None,
    seed: int = 13,
    output_grad: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the rows of `new_in`/`new_out` (in place) whose ids are True in `estimated`, against
    the model with `E_old_*` as teacher, over `texts`; stop after `steps` or `minutes`."""
    import torch

    with _all_cores_and_seed(torch, seed):
        return _fit(
            torch,
            model,
            E_old_in,
            E_old_out,
            new_in,
            new_out,
            estimated,
            texts,
            old_prefix,
            new_prefix,
            objective,
            lr,
            batch_tokens,
            steps,
            minutes,
            output_grad,
            progress or (lambda _msg: None),
        )


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
    E_old_in: np.ndarray,
    E_old_out: np.ndarray | None,
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    estimated: np.ndarray,
    texts: list[FitText],
    old_prefix: int,
    new_prefix: int,
    objective: str,
    lr: float,
    batch_tokens: int,
    steps: int | None,
    minutes: float | None,
    output_grad: float,
    say: Callable[[str], None],
) -> FitResult:
    tied = new_out is None
    t_start = time.perf_counter()
    student = Student(model, torch)
    Wo_in = torch.from_numpy(E_old_in)
    Wo_out = torch.from_numpy(E_old_out) if E_old_out is not None else Wo_in
    check_head(student, Wo_out, old_prefix)
    order, in_texts = order_texts(texts, estimated)
    if not order:
        raise InputError("the fit corpus contains none of the new (estimated) tokens: nothing to fit")
    used = sorted({i for j in order for i in texts[j].new_ids if estimated[i]})
    Wn_in = torch.from_numpy(new_in)
    Wn_out = torch.from_numpy(new_out) if new_out is not None else Wn_in
    opt = LazyAdam(torch, used, len(new_in), new_in.shape[1], 1 if tied else 2)
    use_alm, use_ce = "alm" in objective, "ce" in objective
    touched = torch.zeros(len(new_in), dtype=torch.bool)

    # batches: consecutive texts of the order up to batch_tokens new tokens
    batches: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for j in order:
        n = len(texts[j].new_ids) + 1
        if cur and size + n > batch_tokens:
            batches.append(cur)
            cur, size = [], 0
        cur.append(j)
        size += n
    if cur:
        batches.append(cur)

    def pad(seqs: list[list[int]]) -> tuple[Any, Any]:
        width = max(len(s) for s in seqs)
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        return ids, mask

    def teacher(batch: list[int]) -> None:
        todo = [j for j in batch if texts[j].teacher is None and texts[j].old_chunk is not None]
        if not todo:
            return
        ids, mask = pad([[old_prefix] + texts[j].old_ids for j in todo])
        with torch.no_grad():
            h = student.hidden(torch.nn.functional.embedding(ids, Wo_in), mask)
            for r, j in enumerate(todo):
                n = len(texts[j].old_ids)
                lp = student.target_logp(h[r, :n], ids[r, 1 : n + 1], Wo_out).double().numpy()
                chunk = texts[j].old_chunk
                assert chunk is not None
                texts[j].teacher = np.bincount(chunk, weights=lp, minlength=texts[j].n_chunks)

    def head_rows(P: Any) -> Any:
        """The rows as the head sees them: their values, their gradient scaled by output_grad."""
        if output_grad == 1.0:
            return P
        return P.detach() + output_grad * (P - P.detach())

    def loss_of(batch: list[int], rows: Any, P_in: Any, P_out: Any) -> tuple[Any, int]:
        ids, mask = pad([[new_prefix] + texts[j].new_ids for j in batch])
        slot = torch.full((len(new_in),), -1, dtype=torch.long)
        slot[rows] = torch.arange(len(rows))
        sl = slot[ids]
        emb = torch.nn.functional.embedding(ids, Wn_in)
        emb = torch.where((sl >= 0)[..., None], P_in[sl.clamp_min(0)], emb)
        h = student.hidden(emb, mask)
        total_alm, n_chunks, total_ce, n_tok = h.new_zeros(()), 0, h.new_zeros(()), 0
        for r, j in enumerate(batch):
            t = texts[j]
            n = len(t.new_ids)
            lp = student.target_logp(h[r, :n], ids[r, 1 : n + 1], Wn_out, head_rows(P_out), rows)
            n_tok += n
            if use_ce:
                total_ce = total_ce - lp.sum()
            if use_alm and t.teacher is not None and t.new_chunk is not None:
                s = torch.zeros(t.n_chunks, dtype=lp.dtype).index_add(0, torch.from_numpy(t.new_chunk), lp)
                y = torch.from_numpy(t.teacher / TEMPERATURE).to(lp.dtype).clamp_max(0) - EPS
                x = (s / TEMPERATURE).clamp_max(0) - EPS
                # binary KL(y || x) between exp(teacher/T) and exp(student/T)
                py = torch.exp(y)
                kl = py * (y - x) + (1 - py) * (_log1mexp(torch, y) - _log1mexp(torch, x))
                total_alm = total_alm + kl.sum() * TEMPERATURE
                n_chunks += t.n_chunks
        loss = h.new_zeros(())
        if use_ce and n_tok:
            loss = loss + total_ce / n_tok
        if use_alm and n_chunks:
            loss = loss + total_alm / n_chunks
        return loss, n_tok

    budget = minutes * 60 if minutes else None
    total_steps = steps if steps else None
    losses: list[float] = []
    tokens = 0
    step = 0
    stopped_by = "steps" if steps else "minutes"
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
        frac = step / total_steps if total_steps else elapsed / budget if budget else 0.0
        warm = min(1.0, (frac + 1e-9) / WARMUP) if frac < WARMUP else 1.0
        if total_steps is not None:
            warm = min(1.0, (step + 1) / max(1, math.ceil(WARMUP * total_steps)))
        rate = lr * warm * (1 - (1 - FINAL_LR) * min(frac, 1.0))
        if use_alm:
            teacher(batch)
        # the rows of the estimated tokens this batch holds are its parameters; every other row is
        # a constant of this step (Adam would otherwise move rows by its normalised step on the
        # faint push-down gradient they get from every softmax, whether they occur or not)
        rows = torch.tensor(
            sorted({i for j in batch for i in texts[j].new_ids if estimated[i]}), dtype=torch.long
        )
        P_in = torch.nn.Parameter(Wn_in[rows].clone())
        P_out = P_in if tied else torch.nn.Parameter(Wn_out[rows].clone())
        params = [P_in] if tied else [P_in, P_out]
        loss, n = loss_of(batch, rows, P_in, P_out)
        loss.backward()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        touched[rows] |= sum(g.abs().sum(1) for g in grads) > 0
        norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
        if norm > 1.0:
            grads = [g / norm for g in grads]
        with torch.no_grad():
            opt.step(rows, grads, rate)
            Wn_in[rows] = opt.value(0, rows, P_in.detach())
            if not tied:
                Wn_out[rows] = opt.value(1, rows, P_out.detach())
        losses.append(float(loss.detach()))
        tokens += n
        step += 1
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
    return FitResult(
        objective=objective,
        steps=step,
        seconds=time.perf_counter() - t_start,
        texts=len({j for b in batches[: min(step, len(batches))] for j in b}),
        tokens=tokens,
        new_tokens_in_texts=in_texts,
        new_tokens_fitted=int(touched.sum()),
        estimated_rows=int(estimated.sum()),
        lr=lr,
        output_grad=output_grad,
        first_loss=losses[0] if losses else None,
        last_loss=float(np.mean(losses[-5:])) if losses else None,
        stopped_by=stopped_by,
        seconds_per_step=(time.perf_counter() - t0) / max(step, 1),
        peak_rss_mb=peak_rss_mb(),
        losses=losses,
    )


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
