"""Building blocks the trainers share: normalizers, byte-level pre-tokenizers, BPE trainers,
truncating a trained BPE to a smaller vocabulary, and word counting on the engine."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tokenizers_lab.engine import Engine, ForkEngine, LocalEngine
from tokenizers_lab.errors import LabError
from tokenizers_lab.patterns import METASPACE_WORDS, resolve_pattern
from tokenizers_lab.train.config import BYTE_TOKENS, TrainConfig
from tokenizers_lab.train.prepare import Prepared, train_native


def normalizer(name: str, default: Any = None) -> Any:
    from tokenizers import normalizers

    return {
        "none": default,
        "nfc": normalizers.NFC(),
        "nfkc": normalizers.NFKC(),
        "nfkc-lower": normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
        "lower": normalizers.Lowercase(),
    }[name]


def _bytelevel_pretokenizer(preset: str, split_digits: bool) -> Any:
    from tokenizers import Regex, pre_tokenizers

    steps: list[pre_tokenizers.PreTokenizer] = (
        [pre_tokenizers.Digits(individual_digits=True)] if split_digits else []
    )
    if preset in ("gpt2", "r50k"):
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        _, regex = resolve_pattern(preset)
        steps += [
            pre_tokenizers.Split(Regex(regex), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    pt = steps[0] if len(steps) == 1 else pre_tokenizers.Sequence(steps)
    # Guard against the str-vs-Regex pitfall: a working split cuts this sentence into words.
    if len(pt.pre_tokenize_str("split me please")) < 3:
        raise LabError(f"pre-tokenizer preset {preset!r} does not split words")
    return pt


def bpe_trainer(vocab_size: int, config: TrainConfig, specials: Sequence[str], **overrides: Any) -> Any:
    """tokenizers' BpeTrainer with the config's settings; byte-level by default (all 256 byte
    symbols in the initial alphabet, so unseen bytes still encode). `overrides` win."""
    from tokenizers import pre_tokenizers, trainers

    args: dict[str, Any] = dict(
        vocab_size=vocab_size,
        min_frequency=config.min_frequency,
        show_progress=False,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    if config.max_token_length:
        args["max_token_length"] = config.max_token_length
    args.update(overrides)
    return trainers.BpeTrainer(**args)


def train_bytelevel_bpe(prep: Prepared, vocab: int, config: TrainConfig, preset: str, **kw: Any) -> Any:
    from tokenizers import Tokenizer, decoders, models

    tok = Tokenizer(models.BPE())
    norm = normalizer(config.normalization)
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = _bytelevel_pretokenizer(preset, config.split_digits)
    tok.decoder = decoders.ByteLevel()
    train_native(
        tok.train,
        [str(p) for p in prep.train_paths],
        bpe_trainer(vocab, config, config.specials(), **kw),
        prep=prep,
    )
    return tok


def _truncate_bpe(tj: dict, vocab_size: int) -> dict:
    """A trained BPE tokenizer.json cut to its first `vocab_size` ids (merges are a prefix)."""
    model = tj["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < vocab_size}
    merges = []
    for m in model["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a + b in vocab and a in vocab and b in vocab:
            merges.append([a, b])
        elif a + b not in vocab:
            break
    model["vocab"], model["merges"] = vocab, merges
    tj["added_tokens"] = [t for t in tj.get("added_tokens", []) if t["id"] < vocab_size]
    return tj


def truncations(full: dict, sizes: Sequence[int], reserved: int = 0) -> list[tuple[int, dict]]:
    """(size, tokenizer.json) for each size of a sweep: the largest as trained, the others cut
    from a copy (ids below size - reserved)."""
    top = max(sizes)
    return [
        (v, full if v == top else _truncate_bpe(json.loads(json.dumps(full)), v - reserved))
        for v in sorted(sizes)
    ]


def add_byte_fallback(tj: dict, kind: str) -> dict:
    """Append the 256 <0xNN> tokens and switch the model to byte fallback (lossless on any text)."""
    model = tj["model"]
    if kind == "bpe":
        n = len(model["vocab"])
        for i, t in enumerate(BYTE_TOKENS):
            model["vocab"].setdefault(t, n + i)
    else:
        low = min((s for _, s in model["vocab"]), default=0.0) - 10.0
        have = {p for p, _ in model["vocab"]}
        model["vocab"] += [[t, low] for t in BYTE_TOKENS if t not in have]
    model["byte_fallback"] = True
    tj["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ],
    }
    return tj


def metaspace_parts(config: TrainConfig) -> tuple[Any, Any]:
    """Llama-style ▁ handling: the normalizer always prepends one ▁ (the decoder strips exactly
    that one), so leading spaces survive a round trip; words split at ▁."""
    from tokenizers import Regex, normalizers, pre_tokenizers

    steps: list[pre_tokenizers.PreTokenizer] = [
        pre_tokenizers.Split(Regex(METASPACE_WORDS), behavior="isolated")
    ]
    if config.split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    pt = steps[0] if len(steps) == 1 else pre_tokenizers.Sequence(steps)
    norm = [n for n in (normalizer(config.normalization),) if n is not None]
    norm += [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]
    return normalizers.Sequence(norm), pt


def tok_from_json(tj: dict) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(tj, ensure_ascii=False))


def tokenizer_json(tok: Any) -> dict:
    return json.loads(tok.to_str())


# (tokenizer.json as a dict, or the trained Tokenizer itself when nothing needs editing; extra
# files; checks) per vocab size.
TrainOut = dict[int, tuple[Any, dict[str, bytes], dict[str, Any]]]


TASK_CHARS = 4_000_000  # text per word-counting task


def text_chunks(paths: Sequence[Path], size: int, task_chars: int = TASK_CHARS) -> Iterator[list[str]]:
    """Text files as chunks of about `size` characters ending at a line end, grouped into lists
    of about `task_chars` (one engine task each)."""
    group: list[str] = []
    n = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            while True:
                chunk = f.read(size)
                if not chunk:
                    break
                chunk += f.readline()
                group.append(chunk)
                n += len(chunk)
                if n >= task_chars:
                    yield group
                    group, n = [], 0
    if group:
        yield group


def count_on(
    engine: Engine, counter: Any, paths: Sequence[Path], size: int, processes: int = 1
) -> Counter[str]:
    """Chunks of the files counted by `counter` on the engine's workers, summed here in order
    (Counter sums are exact: any grouping gives the same counts). On the local engine, with
    `processes` > 1 and more than one task's worth of text, the tasks run in that many forked
    processes (the counters are Python: one core each)."""
    if (
        processes > 1
        and isinstance(engine, LocalEngine)
        and engine.threads == 1
        and sum(p.stat().st_size for p in paths) > TASK_CHARS
    ):
        engine = ForkEngine(processes)
    total: Counter[str] = Counter()
    shared = engine.share(counter)
    for part in engine.imap(_call, text_chunks(paths, size), shared):
        total.update(part)
    return total


def _call(fn: Any, arg: Any) -> Any:
    """fn(arg): a task shipping a callable object to a worker."""
    return fn(arg)


def write_words(path: Path, words: dict[str, str], counts: Counter[str]) -> Path:
    """Weighted words as a file for a WhitespaceSplit trainer: tokenizers reads files faster, and
    in parallel, than a Python iterator."""
    with open(path, "w", encoding="utf-8") as f:
        for batch in _repeat_words(words, counts):
            f.write("\n".join(batch))
            f.write("\n")
    return path


def _repeat_words(words: dict[str, str], counts: Counter[str]) -> Iterator[list[str]]:
    """Feed (word, count) pairs to a WhitespaceSplit trainer without materialising the corpus."""
    batch: list[str] = []
    for w in sorted(words):
        left = counts[w]
        m = words[w] + " "
        while left > 0:  # at most 1000 copies per line
            batch.append(m * min(left, 1000))
            left -= 1000
        if len(batch) >= 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def top_chars(counts: Counter[str], k: int) -> list[str]:
    """The k most frequent characters, ties broken by code point (tokenizers' limit_alphabet breaks
    ties in hash-map order, which makes its output vary from run to run)."""
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(1, k)]]
