"""Corpus streaming: formats, fingerprints, invalid UTF-8, parallel folders, embedded corpora."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tokenizers_lab.corpus import Corpus, embedded_names, embedded_path
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.parallel import load_parallel

REPO = Path(__file__).resolve().parent.parent


def _read(spec, **kw):
    c = Corpus(str(spec), **kw)
    return list(c), c


def test_text_file_lines_and_sha256(tmp_path):
    data = b"alpha\r\nbeta\n\ngamma"
    p = tmp_path / "a.txt"
    p.write_bytes(data)
    lines, c = _read(p)
    assert lines == ["alpha", "beta", "", "gamma"]
    assert c.sha256 == hashlib.sha256(data).hexdigest()
    assert c.stats.bytes == len(data) and c.stats.records == 4


def test_gzip_hashes_decompressed_content(tmp_path):
    p = tmp_path / "a.txt.gz"
    p.write_bytes(gzip.compress(b"x\ny\n"))
    lines, c = _read(p)
    assert lines == ["x", "y"] and c.sha256 == hashlib.sha256(b"x\ny\n").hexdigest()


def test_truncated_gzip_is_an_input_error(tmp_path):
    p = tmp_path / "a.txt.gz"
    p.write_bytes(gzip.compress(b"x\n" * 1000)[:-20])
    with pytest.raises(InputError, match="truncated|corrupt|cannot read"):
        _read(p)


def test_jsonl_field_and_missing_field(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "one\\ntwo"}\n{"text": "three", "id": 2}\n', encoding="utf-8")
    assert _read(p)[0] == ["one\ntwo", "three"]
    q = tmp_path / "e.jsonl"
    q.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no field 'text'"):
        _read(q)
    assert _read(q, field_name="body")[0] == ["x"]


def test_parquet_and_csv_columns(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"text": ["a b", "c"], "n": [1, 2]})
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    assert _read(tmp_path / "t.parquet")[0] == ["a b", "c"]
    assert _read(tmp_path / "t.csv")[0] == ["a b", "c"]
    with pytest.raises(InputError, match="no column 'body'"):
        _read(tmp_path / "t.parquet", column="body")


def test_datasets_saved_to_disk(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["hello", "world"]}).save_to_disk(str(tmp_path / "ds"))
    assert _read(tmp_path / "ds")[0] == ["hello", "world"]


def test_folder_and_glob_are_sorted(tmp_path):
    (tmp_path / "b.txt").write_text("B\n")
    (tmp_path / "a.txt").write_text("A\n")
    assert _read(tmp_path)[0] == ["A", "B"]
    assert _read(str(tmp_path / "*.txt"))[0] == ["A", "B"]
    with pytest.raises(InputError, match="matches no file"):
        _read(str(tmp_path / "*.nope"))


def test_invalid_utf8_strict_names_the_line_and_replace_counts(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"ok\nbad \xff\xfe here\nok\n")
    with pytest.raises(InputError, match=r"invalid UTF-8 .* \(line 2\)"):
        _read(p)
    lines, c = _read(p, errors="replace")
    assert lines[1] == "bad \ufffd\ufffd here" and c.stats.invalid_utf8 == 2
    with pytest.raises(UsageError):
        Corpus(str(p), errors="ignore")


def test_missing_corpus():
    with pytest.raises(InputError, match="not found"):
        Corpus("/nonexistent/x.txt")


def test_stdin_corpus():
    code = "from tokenizers_lab.corpus import Corpus; c=Corpus('-'); print(list(c), c.stats.bytes)"
    res = subprocess.run([sys.executable, "-c", code], input=b"a\nb\n", capture_output=True, check=True)
    assert res.stdout.decode().strip() == "['a', 'b'] 4"


def test_embedded_corpora_match_manifest():
    assert {"parallel", "code", "domain"} <= set(embedded_names())
    res = subprocess.run([sys.executable, str(REPO / "tests" / "manifest_tool.py"), "--check"])
    assert res.returncode == 0, "corpora/MANIFEST.json is stale: run python tests/manifest_tool.py"


def test_embedded_parallel_has_12_languages_8_scripts_100_lines():
    par = load_parallel(["embedded:parallel"])
    assert len(par.languages) >= 12 and par.n_lines >= 100
    scripts = {lang.split("_")[1] for lang in par.languages}
    assert len(scripts) >= 8
    code_exts = {p.suffix for p in embedded_path("code").iterdir()}
    assert len(code_exts) >= 4


def test_parallel_misaligned_and_missing_language(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "eng_Latn.txt").write_text("1\n2\n")
    (a / "deu_Latn.txt").write_text("1\n")
    with pytest.raises(InputError, match="misaligned"):
        load_parallel([str(a)])
    (a / "deu_Latn.txt").write_text("1\n2\n")
    (b / "eng_Latn.txt").write_text("3\n")
    with pytest.raises(InputError, match="languages differ"):
        load_parallel([str(a), str(b)])


def test_each_parallel_folder_is_aligned_on_its_own(tmp_path):
    """99 + 101 lines against 100 + 100 sum to an aligned 200 but shift every later line: refused,
    naming the folder."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "eng_Latn.txt").write_text("".join(f"e{i}\n" for i in range(100)))
    (a / "deu_Latn.txt").write_text("".join(f"d{i}\n" for i in range(99)))
    (b / "eng_Latn.txt").write_text("".join(f"E{i}\n" for i in range(100)))
    (b / "deu_Latn.txt").write_text("".join(f"D{i}\n" for i in range(101)))
    with pytest.raises(InputError, match=r"misaligned in a: \w+ has (99|100) lines, others (99|100)"):
        load_parallel([str(a), str(b)])


def test_flores_dev_then_devtest_concatenate(shared):
    par = load_parallel([str(shared / "flores200/core_dev"), str(shared / "flores200/core_devtest")])
    assert par.n_lines == 997 + 1012
    assert len(par.languages) == 14
    first_devtest = (shared / "flores200/core_devtest/eng_Latn.devtest").read_text("utf-8").splitlines()[0]
    assert par.lines["eng_Latn"][997] == first_devtest


def test_input_ref_is_relative_or_named(tmp_path):
    c = Corpus("embedded:code")
    list(c)
    ref = c.input_ref()
    assert ref.name == "embedded:code" and len(ref.sha256) == 64 and ref.bytes > 1000


def test_hub_corpus_fails_cleanly_offline(monkeypatch):
    """Offline mode set after the hub libraries were imported (a library user's order) is still
    offline mode: the error says so, with no network attempt and its retries (24 s)."""
    import datasets  # noqa: F401 - imported first, as a script that set the variable later would
    import huggingface_hub  # noqa: F401

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="hub") as info:
        list(Corpus("hf:nobody/no-such-dataset:default:train"))
    assert "Offline" in str(info.value), info.value


def test_folder_walk_skips_bytecode_and_hidden_files(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x00\xff")
    (tmp_path / ".hidden").write_text("secret\n")
    assert _read(tmp_path)[0] == ["x = 1"]


def test_embedded_corpus_reads_only_manifest_files(tmp_path, monkeypatch):
    import shutil

    import tokenizers_lab.corpus as corpus_mod

    root = tmp_path / "corpora"
    shutil.copytree(REPO / "corpora", root)
    (root / "code" / "__pycache__").mkdir()
    (root / "code" / "__pycache__" / "inventory.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x00\xff")
    (root / "code" / "stray.txt").write_text("not in the manifest\n")
    monkeypatch.setattr(corpus_mod, "embedded_root", lambda: root)
    lines = list(Corpus("embedded:code"))
    assert "not in the manifest" not in lines and len(lines) > 100
