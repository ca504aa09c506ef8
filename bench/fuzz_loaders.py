"""Coverage-guided fuzzing of the tokenizer loaders with atheris (libFuzzer for Python).

Each run writes the fuzzer's input under one file name (which picks the loader: tokenizer.json,
.tiktoken, SentencePiece .model, vocab.txt, tekken .json, .json.gz) and calls load_tokenizer, then
uses the view as every caller does (vocab size, specials, encode, decode, token bytes). Anything
but a LabError is a finding: atheris stops and saves the crashing input.

The seed corpus is the real tokenizers of ../shared/data (cut to their first 64 KB for the big
ones, so mutations reach the parsers quickly) and files tokenlab trains itself.

Usage: pip install atheris
       python bench/fuzz_loaders.py FORMAT [-max_total_time=300] [-rss_limit_mb=4096]
FORMAT: json | tiktoken | model | vocab | tekken | gz
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
NAMES = {
    "json": "tokenizer.json",
    "tiktoken": "r.tiktoken",
    "model": "sp.model",
    "vocab": "vocab.txt",
    "tekken": "tekken.json",
    "gz": "tokenizer.json.gz",
}
SEEDS = {
    "json": ["tokenizers/all-MiniLM-L6-v2/tokenizer.json", "tokenizers/claude-v1/tokenizer.json"],
    "tiktoken": ["tokenizers/gpt2/gpt2.tiktoken", "tokenizers/qwen/qwen.tiktoken"],
    "model": ["tokenizers/llama2/tokenizer.model", "tokenizers/mistral/tokenizer.model.v1"],
    "vocab": ["tokenizers/bert-base-uncased/vocab.txt"],
    "tekken": ["tokenizers/mistral/tekken_240718.json.gz"],
    "gz": [],  # own small tokenizers (gemma3's is 30 MB)
}
SEED_BYTES = 1 << 16


def _own_tokenizers() -> list[bytes]:
    """Small whole tokenizer.json files of three models, trained here on the embedded corpora
    (a cut real file is invalid JSON, and the fuzzer would never get past json.loads)."""
    from tokenizers_lab import train

    out = []
    for algo in ("bpe", "wordpiece", "unigram"):
        rep = train.run(
            train.TrainConfig(
                corpora=("embedded:domain",),
                algorithm=algo,
                vocab_sizes=(300 + 120,),
                parallel=(),
                heldout_every=0,
            )
        )
        out.append(rep.artifacts["tokenizer.json"])
    return out


def _small_tekken(data: bytes) -> bytes:
    """A real tekken file cut to its first 400 ranks, still valid."""
    j = json.loads(data)
    j["vocab"] = j["vocab"][:400]
    j["config"]["default_vocab_size"] = 400 + int(j["config"].get("default_num_special_tokens", 1000))
    return json.dumps(j).encode()


def _seed_corpus(fmt: str, folder: Path) -> None:
    if fmt in ("json", "gz"):
        for k, data in enumerate(_own_tokenizers()):
            (folder / f"own{k}").write_bytes(data)
    for k, rel in enumerate(SEEDS[fmt]):
        p = SHARED / rel
        if not p.exists():
            continue
        data = p.read_bytes()
        if p.suffix == ".gz" and fmt != "gz":
            data = gzip.decompress(data)
        if fmt == "tekken":
            (folder / f"seed{k}").write_bytes(_small_tekken(data))
        elif fmt == "model":  # protobuf: keep whole (a cut model is one more seed)
            (folder / f"seed{k}").write_bytes(data)
            (folder / f"seed{k}-cut").write_bytes(data[:SEED_BYTES])
        else:
            (folder / f"seed{k}").write_bytes(data[:SEED_BYTES])


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        from tokenizers_lab.errors import LabError
        from tokenizers_lab.tokenizer import load_tokenizer

    fmt = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "json"
    work = Path(tempfile.mkdtemp(prefix="tokenlab-fuzz-"))
    target = work / NAMES[fmt]
    corpus = work / "corpus"
    corpus.mkdir()
    _seed_corpus(fmt, corpus)

    def one_input(data: bytes) -> None:
        target.write_bytes(gzip.compress(data, mtime=0) if fmt == "gz" else data)
        try:
            view = load_tokenizer(str(target), pattern="cl100k" if fmt == "tiktoken" else None)
            _ = view.vocab_size, view.special_tokens
            ids = view.encode_batch(["hello world, 123 ünïcödé"])[0]
            view.decode(ids)
            for i in range(min(view.vocab_size, 50)):
                view.token_bytes(i)
        except LabError:
            pass

    args = [sys.argv[0], *[a for a in sys.argv[1:] if a.startswith("-")], str(corpus)]
    try:
        atheris.Setup(args, one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
