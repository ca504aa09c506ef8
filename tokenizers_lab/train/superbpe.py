"""SuperBPE (Liu et al. 2025): stage 1 BPE up to the transition, stage 2 merges across whitespace."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tokenizers_lab.background import Background
from tokenizers_lab.engine import Engine, LocalEngine
from tokenizers_lab.patterns import PATTERNS
from tokenizers_lab.tokenizer import THREADS, bytelevel_to_bytes
from tokenizers_lab.train.common import (
    TrainOut,
    count_on,
    normalizer,
    tokenizer_json,
    train_bytelevel_bpe,
    write_words,
)
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import Prepared, train_native

# Stage-2 symbols of SuperBPE: stage-1 id i is the code point _SYM + i (never whitespace, no
# normalizer runs on them), so stock BpeTrainer can continue merging over stage-1 tokens.
_SYM = 0x20000


# Cut stage-2 words where a stage-1 bigram is too rare to ever be merged (exact; tests compare).
PRUNE_RARE_BOUNDARIES = True


def train_superbpe(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """SuperBPE (Liu et al. 2025): stage 1 = BPE with whitespace-aware pre-tokens up to transition t;
    stage 2 = keep merging over stage-1 tokens with whitespace no longer a boundary.

    Stock `tokenizers` cannot resume training from merges, so stage 2 maps every stage-1 token to
    one code point and runs stock BpeTrainer over those symbol strings; its merges are mapped back
    to byte-level strings and appended. The first t merges equal stage 1's by construction (checked).
    """
    import regex
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    stage2 = PATTERNS["superbpe-stage2"]
    split2 = regex.compile(f"({stage2})")
    out: TrainOut = {}
    for v in sizes:
        t = (
            int(config.superbpe_transition * v)
            if config.superbpe_transition <= 1
            else int(config.superbpe_transition)
        )
        t = max(min(t, v), 256 + len(config.specials()) + 1)
        # Stage-2 pre-token counting does not depend on stage 1: it runs while tokenizers trains
        # stage 1 (which releases the GIL and leaves a core idle in its serial merge loop).
        pending = Background(
            _count_stage2,
            prep.train_paths,
            split2,
            config.superbpe_colon_rule,
            normalizer(config.normalization),
            prep.engine,
        )
        s1 = tokenizer_json(train_bytelevel_bpe(prep, t, config, config.preset()))
        counts = pending.result(watch=(prep.scan,))
        vocab1: dict[str, int] = s1["model"]["vocab"]
        merges1 = [m if isinstance(m, list) else m.split(" ", 1) for m in s1["model"]["merges"]]
        id_to_str = {i: s for s, i in vocab1.items()}
        words = _stage1_symbols(
            sorted(counts), vocab1, merges1, set(config.specials()), counts, config.min_frequency
        )
        if PRUNE_RARE_BOUNDARIES:
            words = _pair_fragments(words)
        symbols = set("".join(words.values())) - {" "}
        n_new = v - len(vocab1)
        extra_needed = max(0, n_new)
        s2 = Tokenizer(models.BPE())
        s2.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        vocab = dict(vocab1)
        merges = [list(m) for m in merges1]
        if extra_needed:
            margin = extra_needed + max(64, extra_needed // 10)  # room for strings that map back to one token
            trainer = trainers.BpeTrainer(
                vocab_size=len(symbols) + margin,
                min_frequency=config.min_frequency,
                show_progress=False,
                max_token_length=config.max_token_length or None,
            )
            train_native(
                s2.train, [str(write_words(prep.workdir / "stage2.txt", words, counts))], trainer, prep=prep
            )
            for m in tokenizer_json(s2)["model"]["merges"]:
                a, b = m.split(" ", 1) if isinstance(m, str) else m
                sa = "".join(id_to_str[ord(c) - _SYM] for c in a)
                sb = "".join(id_to_str[ord(c) - _SYM] for c in b)
                if sa + sb not in vocab:
                    if len(vocab) >= v:
                        break
                    vocab[sa + sb] = len(vocab)
                merges.append([sa, sb])
        tok = Tokenizer(models.BPE(vocab, [tuple(m) for m in merges]))
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(stage2), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        tok.decoder = decoders.ByteLevel()
        if config.normalization != "none":
            tok.normalizer = normalizer(config.normalization)
        from tokenizers import AddedToken

        tok.add_special_tokens([AddedToken(s, special=True) for s in config.specials()])
        tj = tokenizer_json(tok)
        final_merges = [m if isinstance(m, list) else m.split(" ", 1) for m in tj["model"]["merges"]]
        words_per_token = [
            (bytelevel_to_bytes(s) or b"").strip().count(b" ") + 1 for s in vocab if s not in vocab1
        ]
        checks = {
            "transition": t,
            "stage1_merges": len(merges1),
            "stage1_merges_preserved": final_merges[: len(merges1)] == merges1,
            "stage2_merges": len(final_merges) - len(merges1),
            "max_words_per_token": max(words_per_token, default=1),
            "colon_rule": config.superbpe_colon_rule,
        }
        out[v] = (tj, {}, checks)
    return out


class Stage2Counter:
    """Stage-2 pre-tokens of every training line (tokenizers' Split "isolated": matches and the
    gaps between them), counted (a picklable callable: engine workers run it)."""

    def __init__(self, split2: Any, colon_rule: bool, normalizer: Any = None) -> None:
        self.split2, self.colon_rule, self.normalizer = split2, colon_rule, normalizer

    def __call__(self, chunks: Sequence[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for chunk in chunks:
            lines = chunk.split("\n")  # as file iteration splits: text mode made every line end "\n"
            for line in [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else []):
                if self.normalizer is not None:
                    line = self.normalizer.normalize_str(line)
                parts = _colon_split(line) if self.colon_rule and ": " in line else (line,)
                for part in parts:
                    counts.update(p for p in self.split2.split(part) if p)
        return counts


def _count_stage2(
    paths: Sequence[Path], split2: Any, colon_rule: bool, normalizer: Any = None, engine: Engine | None = None
) -> Counter[str]:
    """Stage-2 pre-tokens of every training line, counted (on the engine's workers)."""
    return count_on(engine or LocalEngine(), Stage2Counter(split2, colon_rule, normalizer), paths, 1 << 16)


def _stage1_symbols(
    pieces: list[str],
    vocab1: dict[str, int],
    merges1: list[list[str]],
    specials: set[str],
    counts: Counter[str],
    min_frequency: int,
) -> dict[str, str]:
    """Each stage-2 pre-token as a string of stage-1 symbols (one code point per stage-1 id).

    Encoding uses tiktoken over the stage-1 ranks (id order = merge order, equal ids to tokenizers'
    BPE; checked in tests) on all cores, with tokenizers' own BPE for the rare very long pieces
    where tiktoken's merge loop is quadratic.
    """
    import numpy as np
    import tiktoken
    from tokenizers import Tokenizer, models, pre_tokenizers

    ranks = {
        b: i for s, i in vocab1.items() if s not in specials and (b := bytelevel_to_bytes(s)) is not None
    }
    enc = tiktoken.Encoding(name="stage1", pat_str=r"(?s:.+)", mergeable_ranks=ranks, special_tokens={})
    hf = Tokenizer(models.BPE(vocab1, [(a, b) for a, b in merges1]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)

    def encode(chunk: list[str]) -> list[list[int]]:
        return [
            enc.encode_ordinary(p) if len(p) < 2048 else hf.encode(p, add_special_tokens=False).ids
            for p in chunk
        ]

    step = max(1, (len(pieces) + THREADS - 1) // THREADS)
    with ThreadPoolExecutor(THREADS) as ex:
        parts = list(ex.map(encode, [pieces[i : i + step] for i in range(0, len(pieces), step)]))
    ids = [x for part in parts for x in part]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32, count=int(lengths.sum()))
    sym = flat + np.uint32(_SYM)
    if PRUNE_RARE_BOUNDARIES and min_frequency >= 2 and len(flat) > 1:
        # A stage-1 bigram seen fewer than min_frequency times in the corpus can never be inside a
        # stage-2 merge (any pair spanning it is at most that frequent), so words are cut there with
        # a space: WhitespaceSplit drops the boundary and tokenizers indexes far fewer pairs.
        weights = np.fromiter((counts[p] for p in pieces), dtype=np.int64, count=len(pieces))
        word = np.repeat(np.arange(len(pieces)), lengths)
        inside = np.flatnonzero(word[:-1] == word[1:])
        keys = (flat[inside].astype(np.uint64) << np.uint64(32)) | flat[inside + 1].astype(np.uint64)
        _, inverse = np.unique(keys, return_inverse=True)
        totals = np.bincount(inverse, weights=weights[word[inside]])
        cuts = inside[totals[inverse] < min_frequency] + 1
        sym = np.insert(sym, cuts, np.uint32(0x20))
        starts = np.concatenate([[0], np.cumsum(lengths)])
        starts = starts + np.searchsorted(cuts, starts, side="left")
        bounds = starts.tolist()
    else:
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    text = sym.astype("<u4").tobytes().decode("utf-32-le")
    return {p: text[bounds[i] : bounds[i + 1]] for i, p in enumerate(pieces)}


def _pair_fragments(words: dict[str, str]) -> dict[str, str]:
    """Drop the one-symbol fragments of stage-2 words: they hold no pair, so BPE's merges are the
    same without them (pair counts unchanged; symbol ids keep their order), and tokenizers reads
    and indexes much less."""
    out = {}
    for piece, w in words.items():
        if " " in w:
            w = " ".join(f for f in w.split(" ") if len(f) > 1)
        elif len(w) < 2:
            continue
        if w:
            out[piece] = w
    return out


def _colon_split(piece: str) -> list[str]:
    """Cut a pre-token between ':' and a following space, so no token holds ': ' (SuperBPE rule)."""
    if ": " not in piece:
        return [piece]
    parts = piece.split(": ")
    return [parts[0] + ":"] + [" " + p + ":" for p in parts[1:-1]] + [" " + parts[-1]]
