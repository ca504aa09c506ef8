"""The corpus pass before training: stream, fingerprint, validate, split off held-out records,
and write the training copy (or let the trainer read plain files, checked beside it)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers_lab.background import Background, in_background
from tokenizers_lab.corpus import Corpus, display_name
from tokenizers_lab.engine import Engine, LocalEngine
from tokenizers_lab.errors import InputError
from tokenizers_lab.progress import Progress
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.report import CorpusSummary


@dataclass
class Prepared:
    """What the trainers read: `train_paths` (a held-out-free copy, or the user's own plain text
    files when nothing is held out) and, once `finish()` has run, the corpus summary."""

    train_paths: list[Path]
    workdir: Path
    heldout: list[str]
    corpora: list[Corpus]
    char_counts: Counter[str]
    summary: CorpusSummary | None = None
    heldout_corpora: list[Corpus] = field(default_factory=list)
    scan: Background | None = None  # the background pass over directly-read files
    engine: Engine = field(default_factory=LocalEngine)  # where word counting runs

    def finish(self) -> CorpusSummary:
        """Wait for the background pass (its errors are the user's, e.g. invalid UTF-8) and
        refuse an empty corpus."""
        scan, self.scan = self.scan, None
        if scan is not None:
            self.summary = scan.result()
        assert self.summary is not None
        if self.summary.train_records == 0:
            raise InputError(f"corpus {', '.join(c.spec for c in self.corpora)} is empty (no non-blank text)")
        return self.summary


def _summary(
    corpora: Sequence[Corpus], n_train: int, heldout: Sequence[str], held_bytes: int
) -> CorpusSummary:
    return CorpusSummary(
        records=sum(c.stats.records for c in corpora),
        bytes=sum(c.stats.bytes for c in corpora),
        invalid_utf8=sum(c.stats.invalid_utf8 for c in corpora),
        train_records=n_train,
        heldout_records=len(heldout),
        heldout_bytes=held_bytes,
    )


MAX_WORD_CHARS = 1 << 16  # the longest word (a run without whitespace) a trainer is given


_LONG_WORD = re.compile(rf"(?<!\S)\S{{{MAX_WORD_CHARS + 1}}}\S*")  # from a run's start only: linear


def _check_words(batch: Sequence[str], corpus: Corpus) -> None:
    """Refuse a record holding a run of over MAX_WORD_CHARS characters without whitespace. Trainers
    pay word length times merges for it (one 5 MB word kept tokenizers' BPE busy for over ten
    minutes); natural text has no such words, base64 blobs and binary files do. Only records
    longer than the limit are searched, so ordinary text costs one length test per record."""
    for i, rec in enumerate(batch):
        if len(rec) > MAX_WORD_CHARS and (m := _LONG_WORD.search(rec)):
            record = corpus.stats.records - len(batch) + i + 1
            raise InputError(
                f"{display_name(corpus.spec)} record {record} holds a word of {len(m.group()):,} "
                f"characters without whitespace (trainers take words up to {MAX_WORD_CHARS:,}): "
                "split or drop it"
            )


# imported while a native trainer runs: what its conversion and the reports need afterwards
AFTER_TRAINING = ("tokenizers", "markdown_it", "tokenizers_lab.tokenizer.convert")


def import_after_training(names: Sequence[str] = AFTER_TRAINING) -> None:
    for name in names:
        with contextlib.suppress(ImportError):  # an absent extra is reported where it is used
            importlib.import_module(name)


def train_native(
    train: Callable[..., Any],
    *args: Any,
    prep: Prepared | None = None,
    after: Sequence[str] = AFTER_TRAINING,
) -> Any:
    """A native trainer's call (tokenizers, sentencepiece, gigatoken) off the main thread: Ctrl-C
    acts at once, and a bad record found by the corpus pass running beside it stops the wait. The
    main thread meanwhile imports the modules `after` names (what comes after training; the
    trainers hold no GIL)."""
    return in_background(
        train,
        *args,
        watch=(prep.scan if prep is not None else None,),
        meanwhile=functools.partial(import_after_training, after),
    )


def _scan(
    corpora: Sequence[Corpus],
    char_counts: Counter[str] | None,
    heldout: Sequence[str] = (),
    held_bytes: int = 0,
) -> CorpusSummary:
    """One pass that fingerprints and validates corpora the trainer reads by itself (and measures
    their characters where asked)."""
    n_train = 0
    for c in corpora:
        for batch in c.iter_batches():
            _check_words(batch, c)
            batch = list(filter(str.strip, batch))
            n_train += len(batch)
            if char_counts is not None and batch:
                char_counts.update("".join(batch))
    return _summary(corpora, n_train, heldout, held_bytes)


def _read_heldout(config: TrainConfig) -> tuple[list[Corpus], list[str], int]:
    """A separate held-out corpus (--heldout): read whole (so its fingerprint is complete), kept
    up to heldout_max_bytes."""
    corpora = [config.open_corpus(s) for s in config.heldout]
    kept: list[str] = []
    size = 0
    for c in corpora:
        for batch in c.iter_batches():
            for rec in batch:
                if size < config.heldout_max_bytes and rec.strip():
                    kept.append(rec)
                    size += len(rec.encode("utf-8"))
    if not kept:
        raise InputError(f"held-out corpus {', '.join(config.heldout)} is empty (no non-blank text)")
    return corpora, kept, size


def prepare(config: TrainConfig, workdir: Path, progress: Progress) -> Prepared:
    corpora = [config.open_corpus(s) for s in config.resolved_corpora()]
    want_chars = config.algorithm in ("unigram", "bpe-metaspace")
    char_counts: Counter[str] = Counter()
    split = config.heldout_every > 0 and not config.heldout
    heldout: list[str] = []
    held_bytes = 0
    held_corpora: list[Corpus] = []
    if config.heldout:
        progress("reading held-out corpus", None)
        held_corpora, heldout, held_bytes = _read_heldout(config)
    if not split:
        found = [c.plain_files() for c in corpora]
        direct = [f for f in found if f is not None]
        if config.errors == "strict" and len(direct) == len(found):
            # No copy: the trainer reads the files; fingerprint and validation run beside it
            # (both engines release the GIL while training).
            prep = Prepared(
                [p for f in direct for p in f],
                workdir,
                heldout,
                corpora,
                char_counts,
                heldout_corpora=held_corpora,
            )
            if want_chars:  # the alphabet is needed before training
                progress("reading corpus", None)
                prep.summary = _scan(corpora, char_counts, heldout, held_bytes)
            else:
                prep.scan = Background(_scan, corpora, None, heldout, held_bytes)
            return prep
    k = max(config.heldout_every, 1)
    offset = config.seed % k
    n = n_train = 0
    path = workdir / "train.txt"
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for c in corpora:
            progress(f"reading {display_name(c.spec)}", None)
            for batch in c.iter_batches():
                _check_words(batch, c)
                batch = list(filter(str.strip, batch))  # blank records carry nothing to learn
                if not batch:
                    continue
                if split and held_bytes < config.heldout_max_bytes:
                    first = (offset - n) % k  # global non-blank record index = offset mod k
                    held = batch[first::k]
                    del batch[first::k]
                    heldout.extend(held)
                    held_bytes += sum(len(h.encode("utf-8")) for h in held)
                    n += len(held)
                n += len(batch)
                n_train += len(batch)
                if batch:
                    out.write("\n".join(batch))
                    out.write("\n")
                    if want_chars:
                        char_counts.update("".join(batch))
    prep = Prepared(
        [path],
        workdir,
        heldout,
        corpora,
        char_counts,
        heldout_corpora=held_corpora,
        summary=_summary(corpora, n_train, heldout, held_bytes),
    )
    prep.finish()
    return prep
