"""Where a transplant's extra bits go: SmolLM2-135M on a new tokenizer's segmentation of held-out
text, the estimated rows FVT's mean of SmolLM2's pieces, against the floor (bench/transplant_floor.py:
each new token spelled by SmolLM2's own pieces). The bits of every position are put in one of three
bins by its target token: a new (estimated) token -- the output role of the new rows; the token right
after a new one -- the input role, first felt; any other -- everything later.

--spelling N: before scoring, fit the estimated rows context-free (the spelling phase of `--fit`,
tokenizers_lab/transplant/fitspell.py, with N passes and this bench's rate, batch and penalty):
each row alone after a fixed short context must give, at every layer, the hidden state SmolLM2 has
at the last of its pieces after the same context (relative squared error, lazy Adam, N passes).
--rows says which rows: `devtest` (the scored text's own new tokens: an upper bound), `fit` (those
of FLORES dev, the fit text the benchmark uses), `fit+top:K` (and the first K estimated ids).

Needs: the SmolLM2 folder bench/transplant.py converts (~/.cache/tokenlab/smollm2-135m-instruct).

Usage: python bench/transplant_gap.py [gpt2 qwen2 ...] [--spelling 40 --rows fit]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
MODEL = Path(os.environ.get("TOKENLAB_CACHE", Path.home() / ".cache" / "tokenlab")) / "smollm2-135m-instruct"


def token_pieces(old: Any, new: Any) -> tuple[np.ndarray, list[list[int]]]:
    """Which new ids SmolLM2 has (same bytes), and every new id's SmolLM2 pieces: its own id, else
    SmolLM2's encoding of its text, else (part of a character) its bytes one by one; [] for none."""
    by_bytes = {b: i for i, b in enumerate(old.all_token_bytes) if b is not None}
    shared = np.zeros(len(new.all_token_bytes), bool)
    pieces: list[list[int]] = [[] for _ in new.all_token_bytes]
    for i, b in enumerate(new.all_token_bytes):
        if b is None:
            continue
        if b in by_bytes:
            shared[i], pieces[i] = True, [by_bytes[b]]
            continue
        try:
            pieces[i] = old.encode(b.decode("utf-8"))
        except UnicodeDecodeError:
            pieces[i] = [by_bytes[bytes([x])] for x in b if bytes([x]) in by_bytes]
    return shared, pieces


def require_inputs(names: list[str]) -> None:
    """Stop with one clear line (no traceback) when the model, FLORES or a tokenizer is absent."""
    if not (MODEL / "model.safetensors").exists():
        raise SystemExit(f"skipped: {MODEL} not found (run bench/transplant.py once: it converts SmolLM2)")
    needed = [SHARED / "flores200/core_devtest/eng_Latn.devtest"] + [SHARED / "tokenizers" / n for n in names]
    missing = [str(x) for x in needed if not x.exists()]
    if missing:
        raise SystemExit(f"skipped: ../shared/data inputs not found: {', '.join(missing)}")


class Setup:
    """The model, both tokenizers, each new token's SmolLM2 pieces and the held-out documents."""

    def __init__(self, name: str) -> None:
        import torch

        from tokenizers_lab.tokenizer import load_tokenizer
        from tokenizers_lab.transplant.evaluate import documents, load_causal_lm
        from tokenizers_lab.transplant.fitparts import Student

        self.old = load_tokenizer(str(MODEL))
        self.model = load_causal_lm(MODEL)
        self.student = Student(self.model, torch)
        self.E = self.model.get_input_embeddings().weight.detach().numpy()
        self.bos = int(self.model.config.bos_token_id)
        text = (SHARED / "flores200/core_devtest/eng_Latn.devtest").read_text("utf-8")[:20000]
        self.docs = documents(text.splitlines())
        self.new = load_tokenizer(str(SHARED / "tokenizers" / name))
        self.V = len(self.new.all_token_bytes)
        self.shared, self.pieces = token_pieces(self.old, self.new)
        self.encs = [self.new.encode(d) for d in self.docs]

    def estimated(self) -> list[int]:
        return [i for i in range(self.V) if not self.shared[i] and self.pieces[i]]

    def old_matrix(self) -> Any:
        """SmolLM2's own embeddings and one extra row, BOS (the id every scored sequence starts with)."""
        import torch

        return torch.from_numpy(np.vstack([self.E, self.E[self.bos][None]]))

    def fvt(self) -> Any:
        """Shared rows copied, estimated rows the mean of their pieces; one extra row: BOS."""
        import torch

        W = np.zeros((self.V + 1, self.E.shape[1]), np.float32)
        for i, p in enumerate(self.pieces):
            if p:
                W[i] = self.E[p].mean(0)
        W[self.V] = self.E[self.bos]
        return torch.from_numpy(W)

    def bins(self, W: Any) -> np.ndarray:
        """Bits (target new, right after a new token, other) of the new segmentation under W."""
        out = np.zeros(3)
        for e in self.encs:
            nll = self._nll([self.V] + e, W)
            for k in range(len(e)):
                out[self._bin(e, k)] += nll[k]
        return out / math.log(2)

    def floor_bins(self) -> np.ndarray:
        """The same bins with every new token spelled by SmolLM2's pieces (their bits summed)."""

        W = self.old_matrix()
        out = np.zeros(3)
        for e in self.encs:
            seq, owner = [], []
            for k, t in enumerate(e):
                seq += self.pieces[t]
                owner += [k] * len(self.pieces[t])
            nll = self._nll([len(self.E)] + seq, W)
            for p, k in enumerate(owner):
                out[self._bin(e, k)] += nll[p]
        return out / math.log(2)

    def _bin(self, e: list[int], k: int) -> int:
        if not self.shared[e[k]]:
            return 0
        return 1 if k > 0 and not self.shared[e[k - 1]] else 2

    def _nll(self, seq: list[int], W: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            ids = torch.tensor([seq])
            h = self.student.hidden(torch.nn.functional.embedding(ids, W), torch.ones_like(ids))[0]
            return -self.student.target_logp(h[:-1], ids[0, 1:], W).double().numpy()


def head_moment(s: Setup) -> Any:
    """C = E[h hᵀ] over SmolLM2's final-normed hidden states on the first 20 KB of FLORES dev
    (the fit text, never the scored devtest): a row change d moves the logits by dᵀCd on average."""
    import torch

    from tokenizers_lab.transplant.evaluate import documents

    text = (SHARED / "flores200/core_dev/eng_Latn.dev").read_text("utf-8")[:20000]
    Wold = s.old_matrix()
    hs = []
    with torch.inference_mode():
        for d in documents(text.splitlines()):
            ids = torch.tensor([[len(s.E)] + s.old.encode(d)])
            hs.append(s.student.hidden(torch.nn.functional.embedding(ids, Wold), torch.ones_like(ids))[0])
    H = torch.cat(hs)
    return (H.T @ H) / len(H)


def spelling_fit(
    s: Setup, W: Any, rows: list[int], passes: int, lr: float, batch: int, visible: float = 0.0
) -> float:
    """Fit W's `rows` context-free with the tool's spelling phase (fitspell.Speller: see the module's
    text) at this bench's passes, rate, batch and penalty weight; the last pass's mean loss. With
    `visible` > 0 a row change d also costs visible * dᵀCd / e0ᵀCe0 (C: head_moment)."""
    import torch

    from tokenizers_lab.transplant import fitspell as FS

    FS.PASSES, FS.LR, FS.BATCH, FS.VISIBLE = passes, lr, batch, visible  # this bench's settings
    context = [len(s.E)] + s.old.encode(FS.CONTEXT)
    speller = FS.Speller(torch, s.student, s.old_matrix(), context, {t: s.pieces[t] for t in rows})
    result = speller.fit(W, rows, head_moment(s) if visible else None, 0, seed=0)
    return result.last_loss or 0.0


def pick_rows(s: Setup, spec: str) -> list[int]:
    est = s.estimated()
    ok = set(est)
    if spec == "devtest":
        return sorted({t for e in s.encs for t in e if t in ok})
    fit_text = (SHARED / "flores200/core_dev/eng_Latn.dev").read_text("utf-8")
    rows = {t for t in s.new.encode(fit_text) if t in ok}
    if spec.startswith("fit+top:"):
        rows |= set(est[: int(spec.split(":")[1])])
    elif spec != "fit":
        raise SystemExit(f"--rows: devtest, fit or fit+top:K, not {spec!r}")
    return sorted(rows)


def main() -> None:
    import torch

    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*", default=["gpt2"])
    p.add_argument("--spelling", type=int, default=0, help="passes of the context-free fit (0: none)")
    p.add_argument("--rows", default="fit")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--visible", type=float, default=0.0, help="weight of the head-visible change penalty")
    a = p.parse_args()
    require_inputs(a.names)
    torch.set_num_threads(os.cpu_count() or 1)
    for name in a.names:
        s = Setup(name)
        n_bytes = sum(len(d.encode("utf-8")) for d in s.docs)
        new_occ = sum(1 for e in s.encs for t in e if not s.shared[t])
        floor = s.floor_bins()
        W = s.fvt()
        label = "fvt"
        if a.spelling:
            rows = pick_rows(s, a.rows)
            t0 = time.perf_counter()
            loss = spelling_fit(s, W, rows, a.spelling, a.lr, a.batch, a.visible)
            label = (
                f"fvt + spelling fit ({a.rows}: {len(rows)} rows, {a.spelling} passes, visible {a.visible}, "
                f"loss {loss:.3f}, {time.perf_counter() - t0:.0f} s)"
            )
        got = s.bins(W)
        print(
            f"{name}: {new_occ} new-token occurrences in {sum(map(len, s.encs))} tokens, {n_bytes} bytes; {label}"
        )
        for k, what in enumerate(("target a new token", "right after a new token", "other positions")):
            print(
                f"  {what}: {got[k]:.0f} bits (floor {floor[k]:.0f}; +{(got[k] - floor[k]) / new_occ:.2f} per new token)"
            )
        print(f"  bits per byte {got.sum() / n_bytes:.4f} (floor {floor.sum() / n_bytes:.4f})")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
