"""Embedding estimates for new tokens. Every heuristic is a sparse mixing matrix over old rows —
FVT (mean of the decomposition), TokenAdapt local (auxiliary-similarity and length weighted
decomposition), TokenAdapt global (top-k nearest old tokens in the auxiliary space) and OMP
(sparse code in a donor's space) — so one matrix serves the input and, when untied, the output
embeddings alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

TAU = 0.3  # TokenAdapt's defaults (authors' CLI): temperature, global top-k, global weight
TOP_K = 3
GLOBAL_WEIGHT = 0.3
OMP_K = 64  # mergekit tokensurgeon's recommended k


@dataclass
class Mix:
    """Rows of a sparse mixing matrix: for each target, old ids and their weights (None: no estimate)."""

    ids: list[np.ndarray | None]
    weights: list[np.ndarray | None]

    def __len__(self) -> int:
        return len(self.ids)

    def ok(self) -> np.ndarray:
        return np.array([i is not None for i in self.ids], dtype=bool)

    def matrix(self, n_old: int):
        """The targets x n_old scipy CSR matrix (rows without an estimate are zero)."""
        from scipy import sparse

        indptr = [0]
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for i, w in zip(self.ids, self.weights):
            if i is not None and w is not None:
                cols.append(np.asarray(i, dtype=np.int64))
                vals.append(np.asarray(w, dtype=np.float32))
                indptr.append(indptr[-1] + len(i))
            else:
                indptr.append(indptr[-1])
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        v = np.concatenate(vals) if vals else np.zeros(0, np.float32)
        return sparse.csr_matrix((v, c, np.asarray(indptr)), shape=(len(self.ids), n_old))

    def apply(self, E: np.ndarray) -> np.ndarray:
        """targets x d estimates from old rows E (zero where there is no estimate)."""
        return np.asarray(self.matrix(E.shape[0]) @ np.asarray(E, dtype=np.float32), dtype=np.float32)


class HasTable(Protocol):
    """What Vectors read their rows from: a Table, or the auxiliary encoder's growing table."""

    @property
    def table(self) -> np.ndarray: ...


class Vectors:
    """Unit vectors of items as rows of a shared table (identical inputs share a row; row -1 means
    the item has no vector). The table is read through `source.table` so it may grow."""

    def __init__(self, source: HasTable, rows: np.ndarray) -> None:
        self.source = source
        self.rows = np.asarray(rows, np.int64)

    @property
    def table(self) -> np.ndarray:
        return self.source.table

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, i: int) -> bool:
        return bool(self.rows[i] >= 0)

    def __getitem__(self, idx: int | np.ndarray) -> np.ndarray:
        return self.table[self.rows[idx]]


class Table:
    """A fixed table for Vectors."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table


def dense_vectors(x: np.ndarray) -> Vectors:
    """Vectors over a plain matrix (rows with NaN have no vector)."""
    rows = np.arange(len(x), dtype=np.int64)
    rows[np.isnan(x[:, 0]) if len(x) else np.zeros(0, bool)] = -1
    return Vectors(Table(np.nan_to_num(x, nan=0.0).astype(np.float32)), rows)


def blend(a: Mix, b: Mix, wb: float) -> Mix:
    """(1 - wb)·a + wb·b where both exist, else whichever exists."""
    ids: list[np.ndarray | None] = []
    ws: list[np.ndarray | None] = []
    for ia, wa, ib, wbb in zip(a.ids, a.weights, b.ids, b.weights):
        if ia is not None and ib is not None:
            assert wa is not None and wbb is not None  # a row's ids and weights exist together
            ids.append(np.concatenate([ia, ib]))
            ws.append(np.concatenate([(1 - wb) * wa, wb * wbb]))
        elif ia is not None:
            ids.append(ia)
            ws.append(wa)
        else:
            ids.append(ib)
            ws.append(wbb)
    return Mix(ids, ws)


def fvt(decomps: Sequence[Sequence[int] | None]) -> Mix:
    """Fast Vocabulary Transfer: the plain mean of the decomposition's old rows."""
    ids: list[np.ndarray | None] = []
    ws: list[np.ndarray | None] = []
    for d in decomps:
        if not d:
            ids.append(None)
            ws.append(None)
        else:
            a = np.asarray(d, dtype=np.int64)
            ids.append(a)
            ws.append(np.full(len(a), 1.0 / len(a)))
    return Mix(ids, ws)


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def tokenadapt_local(
    decomps: Sequence[Sequence[int] | None],
    phi_new: Vectors,
    phi_old: Vectors,
    len_new: np.ndarray,
    len_old: np.ndarray,
    tau: float = TAU,
) -> Mix:
    """TokenAdapt's local estimate: piece weights softmax(((softmax(sim) + rel_len) / 2) / tau), where
    sim is the auxiliary cosine of piece and whole token and rel_len the piece's share of the
    token's characters."""
    ids: list[np.ndarray | None] = []
    ws: list[np.ndarray | None] = []
    for t, d in enumerate(decomps):
        if not d or not phi_new.has(t):
            ids.append(None)
            ws.append(None)
            continue
        a = np.asarray(d, dtype=np.int64)
        sim = phi_old[a] @ phi_new[t]
        rel = len_old[a] / max(float(len_new[t]), 1.0)
        w = softmax(((softmax(sim) + rel) / 2.0) / (tau + 1e-5))
        ids.append(a)
        ws.append(w)
    return Mix(ids, ws)


def nearest(
    phi_new: Vectors, phi_old: Vectors, allowed: np.ndarray, k: int, budget: int = 1 << 23
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k allowed old ids by cosine for each query (items without a vector get -inf).
    Exact, but each distinct vector is scored once (Ġthe / the / The share one through an uncased
    encoder): the top-k distinct index vectors are expanded into their ids, lowest id first, until
    k ids are found. Returns (ids, sims), queries x k, best first."""
    import torch

    where = np.flatnonzero(allowed & (phi_old.rows >= 0))
    k = min(k, len(where))
    groups, idx_inv = np.unique(phi_old.rows[where], return_inverse=True)
    members: list[list[int]] = [[] for _ in groups]
    for pos, g in enumerate(idx_inv):
        members[g].append(int(where[pos]))
    table = phi_old.table
    if len(groups) and groups[-1] - groups[0] + 1 == len(groups):  # a run of rows: a view, not a copy
        index = torch.from_numpy(table[groups[0] : groups[-1] + 1])
    else:
        index = torch.from_numpy(np.ascontiguousarray(table[groups], dtype=np.float32))
    q_rows, q_inv = np.unique(phi_new.rows, return_inverse=True)
    kk = min(k, len(groups))
    top_i = np.zeros((len(q_rows), kk), np.int64)
    top_s = np.zeros((len(q_rows), kk), np.float32)
    block = max(64, budget // max(len(groups), 1))
    table = phi_new.table
    for s in range(0, len(q_rows), block):
        q = torch.from_numpy(
            np.ascontiguousarray(table[np.maximum(q_rows[s : s + block], 0)], dtype=np.float32)
        )
        v, i = torch.topk(q @ index.T, kk, dim=1)
        top_i[s : s + block] = i.numpy()
        top_s[s : s + block] = v.numpy()
    out_i = np.zeros((len(q_rows), k), np.int64)
    out_s = np.zeros((len(q_rows), k), np.float32)
    for r in range(len(q_rows)):
        ids: list[int] = []
        sims: list[float] = []
        for g, sim in zip(top_i[r], top_s[r]):
            take = members[g][: k - len(ids)]
            ids += take
            sims += [float(sim)] * len(take)
            if len(ids) == k:
                break
        out_i[r], out_s[r] = ids, sims
    out_s[q_rows < 0] = -np.inf
    del index, top_i, top_s
    release_memory()
    return out_i[q_inv], out_s[q_inv]


def tokenadapt_global(
    nbr_ids: np.ndarray, nbr_sims: np.ndarray, tau: float = TAU, threshold: float = 0.0
) -> Mix:
    """TokenAdapt's global estimate: the top-k neighbours with similarity >= threshold, weighted
    softmax(sim / tau) and renormalised."""
    ids: list[np.ndarray | None] = []
    ws: list[np.ndarray | None] = []
    for i, s in zip(nbr_ids, nbr_sims):
        keep = np.isfinite(s) & (s >= threshold)
        if not keep.any():
            ids.append(None)
            ws.append(None)
            continue
        w = softmax(s[keep].astype(np.float64) / (tau + 1e-5))
        ids.append(i[keep])
        ws.append(w / w.sum())
    return Mix(ids, ws)


def omp(
    targets: np.ndarray, atoms: np.ndarray, k: int = OMP_K, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal matching pursuit of each target row over the atom rows (Pati et al. 1993):
    k greedy picks of the atom most correlated with the residual, each followed by a least-squares
    refit on all picked atoms. Returns (atom ids, coefficients), each targets x k."""
    import torch

    A = torch.from_numpy(np.ascontiguousarray(atoms, dtype=np.float32))
    k = min(k, A.shape[0], A.shape[1])
    out_i = np.zeros((len(targets), k), np.int64)
    out_c = np.zeros((len(targets), k), np.float32)
    norms = A.norm(dim=1).clamp_min(1e-12)
    for s in range(0, len(targets), batch):
        X = torch.from_numpy(np.ascontiguousarray(targets[s : s + batch], dtype=np.float32))
        R = X.clone()
        picked = torch.zeros((X.shape[0], k), dtype=torch.long)
        used = torch.zeros((X.shape[0], A.shape[0]), dtype=torch.bool)
        rows = torch.arange(X.shape[0])
        for j in range(k):
            corr = (R @ A.T).abs() / norms
            corr[used] = -1.0
            pick = corr.argmax(dim=1)
            picked[:, j] = pick
            used[rows, pick] = True
            S = A[picked[:, : j + 1]].double()  # batch x (j+1) x d
            # least squares on the picked atoms through the (tiny, ridge-guarded) normal equations
            G = torch.bmm(S, S.transpose(1, 2))
            G += 1e-10 * G.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-30)[:, None, None] * torch.eye(j + 1)
            coef = torch.linalg.solve(G, torch.bmm(S, X.double().unsqueeze(2))).squeeze(2)
            R = X - torch.bmm(coef.unsqueeze(1), S).squeeze(1).float()
        out_i[s : s + batch] = picked.numpy()
        out_c[s : s + batch] = coef.float().numpy()
    return out_i, out_c


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim, as Dask's worker memory manager
    does): encoder activations and score blocks are freed in Python but stay in the process's
    heap otherwise, and the run's peak is what the user pays for. A no-op off glibc."""
    import gc

    from tokenizers_lab.native import trim_heap

    gc.collect()
    trim_heap()


def gaussian_rows(n: int, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n rows drawn from the per-dimension N(mean, std) of the old matrix."""
    return (rng.standard_normal((n, mean.shape[0])) * std + mean).astype(np.float32)
