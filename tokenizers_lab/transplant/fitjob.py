"""The `--fit` stage of a transplant: read and check the fit corpus, load the original model as
teacher, score the heuristic rows where --eval asks, fit (fit.py), report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError
from tokenizers_lab.progress import Progress, no_progress
from tokenizers_lab.report import InputRef
from tokenizers_lab.transplant import fit as F
from tokenizers_lab.transplant import fitspell as FS
from tokenizers_lab.transplant.checkpoint import Checkpoint
from tokenizers_lab.transplant.config import TransplantConfig
from tokenizers_lab.transplant.evaluate import BpbSide
from tokenizers_lab.transplant.methods import release_memory
from tokenizers_lab.transplant.pair import Pair
from tokenizers_lab.transplant.vocab import Vocab

FIT_MAX_BYTES = 32 << 20  # more text than ten CPU-minutes can read many times over
TEXT_CHARS = 600  # lines are grouped into texts of about this many characters
COPIED = ("exact", "canonical", "special", "padding")
VALIDATION_EVERY = 10  # every 10th fit text that holds a new token is kept out of the fit, to check it
VALIDATION_MAX = 24


@dataclass(frozen=True)
class Fitted:
    summary: dict[str, Any]
    heuristic_bpb: BpbSide | None
    corpus_ref: InputRef
    machine: dict[str, float]  # wall and memory of the fit, for the report's timings
    notes: tuple[str, ...] = ()


def read_fit_lines(spec: str) -> tuple[list[str], InputRef, bool]:
    """The fit corpus's lines up to FIT_MAX_BYTES, its fingerprint (of what was read), and
    whether it was cut."""
    from tokenizers_lab.corpus import Corpus

    corpus = Corpus(spec)
    lines: list[str] = []
    size, cut = 0, False
    for line in corpus:
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
        if size >= FIT_MAX_BYTES:
            cut = True
            break
    return lines, corpus.input_ref("fit corpus"), cut


def check_script(texts: list[str], new: Vocab, estimated: np.ndarray) -> None:
    """Refuse a fit corpus written in a script none of the new tokens has: it cannot teach them."""
    have = F.scripts(texts)
    if not have:
        return
    main, n = have.most_common(1)[0]
    if n < 0.9 * sum(have.values()):
        return  # mixed text: the zero-touch check decides
    token_scripts: Counter[str] = Counter()
    for i in np.flatnonzero(estimated):
        k = new.keys[i]
        if k:
            token_scripts.update(F.scripts([k.decode("utf-8", "ignore")]))
    if token_scripts and main not in token_scripts:
        top = ", ".join(s.lower() for s, _ in token_scripts.most_common(3))
        raise InputError(
            f"the fit corpus is {main.lower()} text but none of the {int(estimated.sum()):,} new tokens "
            f"is (their letters are {top}): fit on text in the new tokens' language"
        )


def run_fit(
    config: TransplantConfig,
    ck: Checkpoint,
    pair: Pair,
    old: Vocab,
    new: Vocab,
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    final: list[str],
    config_ids: dict[str, Any],
    progress: Progress | None,
    hyper: Any = None,
) -> Fitted:
    """Fit the estimated rows of new_in/new_out in place; the report's summary of it. With `hyper`
    (--method hypernet) the network is fitted and predicts the rows, also where its lexical
    training alone did not beat FVT."""
    from tokenizers_lab.corpus import display_name
    from tokenizers_lab.transplant.evaluate import documents, load_causal_lm
    from tokenizers_lab.transplant.measure import eval_lines, prefixes

    progress = progress or no_progress
    spec = config.fit_corpus or ""
    lines, ref, cut = read_fit_lines(spec)
    ev_lines = eval_lines(config) if config.evaluate else []
    if ev_lines:
        F.check_overlap(
            lines, ev_lines, display_name(spec), display_name(config.eval_text or "embedded:domain")
        )
    estimated = np.zeros(len(new_in), dtype=bool)
    estimated[[i for i, r in enumerate(final) if r not in COPIED and i < new.size]] = True
    texts = documents(lines, TEXT_CHARS)
    if not texts:
        raise InputError(f"the fit corpus {display_name(spec)} is empty")
    check_script(texts, new, estimated)
    old_prefix, new_prefix = prefixes(ck, config_ids)
    prepared = F.prepare_texts(
        texts, pair.new_view.encode_batch, pair.old_view.encode_batch, new.keys, old.keys, config.fit_seq_len
    )
    touched = {i for t in prepared for i in t.new_ids if estimated[i]}
    if not touched:
        raise InputError(
            f"the fit corpus {display_name(spec)} contains none of the {int(estimated.sum()):,} new tokens: "
            "nothing to fit (give more text, or text in the new tokens' language)"
        )
    model = load_causal_lm(ck.folder)
    E_in = model.get_input_embeddings().weight.detach().numpy()  # the teacher's rows: the model's own
    E_out = None if ck.tied else model.get_output_embeddings().weight.detach().numpy()
    heuristic = None
    if config.evaluate:
        progress("bits per byte of the heuristic rows", None)
        heuristic = _bpb_rows(model, new_in, new_out, pair, new_prefix, documents(ev_lines))
    steps, minutes = config.fit_budget()
    settings = F.FitSettings(
        config.fit_objective,
        config.fit_lr,
        config.fit_batch_tokens,
        steps,
        minutes,
        config.seed,
        config.fit_output_grad,
        config.fit_layers,
        config.fit_spelling,
    )
    fit_texts, val_docs = _hold_out(texts, prepared, estimated)
    decomps = _decompositions(old, new, estimated) if hyper is not None or config.fit_spelling > 0 else {}
    spelling = _spelling(config, pair, old_prefix, decomps, hyper)
    movable = _movable(fit_texts, estimated, hyper is not None, decomps if spelling else None)
    saved = _snapshot(new_in, new_out, movable)
    before = _bpb_rows(model, new_in, new_out, pair, new_prefix, val_docs).bpb if val_docs else None
    result = F.fit(
        model,
        (E_in, E_out),
        new_in,
        new_out,
        estimated,
        fit_texts,
        (old_prefix, new_prefix),
        settings,
        hypernet=(hyper, decomps) if hyper is not None else None,
        spelling=spelling,
        progress=lambda msg: progress(msg, None),
    )
    after = _bpb_rows(model, new_in, new_out, pair, new_prefix, val_docs).bpb if val_docs else None
    notes = _tied_hidden_note(ck.tied, config.fit_objective)
    kept = before is None or after is None or after < before
    if not kept:
        _restore(new_in, new_out, saved)
        notes += (
            f"the fit made its {len(val_docs)} held-back fit texts worse (bits per byte {before:.4f} -> "
            f"{after:.4f}): the heuristic rows are kept",
        )
    del model
    summary = result.summary()
    summary.update(corpus=display_name(spec), corpus_cut=cut, texts_available=len(prepared))
    summary.update(validation_texts=len(val_docs), validation_bpb_before=before, validation_bpb_after=after)
    summary.update(kept=kept)
    machine = {f"fit_{k}": float(getattr(result, k)) for k in result.MACHINE}
    return Fitted(summary, heuristic, ref, machine, notes)


def _hold_out(
    texts: list[str], prepared: list[F.FitText], estimated: np.ndarray
) -> tuple[list[F.FitText], list[str]]:
    """(the fit's texts, the held-back documents): every VALIDATION_EVERY-th text that holds a new
    token (VALIDATION_MAX at most) is kept out of the fit to check it; none where there are fewer
    than two such rounds."""
    with_new = [j for j, t in enumerate(prepared) if any(estimated[i] for i in t.new_ids)]
    if len(with_new) < 2 * VALIDATION_EVERY:
        return prepared, []
    held = set(with_new[VALIDATION_EVERY - 1 :: VALIDATION_EVERY][:VALIDATION_MAX])
    return [t for j, t in enumerate(prepared) if j not in held], [texts[j] for j in sorted(held)]


def _spelling(
    config: TransplantConfig, pair: Pair, old_prefix: int, decomps: dict[int, list[int]], hyper: Any
) -> tuple[list[int], dict[int, list[int]]] | None:
    """The spelling phase's inputs (its context in old ids, each estimated id's old pieces), None
    when it does not run (--fit-spelling 0, the hypernetwork)."""
    if hyper is not None or config.fit_spelling <= 0:
        return None
    return [old_prefix] + pair.old_view.encode_batch([FS.CONTEXT])[0], decomps


def _movable(
    fit_texts: list[F.FitText], estimated: np.ndarray, hyper: bool, spellings: dict[int, list[int]] | None
) -> np.ndarray:
    """The rows the fit can change: every estimated row for a hypernetwork, else those in its texts
    and those the spelling phase may reach."""
    if hyper:
        return estimated.copy()
    movable = np.zeros_like(estimated)
    movable[[i for t in fit_texts for i in t.new_ids if estimated[i]]] = True
    if spellings is not None:
        movable[FS.candidate_rows(fit_texts, estimated, spellings)[0][: FS.MAX_ROWS]] = True
    return movable


def _snapshot(
    W_in: np.ndarray, W_out: np.ndarray | None, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows `which` marks, copied (ids, input rows, output rows) for _restore."""
    ids = np.flatnonzero(which)
    return ids, W_in[ids].copy(), (W_out[ids].copy() if W_out is not None else None)


def _restore(
    W_in: np.ndarray, W_out: np.ndarray | None, saved: tuple[np.ndarray, np.ndarray, np.ndarray | None]
) -> None:
    ids, rows_in, rows_out = saved
    W_in[ids] = rows_in
    if W_out is not None and rows_out is not None:
        W_out[ids] = rows_out


def _decompositions(old: Vocab, new: Vocab, estimated: np.ndarray) -> dict[int, list[int]]:
    """Each estimated id's decomposition into old tokens (the hypernetwork's input), where it has one."""
    from tokenizers_lab.transplant.vocab import Decomposer

    ids = [int(i) for i in np.flatnonzero(estimated) if new.keys[i] is not None]
    decs = Decomposer(old).decompose_many([new.keys[i] for i in ids])  # type: ignore[misc]
    return {i: d for i, d in zip(ids, decs) if d}


def _bpb_rows(
    model: Any, W_in: np.ndarray, W_out: np.ndarray | None, pair: Pair, prefix: int, docs: list[str]
) -> BpbSide:
    """Bits per byte of the model's layers with these embedding matrices (the new tokenizer)."""
    import torch

    from tokenizers_lab.transplant.evaluate import bits_per_byte

    student = F.Student(model, torch)
    Wi = torch.from_numpy(W_in)
    Wo = Wi if W_out is None else torch.from_numpy(W_out)

    side = bits_per_byte(
        model, pair.new_view.encode_batch, prefix, docs, nll=lambda ids, mask: student.nll(ids, mask, Wi, Wo)
    )
    release_memory()  # the scoring's freed blocks back to the OS: the fit's peak is its own
    return side


def _tied_hidden_note(tied: bool, objective: str) -> tuple[str, ...]:
    """Measured ruinous where new tokens are common (SmolLM2 onto a German BPE): say so."""
    if not (tied and objective == "hidden"):
        return ()
    return (
        "--fit-objective hidden on a tied model moves each row's output role with no loss on the "
        "head; where new tokens are common prefer alm+ce or hidden+ce",
    )
