"""The transplant itself, free of I/O: match the new vocabulary against the old one (exact,
canonical, special by role), estimate every other row by the chosen method, fill what is left
from the old matrix's per-dimension normal distribution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenizers_lab.errors import UsageError
from tokenizers_lab.transplant import methods as M
from tokenizers_lab.transplant.aux import AuxEncoder, normalise, token_text
from tokenizers_lab.transplant.vocab import ROLES, Decomposer, Vocab

# random: every new row from the old matrix's per-dimension normal — the baseline the others beat
METHODS = ("fvt", "tokenadapt", "omp", "hypernet", "random")
# Routes a row can come by, in report order.
ROUTES = (
    "exact",
    "canonical",
    "special",
    "fvt",
    "hybrid",
    "local",
    "global",
    "omp",
    "hypernet",
    "fallback",
    "padding",
)


@dataclass
class Params:
    """Method hyper-parameters (TokenAdapt's and tokensurgeon's defaults)."""

    tau: float = M.TAU
    top_k: int = M.TOP_K
    global_weight: float = M.GLOBAL_WEIGHT
    threshold: float = 0.0
    omp_k: int = M.OMP_K


@dataclass
class OldSpace:
    """The old model as the estimators see it: its matrices, vocabulary and auxiliary vectors."""

    vocab: Vocab
    E_in: np.ndarray
    E_out: np.ndarray | None
    aux: AuxEncoder | None = None
    _phi_old: M.Vectors | None = field(default=None, repr=False)

    @property
    def mean(self) -> np.ndarray:
        return self.E_in[: self.vocab.size].mean(0)

    def phi_old(self) -> M.Vectors:
        """Auxiliary vectors of every old id (specials have none)."""
        if self._phi_old is None:
            n = self.vocab.size
            keys = self.vocab.keys
            if self.aux is None:
                v = M.dense_vectors(normalise(self.E_in[:n] - self.mean))
                v.rows[[i for i in range(n) if keys[i] is None]] = -1
            else:
                present = [(i, k) for i, k in enumerate(keys[:n]) if k is not None]
                rows = np.full(n, -1, np.int64)
                rows[[i for i, _ in present]] = self.aux.rows([token_text(k) for _, k in present])
                v = M.Vectors(self.aux, rows)
            self._phi_old = v
        return self._phi_old

    def release(self) -> None:
        """Drop the auxiliary encoder and the cached vectors (no estimate follows)."""
        self.aux = None
        self._phi_old = None

    def char_lengths(self) -> np.ndarray:
        return np.array(
            [len(token_text(k)) if k is not None else 0 for k in self.vocab.keys], dtype=np.float64
        )


@dataclass
class Estimate:
    """Rows for some targets and the route of each: a sparse mix of old rows (computed on demand,
    so a large vocabulary is never held twice) or dense rows (hypernet, and OMP's own rows)."""

    routes: list[str]
    space: OldSpace
    mix: M.Mix | None = None
    dense_in: np.ndarray | None = None
    dense_out: np.ndarray | None = None
    mix_out: M.Mix | None = None  # its own mix for the output rows (OMP in an untied donor's lm_head)

    @property
    def rows_in(self) -> np.ndarray:
        if self.mix is not None:
            return self.mix.apply(self.space.E_in)
        assert self.dense_in is not None  # an estimate is a mix or dense rows
        return self.dense_in

    @property
    def rows_out(self) -> np.ndarray | None:
        if self.space.E_out is None:
            return None
        if self.mix_out is not None:
            return self.mix_out.apply(self.space.E_out)
        return self.dense_out if self.mix is None else self.mix.apply(self.space.E_out)

    def fill(
        self, dest_in: np.ndarray, dest_out: np.ndarray | None, targets: Sequence[int], chunk: int = 8192
    ) -> None:
        """Write the estimated rows (not the fallbacks) into dest[targets], a chunk at a time."""
        target = np.asarray(targets, np.int64)
        ok = np.array([r != "fallback" for r in self.routes], dtype=bool)
        n_old = self.space.E_in.shape[0]
        W = self.mix.matrix(n_old) if self.mix is not None else None
        W_out = self.mix_out.matrix(n_old) if self.mix_out is not None else W
        pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]] = [
            (dest_in, self.space.E_in, self.dense_in, W)
        ]
        if dest_out is not None and self.space.E_out is not None:
            pairs.append((dest_out, self.space.E_out, self.dense_out, W_out))
        for s in range(0, len(target), chunk):
            sel = np.flatnonzero(ok[s : s + chunk]) + s
            if not len(sel):
                continue
            for dest, E, dense, mix in pairs:
                if mix is not None:
                    dest[target[sel]] = np.asarray(mix[sel] @ E, dtype=np.float32)
                elif dense is not None:
                    dest[target[sel]] = dense[sel]


def match(old: Vocab, new: Vocab) -> tuple[list[str], list[int | None], list[tuple[str, str, str]]]:
    """Routes and old source ids for every new id that maps to one old row.

    Returns (routes, sources, specials) where specials lists (new token, how, old token)."""
    index = old.index()
    routes = [""] * new.size
    src: list[int | None] = [None] * new.size
    mapped: list[tuple[str, str, str]] = []
    role_of_new = {}
    for role in reversed(ROLES):  # the highest-priority role wins
        if role in new.roles:
            role_of_new[new.roles[role]] = role
    for content, i in sorted(new.specials.items(), key=lambda kv: kv[1]):
        if content in old.specials:
            routes[i], src[i] = "exact", old.specials[content]
            mapped.append((content, "same token", content))
        elif i in role_of_new and role_of_new[i] in old.roles:
            j = old.roles[role_of_new[i]]
            routes[i], src[i] = "special", j
            mapped.append((content, f"role {role_of_new[i]}", old.native[j] or ""))
        else:
            mapped.append((content, "no counterpart", ""))
    for i, k in enumerate(new.keys):
        if k is None or routes[i]:
            continue
        found = index.get(k)
        if found is not None:
            routes[i] = "exact" if old.native[found] == new.native[i] else "canonical"
            src[i] = found
    return routes, src, mapped


def estimate(
    method: str,
    keys: Sequence[bytes],
    space: OldSpace,
    decomposer: Decomposer,
    allowed: np.ndarray,
    params: Params,
    hypernet=None,
    omp_targets: np.ndarray | None = None,
    omp_atoms: tuple[np.ndarray, np.ndarray] | None = None,
    last: bool = False,
    omp_out: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Estimate:
    """Estimate rows for tokens given by canonical bytes. `allowed` marks the old ids a global
    neighbour may be (specials and hidden tokens excluded). `last`: no estimate follows, so the
    auxiliary encoder may be closed as soon as its vectors are in. `omp_out`: (targets, atoms) in an
    untied donor's output space, coded separately for the output rows as tokensurgeon does."""
    n = len(keys)
    d = space.E_in.shape[1]
    if method == "omp":
        est = _omp(keys, space, params, omp_targets, omp_atoms)
        if omp_out is not None and space.E_out is not None:
            est.mix_out = _omp(keys, space, params, omp_out[0], omp_out[1]).mix
        return est
    if method == "random":
        return Estimate(["fallback"] * n, space, mix=M.Mix([None] * n, [None] * n))
    decomps = decomposer.decompose_many(keys)
    base = M.fvt(decomps)
    if method == "fvt":
        routes = ["fvt" if x is not None else "fallback" for x in base.ids]
        return Estimate(routes, space, mix=base)
    if method == "hypernet":
        if hypernet is None:
            raise UsageError("method hypernet needs a trained hypernetwork")
        rows_in, rows_out = hypernet.predict(decomps)
        routes = ["hypernet" if x is not None else "fallback" for x in base.ids]
        return Estimate(routes, space, dense_in=rows_in, dense_out=rows_out)
    if method != "tokenadapt":
        raise UsageError(f"unknown method {method!r}")
    phi_old = space.phi_old()
    if space.aux is not None:
        phi_new = space.aux.vectors([token_text(k) for k in keys])
        if last:
            space.aux.close()
    else:  # own space: a new token is seen through its FVT estimate
        dense = np.full((n, d), np.nan, np.float32)
        ok = base.ok()
        if ok.any():
            dense[ok] = normalise(base.apply(space.E_in)[ok] - space.mean)
        phi_new = M.dense_vectors(dense)
    len_new = np.array([len(token_text(k)) for k in keys], dtype=np.float64)
    local = M.tokenadapt_local(decomps, phi_new, phi_old, len_new, space.char_lengths(), params.tau)
    nbr_i, nbr_s = M.nearest(phi_new, phi_old, allowed, params.top_k)
    glob = M.tokenadapt_global(nbr_i, nbr_s, params.tau, params.threshold)
    mix = M.blend(local, glob, params.global_weight)
    routes = []
    for a, b in zip(local.ids, glob.ids):
        routes.append(
            "hybrid"
            if a is not None and b is not None
            else "local"
            if a is not None
            else "global"
            if b is not None
            else "fallback"
        )
    return Estimate(routes, space, mix=mix)


def _omp(
    keys: Sequence[bytes],
    space: OldSpace,
    params: Params,
    targets: np.ndarray | None,
    atoms: tuple[np.ndarray, np.ndarray] | None,
) -> Estimate:
    """tokensurgeon's OMP: code each target's donor row over the donor rows of shared tokens,
    apply the code to the same tokens' rows in the old model."""
    if targets is None or atoms is None:
        raise UsageError("method omp needs --donor: a model that already uses the new tokenizer")
    donor_atoms, old_ids = atoms
    ok = ~np.isnan(targets[:, 0])
    ids: list[np.ndarray | None] = [None] * len(keys)
    ws: list[np.ndarray | None] = [None] * len(keys)
    if ok.any():
        pick, coef = M.omp(targets[ok], donor_atoms, params.omp_k)
        for j, p, c in zip(np.flatnonzero(ok), pick, coef):
            ids[j], ws[j] = old_ids[p], c.astype(np.float32)
    return Estimate(["omp" if o else "fallback" for o in ok], space, mix=M.Mix(ids, ws))


def route_counts(routes: Sequence[str]) -> dict[str, int]:
    """Rows per route, in report order, zeros dropped."""
    counts = dict.fromkeys(ROUTES, 0)
    for r in routes:
        counts[r] += 1
    return {r: c for r, c in counts.items() if c}
