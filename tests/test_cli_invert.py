"""`tokenlab invert` end to end: bad input, the report, a known mixture recovered exactly,
unidentifiable categories, the embedded controlled example."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import _err_line
from tokenizers_lab.cli import app
from tokenizers_lab.corpus import Corpus, embedded_path


@pytest.fixture(scope="module")
def cat_files(tmp_path_factory):
    """Four category samples from the embedded corpora, one file each."""
    d = tmp_path_factory.mktemp("cats")
    par = embedded_path("parallel")
    texts = {
        "eng": (par / "eng_Latn.txt").read_text("utf-8"),
        "rus": (par / "rus_Cyrl.txt").read_text("utf-8"),
        "code": "\n".join(ln for ln in Corpus("embedded:code")) + "\n",
        "domain": "\n".join(ln for ln in Corpus("embedded:domain")) + "\n",
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = d / f"{name}.txt"
        paths[name].write_text(text, "utf-8")
    return paths, texts


@pytest.fixture(scope="module")
def mixture_tokenizer(tmp_path_factory, cat_files):
    """A byte-level BPE trained on a known mixture of the four samples (repetitions 3, 1, 2, 1),
    fed the same ~1 MB text chunks the invert pre-tokenizer sees."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    _, texts = cat_files
    reps = {"eng": 3, "rus": 1, "code": 2, "domain": 1}
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    chunks = [texts[n] for n in reps for _ in range(reps[n])]
    tok.train_from_iterator(
        chunks,
        trainers.BpeTrainer(
            vocab_size=256 + 700, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    size = {n: len(t.encode("utf-8")) for n, t in texts.items()}
    total = sum(reps[n] * size[n] for n in reps)
    return path, {n: reps[n] * size[n] / total for n in reps}


def _cats(paths, names=("eng", "rus", "code", "domain")):
    out = []
    for n in names:
        out += ["-c", f"{n}={paths[n]}"]
    return out


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_exact_samples_recover_the_mixture(runner, tmp_path, cat_files, mixture_tokenizer):
    """Samples equal to the training text: the LP finds the true shares to machine precision
    (the paper's correctness oracle), through the whole CLI: loading, pre-tokenizing, replay."""
    paths, _ = cat_files
    tok, truth = mixture_tokenizer
    out = tmp_path / "inv"
    args = ["invert", str(tok), *_cats(paths), "--shards", "1", "--bootstrap", "0", "--format", "json"] + [
        f"--truth={n}={v}" for n, v in truth.items()
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    got = {c["name"]: c["share"] for c in rep["categories"]}
    for n, v in truth.items():
        assert got[n] == pytest.approx(v, abs=1e-6)
    assert rep["score"]["log10_mse"] < -10
    assert rep["solver"]["status"] == "optimal" and rep["solver"]["objective"] == pytest.approx(0, abs=1e-9)
    assert rep["solver"]["last_merge"] == 700 and rep["bootstrap"] == 0
    assert all(c["ci_low"] is None for c in rep["categories"])
    # with shards and a bootstrap (shard edges move a few blank-line pre-tokens: shares stay close)
    args = [
        "invert",
        str(tok),
        *_cats(paths),
        "--shards",
        "4",
        "--bootstrap",
        "4",
        "--format",
        "json",
        "--out",
        str(out),
    ] + [f"--truth={n}={v}" for n, v in truth.items()]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["score"]["log10_mse"] < -6 and rep["bootstrap"] == 4
    assert all(c["identifiable"] and c["ci_low"] <= c["ci_high"] for c in rep["categories"])
    assert sum(c["baseline_share"] for c in rep["categories"]) == pytest.approx(1)
    md = (out / "invert.md").read_text()
    assert "█" in md and "TC baseline" in md and "## Solver" in md
    assert json.loads((out / "invert.json").read_text())["categories"] == rep["categories"]
    # existing outputs stay without --force
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "--force" in _err_line(res)
    # shards pre-tokenized in two forked workers or here: the same report
    runs = []
    for w in ("1", "2"):
        at = args.index("--out")
        res = runner.invoke(
            app, [*args[:at], "--out", str(out.parent / f"workers{w}"), *args[at + 2 :], "--workers", w]
        )
        assert res.exit_code == 0, res.stderr
        runs.append(json.loads(res.stdout))
    assert runs[0]["categories"] == runs[1]["categories"] == rep["categories"]


def test_identical_samples_are_reported_unidentifiable(runner, cat_files, mixture_tokenizer):
    paths, _ = cat_files
    tok, _ = mixture_tokenizer
    args = [
        "invert",
        str(tok),
        *_cats(paths, ("eng", "rus", "code")),
        "-c",
        f"eng_copy={paths['eng']}",
        "--bootstrap",
        "0",
        "--format",
        "json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    flags = {c["name"]: c["identifiable"] for c in rep["categories"]}
    assert not flags["eng"] and not flags["eng_copy"] and flags["rus"] and flags["code"]
    assert ["eng", "eng_copy"] in [sorted(g) for g in rep["unidentifiable"]]
    assert any("unidentifiable" in n for n in rep["notes"])


def test_embedded_example_beats_chance(runner):
    """No tokenizer: BPE trained on a known embedded mixture, recovered from held-out lines."""
    res = runner.invoke(app, ["invert", "--bootstrap", "3", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    sc = rep["score"]
    assert sc["log10_mse"] < sc["uniform_log10_mse"] - 1  # ten times better than guessing 1/n
    assert len(rep["categories"]) == 6 and rep["tokenizer"] == "embedded-mixture-bpe"


@pytest.fixture(scope="module")
def wordpiece_json(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["some text to learn a few pieces from"] * 5,
        trainers.WordPieceTrainer(vocab_size=60, special_tokens=["[UNK]"], show_progress=False),
    )
    path = tmp_path_factory.mktemp("wp") / "tokenizer.json"
    tok.save(str(path))
    return path


def test_bad_input(runner, tmp_path, cat_files, mixture_tokenizer, wordpiece_json):
    paths, _ = cat_files
    tok, _ = mixture_tokenizer
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    cases = [
        (["invert", str(tok), "-c", f"eng={paths['eng']}"], 2, "at least two"),
        (["invert", str(tok), "-c", f"a={paths['eng']}", "-c", f"a={paths['rus']}"], 2, "given twice"),
        (["invert", str(tok), "-c", str(paths["eng"]), "-c", f"b={paths['rus']}"], 2, "NAME=PATH"),
        (["invert", str(tok), *_cats(paths), "--merges", "5000"], 2, "beyond the merge list"),
        (["invert", str(tok), *_cats(paths), "--start", "700"], 2, "beyond the merge list"),
        (["invert", str(wordpiece_json), *_cats(paths)], 2, "needs a BPE merge list"),
        (["invert", str(tok), "-c", f"e={empty}", "-c", f"r={paths['rus']}"], 1, "is empty"),
        (["invert", str(tok), "-c", "e=/no/such/file.txt", "-c", f"r={paths['rus']}"], 1, "corpus not found"),
        (["invert", "/no/such/tokenizer.json", *_cats(paths)], 1, "tokenizer not found"),
        (["invert", str(tok), *_cats(paths), "--truth", "eng=1"], 2, "--truth must name every category"),
        (["invert", str(tok), *_cats(paths), "--shards", "0"], 2, "--shards"),
        (["invert", str(tok), *_cats(paths), "--workers", "-1"], 2, "--workers"),
    ]
    for args, code, needle in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == code, (args, res.stdout, res.stderr)
        assert needle in _err_line(res), (args, res.stderr)
        assert res.stdout == ""


def test_category_with_no_pairs_left_at_start(runner, tmp_path, cat_files, mixture_tokenizer):
    """With --start, d_i counts the pairs left before the first constrained merge. A sample whose
    pre-tokens are all single tokens by then adds nothing to any row: it is held at 0 and reported
    unidentifiable, not handed the whole mixture; if no sample has pairs left, exit 1."""
    from tokenizers import Tokenizer

    paths, _ = cat_files
    tok, _ = mixture_tokenizer
    tiny = tmp_path / "tiny.txt"
    tiny.write_text(" the the the\n" * 50, "utf-8")
    assert len(Tokenizer.from_file(str(tok)).encode(" the the the").ids) == 3  # merged within 600 merges
    args = [
        "invert",
        str(tok),
        *_cats(paths),
        "-c",
        f"tiny={tiny}",
        "--start",
        "600",
        "--merges",
        "100",
        "--shards",
        "1",
        "--bootstrap",
        "0",
        "--format",
        "json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    cat = {c["name"]: c for c in rep["categories"]}
    assert cat["tiny"]["share"] == 0 and not cat["tiny"]["identifiable"]
    assert ("tiny",) in [tuple(g) for g in rep["unidentifiable"]]
    assert any("tiny: no pair left before merge 600" in n for n in rep["notes"])
    assert sum(c["share"] for c in rep["categories"]) == pytest.approx(1)
    res = runner.invoke(
        app,
        [
            "invert",
            str(tok),
            "-c",
            f"a={tiny}",
            "-c",
            f"b={tiny}",
            "--start",
            "600",
            "--merges",
            "100",
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code == 1 and "no sample has a pair left before merge 600" in _err_line(res)
