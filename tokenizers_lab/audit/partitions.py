"""The monolingual corpora cut into partitions (about 4 M characters each) and each partition's
token-id tally per tokenizer: the unit of work an engine runs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np

from tokenizers_lab.audit.compression import Tally
from tokenizers_lab.audit.config import AuditConfig
from tokenizers_lab.corpus import Corpus, display_name
from tokenizers_lab.progress import Progress
from tokenizers_lab.report import InputRef
from tokenizers_lab.tokenizer import (
    TokenizerView,
)

PARTITION_CHARS = 4_000_000  # monolingual text per task


def corpus_partitions(
    config: AuditConfig,
    corpora: Sequence[Corpus],
    corpus_refs: list[InputRef],
    word_source: list[str],
    progress: Progress,
    notes: list[str],
) -> Iterator[list[list[str]]]:
    """The monolingual corpora as the reader's batches (~1 MB each), grouped into tasks of about
    PARTITION_CHARS characters, read and fingerprinted here in one stream, CharBench words taken
    on the way. --max-corpus-bytes caps exactly: whole lines whose UTF-8 bytes (newline included)
    fit in the cap; a corpus the cap leaves unread is no input of the report, and a note says so."""
    words_chars = seen = 0
    cap = config.max_corpus_bytes
    full = False
    for c in corpora:
        name = display_name(c.spec)
        if full:
            notes.append(f"{name} was not measured: --max-corpus-bytes {cap} was reached before it")
            continue
        progress(f"reading {name}", None)
        part: list[list[str]] = []
        size = own = 0
        digest = hashlib.sha256()  # of the lines measured, when the cap cuts this corpus
        for batch in c.iter_batches():
            if cap:
                kept = 0
                for line in batch:
                    data = line.encode("utf-8") + b"\n"
                    if seen + len(data) > cap:
                        full = True
                        break
                    digest.update(data)
                    seen += len(data)
                    own += len(data)
                    kept += 1
                batch = batch[:kept]
            n = sum(map(len, batch))
            if batch:
                if not config.charbench_words and words_chars < 2_000_000:  # enough words, bounded memory
                    word_source.extend(batch)
                    words_chars += n
                part.append(batch)
                size += n
            if size >= PARTITION_CHARS:
                yield part
                part, size = [], 0
            if full:
                break
        if part:
            yield part
        if full and not own:  # its first line did not fit
            notes.append(f"{name} was not measured: --max-corpus-bytes {cap} was reached before it")
        elif full:  # the input is what was measured: its first `own` bytes, hashed as read
            notes.append(
                f"{name}: only its first {own} bytes were measured (--max-corpus-bytes {cap}, whole lines)"
            )
            corpus_refs.append(
                InputRef(
                    role="corpus", name=f"{name} (first {own} bytes)", sha256=digest.hexdigest(), bytes=own
                )
            )
        else:
            corpus_refs.append(c.input_ref())


def tally_partition(views: Sequence[TokenizerView], batches: list[list[str]]) -> list[tuple]:
    """Per tokenizer: the ids seen in the batches with their counts, and the texts' chars, bytes,
    words (a task: runs wherever the engine puts it; the sums are exact, so any split adds up the
    same). One batch is encoded at a time: HF Encodings of a whole task would take ~1 GB."""
    out = []
    for v in views:
        t = Tally(v.vocab_size)
        for batch in batches:
            t.add_flat(batch, v.encode_flat(batch)[0])
        ids = np.flatnonzero(t.counts)
        out.append((ids, t.counts[ids], t.chars, t.bytes, t.words))
    return out
