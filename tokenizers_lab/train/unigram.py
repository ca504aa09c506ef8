"""Unigram LM (`unigram`) with `tokenizers`' trainer, byte fallback and a stable piece order."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers_lab.errors import UsageError
from tokenizers_lab.train.common import TrainOut, add_byte_fallback, metaspace_parts, tokenizer_json
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import Prepared, train_native


def train_unigram(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    from tokenizers import Tokenizer, models, trainers

    out: TrainOut = {}
    specials = config.specials()
    for v in sizes:
        tok = Tokenizer(models.Unigram())
        tok.normalizer, tok.pre_tokenizer = metaspace_parts(config)
        need = len(prep.char_counts) + 1 + len(specials) + 256
        if v < need:
            raise UsageError(
                f"vocab size {v} is below the alphabet of this corpus: unigram needs at least "
                f"{need} ({len(prep.char_counts) + 1} characters + {len(specials)} specials + 256 bytes)"
            )
        trainer = trainers.UnigramTrainer(
            vocab_size=v - 256,
            special_tokens=list(specials),
            unk_token=specials[0] if specials else None,
            show_progress=False,
            max_piece_length=config.max_token_length or 16,
        )
        train_native(tok.train, [str(p) for p in prep.train_paths], trainer, prep=prep)
        tj = tokenizer_json(tok)
        # tokenizers' EM sums in parallel, so scores can differ in the last bit between runs.
        # Equal scores are then ordered by piece, so ids do not depend on the trainer's tie order.
        n_sp = len(specials)
        pieces = [[p, round(sc, 9)] for p, sc in tj["model"]["vocab"]]
        _fix_required_chars(pieces, n_sp)
        tj["model"]["vocab"] = pieces[:n_sp] + sorted(pieces[n_sp:], key=lambda ps: (-ps[1], ps[0]))
        out[v] = (add_byte_fallback(tj, "unigram"), {}, {})
    return out


def _fix_required_chars(pieces: list[list], first: int) -> None:
    """tokenizers' UnigramTrainer gives the required characters it did not learn synthetic scores
    min_score + k * 0.0001 (k = 0, 1, ...) in hash-set order, which Rust randomises per process, so
    which character gets which score, and so its id, changes from run to run. The
    characters on that grid keep their multiset of scores, handed out in code-point order: the same
    corpus then always yields the same ids. They may sit among learned pieces of equal score, so
    they are found by their scores, not their position."""
    body = pieces[first:]
    if len(body) < 2:
        return
    low = min(sc for _, sc in body)
    on_grid: dict[int, list[int]] = {}
    for i, (piece, sc) in enumerate(body, start=first):
        k = round((sc - low) / 1e-4)
        if len(piece) == 1 and k >= 0 and abs(sc - (low + k * 1e-4)) < 2e-9:
            on_grid.setdefault(k, []).append(i)
    run: list[int] = []
    k = 0
    while k in on_grid:  # the synthetic scores are consecutive grid points from the minimum
        run += on_grid[k]
        k += 1
    if len(run) < 2:
        return
    scores = sorted((pieces[i][1] for i in run), reverse=True)
    chars = sorted(pieces[i][0] for i in run)
    for i, c, sc in zip(sorted(run), chars, scores):
        pieces[i] = [c, sc]
