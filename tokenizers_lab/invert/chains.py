"""Every unit's pair-count events read off the final tokens, without replaying merge by merge.

For a valid byte-level merge list (every merge's parts made before it, no token made twice),
replaying merges in training order on a word gives the same states as encoding it by merge rank
(lowest-ranked present pair first, leftmost first), which `tokenizers` does in Rust. The whole
history of a word then follows from its final tokens' merge trees. The boundary between two
adjacent bytes holds, at step t, the pair of the largest tree nodes on either side made by t.
Going back in time from a pair (u, w), the younger side splits first: the boundary passed to
(right part of u, w) when u is younger, else to (u, left part of w). That chain depends on (u, w)
alone, so every count event of every word is a sum of chains started at
- each internal tree node v (merge t of (l, r)): the pair (l, r) lives from its start
  max(rank l, rank r) until t, when it is merged;
- each adjacent pair of final tokens (u, w): it lives from its start to the end;
and each later link of a chain lives from its own start until the start of the link before it.

The weights are token-node counts (final token counts pushed down the merge trees) and final
bigram counts, per unit; events = chain incidence @ weights, one sparse product (scipy). This is
what `replay.replay` computes per merge in Python, in a few vectorised passes; `lp.store` of the
replays and `store` here hold the same events (tests compare them).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tokenizers_lab.invert.lp import Store
from tokenizers_lab.invert.replay import Plan
from tokenizers_lab.native import silenced
from tokenizers_lab.tokenizer import BYTE_ENCODER

ENCODE_BATCH = 50_000  # words per encode_batch call (bounds the Encoding objects alive at once)
CHECK_WORDS = 20_000  # the first words, encoded both ways before gigatoken encodes the rest
_TO_BYTELEVEL = str.maketrans({b: BYTE_ENCODER[b] for b in range(256)})


def eligible(plan: Plan, unit: str) -> bool:
    """Whether the chain method applies: byte-level units and no merge making an existing token
    (SentencePiece-style lists that name every split fall back to the merge-by-merge replay)."""
    return unit == "byte" and plan.atoms is None and not any(plan.redundant)


def _encoder(plan: Plan, merges: Sequence[tuple[bytes, bytes]]):
    """A bare `tokenizers` BPE (no normalizer, no pre-tokenizer, no ignore_merges) whose ids are the
    replay's symbol ids: byte b -> b, merge t -> 256 + t. Merges with a missing part are left out:
    the replay never applies them either."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    vocab = {BYTE_ENCODER[b]: b for b in range(256)}
    kept = []
    for t, (a, b) in enumerate(merges):
        sa, sb = a.decode("latin-1").translate(_TO_BYTELEVEL), b.decode("latin-1").translate(_TO_BYTELEVEL)
        vocab[sa + sb] = plan.result[t]
        if plan.pairs[t] is not None:
            kept.append((sa, sb))
    return Tokenizer(BPE(vocab=vocab, merges=kept))


def _fast_encoder(tok: Any, words: list[bytes]) -> Any:
    """gigatoken over the same bare BPE, when its ids equal tokenizers' on `words` (the first
    batch: the check runs on the input itself), else None."""
    try:
        import gigatoken
    except ImportError:
        return None
    with silenced((1, 2)):
        try:
            fast = gigatoken.Tokenizer.from_json(tok.to_str())
            got = fast.encode_batch_list(words)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - gigatoken's load errors and Rust panics
            return None
    batch = [w.decode("latin-1").translate(_TO_BYTELEVEL) for w in words]
    want = [e.ids for e in tok.encode_batch(batch, add_special_tokens=False)]
    return fast if got == want else None


def _tokens(
    words: list[bytes], plan: Plan, merges: Sequence[tuple[bytes, bytes]]
) -> tuple[np.ndarray, np.ndarray]:
    """Final token ids of every word, flat, with each word's offsets: by gigatoken where it gives
    tokenizers' ids on the first batch of words, else by tokenizers."""
    tok = _encoder(plan, merges)
    fast = _fast_encoder(tok, words[:CHECK_WORDS]) if words else None
    flat: list[np.ndarray] = []
    lengths = np.zeros(len(words), dtype=np.int64)
    for s in range(0, len(words), ENCODE_BATCH):
        if fast is not None:
            ids = fast.encode_batch_list(words[s : s + ENCODE_BATCH])
        else:
            batch = [w.decode("latin-1").translate(_TO_BYTELEVEL) for w in words[s : s + ENCODE_BATCH]]
            ids = [e.ids for e in tok.encode_batch(batch, add_special_tokens=False)]
        lengths[s : s + len(ids)] = [len(x) for x in ids]
        flat.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64))
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (np.concatenate(flat) if flat else np.zeros(0, np.int64)), offsets


def store(
    unit_words: Sequence[Mapping[bytes, int]], plan: Plan, merges: Sequence[tuple[bytes, bytes]]
) -> Store:
    """The Store of `lp.store([replay(w, merges, plan=plan) for w in unit_words], plan.constrained)`,
    computed from the final tokens (see the module note; `eligible(plan, 'byte')` must hold)."""
    from scipy import sparse

    T = len(plan.result)
    V = 256 + T
    words, C, pairs_u, bytes_u = _word_counts(unit_words)
    flat, offsets = _tokens(words, plan, merges)
    del words
    tree = _Tree(plan, V)
    start_u, start_w, close, top = _chain_starts(flat, offsets, C, tree)
    del flat, offsets, C
    key, et, ecol, eval_ = _walk_chains(start_u, start_w, close, tree)
    row_key = key * (T + 1) + (et + 1)
    urow, rinv = np.unique(row_key, return_inverse=True)
    del row_key, key, et
    E = sparse.csr_matrix((eval_, (rinv, ecol)), shape=(len(urow), len(start_u)))
    del rinv, ecol, eval_
    R = (E @ top).tocoo()
    del E, top
    keep = R.data != 0
    r_row, r_unit, r_delta = R.row[keep], R.col[keep].astype(np.int64), R.data[keep].astype(np.int64)
    del R
    rk = urow[r_row]
    return _events_store(r_unit, rk // (T + 1), rk % (T + 1) - 1, r_delta, pairs_u, bytes_u, plan)


def _word_counts(
    unit_words: Sequence[Mapping[bytes, int]],
) -> tuple[list[bytes], Any, np.ndarray, np.ndarray]:
    """Every distinct word once, its count in each unit (a words x units sparse matrix), and each
    unit's pairs and bytes."""
    from scipy import sparse

    n_units = len(unit_words)
    index: dict[bytes, int] = {}
    rows, cols, vals = [], [], []
    pairs_u = np.zeros(n_units, dtype=np.int64)
    bytes_u = np.zeros(n_units, dtype=np.int64)
    for u, unit in enumerate(unit_words):
        items = [(w, n) for w, n in unit.items() if n > 0 and w]
        ids = [index.setdefault(w, len(index)) for w, _ in items]
        na = np.fromiter((n for _, n in items), dtype=np.int64, count=len(items))
        lens = np.fromiter((len(w) for w, _ in items), dtype=np.int64, count=len(items))
        pairs_u[u] = int((na * (lens - 1)).sum())
        bytes_u[u] = int((na * lens).sum())
        rows.append(np.asarray(ids, dtype=np.int64))
        cols.append(np.full(len(ids), u, dtype=np.int64))
        vals.append(na)
    words = list(index)
    del index
    C = sparse.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0, np.int64),
            (
                np.concatenate(rows) if rows else np.zeros(0, np.int64),
                np.concatenate(cols) if cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(len(words), n_units),
        dtype=np.int64,
    )
    return words, C, pairs_u, bytes_u


class _Tree:
    """The merge trees: each merged token's left and right parts and the step that made it
    (rank -1 for bytes), and the token each step made (-1: no pair)."""

    def __init__(self, plan: Plan, V: int) -> None:
        T = len(plan.result)
        self.V = V
        self.left = np.full(V, -1, dtype=np.int64)
        self.right = np.full(V, -1, dtype=np.int64)
        self.rank = np.full(V, -1, dtype=np.int64)
        self.merge_tok = np.full(T, -1, dtype=np.int64)
        for t, p in enumerate(plan.pairs):
            if p is None:
                continue
            v = plan.result[t]
            self.left[v], self.right[v], self.rank[v] = p[0], p[1], t
            self.merge_tok[t] = v


def _chain_starts(flat: np.ndarray, offsets: np.ndarray, C: Any, tree: _Tree) -> tuple[np.ndarray, ...]:
    """Chain starts: every merge's pair (closed at its step) and every final bigram (never closed),
    with their counts per unit (final token counts pushed down the merge trees)."""
    from scipy import sparse

    V = tree.V
    W = C.shape[0]
    word_of = np.repeat(np.arange(W, dtype=np.int64), np.diff(offsets))
    A = sparse.csr_matrix((np.ones(len(flat), np.int64), (word_of, flat)), shape=(W, V))
    node = (A.T @ C).toarray()  # V x units
    del A
    for t in range(len(tree.merge_tok) - 1, -1, -1):
        v = tree.merge_tok[t]
        if v >= 0 and node[v].any():
            node[tree.left[v]] += node[v]
            node[tree.right[v]] += node[v]
    inner = np.ones(len(flat), dtype=bool)
    inner[offsets[1:] - 1] = False  # a word's last token starts no bigram
    pos = np.flatnonzero(inner)
    bkey = flat[pos] * V + flat[pos + 1]
    ukey, binv = np.unique(bkey, return_inverse=True)
    B = sparse.csr_matrix((np.ones(len(pos), np.int64), (word_of[pos], binv)), shape=(W, len(ukey)))
    big = (B.T @ C).tocsr()  # bigrams x units
    del B, word_of
    mt = np.flatnonzero(tree.merge_tok >= 0)
    mv = tree.merge_tok[mt]
    start_u = np.concatenate([tree.left[mv], ukey // V])
    start_w = np.concatenate([tree.right[mv], ukey % V])
    close = np.concatenate([mt, np.full(len(ukey), -2, dtype=np.int64)])  # -2: never closed
    top = sparse.vstack([sparse.csr_matrix(node[mv]), big]).tocsr()  # chain starts x units
    return start_u, start_w, close, top


def _walk_chains(
    start_u: np.ndarray, start_w: np.ndarray, close: np.ndarray, tree: _Tree
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All chains walked at once: events (pair key, step, chain start, +-1)."""
    V, rank, left, right = tree.V, tree.rank, tree.left, tree.right
    col = np.arange(len(start_u), dtype=np.int64)
    u_, w_ = start_u, start_w
    s_ = np.maximum(rank[u_], rank[w_])
    ev_key, ev_t, ev_col, ev_val = [u_ * V + w_], [s_], [col], [np.ones(len(col), np.int64)]
    c = close >= 0
    ev_key.append((u_ * V + w_)[c])
    ev_t.append(close[c])
    ev_col.append(col[c])
    ev_val.append(np.full(int(c.sum()), -1, np.int64))
    while len(u_):
        live = s_ >= 0  # both sides atoms: the chain ends
        u_, w_, s_, col = u_[live], w_[live], s_[live], col[live]
        younger_left = rank[u_] > rank[w_]
        nu = np.where(younger_left, right[u_], u_)
        nw = np.where(younger_left, w_, left[w_])
        ns = np.maximum(rank[nu], rank[nw])
        k = nu * V + nw
        ev_key += [k, k]
        ev_t += [ns, s_]
        ev_col += [col, col]
        ev_val += [np.ones(len(k), np.int64), np.full(len(k), -1, np.int64)]
        u_, w_, s_ = nu, nw, ns
    return np.concatenate(ev_key), np.concatenate(ev_t), np.concatenate(ev_col), np.concatenate(ev_val)


def _events_store(
    unit: np.ndarray,
    key: np.ndarray,
    t: np.ndarray,
    delta: np.ndarray,
    pairs: np.ndarray,
    nbytes: np.ndarray,
    plan: Plan,
) -> Store:
    """A Store from count events keyed by pair key (left * V + right, V = 256 + merges): pair ids
    are ranks of the keys seen, events sorted by (unit, pair, step)."""
    T = len(plan.result)
    V = 256 + T
    upair, pid = np.unique(key, return_inverse=True)
    order = np.lexsort((t, pid, unit))
    merge_key = np.array([p[0] * V + p[1] if p is not None else -1 for p in plan.constrained], dtype=np.int64)
    j = np.searchsorted(upair, merge_key)
    jj = np.clip(j, 0, max(len(upair) - 1, 0))
    found = (
        (merge_key >= 0) & (j < len(upair)) & (upair[jj] == merge_key)
        if len(upair)
        else np.zeros(len(merge_key), dtype=bool)
    )
    return Store(
        unit=unit[order].astype(np.int32),
        pid=pid[order].astype(np.int64),
        t=t[order].astype(np.int32),
        delta=delta[order].astype(np.int64),
        pairs=pairs,
        bytes=nbytes,
        merge_pair=np.where(found, jj, -1).astype(np.int64),
        n_pairs=len(upair),
        n_steps=T,
        pair_list=list(zip((upair // V).tolist(), (upair % V).tolist())),
    )


def merge_stores(stores: Sequence[Store], plan: Plan) -> Store:
    """One Store from the Stores of single units (or groups of units), in order: exactly what
    `store` gives for all their words at once. A unit's events depend on its own words alone, and
    pair ids are ranks of the pair keys seen, so renumbering over the union restores the global ids."""
    T = len(plan.result)
    V = 256 + T
    keyed = []
    offset = 0
    for st in stores:
        pkeys = np.array([a * V + b for a, b in st.pair_list], dtype=np.int64)
        keyed.append(
            (st.unit.astype(np.int64) + offset, pkeys[st.pid] if st.pid.size else np.zeros(0, np.int64))
        )
        offset += len(st.pairs)
    unit = np.concatenate([u for u, _ in keyed]) if keyed else np.zeros(0, np.int64)
    key = np.concatenate([k for _, k in keyed]) if keyed else np.zeros(0, np.int64)
    t = np.concatenate([st.t for st in stores]) if stores else np.zeros(0, np.int32)
    delta = np.concatenate([st.delta for st in stores]) if stores else np.zeros(0, np.int64)
    pairs = np.concatenate([st.pairs for st in stores]) if stores else np.zeros(0, np.int64)
    nbytes = np.concatenate([st.bytes for st in stores]) if stores else np.zeros(0, np.int64)
    return _events_store(unit, key, t, delta, pairs, nbytes, plan)
