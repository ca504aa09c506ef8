"""`--fit`'s first phase, the spelling fit: every estimated row, alone and without context, learns
to stand for its old spelling.

After a fixed short context (CONTEXT, in the old tokenizer's ids after the old prefix), the row
read as one token must give, at every decoder layer, the hidden state the original model has at
the last of the token's old pieces after the same context: the relative squared error summed over
layers (the target's own squared norm divides each layer's error). Token Distillation (Dobler et
al., ICLR 2026) matches such states for one phrase in running text; here the phrase is the token's
own spelling, so a row needs no text that holds it: the phase reaches tokens the fit text never
shows, most frequent first. The context's keys and values are computed once and shared by every
batch; the targets once per row.

A tied row is also the head's row for its token, and a change the head sees moves that token's
logits everywhere. Each row's change d therefore costs VISIBLE * dᵀCd / e₀ᵀCe₀ (C: the second
moment of the original model's final hidden states on the fit text, e₀ the row before the phase):
the row moves freely where the head barely looks. Untied models fit their input rows only and pay
nothing.

Measured (bench/transplant.py, SmolLM2-135M, 5 minutes, FLORES devtest, ratio to the original's
bits per byte without -> with a 0.15 share): GPT-2 1.126 -> 1.110, Llama-3 1.216 -> 1.207, Qwen2
1.122 -> 1.122, German 32k BPE 1.132 -> 1.136 (there the ALM fit still gains from every step).
Without the penalty, spelling 3,209 GPT-2 rows raised the bits of positions far from new tokens
(bench/transplant_gap.py: +9.7 -> +13.7 per new token over FVT's); with it they stayed at +7.9.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenizers_lab.errors import raise_if_interrupted
from tokenizers_lab.native import trim_heap
from tokenizers_lab.transplant.fitparts import LazyAdam, Student
from tokenizers_lab.transplant.fittext import FitText

CONTEXT = "Here is a word:"
PASSES = 40  # over the chosen rows (each pass in a new random order)
LR = 3e-3  # constant: a row's targets do not move
BATCH = 128  # rows per step (512 held ~0.9 GB more at the peak for SmolLM2: the context's keys and values per row)
TARGET_BATCH = 32  # rows per forward of the targets (every layer's states of every position are alive)
SLICE = 64  # rows per forward and backward inside a batch (gradients summed): each layer keeps its
# keys and values repeated for every query head and row for backward, 141 MB at 128 rows for SmolLM2;
# slices of 32 held less still but read the weights twice as often (GPT-2: 159 rows spelled, not 243)
VISIBLE = 1.0  # weight of the head-visible change (tied models)
MOMENT_TOKENS = 2048  # fit-text positions whose final hidden states give C
MAX_ROWS = 8192  # the targets hold layers x width half floats per row: 35 MB per 1000 rows for SmolLM2


@dataclass
class SpellResult:
    rows: int  # estimated rows fitted
    rows_in_fit_text: int  # of those, rows of tokens the fit text holds
    passes: int
    first_loss: float | None
    last_loss: float | None
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "seconds"}


def candidate_rows(
    texts: list[FitText], estimated: np.ndarray, spellings: dict[int, list[int]]
) -> tuple[list[int], int]:
    """The rows the phase may fit, in the order it takes them: the fit text's estimated tokens by
    count, then every other estimated token with a spelling by id (a BPE's ids follow its merges,
    roughly its training counts); and how many of them the fit text holds."""
    counts = Counter(i for t in texts for i in t.new_ids if estimated[i] and spellings.get(i))
    first = [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    seen = set(first)
    rest = [i for i in sorted(spellings) if estimated[i] and spellings[i] and i not in seen]
    return first + rest, len(first)


class Speller:
    """The spelling fit over one model: the old matrix as teacher, the shared context cached."""

    def __init__(
        self, torch: Any, student: Student, W_old: Any, context: list[int], spellings: dict[int, list[int]]
    ) -> None:
        self.torch, self.W_old, self.spellings = torch, W_old, spellings
        self.base = student.base
        self.context = context
        self._kw = (
            "cache" if "cache" in inspect.signature(self.base.forward).parameters else "past_key_values"
        )
        with torch.no_grad():
            out = self.base(inputs_embeds=W_old[context][None], use_cache=True)
        self.prefix = getattr(out, self._kw)

    def targets(self, rows: list[int]) -> Any:
        """(rows, layers, width) half floats: every layer's output at each row's last old piece."""
        torch = self.torch
        from tokenizers_lab.transplant.evaluate import pad_batch

        parts = []
        with torch.no_grad():
            for a in range(0, len(rows), TARGET_BATCH):
                seqs = [self.context + self.spellings[t] for t in rows[a : a + TARGET_BATCH]]
                ids, mask = pad_batch(torch, seqs)
                last = torch.tensor([len(q) - 1 for q in seqs])
                emb = torch.nn.functional.embedding(ids, self.W_old)
                hs = self.base(
                    inputs_embeds=emb, attention_mask=mask, output_hidden_states=True
                ).hidden_states
                parts.append(torch.stack([h[torch.arange(len(seqs)), last] for h in hs[1:]], 1).half())
        trim_heap()  # the forwards' freed states: the fit that follows has its own peak
        if not parts:
            return torch.zeros((0, self.base.config.num_hidden_layers, self.W_old.shape[1]), dtype=torch.half)
        return torch.cat(parts)

    def loss(self, x: Any, want: Any) -> Any:
        """Mean over rows of the relative squared error, summed over layers, of x read after the context."""
        torch = self.torch
        n = len(self.context)
        cache = copy.deepcopy(self.prefix)
        cache.batch_repeat_interleave(len(x))
        out = self.base(
            inputs_embeds=x[:, None],
            attention_mask=torch.ones(len(x), n + 1, dtype=torch.long),
            position_ids=torch.full((len(x), 1), n),
            output_hidden_states=True,
            use_cache=True,
            **{self._kw: cache},
        )
        got = torch.stack([h[:, -1] for h in out.hidden_states[1:]], 1)
        return ((got - want).pow(2).sum(-1) / want.pow(2).sum(-1)).sum(-1).mean()

    def backward(self, x: Any, want: Any, penalty: Callable[[Any, Any], Any] | None = None) -> float:
        """The batch's loss (mean over rows, plus `penalty(rows, slice)` averaged alike), its
        gradient accumulated into x.grad SLICE rows at a time: the same gradient as one backward
        of the whole batch, with a fraction of its activations alive."""
        total = 0.0
        for a in range(0, len(x), SLICE):
            part = slice(a, a + SLICE)
            xs = x[part]
            loss = self.loss(xs, want[part])
            if penalty is not None:
                loss = loss + penalty(xs, part)
            loss = loss * (len(xs) / len(x))
            loss.backward()
            total += float(loss.detach())
        return total

    def seconds_per_row(self, rows: list[int], W: Any) -> tuple[float, Any]:
        """The seconds a row costs (its targets, PASSES forwards and backwards), timed on a batch of
        `rows` (nothing updated); and those rows' targets, for fit() to reuse."""
        torch = self.torch
        t0 = time.perf_counter()
        want = self.targets(rows)
        t1 = time.perf_counter()
        x = torch.nn.Parameter(W[torch.tensor(rows)].clone())
        self.backward(x, want.float())
        return ((time.perf_counter() - t1) * PASSES + (t1 - t0)) / len(rows), want

    def fit(
        self,
        W: Any,
        rows: list[int],
        C: Any,
        in_text: int,
        seed: int,
        say: Callable[[str], None] | None = None,
        head: Any = None,
    ) -> SpellResult:
        """PASSES passes of lazy Adam over `rows` of W (in place); a progress line at most every 5 s.
        `head`: the targets of the first rows where already computed (seconds_per_row)."""
        torch = self.torch
        t0 = last_say = time.perf_counter()
        idx_all = torch.tensor(rows, dtype=torch.long)
        if head is None:
            target = self.targets(rows)
        else:
            target = torch.cat([head[: len(rows)], self.targets(rows[len(head) :])])
        P0 = W[idx_all].clone()
        P = P0.clone()
        energy = ((P0 @ C) * P0).sum(-1) if C is not None else None
        opt = LazyAdam(torch, range(len(rows)), len(rows), P.shape[1], 1)
        rng = np.random.default_rng(seed)
        first = last = None
        for k in range(PASSES):
            total = 0.0
            order = rng.permutation(len(rows))
            for a in range(0, len(rows), BATCH):
                idx = torch.from_numpy(order[a : a + BATCH])
                x = torch.nn.Parameter(P[idx].clone())
                penalty = None
                if energy is not None:  # C is given

                    def penalty(xs: Any, part: slice, idx: Any = idx) -> Any:
                        d = xs - P0[idx[part]]
                        return VISIBLE * (((d @ C) * d).sum(-1) / energy[idx[part]]).mean()

                loss = self.backward(x, target[idx].float(), penalty)
                with torch.no_grad():
                    opt.step(idx, [x.grad], LR)
                    P[idx] = opt.value(0, idx, x.detach())
                total += loss * len(idx)
                raise_if_interrupted()
            last = total / len(rows)
            first = last if first is None else first
            now = time.perf_counter()
            if say is not None and now - last_say >= 5:
                last_say = now
                eta = (now - t0) / (k + 1) * (PASSES - k - 1)
                say(f"fit spelling pass {k + 1}/{PASSES}: loss {last:.4f}, ETA {eta:.0f}s")
        W[idx_all] = P
        return SpellResult(len(rows), in_text, PASSES, first, last, time.perf_counter() - t0)


def head_moment(torch: Any, student: Student, texts: list[FitText], prefix: int, W_old: Any) -> Any:
    """C = E[h hᵀ] over the original model's final hidden states on the first MOMENT_TOKENS old
    tokens of the fit texts: a row change d moves that token's logit by hᵀd, dᵀCd on average."""
    from tokenizers_lab.transplant.evaluate import pad_batch

    seqs, n = [], 0
    for t in texts:
        if n >= MOMENT_TOKENS:
            break
        seqs.append([prefix] + t.old_ids)
        n += len(seqs[-1])
    C, count = torch.zeros((W_old.shape[1], W_old.shape[1])), 0
    with torch.no_grad():
        for q in seqs:  # one text at a time: a batch of them held ~220 MB of attention and MLP states
            ids, mask = pad_batch(torch, [q])
            h = student.hidden(torch.nn.functional.embedding(ids, W_old), mask)[0]
            C += h.T @ h
            count += len(h)
    trim_heap()
    return C / count


def spelling_phase(
    torch: Any,
    student: Student,
    mats: tuple[Any, Any],
    texts: list[FitText],
    estimated: np.ndarray,
    spelling: tuple[list[int], dict[int, list[int]]] | None,
    tied: bool,
    cfg: Any,
    say: Callable[[str], None],
) -> SpellResult | None:
    """Fit the estimated rows of the new input matrix (in place; mats: old, new) to their
    spellings. With minutes in the settings `cfg` (FitSettings) the phase's budget is their share
    cfg.spelling: as many rows as PASSES passes fit in it (most frequent first, MAX_ROWS at most);
    with steps alone the fit text's estimated rows. `spelling`: the context's old ids (prefix
    first) and each estimated id's old pieces. None when it does not run (no spelling, a zero
    share, no row with a spelling)."""
    if spelling is None or cfg.spelling <= 0:
        return None
    t0 = time.perf_counter()
    W_old, W_new = mats
    context, spellings = spelling
    rows, in_text = candidate_rows(texts, estimated, spellings)
    n = min(in_text, MAX_ROWS)
    if not rows or (cfg.minutes is None and n == 0):
        return None
    say(f"fit: spelling phase, up to {len(rows):,} rows")
    C = head_moment(torch, student, texts, context[0], W_old) if tied else None
    speller = Speller(torch, student, W_old, context, spellings)
    head = None
    if cfg.minutes is not None:
        left = cfg.spelling * cfg.minutes * 60 - (time.perf_counter() - t0)
        per_row, head = speller.seconds_per_row(rows[:BATCH], W_new)
        n = min(MAX_ROWS, len(rows), max(1, int(left / per_row)))
    result = speller.fit(W_new, rows[:n], C, min(n, in_text), cfg.seed, say, head)
    result.seconds = time.perf_counter() - t0
    say(
        f"fit: spelling phase fitted {n:,} rows in {result.seconds:.0f}s, loss {result.first_loss:.3f} -> {result.last_loss:.3f}"
    )
    return result
