"""Byte-level BPE with GPT-2 splitting through gigatoken's trainer: the merges of tokenizers'
BpeTrainer (gigatoken's `tie_breaking="huggingface"`), in a fraction of the time.

Exactness is kept, not assumed. tokenizers reads a training file line by line, each line with
its newline, and splits it with the GPT-2 regex; so gigatoken gets each line as its own document,
newline kept, between separators the text never holds. tokenizers stops merging when the best
pair is rarer than `min_frequency` (or none is left), gigatoken never does: the best pair's count
never rises from one merge to the next, so the count of the last merge at its step decides. It is
recomputed from gigatoken's pre-token counts; when it is below the threshold the run trains with
tokenizers instead, and says so. Text that holds a special token (tokenizers trains through it,
gigatoken splits it out) and corpora over 1 GiB (held in memory here) also take tokenizers."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from tokenizers_lab.gigatrain import TrainerChild
from tokenizers_lab.tokenizer import bytes_to_bytelevel
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import Prepared, import_after_training

FAST_PRESETS = ("gpt2", "r50k")  # gigatoken's trainer splits with the GPT-2 regex only
MAX_FAST_BYTES = 1 << 30
_SEPARATORS = (b"\x00\x1e\x00", b"\x1e\x1f\x1e\x1f\x1e", b"\x00\x01\x02\x03\x04\x05\x06\x07")


def applies(config: TrainConfig, preset: str) -> bool:
    """The configuration gigatoken's trainer reproduces: byte-level BPE, the GPT-2 regex, no
    normalizer, digits unsplit, no token-length cap, and gigatoken installed."""
    return (
        config.algorithm == "bpe"
        and preset in FAST_PRESETS
        and config.normalization == "none"
        and not config.split_digits
        and not config.max_token_length
        and importlib.util.find_spec("gigatoken") is not None
    )


def train_gigatoken(prep: Prepared, vocab: int, config: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """(the trained tokenizers.Tokenizer, its checks), or (None, {"note": why}) when the run must
    train with tokenizers to get tokenizers' merges."""
    specials = list(config.specials())
    if sum(p.stat().st_size for p in prep.train_paths) > MAX_FAST_BYTES:  # sized before any read
        return None, {
            "note": "the corpus is over 1 GiB: trained by tokenizers (the fast trainer holds it in memory)"
        }
    # in a child interpreter (gigatrain.py says why), started before the checks below so that it
    # starts up meanwhile: the corpus check runs beside it, Ctrl-C stops it at once
    child = TrainerChild(config.threads)
    try:
        data = [p.read_bytes() for p in prep.train_paths]
        if any(s.encode("utf-8") in d for s in specials for d in data):
            return None, {
                "note": "the corpus holds a special token's text: trained by tokenizers, which trains through it"
            }
        sep = next((s for s in _SEPARATORS if not any(s in d for d in data)), None)
        if sep is None:
            return None, {"note": "no separator byte sequence is free in the corpus: trained by tokenizers"}
        del data
        got = child.run(
            [str(p) for p in prep.train_paths],
            vocab,
            specials,
            sep,
            watch=(prep.scan,),
            meanwhile=import_after_training,
        )
    finally:
        child.stop()
    if isinstance(got, str):
        return None, {"note": f"{got}: trained by tokenizers"}
    merges, counts = got
    need = max(config.min_frequency, 1)
    last = last_merge_count(counts, merges) if merges else 0
    if len(merges) != vocab - 256 - len(specials) or last < need:
        return None, {
            "note": f"the corpus runs out of pairs seen {need}+ times before vocab {vocab}: trained by "
            "tokenizers, which stops there"
        }
    return hf_tokenizer(specials, merges), {
        "trainer": f"gigatoken {version('gigatoken')}",
        "last_merge_count": last,
    }


def last_merge_count(counts: Sequence[tuple[bytes, int]], merges: Sequence[tuple[bytes, bytes]]) -> int:
    """How often the last merge's pair occurs when it is merged: over the pre-tokens that hold its
    bytes, segmented by every earlier merge, adjacent occurrences counted with overlaps (as
    tokenizers' trainer counts pairs)."""
    from tokenizers import Tokenizer, models

    a, b = merges[-1]
    whole = a + b
    words = [(w, n) for w, n in counts if whole in w]
    if not words:
        return 0
    earlier = merges[:-1]
    vocab = {bytes_to_bytelevel(bytes([i])): i for i in range(256)}
    for x, y in earlier:
        vocab.setdefault(bytes_to_bytelevel(x + y), len(vocab))
    bpe = Tokenizer(
        models.BPE(
            vocab, [(bytes_to_bytelevel(x), bytes_to_bytelevel(y)) for x, y in earlier], fuse_unk=False
        )
    )
    la, lb = bytes_to_bytelevel(a), bytes_to_bytelevel(b)
    total = 0
    for (_, n), enc in zip(
        words, bpe.encode_batch([bytes_to_bytelevel(w) for w, _ in words], add_special_tokens=False)
    ):
        toks = enc.tokens
        total += n * sum(1 for i in range(len(toks) - 1) if toks[i] == la and toks[i + 1] == lb)
    return total


def hf_tokenizer(specials: Sequence[str], merges: Sequence[tuple[bytes, bytes]]) -> Any:
    """The tokenizers.Tokenizer tokenizers' BpeTrainer builds from these merges: specials first,
    the 256 byte symbols in code point order, then each merge's token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {s: i for i, s in enumerate(specials)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
    pairs = [(bytes_to_bytelevel(x), bytes_to_bytelevel(y)) for x, y in merges]
    for x, y in pairs:
        vocab.setdefault(x + y, len(vocab))
    tok = Tokenizer(models.BPE(vocab, pairs, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(specials))
    return tok
