"""CLI through typer's runner and real subprocesses: exit codes, one-line errors, outputs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tokenizers_lab import __version__
from tokenizers_lab.cli import app

PKG = Path(__file__).resolve().parent.parent / "tokenizers_lab"


def _err_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version_and_help(runner):
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"tokenlab {__version__}"
    res = runner.invoke(app, ["train", "--help"])
    assert res.exit_code == 0 and "Train tokenizers from corpora" in res.stdout
    for cmd in ("demo", "train", "audit", "invert", "transplant", "diff", "encode", "inspect", "compare"):
        assert cmd in runner.invoke(app, ["--help"]).stdout


def test_the_command_line_starts_without_any_job_loaded():
    """Start-up loads typer and the options only: numpy, the trainers, the encoders and asyncio
    load when a command runs (they were 0.15 s of every run's fixed cost, `--help` included)."""
    heavy = (
        "numpy",
        "tokenizers",
        "asyncio",
        "tokenizers_lab.train.job",
        "tokenizers_lab.demo",
        "tokenizers_lab.audit",
        "tokenizers_lab.invert",
        "tokenizers_lab.transplant",
        "tokenizers_lab.diff",
        "tokenizers_lab.quick",
    )
    code = f"import sys, tokenizers_lab.cli; print(sorted(set({heavy!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_train_writes_report_and_tokenizer(runner, tmp_path, small_corpus):
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["train", str(small_corpus), "-a", "bpe", "-v", "400", "--out", str(out), "--format", "json"]
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["algorithm"] == "bpe" and rep["results"][0]["vocab_size"] == 400
    assert json.loads((out / "train.json").read_text()) == rep
    assert (out / "tokenizer.json").exists() and (out / "train.md").read_text().startswith("# tokenlab train")
    from tokenizers import Tokenizer

    assert Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab_size() == 400


def test_sweep_writes_one_folder_per_size(runner, tmp_path, small_corpus):
    out = tmp_path / "sweep"
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-v",
            "300,500",
            "--out",
            str(out),
            "--parallel",
            "embedded:parallel",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.stderr
    assert (out / "v300/tokenizer.json").exists() and (out / "v500/tokenizer.json").exists()
    rep = json.loads((out / "train.json").read_text())
    eng = [lr for lr in rep["results"][0]["languages"] if lr["language"] == "eng_Latn"][0]
    assert eng["premium"] == 1.0


def test_existing_output_is_not_overwritten_without_force(runner, tmp_path, small_corpus):
    out = tmp_path / "o"
    args = ["train", str(small_corpus), "-v", "300", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    before = (out / "tokenizer.json").read_bytes()
    res = runner.invoke(app, args + ["-v", "600"])
    assert res.exit_code == 1 and "--force" in _err_line(res)
    assert (out / "tokenizer.json").read_bytes() == before
    res = runner.invoke(app, args + ["-v", "600", "--force"])
    assert res.exit_code == 0 and (out / "tokenizer.json").read_bytes() != before


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["train", "-a", "bpee"], 2, "did you mean 'bpe'"),
        (["train", "/no/such/file.txt", "-v", "300"], 1, "corpus not found"),
        (["train", "-v", "100"], 2, "below the alphabet"),
        (["train", "-a", "spm-unigram", "-v", "300"], 2, "below the alphabet"),
        (["train", "-v", "lots"], 2, "not a vocabulary size"),
        (["train", "--normalization", "nfd"], 2, "unknown normalization"),
        (["train", "--export", "onnx"], 2, "unknown export format"),
        (["train", "-a", "wordpiece", "--export", "tiktoken"], 2, "byte-level"),
        (["train", "--pivot", "xx_Latn", "-v", "300"], 2, "unknown pivot language"),
        (["train", "--heldout-every", "1"], 2, "--heldout-every must be 0"),
        (["train", "--heldout", "/no/such/held.txt", "-v", "300"], 1, "corpus not found"),
        (["transplant", "/no/such/model", "b", "--out", "x", "--method", "fvt"], 1, "model folder not found"),
    ],
)
def test_bad_input_is_one_line_and_a_documented_code(runner, args, code, needle):
    res = runner.invoke(app, args)
    assert res.exit_code == code, (res.stdout, res.stderr)
    line = _err_line(res)
    assert needle in line


def test_empty_and_invalid_utf8_corpora(runner, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    res = runner.invoke(app, ["train", str(empty), "-v", "300", "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "empty" in _err_line(res)
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(("fine line number one two three\n" * 50).encode() + b"broken \xc3\x28 text\n")
    res = runner.invoke(app, ["train", str(bad), "-v", "300"])
    assert res.exit_code == 1 and "invalid UTF-8" in _err_line(res) and "--errors replace" in res.stderr
    res = runner.invoke(
        app, ["train", str(bad), "-v", "300", "--heldout-every", "0", "--out", str(tmp_path / "y")]
    )
    assert res.exit_code == 1 and "invalid UTF-8" in _err_line(res)  # also when the trainer reads the file
    assert not (tmp_path / "y").exists()
    res = runner.invoke(app, ["train", str(bad), "-v", "300", "--errors", "replace", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["corpus"]["invalid_utf8"] == 1


def test_unwritable_output(runner, tmp_path, small_corpus):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(app, ["train", str(small_corpus), "-v", "300", "--out", str(blocker / "sub")])
    assert res.exit_code == 1 and "cannot write" in _err_line(res)


def test_module_entry_point_and_closed_stdout(tmp_path, small_corpus):
    res = subprocess.run(
        [sys.executable, "-m", "tokenizers_lab", "--version"], capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.strip() == f"tokenlab {__version__}"
    # `| head -c 10`: stdout closes early; no traceback, exit 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenizers_lab", "train", str(small_corpus), "-v", "300", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err


def test_library_never_imports_typer_rich_nor_prints_or_exits():
    for path in PKG.rglob("*.py"):
        if "cli" in path.parts:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("typer", "rich", "click") for n in names), path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("print", "exit"), f"{path}:{node.lineno}"
            if isinstance(node, ast.Attribute) and node.attr == "exit":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "sys"), (
                    f"{path}:{node.lineno}"
                )
