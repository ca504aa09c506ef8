"""Property-based tests (hypothesis): round trips through every tokenizer format and the corpus
reader, exact partial sums for the engine, canonical reports, and a fuzzing pass over the
tokenizer loaders (random bytes and mutations of real files of each format must load or raise a
LabError, never anything else). Examples are derandomized: a failure reproduces on every run."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tokenizers_lab import corpus as corpus_mod
from tokenizers_lab.audit.compression import Tally
from tokenizers_lab.errors import LabError
from tokenizers_lab.report import _round, dumps
from tokenizers_lab.tokenizer import load_tokenizer

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# text without surrogates (not encodable) and without NUL (SentencePiece treats it as an end)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tokenizer of every format the loader reads, trained on the embedded corpora."""
    from tokenizers_lab import train

    root = tmp_path_factory.mktemp("formats")

    def trained(algo: str, **kw) -> dict[str, bytes]:
        return train.run(
            train.TrainConfig(
                corpora=("embedded:domain", "embedded:code"),
                algorithm=algo,
                vocab_sizes=(700,),
                parallel=(),
                heldout_every=0,
                **kw,
            )
        ).artifacts

    bpe = trained("bpe", export_tiktoken=True)
    out = {
        "tokenizer.json": root / "tokenizer.json",
        "r.tiktoken": root / "r.tiktoken",
        "sp.model": root / "sp.model",
        "tokenizer.json.gz": root / "tokenizer.json.gz",
        "vocab.txt": root / "vocab.txt",
    }
    out["tokenizer.json"].write_bytes(bpe["tokenizer.json"])
    out["r.tiktoken"].write_bytes(bpe["tokenizer.tiktoken"])
    out["tokenizer.json.gz"].write_bytes(gzip.compress(bpe["tokenizer.json"], mtime=0))
    out["sp.model"].write_bytes(trained("spm-bpe")["tokenizer.model"])
    vocab = json.loads(trained("wordpiece")["tokenizer.json"])["model"]["vocab"]
    out["vocab.txt"].write_text("\n".join(sorted(vocab, key=vocab.get)) + "\n", encoding="utf-8")
    return out


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tokenizer.json", "r.tiktoken", "sp.model", "tokenizer.json.gz"])
def test_decode_encode_is_the_identity(files: dict[str, Path], name: str) -> None:
    """Byte-level BPE (tokenizer.json, its tiktoken export) and byte-fallback SentencePiece lose
    nothing: decode(encode(x)) == x for any text."""
    view = load_tokenizer(str(files[name]), pattern="cl100k" if name.endswith(".tiktoken") else None)

    @SETTINGS
    @given(TEXT)
    def check(text: str) -> None:
        ids = view.encode_batch([text])[0]
        assert view.decode(ids) == text

    check()


def test_tiktoken_export_encodes_like_its_tokenizer_json(files: dict[str, Path]) -> None:
    hf, tk = (
        load_tokenizer(str(files["tokenizer.json"])),
        load_tokenizer(str(files["r.tiktoken"]), pattern="cl100k"),
    )

    @SETTINGS
    @given(TEXT)
    def check(text: str) -> None:
        assert tk.encode_batch([text])[0] == hf.encode_batch([text])[0]

    check()


@SETTINGS
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40),
        max_size=30,
    ),
    chunk=st.integers(1, 64),
    gz=st.booleans(),
    final_newline=st.booleans(),
)
def test_corpus_reader_gives_back_the_lines(
    tmp_path_factory, lines: list[str], chunk: int, gz: bool, final_newline: bool
) -> None:
    """Any lines, read in chunks of any size (multi-byte characters cut across chunks), come back
    exactly; the fingerprint is the sha256 of the (decompressed) bytes."""
    assume(not (lines and lines[-1] == "" and not final_newline))  # "a\n" + "" is the same file as "a\n"
    data = ("\n".join(lines) + ("\n" if final_newline and lines else "")).encode("utf-8")
    path = tmp_path_factory.mktemp("c") / ("c.txt.gz" if gz else "c.txt")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    old = corpus_mod.CHUNK_BYTES
    corpus_mod.CHUNK_BYTES = chunk
    try:
        c = corpus_mod.Corpus(str(path))
        got = list(c)
    finally:
        corpus_mod.CHUNK_BYTES = old
    assert got == lines
    assert c.sha256 == hashlib.sha256(data).hexdigest() and c.stats.bytes == len(data)


# -- the engine's exact sums --------------------------------------------------------------------


@SETTINGS
@given(ids=st.lists(st.integers(0, 300), max_size=400), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_partial_tallies_add_up_to_the_whole(ids: list[int], cuts: list[int]) -> None:
    whole = Tally(50)
    whole.add_counts(np.array(ids, dtype=np.int64), len(ids), 2 * len(ids), 3)
    merged = Tally(50)
    bounds = [0, *sorted(min(c, len(ids)) for c in cuts), len(ids)]
    for a, b in itertools.pairwise(bounds):
        part = Tally(50)
        part.add_counts(np.array(ids[a:b], dtype=np.int64), b - a, 2 * (b - a), 0)
        nz = np.flatnonzero(part.counts)
        merged.add_sparse(nz, part.counts[nz], part.chars, part.bytes, part.words)
    merged.words += 3
    n = max(len(whole.counts), len(merged.counts))
    pad = lambda c: np.pad(c, (0, n - len(c)))
    assert np.array_equal(pad(whole.counts), pad(merged.counts))
    assert (whole.chars, whole.bytes, whole.words) == (merged.chars, merged.bytes, merged.words)


# -- canonical reports ---------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(JSONISH)
def test_report_json_is_canonical(obj) -> None:
    """Writing, reading and writing again gives the same text; rounding happens once."""
    text = dumps(obj)
    assert dumps(json.loads(text)) == text


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_rounding_is_idempotent(x: float) -> None:
    assert _round(_round(x)) == _round(x)


# -- fuzzing the loaders -----------------------------------------------------------------------


def _use(view) -> None:
    """What every caller does first with a loaded tokenizer."""
    _ = view.vocab_size, view.special_tokens
    ids = view.encode_batch(["hello world, 123 ünïcödé"])[0]
    view.decode(ids)
    for i in range(min(view.vocab_size, 50)):
        view.token_bytes(i)


def _load_or_lab_error(path: Path) -> None:
    try:
        view = load_tokenizer(str(path))
    except LabError:
        return
    try:
        _use(view)
    except LabError:
        pass


MUTATION = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(
        st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8)
    ),
    st.tuples(st.just("splice"), st.floats(0, 1), st.binary(max_size=64)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 200)),
)


def _mutate(data: bytes, m) -> bytes:
    kind = m[0]
    if kind == "truncate":
        return data[: int(m[1] * len(data))]
    if kind == "flip":
        b = bytearray(data)
        for pos, val in m[1]:
            if b:
                b[min(int(pos * len(b)), len(b) - 1)] = val
        return bytes(b)
    at = int(m[1] * len(data))
    if kind == "splice":
        return data[:at] + m[2] + data[at:]
    return data[:at] + data[at + m[2] :]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["tokenizer.json", "r.tiktoken", "sp.model", "tokenizer.json.gz", "vocab.txt"]
)
def test_fuzz_mutated_tokenizer_files(files: dict[str, Path], name: str, tmp_path: Path) -> None:
    """Truncations, byte flips, splices and deletions of a real file of each format: the loader
    returns a usable view or raises a LabError (one error line at the CLI), nothing else."""
    good = files[name].read_bytes()
    if name.endswith(".gz"):
        good = gzip.decompress(good)
    target = tmp_path / name

    @settings(derandomize=True, deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
    @given(MUTATION)
    def check(m) -> None:
        data = _mutate(good, m)
        target.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        _load_or_lab_error(target)

    check()


@pytest.mark.parametrize(
    "name", ["tokenizer.json", "x.tiktoken", "x.model", "vocab.txt", "tek.json", "t.json.gz", "noext"]
)
def test_fuzz_random_bytes(name: str, tmp_path: Path) -> None:
    target = tmp_path / name

    @SETTINGS
    @given(st.binary(max_size=2000) | st.text(max_size=400).map(str.encode))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        _load_or_lab_error(target)

    check()


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["config", "vocab", "special_tokens", "model", "pattern"]), JSONISH, max_size=4
    )
)
def test_fuzz_json_shapes(tmp_path_factory, obj: dict) -> None:
    """JSON that looks like a tokenizer.json or a tekken file but is not one."""
    target = tmp_path_factory.mktemp("j") / "tokenizer.json"
    target.write_text(json.dumps(obj))
    _load_or_lab_error(target)


@SETTINGS
@given(
    st.sets(st.binary(min_size=1, max_size=6), min_size=1, max_size=40), st.binary(min_size=1, max_size=12)
)
def test_splitter_finds_exactly_the_brute_force_splits(vocab: set[bytes], token: bytes) -> None:
    """Splitter tries only split points whose halves have lengths some entry has (issue 16 row 15:
    slicing at every position was quadratic in a token's length); it must find every split the
    exhaustive scan finds, and no other."""
    from tokenizers_lab.tokenizer import Splitter

    for t in (token, *vocab):
        brute = [k for k in range(1, len(t)) if t[:k] in vocab and t[k:] in vocab]
        assert Splitter(vocab).points(t) == brute


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6), max_size=12
    ),
    st.sampled_from(["eng_Latn", "tur_Latn", "ell_Grek"]),
)
def test_lowercasing_every_type_at_once_equals_one_by_one(texts: list[str], lang: str) -> None:
    """%Lang lowercases a vocabulary's types in one pass over their joined text: the same as each
    type alone, final sigma beside case-ignorable marks, combining marks and dotted I included
    (a vocabulary holding NUL is joined by a noncharacter instead)."""
    from tokenizers_lab.audit.integrity import lower_all
    from tokenizers_lab.audit.validators import lower

    texts = texts + ["ΑΣ'", "'Σ", "Σ\u0301", "\u0301ΣΑ", "İIı", "ΌΣΟΣ"]
    assert lower_all(texts, lang) == [lower(t, lang) for t in texts]
    with_nul = [*texts, "\x00", "a\x00Σ"]  # a byte-level vocabulary's types: another separator
    assert lower_all(with_nul, lang) == [lower(t, lang) for t in with_nul]


# every whitespace code point str.split() knows, and neighbours, among ordinary text
SPACEY = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(
            [
                " ",
                "\t",
                "\n",
                "\x1c",
                "\x1f",
                "\x85",
                "\xa0",
                "\u1680",
                "\u2000",
                "\u200a",
                "\u200b",
                "\u2028",
                "\u202f",
                "\u205f",
                "\u3000",
                "\u3001",
                "\ufeff",
            ]
        ),
    ),
    max_size=200,
)


@SETTINGS
@given(SPACEY)
def test_word_spans_are_the_words_str_split_sees(text: str) -> None:
    from tokenizers_lab.audit.compression import word_spans

    spans = word_spans(text)
    assert spans.dtype == np.int64 and spans.shape == (len(text.split()), 2)
    assert [text[a:b] for a, b in spans.tolist()] == text.split()
