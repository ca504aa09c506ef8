"""The quick commands: `encode`, `inspect`, `compare` (through the CLI runner, and their libraries)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenizers_lab.cli import app
from tokenizers_lab.tokenizer import load_tokenizer

TEXT = "Hello wörld, 12345 🙂 — naïve\tcafé!\nSecond line."


def _tiles(text: str, tokens: list[dict]) -> bool:
    """The tokens' byte spans lay end to end over the whole text."""
    data = text.encode("utf-8")
    pos = 0
    for t in tokens:
        if t["start"] != pos:
            return False
        pos = t["end"]
    return pos == len(data) and b"".join(data[t["start"] : t["end"]] for t in tokens) == data


def _encode(runner, spec: str, text: str) -> dict:
    res = runner.invoke(app, ["encode", spec, text, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_encode_lays_every_token_over_the_text_it_covers(runner, tok_file):
    rep = _encode(runner, str(tok_file), TEXT)
    view = load_tokenizer(str(tok_file))
    assert [t["id"] for t in rep["tokens"]] == view.encode(TEXT)
    assert rep["count"] == len(rep["tokens"]) and rep["text_bytes"] == len(TEXT.encode("utf-8"))
    assert _tiles(TEXT, rep["tokens"]) and rep["aligned"]
    data = TEXT.encode("utf-8")
    for t in rep["tokens"]:
        assert view.token_bytes(t["id"]) == data[t["start"] : t["end"]]
        assert t["token"] == view.id_to_token(t["id"])


def test_encode_off_a_terminal_prints_plain_columns_and_reads_stdin(runner, tok_file):
    res = runner.invoke(app, ["encode", str(tok_file), "-"], input="tab\there\n")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].endswith("tokens, 9 bytes, 9 characters")
    assert lines[1] == "index\tid\tstart\tend\ttoken\ttext"
    rows = [line.split("\t") for line in lines[2:]]
    assert all(len(r) == 6 for r in rows) and "\x1b" not in res.stdout
    # a tab or newline inside a token is escaped, so every row keeps its six columns
    assert "".join(r[5] for r in rows) == "tab\\there\\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("gpt2", TEXT),
        ("openai/cl100k_base.tiktoken", TEXT),
        ("llama2/tokenizer.model", TEXT),  # SentencePiece: dummy prefix, <0xNN> byte fallback
        ("gemma3", TEXT),
    ],
)
def test_encode_spans_on_real_tokenizers(runner, shared, name, text):
    rep = _encode(runner, str(shared / "tokenizers" / name), text)
    view = load_tokenizer(str(shared / "tokenizers" / name))
    assert [t["id"] for t in rep["tokens"]] == view.encode(text)
    assert _tiles(text, rep["tokens"]), [(t["start"], t["end"], t["token"]) for t in rep["tokens"]]
    emoji = "🙂".encode()
    at = text.encode("utf-8").index(emoji)
    inside = [t for t in rep["tokens"] if t["start"] < at + 4 and t["end"] > at]
    if name.startswith("llama2"):  # the emoji's four bytes as four byte pieces, one byte each
        assert [t["token"] for t in inside] == ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"]
        assert [t["end"] - t["start"] for t in inside] == [1, 1, 1, 1]


def test_encode_wordpiece_spans_follow_the_original_text(runner, shared):
    rep = _encode(runner, str(shared / "tokenizers/bert-base-uncased"), "Hello Naïve")
    assert [(t["token"], t["text"]) for t in rep["tokens"]][:1] == [("hello", "Hello")]
    assert rep["tokens"][-1]["end"] == len("Hello Naïve".encode())


def test_inspect_reads_format_merges_specials_and_pipeline(runner, tok_file):
    res = runner.invoke(app, ["inspect", str(tok_file), "--format", "json", "--longest", "3"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    raw = json.loads(tok_file.read_text("utf-8"))
    assert rep["format"] == "tokenizer.json" and rep["tokenizer"]["model_type"] == "bpe"
    assert rep["merges"] == len(raw["model"]["merges"])
    assert rep["tokenizer"]["vocab_size"] == load_tokenizer(str(tok_file)).vocab_size
    pre = raw["pre_tokenizer"]  # a Sequence is listed as its parts' types
    assert rep["pipeline"]["pre_tokenizer"] == [p["type"] for p in pre.get("pretokenizers", [pre])]
    assert rep["byte_fallback"] == "byte-level" and rep["unk"] is None
    specials = {s["content"]: s["id"] for s in rep["specials"]}
    assert specials == {t["content"]: t["id"] for t in raw["added_tokens"] if t["special"]}
    lengths = [x["bytes"] for x in rep["longest"]]
    view = load_tokenizer(str(tok_file))
    assert len(lengths) == 3 and lengths == sorted(lengths, reverse=True)
    assert lengths[0] == max(len(b) for b in view.all_token_bytes if b is not None)
    md = runner.invoke(app, ["inspect", str(tok_file)]).stdout
    assert "## Special tokens" in md and rep["tokenizer"]["sha256"] in md


def test_inspect_names_roles_from_the_files(runner, shared):
    def roles(name: str) -> dict[str, list[str]]:
        res = runner.invoke(app, ["inspect", str(shared / "tokenizers" / name), "--format", "json"])
        assert res.exit_code == 0, res.output
        rep = json.loads(res.stdout)
        return rep, {s["content"]: s["roles"] for s in rep["specials"] if s["role_source"] == "file"}

    rep, llama2 = roles("llama2/tokenizer.model")  # SentencePiece's own unk/bos/eos ids
    assert llama2 == {"<unk>": ["unk"], "<s>": ["bos"], "</s>": ["eos"]}
    assert rep["format"] == "SentencePiece model" and rep["byte_fallback"] == "<0xNN> pieces"
    assert rep["pipeline"]["add_dummy_prefix"] is True
    cfg = json.loads((shared / "tokenizers/qwen2/tokenizer_config.json").read_text("utf-8"))
    rep, qwen = roles("qwen2")  # tokenizer_config.json beside vocab.json + merges.txt
    assert rep["format"] == "vocab.json + merges.txt"
    assert "eos" in qwen[cfg["eos_token"]]
    rep, _ = roles("bert-base-uncased")
    assert rep["tokenizer"]["model_type"] == "wordpiece" and rep["merges"] is None
    assert rep["byte_fallback"] == "none (UNK)" and rep["unk"] == "[UNK]"
    cls = next(s for s in rep["specials"] if s["content"] == "[CLS]")
    assert cls["roles"] == ["cls"]


def test_compare_on_a_text_counts_each_split(runner, tok_file, shared):
    gpt2 = str(shared / "tokenizers/gpt2")
    res = runner.invoke(app, ["compare", str(tok_file), gpt2, TEXT, "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    counts = [len(load_tokenizer(s).encode(TEXT)) for s in (str(tok_file), gpt2)]
    assert [s["tokens"] for s in rep["sides"]] == counts
    assert rep["sides"][1]["relative"] == pytest.approx(counts[1] / counts[0], rel=1e-5)
    assert rep["sides"][0]["bytes_per_token"] == pytest.approx(len(TEXT.encode()) / counts[0], rel=1e-5)
    assert all(_tiles(TEXT, s["pieces"]) for s in rep["sides"])
    text = runner.invoke(app, ["compare", str(tok_file), gpt2, TEXT]).stdout
    assert "## Splits" in text and f"**gpt2** ({counts[1]})" in text


def test_compare_on_a_corpus_sums_every_line(runner, tok_file, small_corpus, shared):
    gpt2 = str(shared / "tokenizers/gpt2")
    res = runner.invoke(
        app, ["compare", str(tok_file), gpt2, "--corpus", str(small_corpus), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    lines = small_corpus.read_text("utf-8").splitlines()
    want = [sum(len(x) for x in load_tokenizer(s).encode_batch(lines)) for s in (str(tok_file), gpt2)]
    assert [s["tokens"] for s in rep["sides"]] == want
    assert rep["lines"] == len(lines) and rep["sides"][0]["pieces"] == []
    assert len(rep["corpus_sha256"]) == 64


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["compare", "only-one", "text"], 2, "two or more tokenizers"),
        (["encode", "/no/such/tokenizer.json", "x"], 1, "/no/such/tokenizer.json"),
        (["inspect", "/no/such"], 1, "/no/such"),
        (["inspect", "x", "--longest", "-1"], 2, "--longest"),
    ],
)
def test_quick_commands_bad_input_is_one_line(runner, args, code, needle):
    res = runner.invoke(app, args)
    assert res.exit_code == code, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1 and not res.stdout


def test_quick_commands_write_a_folder_only_with_out_and_never_overwrite(
    runner, tok_file, tmp_path, _default_reports
):
    res = runner.invoke(app, ["encode", str(tok_file), "abc"])
    assert res.exit_code == 0 and not Path(_default_reports).exists()
    out = tmp_path / "enc"
    res = runner.invoke(app, ["encode", str(tok_file), "abc", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "encode.json").read_text())["count"] >= 1 and (out / "encode.md").exists()
    assert f"wrote {out}/: encode.json, encode.md, report.html" in res.stdout
    assert "<table>" in (out / "report.html").read_text()  # the token table, sortable on the page
    before = (out / "encode.json").read_text()
    res = runner.invoke(app, ["encode", str(tok_file), "abcdef", "--out", str(out)])
    assert res.exit_code == 1 and "--force" in res.stderr and (out / "encode.json").read_text() == before
    assert (
        runner.invoke(app, ["encode", str(tok_file), "abcdef", "--out", str(out), "--force"]).exit_code == 0
    )
    assert (out / "encode.json").read_text() != before


def test_on_a_terminal_the_split_is_coloured(runner, tok_file, monkeypatch):
    from tokenizers_lab.cli import quick

    monkeypatch.setattr(quick, "_terminal", lambda: True)
    monkeypatch.setenv("FORCE_COLOR", "1")
    res = runner.invoke(app, ["encode", str(tok_file), "hello there"])
    assert res.exit_code == 0, res.output
    assert "\x1b[" in res.stdout  # token backgrounds
    monkeypatch.undo()
    assert "\x1b[" not in runner.invoke(app, ["encode", str(tok_file), "hello there"]).stdout
