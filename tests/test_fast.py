"""The fast exact encoder (tokenizer/fast.py): gigatoken where its ids equal the reference
library's on the run's input, the reference library everywhere else, and never a silent difference."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tokenizers_lab.audit.robustness import PROBES
from tokenizers_lab.tokenizer import fast as fastmod
from tokenizers_lab.tokenizer import load_tokenizer
from tokenizers_lab.tokenizer.fast import TRICKY, sample_head, use_fastest

pytest.importorskip("gigatoken")

# every tokenizer file in ../shared/data, and whether gigatoken encodes it (True) or its own library
# does: WordPiece models, Llama 3's and Qwen 3.6's rank files (gigatoken's loader refuses them),
# an NFKC normalizer (not supported), Tekken (a pre-tokenizer gigatoken has no scheme for)
SHARED_TOKENIZERS = {
    "gpt2-tiktoken": ("gpt2/gpt2.tiktoken", True),
    "gpt2-folder": ("gpt2", True),
    "cl100k": ("openai/cl100k_base.tiktoken", True),
    "o200k": ("openai/o200k_base.tiktoken", True),
    "llama2": ("llama2/tokenizer.model", True),
    "gemma3": ("gemma3/tokenizer.json.gz", True),
    "qwen": ("qwen/qwen.tiktoken", True),
    "qwen2": ("qwen2", True),
    "whisper": ("whisper/multilingual.tiktoken", True),
    "deepseek-v3": ("deepseek-v3/tokenizer.json.gz", True),
    "mistral-v3": ("mistral/mistral_instruct_tokenizer_240323.model.v3", True),
    "mistral-v1": ("mistral/tokenizer.model.v1", True),
    "llama3": ("llama3/tokenizer.model", False),
    "qwen3.6": ("qwen3.6/qwen3_6.tiktoken", False),
    "claude-v1": ("claude-v1/tokenizer.json", False),
    "minilm": ("all-MiniLM-L6-v2/tokenizer.json", False),
    "bert": ("bert-base-uncased/vocab.txt", False),
    "tekken": ("mistral/tekken_240718.json.gz", False),
}


@pytest.fixture(scope="module")
def core(shared: Path) -> dict[str, list[str]]:
    """FLORES-200 devtest of the 14 core languages."""
    folder = shared / "flores200" / "core_devtest"
    return {f.name: f.read_text("utf-8").splitlines() for f in sorted(folder.iterdir())}


def _texts(core: dict[str, list[str]]) -> list[str]:
    """Every core line, each language's Petrov join, the probes and the tricky strings."""
    out = [t for lines in core.values() for t in lines]
    out += [" ".join(lines) for lines in core.values()]
    return out + list(PROBES.values()) + list(TRICKY)


# the large vocabularies take seconds each: the suite (CI) runs them, the fast loop skips them
HEAVY = {"gemma3", "qwen2", "deepseek-v3", "gpt2-folder", "o200k", "claude-v1"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(SHARED_TOKENIZERS)]
)
def test_ids_equal_the_reference_library_on_every_shared_tokenizer(shared, core, name):
    rel, fast_expected = SHARED_TOKENIZERS[name]
    view = load_tokenizer(f"{name}={shared / 'tokenizers' / rel}")
    sample = [t for lines in core.values() for t in sample_head(lines, 4000)]
    note = use_fastest(view, sample)
    assert (view.fast is not None) == fast_expected, (view.encoder, note)
    assert view.encoder.split()[0] == ("gigatoken" if fast_expected else view.encoder.split()[0])
    if not fast_expected:
        return
    assert note is None
    texts = _texts(core)
    got, want = view.encode_batch(texts), view.reference_encode_batch(texts)
    diff = [t[:60] for t, a, b in zip(texts, got, want) if list(a) != list(b)]
    assert not diff, f"{len(diff)} texts differ, first {diff[0]!r}"
    flat, counts = view.encode_flat(texts)  # the array path the corpus passes take
    assert flat.tolist() == [i for ids in want for i in ids] and counts.tolist() == [len(x) for x in want]
    assert view.encode("Grüße, 世界! 12345") == view.reference_encode_batch(["Grüße, 世界! 12345"])[0]
    assert view.fast.failures == 0


def test_a_wrong_splitting_scheme_is_caught_and_noted(shared, core, monkeypatch):
    # gigatoken with the GPT-2 scheme over cl100k's ranks: a real mis-encoding the check must catch
    monkeypatch.setitem(fastmod.GIGATOKEN_SCHEMES, "cl100k", "gpt2")
    view = load_tokenizer(f"cl100k={shared / 'tokenizers/openai/cl100k_base.tiktoken'}")
    note = use_fastest(view, core["eng_Latn.devtest"][:50])
    assert view.fast is None and view.encoder.startswith("tiktoken")
    assert note is not None and "gave other ids" in note and note.startswith("cl100k: encoded by tiktoken")


def test_a_batch_gigatoken_fails_on_is_encoded_by_the_reference(shared, core):
    view = load_tokenizer(f"gpt2={shared / 'tokenizers/gpt2/gpt2.tiktoken'}")
    assert use_fastest(view, core["deu_Latn.devtest"][:20]) is None and view.fast is not None

    class Panic(BaseException):  # pyo3's PanicException derives from BaseException
        pass

    class Broken:
        def encode_batch_list(self, texts, parallel=None):
            raise Panic("assertion failed")

    view.fast._tok = Broken()
    texts = core["fra_Latn.devtest"][:30]
    assert view.encode_batch(texts) == view.reference_encode_batch(texts)
    assert view.fast.failures == 1


def test_sentencepiece_control_token_texts_stay_plain_text(shared):
    view = load_tokenizer(f"llama2={shared / 'tokenizers/llama2/tokenizer.model'}")
    assert use_fastest(view, ["Hello <s> world </s>"]) is None and view.fast is not None
    texts = ["a<s>b", "</s>", "x <unk> y", "plain text"]
    assert view.encode_batch(texts) == [view.sp.encode(t) for t in texts]
    assert 1 not in view.encode("<s>")  # sentencepiece never reads a control token from text


def test_a_view_with_its_fast_encoder_pickles(shared, core):
    lines = core["rus_Cyrl.devtest"][:40]
    for rel in ("gpt2", "llama2/tokenizer.model"):
        view = load_tokenizer(str(shared / "tokenizers" / rel))
        use_fastest(view, lines)
        back = pickle.loads(pickle.dumps(view))
        assert back.fast is not None and back.encoder == view.encoder
        assert back.encode_batch(lines) == view.reference_encode_batch(lines)


def test_encoder_reference_never_attaches(shared):
    view = load_tokenizer(str(shared / "tokenizers/gpt2"))
    assert use_fastest(view, ["text"], "reference") is None
    assert view.fast is None and view.encoder.startswith("tokenizers ")


def _audit(tmp_path: Path, shared: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    core = shared / "flores200" / "core_devtest"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tokenizers_lab",
            "audit",
            *extra,
            "--parallel",
            str(core),
            "--languages",
            "eng_Latn,deu_Latn,zho_Hans",
            "--charbench-items",
            "0",
            "--no-plots",
            "--quiet",
            "--format",
            "json",
            "--out",
            str(tmp_path / name),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_tokenizer_gigatoken_panics_on_is_noted_and_the_terminal_stays_clean(tmp_path, shared):
    # gigatoken's Rust loader panics on Qwen 3.6's rank file and prints the panic to fd 2
    proc = _audit(tmp_path, shared, "q", f"qwen36={shared / 'tokenizers/qwen3.6/qwen3_6.tiktoken'}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: nothing, not even a Rust panic message
    report = json.loads(proc.stdout)
    assert report["tokenizers"][0]["encoder"].startswith("tiktoken ")
    assert any(
        n.startswith("qwen36: encoded by tiktoken ") and "(gigatoken does not load it: " in n
        for n in report["notes"]
    )


@pytest.mark.slow
def test_the_report_says_what_encoded_and_the_numbers_do_not_depend_on_it(tmp_path, shared):
    toks = [
        f"gpt2={shared / 'tokenizers/gpt2/gpt2.tiktoken'}",
        f"llama2={shared / 'tokenizers/llama2/tokenizer.model'}",
        f"bert={shared / 'tokenizers/bert-base-uncased/vocab.txt'}",
    ]
    auto, ref = (
        _audit(tmp_path, shared, "auto", *toks),
        _audit(tmp_path, shared, "ref", *toks, "--encoder", "reference"),
    )
    assert auto.returncode == 0 and ref.returncode == 0, auto.stderr + ref.stderr
    a, b = json.loads(auto.stdout), json.loads(ref.stdout)
    assert [t["encoder"].split()[0] for t in a["tokenizers"]] == ["gigatoken", "gigatoken", "tokenizers"]
    assert [t["encoder"].split()[0] for t in b["tokenizers"]] == ["tiktoken", "sentencepiece", "tokenizers"]
    assert a["run"]["libraries"]["gigatoken"] != "not installed"
    assert a["provenance"]["signature"] == b["provenance"]["signature"]  # an execution setting
    for r in (a, b):
        for k in ("run", "timings", "notes"):
            r.pop(k)
        for t in r["tokenizers"]:
            t.pop("encoder")
    assert a == b
    assert "| gpt2 | tiktoken | gigatoken" in (tmp_path / "auto" / "audit.md").read_text("utf-8")


def test_an_unknown_encoder_is_a_usage_error(runner, tmp_path, tok_file):
    from tokenizers_lab.cli import app

    res = runner.invoke(app, ["audit", str(tok_file), "--encoder", "fastest", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--encoder" in res.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_tokenizers_side_by_side_in_processes_give_the_sequential_report(shared, monkeypatch):
    from tokenizers_lab import audit
    from tokenizers_lab.audit import passes
    from tokenizers_lab.engine import cpu_count
    from tokenizers_lab.report import to_jsonable

    if cpu_count() < 2:
        pytest.skip("one CPU: the side-by-side path is the sequential one")
    config = audit.AuditConfig(
        tokenizers=(
            f"gpt2={shared / 'tokenizers/gpt2/gpt2.tiktoken'}",
            f"llama2={shared / 'tokenizers/llama2/tokenizer.model'}",
            f"bert={shared / 'tokenizers/bert-base-uncased/vocab.txt'}",
        ),
        parallel=(str(shared / "flores200" / "core_devtest"),),
        languages=("eng_Latn", "tur_Latn", "jpn_Jpan"),
        charbench_per_bucket=2,
        plots=False,
    )
    forked = to_jsonable(audit.run(config))
    monkeypatch.setattr(passes, "cpu_count", lambda: 1)
    sequential = to_jsonable(audit.run(config))
    for r in (forked, sequential):
        r.pop("run")
        r.pop("timings")
    assert forked == sequential


def test_train_evaluates_held_out_text_with_the_checked_fast_encoder(small_corpus, monkeypatch):
    from tokenizers_lab import train
    from tokenizers_lab.engine import EngineSpec
    from tokenizers_lab.train import job

    def trained(algo: str, encoder: str = "auto") -> train.TrainReport:
        config = train.TrainConfig(
            corpora=(str(small_corpus),),
            algorithm=algo,
            vocab_sizes=(600,),
            heldout_every=5,
            execution=EngineSpec(encoder=encoder),
        )
        return train.run(config)

    # a small evaluation stays with the library: the check would cost more than it saves
    assert trained("bpe").results[0].extra["encoder"].startswith("tokenizers ")
    monkeypatch.setattr(job, "FAST_MIN_CHARS", 0)
    fast, ref = trained("bpe"), trained("bpe", "reference")
    assert fast.results[0].extra["encoder"].startswith("gigatoken ")
    assert ref.results[0].extra["encoder"].startswith("tokenizers ")
    for key in ("heldout_tokens", "heldout_bytes_per_token", "roundtrip_rate", "languages"):
        assert getattr(fast.results[0], key) == getattr(ref.results[0], key)
    assert trained("wordpiece").results[0].extra["encoder"].startswith("tokenizers ")


ODD_LINE = (
    "cryptography\U000a9786\uff61\U00032a67\U000e04b9 x\U0003d610.\u200c-- end"  # unassigned code points
)


@pytest.fixture(scope="module")
def mixed_chunks(shared: Path) -> list[str]:
    """~1 MB texts of English, Chinese, Python and C, one holding unassigned code points."""
    texts = []
    for rel in ("text/lang/eng.txt", "text/lang/zho.txt", "text/code/python_django.txt", "text/code/c.txt"):
        texts.append((shared / rel).read_text("utf-8")[:300_000])
    texts.append("plain line\n" + ODD_LINE + "\n  indented\n")
    return texts


def _pipeline_counts(view, texts):
    from collections import Counter

    from tokenizers_lab.invert import pretokens

    out = Counter()
    for t in texts:
        out.update(pretokens._hf_words(view, t))
    return out


def test_invert_counts_gpt2_pre_tokens_with_gigatoken_exactly(shared, mixed_chunks, monkeypatch):
    from tokenizers_lab.invert import pretokens

    view = load_tokenizer(str(shared / "tokenizers/gpt2"))  # vocab.json + merges.txt: ByteLevel
    assert pretokens.gpt2_split(view)
    assert pretokens.count_gigatoken(view, mixed_chunks) == _pipeline_counts(view, mixed_chunks)
    # the guard matters: without it gigatoken's Unicode tables split the odd line otherwise
    monkeypatch.setattr(pretokens, "_has_unassigned", lambda text: False)
    assert pretokens.count_gigatoken(view, mixed_chunks[-1:]) != _pipeline_counts(view, mixed_chunks[-1:])
    tt = load_tokenizer(str(shared / "tokenizers/gpt2/gpt2.tiktoken"))
    assert pretokens.gpt2_split(tt) and not pretokens.gpt2_split(
        load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken"))
    )


def test_invert_final_tokens_by_gigatoken_equal_tokenizers(shared, mixed_chunks, monkeypatch):
    from tokenizers_lab.invert import chains, pretokens
    from tokenizers_lab.invert.replay import plan_for

    view = load_tokenizer(str(shared / "tokenizers/gpt2"))
    merges = view.merges()[:3000]
    plan = plan_for(merges, "byte")
    words, *_ = chains._word_counts([pretokens.count(view, mixed_chunks)])
    assert chains._fast_encoder(chains._encoder(plan, merges), words[:500]) is not None
    flat, offsets = chains._tokens(words, plan, merges)
    monkeypatch.setattr(chains, "_fast_encoder", lambda tok, words: None)
    ref_flat, ref_offsets = chains._tokens(words, plan, merges)
    assert flat.tolist() == ref_flat.tolist() and offsets.tolist() == ref_offsets.tolist()


def test_gigatoken_arrays_are_read_from_their_buffers_or_through_awkward() -> None:
    """encode_flat reads gigatoken's list-offset result straight from its two buffers (a sliced
    array's offsets do not start at 0); any other layout goes through awkward's own calls, with the
    same (flat ids, counts)."""
    ak = pytest.importorskip("awkward")
    import numpy as np

    arr = ak.Array([[5, 6], [], [7, 8, 9], [1]])[1:]  # offsets [2, 2, 5, 6] over the whole content
    flat, counts = fastmod._flat_and_counts(arr)
    assert flat.tolist() == [7, 8, 9, 1] and counts.tolist() == [0, 3, 1] and flat.dtype == np.int64
    layout = ak.contents.ListArray(
        ak.index.Index64(np.array([3, 0, 2])),
        ak.index.Index64(np.array([5, 2, 2])),
        ak.contents.NumpyArray(np.array([10, 11, 12, 13, 14], dtype=np.uint32)),
    )
    flat, counts = fastmod._flat_and_counts(ak.Array(layout))
    assert flat.tolist() == [13, 14, 10, 11] and counts.tolist() == [2, 2, 0]
