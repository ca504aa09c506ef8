"""One tokenizer view over every real format in ../shared/data/tokenizers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tokenizers_lab.errors import InputError, LabError, UsageError
from tokenizers_lab.tokenizer import load_tokenizer, merges_from_ranks, parse_spec

# (path under tokenizers/, pattern, backend, model type, lossless round trip)
FILES = [
    ("gpt2/gpt2.tiktoken", None, "tiktoken", "bpe", True),
    ("gpt2", None, "hf", "bpe", True),
    ("whisper/multilingual.tiktoken", None, "tiktoken", "bpe", True),
    ("openai/cl100k_base.tiktoken", None, "tiktoken", "bpe", True),
    ("openai/o200k_base.tiktoken", None, "tiktoken", "bpe", True),
    ("llama3/tokenizer.model", None, "tiktoken", "bpe", True),
    ("qwen/qwen.tiktoken", None, "tiktoken", "bpe", True),
    ("qwen2", None, "hf", "bpe", True),
    ("qwen3.6/qwen3_6.tiktoken", None, "tiktoken", "bpe", True),
    ("mistral/tekken_240718.json.gz", None, "tiktoken", "bpe", True),
    ("llama2/tokenizer.model", None, "sentencepiece", "bpe", False),
    ("mistral/tokenizer.model.v1", None, "sentencepiece", "bpe", False),
    ("mistral/mistral_instruct_tokenizer_240323.model.v3", None, "sentencepiece", "bpe", False),
    ("gemma3/tokenizer.json.gz", None, "hf", "bpe", True),
    ("deepseek-v3/tokenizer.json.gz", None, "hf", "bpe", True),
    ("claude-v1/tokenizer.json", None, "hf", "bpe", False),  # NFKC normalizer
    ("all-MiniLM-L6-v2/tokenizer.json", None, "hf", "wordpiece", False),
    ("bert-base-uncased/vocab.txt", None, "hf", "wordpiece", False),
]
SAMPLE = "Hello world! Merhaba dünya, nasılsınız? 你好，世界 🦙 x=42;\n\tend"

# llama.cpp vocab name -> tokenizer files (and pattern) that must reproduce its ids exactly
VECTORS = [
    ("gpt-2", "gpt2/gpt2.tiktoken", None),
    ("gpt-2", "gpt2", None),
    ("llama-bpe", "llama3/tokenizer.model", None),
    ("llama-spm", "llama2/tokenizer.model", None),
    ("qwen2", "qwen/qwen.tiktoken", None),
    ("qwen2", "qwen2", None),
    ("qwen35", "qwen/qwen.tiktoken", "qwen35"),
    ("bert-bge", "bert-base-uncased/vocab.txt", None),
    ("bert-bge", "all-MiniLM-L6-v2/tokenizer.json", None),
]


@pytest.mark.parametrize("rel,pattern,backend,mtype,lossless", FILES, ids=[f[0] for f in FILES])
def test_every_shared_tokenizer_loads(shared, rel, pattern, backend, mtype, lossless):
    view = load_tokenizer(str(shared / "tokenizers" / rel), pattern=pattern)
    assert view.backend == backend and view.model_type == mtype
    assert view.vocab_size > 20000 and len(view.fingerprint) == 64
    ids = view.encode(SAMPLE)
    assert ids and all(0 <= i < view.vocab_size for i in ids)
    assert view.encode_batch([SAMPLE, "abc"])[0] == ids
    if lossless:
        assert view.decode(ids) == SAMPLE
        # token bytes concatenate to the text's bytes, whatever the Ġ / ▁ / <0xNN> convention
        assert b"".join(view.token_bytes(i) for i in ids) == SAMPLE.encode("utf-8")
    if backend == "sentencepiece":  # ▁ marks spaces; the dummy prefix adds exactly one leading space
        assert b"".join(view.token_bytes(i) for i in ids) == b" " + SAMPLE.encode("utf-8")
        assert view.decode(ids) == SAMPLE
    if mtype == "wordpiece":
        assert view.is_continuation(view.encode("unbelievably")[-1])
    assert view.special_tokens, "every real tokenizer names its specials"
    for tok, i in view.special_tokens.items():
        assert view.token_bytes(i) is None


@pytest.mark.parametrize("name,rel,pattern", VECTORS, ids=[f"{v[0]}:{v[1]}" for v in VECTORS])
def test_llama_cpp_vectors_match_id_for_id(shared, name, rel, pattern):
    d = shared / "tokenizers" / "test_vectors_llama.cpp"
    inputs = (d / f"ggml-vocab-{name}.gguf.inp").read_text("utf-8").split("\n__ggml_vocab_test__\n")
    outputs = (d / f"ggml-vocab-{name}.gguf.out").read_text("utf-8").split("\n")
    assert len(inputs) == len(outputs) >= 40
    view = load_tokenizer(str(shared / "tokenizers" / rel), pattern=pattern)
    bad = [(t, o) for t, o in zip(inputs, outputs) if view.encode(t) != [int(x) for x in o.split()]]
    assert not bad, f"{len(bad)} of {len(inputs)} differ, first: {bad[0]!r}"


def test_merges_from_ranks_equal_hf_merges(shared):
    hf = load_tokenizer(str(shared / "tokenizers/gpt2")).merges()
    tk = load_tokenizer(str(shared / "tokenizers/gpt2/gpt2.tiktoken")).merges()
    assert len(hf) == 50000 and hf == tk


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_merges_for_other_bpe_formats(shared):
    spm = load_tokenizer(str(shared / "tokenizers/llama2/tokenizer.model")).merges()
    assert spm[0] == (b" ", b"t") and len(spm) > 30000
    cl = load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken")).merges()
    assert cl[0] == (b" ", b" ") and len(cl) > 99000
    gem = load_tokenizer(str(shared / "tokenizers/gemma3/tokenizer.json.gz")).merges()
    assert len(gem) > 200000 and all(isinstance(a, bytes) for a, _ in gem[:100])
    with pytest.raises(LabError, match="no merge list"):
        load_tokenizer(str(shared / "tokenizers/bert-base-uncased/vocab.txt")).merges()


def test_merges_from_ranks_on_a_micro_vocab():
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({b"ab": 256, b"abc": 257, b"bc": 258, b"xabc": 259})
    # "bc" has a higher rank than "abc", so abc = ab + c
    assert merges_from_ranks(ranks) == [(b"a", b"b"), (b"ab", b"c"), (b"b", b"c"), (b"x", b"abc")]


def test_labels_and_default_names(shared):
    spec = parse_spec(f"cl100k={shared / 'tokenizers/openai/cl100k_base.tiktoken'}")
    assert spec.label == "cl100k"
    assert parse_spec(str(shared / "tokenizers/llama3/tokenizer.model")).label == "llama3"
    view = load_tokenizer(f"mine={shared / 'tokenizers/gpt2'}")
    assert view.label == "mine"


def test_known_counts(shared):
    cl = load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken"))
    assert cl.encode("Hello world") == [9906, 1917]
    o2 = load_tokenizer(str(shared / "tokenizers/openai/o200k_base.tiktoken"))
    assert o2.encode("Hello world") == [13225, 2375]
    tk = load_tokenizer(str(shared / "tokenizers/mistral/tekken_240718.json.gz"))
    assert tk.encode("Hello world") == [22177, 4304]


def test_bad_tokenizer_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_tokenizer(str(tmp_path / "nope.json"))
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(InputError, match="empty"):
        load_tokenizer(str(tmp_path / "empty.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_tokenizer(str(tmp_path / "bad.json"))
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="neither"):
        load_tokenizer(str(tmp_path / "other.json"))
    (tmp_path / "broken.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": 3}}))
    with pytest.raises(InputError, match="cannot load tokenizer.json"):
        load_tokenizer(str(tmp_path / "broken.json"))
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(b'{"model": 1}')[:-9])
    with pytest.raises(InputError, match="gzip"):
        load_tokenizer(str(tmp_path / "t.json.gz"))
    (tmp_path / "x.model").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(InputError, match="SentencePiece"):
        load_tokenizer(str(tmp_path / "x.model"))
    (tmp_path / "r.tiktoken").write_text("not base64 at all\n")
    with pytest.raises(InputError, match="tiktoken rank file"):
        load_tokenizer(str(tmp_path / "r.tiktoken"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="no tokenizer found"):
        load_tokenizer(str(tmp_path / "empty_dir"))


def test_rank_file_needs_a_pattern_when_neither_content_nor_name_says(shared, tmp_path):
    data = (shared / "tokenizers/gpt2/gpt2.tiktoken").read_bytes()
    (tmp_path / "mystery.tiktoken").write_bytes(data)  # the published file: known by its content
    assert load_tokenizer(str(tmp_path / "mystery.tiktoken")).preset == "r50k"
    (tmp_path / "mystery.tiktoken").write_bytes(data + b"\n")  # another file, and a name that says nothing
    with pytest.raises(UsageError, match="--pattern"):
        load_tokenizer(str(tmp_path / "mystery.tiktoken"))
    view = load_tokenizer(str(tmp_path / "mystery.tiktoken"), pattern="r50k")
    assert view.encode("Hello world") == [15496, 995]


def test_hub_spec_fails_cleanly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        load_tokenizer("hf:nobody/no-such-tokenizer")


def test_gz_of_bad_path_type(tmp_path: Path):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="unrecognised"):
        load_tokenizer(str(tmp_path / "x.bin"))


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_aligned_spans_agree_with_library_offsets(shared):
    """encode_aligned's fast path (token bytes laid end to end) gives the same character spans as
    the libraries' own offsets, also for lines a normalizer changes (NFKC in claude-v1)."""
    import numpy as np

    texts = [
        "Héllo  wörld ﬁne 日本語です",
        "",
        "abc def",
        "  x",
        "Ａ１ café\u0301 👨\u200d👩\u200d👧",
        "tab\there",
    ]
    tok = shared / "tokenizers"
    for spec in (
        "gpt2",
        "claude-v1/tokenizer.json",
        "gemma3/tokenizer.json.gz",
        "all-MiniLM-L6-v2/tokenizer.json",
    ):
        v = load_tokenizer(str(tok / spec))
        fast, ref = v.encode_aligned(texts), v._aligned_by_offsets(texts)
        assert fast.ids == ref.ids and fast.line_ok.all(), spec
        assert np.array_equal(fast.starts, ref.starts) and np.array_equal(fast.ends, ref.ends), spec
    for spec in ("llama2/tokenizer.model", "mistral/tokenizer.model.v1"):
        v = load_tokenizer(str(tok / spec))
        fast = v.encode_aligned(texts)
        base = np.cumsum([0] + [len(t) + 1 for t in texts])
        for k, (ids, spans) in enumerate(v._proto_spans(texts)):
            sel = fast.line_of_token == k
            assert fast.ids[k] == ids and np.array_equal(fast.starts[sel] - base[k], spans[0]), (spec, k)
    cl = load_tokenizer(str(tok / "openai/cl100k_base.tiktoken"))
    al = cl.encode_aligned(texts)
    joined = "\n".join(texts)
    assert np.all(np.diff(al.starts) >= 0)  # in text order
    covered = np.zeros(len(joined), bool)
    for a, b in zip(al.starts, al.ends):
        covered[a:b] = True
    assert covered.sum() == len(joined) - (len(texts) - 1)  # every character but the separators
