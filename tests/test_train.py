"""`train`: every algorithm's artifact loads in stock libraries, round-trips, is deterministic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import replace

import pytest
from tokenizers import Tokenizer

from tokenizers_lab import train
from tokenizers_lab.corpus import Corpus
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.tokenizer import bytelevel_to_bytes

LOSSLESS = {"bpe", "bpe-metaspace", "unigram", "spm-bpe", "spm-unigram", "spm-char", "superbpe"}
VOCAB = {"spm-char": 2500}  # a character model is capped by the alphabet


def _lines():
    return [ln for spec in train.EMBEDDED_DEFAULT for ln in Corpus(spec) if ln.strip()]


@pytest.fixture(scope="module")
def trained():
    """Each algorithm trained twice on the embedded corpora (same seed)."""
    out = {}
    for algo in train.ALGORITHMS:
        cfg = train.TrainConfig(algorithm=algo, vocab_sizes=(VOCAB.get(algo, 3000),))
        out[algo] = (train.run(cfg), train.run(cfg))
    return out


@pytest.mark.parametrize("algo", list(train.ALGORITHMS))
def test_artifact_loads_in_stock_library_and_round_trips(trained, algo):
    rep, _ = trained[algo]
    tok = Tokenizer.from_str(rep.artifacts["tokenizer.json"].decode("utf-8"))
    r = rep.results[0]
    assert r.vocab_size == tok.get_vocab_size(with_added_tokens=True)
    assert r.vocab_size <= r.vocab_size_requested
    if algo != "spm-char":
        assert r.vocab_size == r.vocab_size_requested
    lines = _lines()
    encs = tok.encode_batch(lines, add_special_tokens=False)
    if algo in LOSSLESS:
        bad = [ln for ln, e in zip(lines, encs) if tok.decode(e.ids) != ln]
        assert not bad, f"{len(bad)} lines do not round-trip, e.g. {bad[0]!r}"
        assert r.roundtrip_rate == 1.0
    elif algo == "char-bpe":  # KL3M recipe normalises with NFKC: lossless up to NFKC
        bad = [ln for ln, e in zip(lines, encs) if tok.decode(e.ids) != unicodedata.normalize("NFKC", ln)]
        assert not bad, bad[:1]
    else:  # WordPiece: lossy on whitespace; in-vocabulary words come back
        e = tok.encode("the river and the road", add_special_tokens=False)
        assert tok.decode(e.ids) == "the river and the road"
        assert "[UNK]" not in e.tokens
    assert r.heldout_bytes_per_token > 1.0
    assert {lr.language for lr in r.languages} >= {"eng_Latn", "zho_Hans", "amh_Ethi"}
    assert next(lr.premium for lr in r.languages if lr.language == "eng_Latn") == 1.0


@pytest.mark.parametrize("algo", list(train.ALGORITHMS))
def test_same_seed_gives_byte_identical_artifacts(trained, algo):
    a, b = trained[algo]
    assert a.artifacts.keys() == b.artifacts.keys()
    for name in a.artifacts:
        assert a.artifacts[name] == b.artifacts[name], f"{algo}: {name} differs between runs"


def test_spm_models_are_written_and_agree_with_the_conversion(trained):
    import sentencepiece as spm

    for algo in ("spm-bpe", "spm-unigram", "spm-char"):
        rep, _ = trained[algo]
        sp = spm.SentencePieceProcessor(model_proto=rep.artifacts["tokenizer.model"])
        tok = Tokenizer.from_str(rep.artifacts["tokenizer.json"].decode())
        lines = _lines()
        same = sum(sp.encode(x) == tok.encode(x, add_special_tokens=False).ids for x in lines)
        assert same / len(lines) >= 0.99, algo
        assert rep.results[0].extra["hf_agreement"] >= 0.99


@pytest.mark.parametrize("algo", list(train.ALGORITHMS))
def test_every_sweep_size_equals_a_direct_training(algo):
    """Whatever a sweep does for an algorithm (a prefix of the largest, or each size trained), each
    size is the tokenizer a direct training at that size gives (bpe-metaspace kept the largest
    size's alphabet in its prefixes: issue 16 row 5)."""
    if algo == "spm-char":
        pytest.skip("spm-char's vocabulary is its character set: one size per corpus")
    small, large = (2000, 3000) if algo in ("unigram", "spm-bpe", "spm-unigram") else (500, 900)
    sweep = train.run(train.TrainConfig(algorithm=algo, vocab_sizes=(small, large)))
    direct = train.run(train.TrainConfig(algorithm=algo, vocab_sizes=(small,)))
    assert sweep.artifacts[f"v{small}/tokenizer.json"] == direct.artifacts["tokenizer.json"], algo


def test_bpe_sweep_truncation_equals_direct_training():
    sweep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(800, 2000)))
    direct = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(800,)))
    assert (
        json.loads(sweep.artifacts["v800/tokenizer.json"])["model"]
        == json.loads(direct.artifacts["tokenizer.json"])["model"]
    )
    sizes = [r.vocab_size for r in sweep.results]
    assert sizes == [800, 2000]
    # a larger vocabulary compresses better on every measure we report
    assert sweep.results[1].heldout_bytes_per_token > sweep.results[0].heldout_bytes_per_token


def test_superbpe_keeps_stage1_and_learns_superwords(trained):
    rep, _ = trained["superbpe"]
    r = rep.results[0]
    assert r.extra["stage1_merges_preserved"] is True
    assert r.extra["stage2_merges"] > 0 and r.whitespace_spanning_tokens > 0
    tj = json.loads(rep.artifacts["tokenizer.json"])
    # the first t merges are exactly a stage-1 BPE trained alone at vocab t
    stage1 = train.run(
        train.TrainConfig(
            algorithm="bpe", vocab_sizes=(r.extra["transition"],), pretokenizer="superbpe-stage1"
        )
    )
    s1 = json.loads(stage1.artifacts["tokenizer.json"])["model"]["merges"]
    assert tj["model"]["merges"][: len(s1)] == s1
    spanning = [s for s in tj["model"]["vocab"] if b" " in (bytelevel_to_bytes(s) or b"").strip()]
    assert spanning and not any(b": " in bytelevel_to_bytes(s) for s in spanning)  # colon rule
    # superword tokens are reachable: their own text encodes back to them
    tok = Tokenizer.from_str(rep.artifacts["tokenizer.json"].decode())
    vocab = tj["model"]["vocab"]
    reached = [
        s
        for s in spanning
        if tok.encode(bytelevel_to_bytes(s).decode("utf-8", "replace"), add_special_tokens=False).ids
        == [vocab[s]]
    ]
    assert len(reached) >= len(spanning) // 2, (len(reached), len(spanning))


def test_tiktoken_export_matches_hf_ids():
    import base64

    import tiktoken

    rep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(2000,), export_tiktoken=True))
    assert rep.results[0].extra["tiktoken_agreement"] == 1.0
    ranks = {
        base64.b64decode(a): int(b)
        for a, b in (ln.split() for ln in rep.artifacts["tokenizer.tiktoken"].splitlines())
    }
    enc = tiktoken.Encoding(
        "t", pat_str=rep.results[0].extra["tiktoken_pattern"], mergeable_ranks=ranks, special_tokens={}
    )
    tok = Tokenizer.from_str(rep.artifacts["tokenizer.json"].decode())
    for line in _lines()[:300]:
        assert enc.encode_ordinary(line) == tok.encode(line, add_special_tokens=False).ids


def test_options_reach_the_tokenizer(small_corpus):
    rep = train.run(
        train.TrainConfig(
            corpora=(str(small_corpus),),
            algorithm="bpe",
            vocab_sizes=(600,),
            split_digits=True,
            special_tokens=("<s>", "</s>", "<pad>"),
            max_token_length=4,
            normalization="nfkc",
        )
    )
    tj = json.loads(rep.artifacts["tokenizer.json"])
    assert [t["content"] for t in tj["added_tokens"]] == ["<s>", "</s>", "<pad>"]
    assert tj["normalizer"]["type"] == "NFKC"
    assert all(len(s) <= 4 for s in tj["model"]["vocab"] if s not in ("<s>", "</s>", "<pad>"))
    tok = Tokenizer.from_str(rep.artifacts["tokenizer.json"].decode())
    assert tok.encode("12345", add_special_tokens=False).tokens == ["1", "2", "3", "4", "5"]
    assert rep.results[0].languages == ()  # no parallel corpus given


def test_char_bpe_tokens_are_at_most_three_characters(trained):
    rep, _ = trained["char-bpe"]
    tj = json.loads(rep.artifacts["tokenizer.json"])
    lengths = [
        len((bytelevel_to_bytes(s) or b"").decode("utf-8", "replace"))
        for s in tj["model"]["vocab"]
        if not s.startswith("<|")
    ]
    assert max(lengths) <= 3


def test_bad_inputs(tmp_path, small_corpus):
    with pytest.raises(UsageError, match="did you mean 'bpe'"):
        train.validate(train.TrainConfig(algorithm="bpee"))
    with pytest.raises(UsageError, match="below the alphabet"):
        train.validate(train.TrainConfig(algorithm="bpe", vocab_sizes=(100,)))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.raises(InputError, match="empty"):
        train.run(train.TrainConfig(corpora=(str(empty),), vocab_sizes=(300,)))
    with pytest.raises(UsageError, match="below the alphabet"):
        train.run(train.TrainConfig(algorithm="spm-unigram", vocab_sizes=(300,)))
    with pytest.raises(UsageError, match="below the alphabet"):
        train.run(train.TrainConfig(algorithm="unigram", vocab_sizes=(300,)))
    with pytest.raises(UsageError, match="byte-level"):
        train.validate(train.TrainConfig(algorithm="wordpiece", export_tiktoken=True))
    with pytest.raises(UsageError, match="pivot"):
        train.run(
            train.TrainConfig(
                corpora=(str(small_corpus),),
                vocab_sizes=(300,),
                parallel=("embedded:parallel",),
                pivot="xxx_Latn",
            )
        )


def test_report_provenance_and_markdown(trained):
    rep, _ = trained["bpe"]
    p = rep.provenance
    assert p.signature.startswith("train|algo:bpe|vocab:3000|pre:cl100k|corpus:embedded:parallel@")
    assert re.search(r"\|cfg:[0-9a-f]{7}\|in:[0-9a-f]{7}\|seed:13\|", p.signature)
    assert {i.name for i in p.inputs} >= {"embedded:parallel", "embedded:code", "embedded:domain"}
    assert p.config["algorithm"] == "bpe" and p.seed == 13
    md = rep.to_markdown()
    assert p.signature in md and "| eng_Latn |" in md


def test_superbpe_boundary_pruning_is_exact(monkeypatch):
    cfg = train.TrainConfig(algorithm="superbpe", vocab_sizes=(3000,), superbpe_transition=0.7)
    pruned = train.run(cfg).artifacts["tokenizer.json"]
    from tokenizers_lab.train import superbpe

    monkeypatch.setattr(superbpe, "PRUNE_RARE_BOUNDARIES", False)
    assert train.run(cfg).artifacts["tokenizer.json"] == pruned


def test_bert_word_regex_equals_tokenizers_components(shared):
    """The fast WordPiece word count splits exactly like BertNormalizer + BertPreTokenizer."""
    import regex
    from tokenizers import normalizers, pre_tokenizers

    from tokenizers_lab.patterns import BERT_CONTROL, BERT_WORDS

    control, words = regex.compile(BERT_CONTROL), regex.compile(BERT_WORDS)
    norm = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    pre = pre_tokenizers.BertPreTokenizer()
    files = sorted((shared / "udhr/txt").glob("*.txt")) + sorted((shared / "text").glob("*/*.txt"))
    lines = [ln for f in files for ln in f.read_text("utf-8").splitlines()[:200]]
    lines += ["tab\tand\x00nul\u200bzwsp \x07bell", "混合text中文", "a\ufffdb", "emoji🦙ok", "x–y—z «q»"]
    assert len(lines) > 50000
    bad = [
        ln
        for ln in lines
        if words.findall(control.sub("", ln)) != [w for w, _ in pre.pre_tokenize_str(norm.normalize_str(ln))]
    ]
    assert not bad, f"{len(bad)} lines split differently, e.g. {bad[0][:80]!r}"


@pytest.mark.parametrize("algo", ["bpe", "spm-bpe", "wordpiece", "superbpe", "unigram"])
def test_direct_file_training_equals_the_copy_path(tmp_path, small_corpus, algo):
    """--heldout-every 0 on plain text: the trainer reads the user's file itself (no copy); the
    result must equal training on the same text through the streamed copy (forced by gzip)."""
    import gzip

    gz = tmp_path / "small.txt.gz"
    gz.write_bytes(gzip.compress(small_corpus.read_bytes()))
    cfg = train.TrainConfig(algorithm=algo, vocab_sizes=(600,), heldout_every=0)
    assert Corpus(str(small_corpus)).plain_files() == [small_corpus]
    assert Corpus(str(gz)).plain_files() is None
    direct = train.run(replace(cfg, corpora=(str(small_corpus),)))
    copied = train.run(replace(cfg, corpora=(str(gz),)))
    assert direct.artifacts["tokenizer.json"] == copied.artifacts["tokenizer.json"]
    assert direct.corpus == copied.corpus
    assert direct.corpus.train_records == 900 and direct.corpus.heldout_records == 0
    assert direct.provenance.inputs[0].sha256 == copied.provenance.inputs[0].sha256


def test_direct_path_still_refuses_bad_corpora(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff byte\n" * 50)
    with pytest.raises(InputError, match=r"invalid UTF-8 .* at byte 17 \(line 2\)"):
        train.run(train.TrainConfig(corpora=(str(bad),), vocab_sizes=(300,), heldout_every=0))
    with pytest.raises(InputError, match=r"invalid UTF-8"):
        train.run(
            train.TrainConfig(corpora=(str(bad),), algorithm="spm-bpe", vocab_sizes=(300,), heldout_every=0)
        )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    for algo in ("bpe", "spm-bpe", "unigram"):
        with pytest.raises(InputError, match="empty"):
            train.run(
                train.TrainConfig(corpora=(str(empty),), algorithm=algo, vocab_sizes=(400,), heldout_every=0)
            )
    with pytest.raises(UsageError, match="heldout-every"):
        train.validate(train.TrainConfig(heldout_every=1))


def test_separate_heldout_corpus(tmp_path, small_corpus):
    held = tmp_path / "held.txt"
    held.write_text("A held-out line about rivers.\n\nAnother one, with 42 numbers.\n", encoding="utf-8")
    rep = train.run(train.TrainConfig(corpora=(str(small_corpus),), vocab_sizes=(400,), heldout=(str(held),)))
    assert rep.corpus.train_records == 900  # nothing held out of the training corpus
    assert rep.corpus.heldout_records == 2 and rep.corpus.heldout_bytes == 29 + 29
    assert rep.results[0].heldout_tokens > 0
    roles = [(i.role, i.name) for i in rep.provenance.inputs]
    assert ("heldout", "held.txt") in roles


# -- the fast byte-level BPE trainer (gigatoken) --------------------------------------------------


def _trained(config: train.TrainConfig) -> train.TrainReport:
    return train.run(config)


@pytest.mark.parametrize(
    ("corpus", "sizes"),
    [
        ("text/lang/deu.txt", (4000, 8000)),
        ("text/code/python_django.txt", (2000, 4000)),
    ],
)
def test_fast_bpe_gives_tokenizers_own_tokenizer(shared, corpus, sizes, monkeypatch) -> None:
    """`-a bpe --pretokenizer gpt2` trains through gigatoken, and every tokenizer.json of the sweep
    is byte for byte the one tokenizers' BpeTrainer writes on the same text (real text, two
    sizes); the report names the trainer that ran."""
    from tokenizers_lab.train import fast

    config = train.TrainConfig(
        corpora=(str(shared / corpus),), algorithm="bpe", vocab_sizes=sizes, pretokenizer="gpt2"
    )
    quick = _trained(config)
    assert quick.engine.startswith("gigatoken ")
    assert all(r.extra["trainer"].startswith("gigatoken ") for r in quick.results)
    monkeypatch.setattr(fast, "applies", lambda config, preset: False)
    reference = _trained(config)
    assert reference.engine.startswith("tokenizers ")
    for v in sizes:
        name = f"v{v}/tokenizer.json"
        assert quick.artifacts[name] == reference.artifacts[name], name
    assert [r.vocab_size for r in quick.results] == [r.vocab_size for r in reference.results]


def test_fast_bpe_declines_where_tokenizers_would_differ(tmp_path) -> None:
    """Where gigatoken would not give tokenizers' merges the run trains with tokenizers and says
    why in a note: a corpus too small to fill the vocabulary at --min-frequency (gigatoken keeps
    merging), and text holding a special token (tokenizers trains through it)."""
    small = tmp_path / "small.txt"
    small.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 3)
    rep = _trained(
        train.TrainConfig(
            corpora=(str(small),), algorithm="bpe", vocab_sizes=(400,), pretokenizer="gpt2", heldout_every=0
        )
    )
    assert rep.engine.startswith("tokenizers ") and any("runs out of pairs" in n for n in rep.notes)
    special = tmp_path / "special.txt"
    special.write_text(
        "".join(f"line {i} of the text <|endoftext|> and more words here\n" for i in range(400))
    )
    rep = _trained(
        train.TrainConfig(
            corpora=(str(special),), algorithm="bpe", vocab_sizes=(300,), pretokenizer="gpt2", heldout_every=0
        )
    )
    assert rep.engine.startswith("tokenizers ") and any("special token" in n for n in rep.notes)


def test_fast_bpe_last_merge_count_is_the_trainers_pair_count() -> None:
    """The count that decides between the trainers is the pair count tokenizers' trainer sees at
    the merge: overlapping occurrences in each pre-token, times the pre-token's count."""
    from tokenizers_lab.train.fast import last_merge_count

    counts = [(b"aaaa", 3), (b"baa", 2), (b"ab", 5)]
    assert last_merge_count(counts, [(b"a", b"a")]) == 3 * 3 + 2 * 1
    # after a+a, "aaaa" is [aa, aa] and "baa" is [b, aa]: the pair (aa, aa) occurs once, 3 times
    assert last_merge_count(counts, [(b"a", b"a"), (b"aa", b"aa")]) == 3
    assert last_merge_count(counts, [(b"a", b"b"), (b"x", b"y")]) == 0


def test_fast_bpe_documents_are_the_lines_tokenizers_reads() -> None:
    """Each line a document with its newline, the last without one when the file ends without
    one; blank lines are documents too; an empty file holds none."""
    from tokenizers_lab.gigatrain import documents

    s = b"|"
    assert documents(b"a\nb\n", s) == b"a\n|b\n"
    assert documents(b"a\n\nb", s) == b"a\n|\n|b"
    assert documents(b"\n", s) == b"\n"
    assert documents(b"\n\n", s) == b"\n|\n"
    assert documents(b"abc", s) == b"abc"
    assert documents(b"", s) == b""


def test_fast_bpe_counts_only_the_documents_holding_the_last_merge(monkeypatch) -> None:
    """The last merge's count reads the pre-tokens of the documents holding its bytes, found by a
    byte search: for every pre-token holding them, the same count as pre-tokenizing the whole
    corpus (pieces ending in a newline, absent ones, and the whole-corpus fallback included)."""
    gigatoken = pytest.importorskip("gigatoken")
    from tokenizers_lab import gigatrain
    from tokenizers_lab.corpus import embedded_root

    root = embedded_root()
    text = b"".join(
        p.read_bytes() for p in sorted((root / "domain").glob("*.txt")) + sorted(root.glob("code/*"))
    )
    sep = b"\x00\x1e\x00"
    blob = gigatrain.documents(text, sep)
    full = list(gigatoken.gigatoken_rs.pretokenized_counts(blob, sep))
    for piece in (b"the", b" of", b"ing", b"e\n", b"\n", b");\n", b"zzqxj"):
        want = sorted((w, n) for w, n in full if piece in w)
        got = gigatrain.holding_counts(blob, sep, piece)
        assert sorted((w, n) for w, n in got if piece in w) == want, piece
        assert len(got) < len(full) or piece == b"\n", piece  # fewer pre-tokens read
    monkeypatch.setattr(gigatrain, "MAX_HOLDING_DOCUMENTS", 3)
    assert sorted(gigatrain.holding_counts(blob, sep, b"the")) == sorted(full)


def test_fast_bpe_trains_after_gigatoken_ran_in_this_process(tmp_path) -> None:
    """A process that already encoded with gigatoken in parallel (its rayon pool built) trains
    through gigatoken too: the trainer runs in a fresh interpreter. (In a forked worker it waited
    forever on the parent's pool, which has no threads in a child.)"""
    pytest.importorskip("gigatoken")
    from tokenizers_lab.corpus import embedded_root

    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"".join(p.read_bytes() for p in sorted((embedded_root() / "domain").glob("*.txt"))))
    script = (
        "import json, sys\n"
        "import gigatoken\n"
        "from tokenizers_lab import train\n"
        "from tokenizers_lab.tokenizer.fast import _build, _recipe\n"
        "from tokenizers_lab.tokenizer import load_tokenizer\n"
        "v = load_tokenizer(sys.argv[2])\n"
        "g = _build(*_recipe(v)[:3])\n"
        "g.encode_batch(['some text to encode'] * 4096, parallel=True)\n"
        "rep = train.run(train.TrainConfig(corpora=(sys.argv[1],), algorithm='bpe', vocab_sizes=(600,),\n"
        "                pretokenizer='gpt2', heldout_every=0))\n"
        "print(rep.engine)\n"
    )
    tok = tmp_path / "tok"
    rep = train.run(
        train.TrainConfig(corpora=(str(corpus),), algorithm="bpe", vocab_sizes=(400,), heldout_every=0)
    )
    tok.mkdir()
    (tok / "tokenizer.json").write_bytes(rep.artifacts["tokenizer.json"])
    proc = subprocess.run(
        [sys.executable, "-c", script, str(corpus), str(tok / "tokenizer.json")],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert proc.stdout.decode().startswith("gigatoken "), proc.stdout


def test_fast_bpe_child_failure_trains_with_tokenizers(tmp_path) -> None:
    """The trainer's child failing (here: its file gone) is a string for the caller's note, and
    the run then trains with tokenizers, saying why."""
    pytest.importorskip("gigatoken")
    from tokenizers_lab import gigatrain

    got = gigatrain.train_in_child([str(tmp_path / "gone.txt")], 300, ["<|endoftext|>"], b"\x00\x1e\x00")
    assert isinstance(got, str) and got.startswith("gigatoken's trainer failed: FileNotFoundError"), got


def test_fast_bpe_child_started_early_is_stopped_when_unused(tmp_path) -> None:
    """The trainer's child starts before the corpus checks; a check that sends the run to
    tokenizers stops it (no process left behind), and the run says why."""
    pytest.importorskip("gigatoken")
    from tokenizers_lab import gigatrain
    from tokenizers_lab import train as T

    started: list[gigatrain.TrainerChild] = []
    orig = gigatrain.TrainerChild.__init__

    def spy(self, threads: int = 0) -> None:
        orig(self, threads)
        started.append(self)

    corpus = tmp_path / "c.txt"
    corpus.write_text("hello <|endoftext|> world\n" * 50 + "the cat sat on the mat\n" * 200, "utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gigatrain.TrainerChild, "__init__", spy)
        rep = T.run(
            T.TrainConfig(
                corpora=(str(corpus),),
                algorithm="bpe",
                pretokenizer="gpt2",
                vocab_sizes=(300,),
                parallel=(),
                heldout_every=0,
            )
        )
    assert len(started) == 1 and started[0].proc.poll() is not None
    assert any("special token's text" in n for n in rep.notes), rep.notes


def test_fast_bpe_child_thread_count(monkeypatch) -> None:
    """The trainer's child gets a rayon pool of one thread on a two-core machine (its idle worker
    only spins there), one per core on larger machines, and the count asked for when one is."""
    from tokenizers_lab import gigatrain

    monkeypatch.setattr(gigatrain.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert gigatrain.trainer_threads() == 1
    monkeypatch.setattr(gigatrain.os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert gigatrain.trainer_threads() == 8
    seen: list[str] = []

    class Stop(Exception):
        pass

    def popen(*args, env, **kwargs):
        seen.append(env["RAYON_NUM_THREADS"])
        raise Stop

    monkeypatch.setattr(gigatrain.subprocess, "Popen", popen)
    for threads in (0, 3):
        with pytest.raises(Stop):
            gigatrain.train_in_child(["x"], 300, [], b"\x00", threads=threads)
    assert seen == ["8", "3"]


def test_wordpiece_words_counted_in_processes_equal_one_process(tmp_path, monkeypatch):
    """Above one task's worth of text the BERT word counts run in forked workers (one core each):
    the same counts as counting here, and the workers are really used."""
    from tokenizers_lab.engine import ForkEngine, LocalEngine
    from tokenizers_lab.train import common, wordpiece

    lines = _lines()
    big = tmp_path / "big.txt"
    with open(big, "w", encoding="utf-8") as f:
        k = 0
        while f.tell() < common.TASK_CHARS * 2.5:  # three tasks; numbered so that words vary
            f.write(f"{lines[k % len(lines)]} w{k}\n")
            k += 1
    forked: list[int] = []
    real_imap = ForkEngine.imap

    def imap(self, *a, **kw):
        forked.append(self.processes)
        return real_imap(self, *a, **kw)

    monkeypatch.setattr(ForkEngine, "imap", imap)
    one = wordpiece._count_words([big], None, bert_default=True, engine=LocalEngine(), processes=1)
    assert forked == []
    two = wordpiece._count_words([big], None, bert_default=True, engine=LocalEngine(), processes=2)
    assert forked == [2]
    assert two == one and sum(one.values()) > 1_000_000
