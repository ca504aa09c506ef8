"""Report model: canonical JSON, signatures, atomic never-overwrite outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tokenizers_lab import __version__
from tokenizers_lab.errors import OutputExistsError, UsageError, unknown_name
from tokenizers_lab.outputs import check_outputs, write_outputs
from tokenizers_lab.report import dumps, signature


@dataclass(frozen=True)
class _R:
    b: float
    a: tuple[int, ...]
    path: Path
    blob: dict = field(default_factory=dict, metadata={"artifact": True})


def test_canonical_json_sorted_rounded_and_artifacts_skipped():
    text = dumps(_R(b=1 / 3, a=(1, 2), path=Path("x/y"), blob={"k": b"zz"}))
    obj = json.loads(text)
    assert list(obj) == ["a", "b", "path"]  # sorted keys, artifact field left out
    assert obj["b"] == 0.333333
    assert obj["path"] == "x/y"
    assert text.endswith("\n") and '  "a"' in text


def test_signature_is_sacrebleu_style_with_version_last():
    sig = signature("train", [("algo", "bpe"), ("corpus", "x@abc1234")], 7)
    assert sig == f"train|algo:bpe|corpus:x@abc1234|seed:7|schema:1|v:{__version__}"


def test_write_outputs_creates_folder_atomically(tmp_path):
    out = tmp_path / "new"
    write_outputs(out, {"a.json": "{}", "sub/b.bin": b"\x00"}, force=False)
    assert (out / "a.json").read_text() == "{}" and (out / "sub/b.bin").read_bytes() == b"\x00"
    assert not list(tmp_path.glob(".tokenlab-stage-*"))


def test_never_overwrites_without_force(tmp_path):
    out = tmp_path / "o"
    write_outputs(out, {"a.json": "1"}, force=False)
    with pytest.raises(OutputExistsError, match="--force"):
        write_outputs(out, {"a.json": "2", "b.json": "2"}, force=False)
    assert (out / "a.json").read_text() == "1" and not (out / "b.json").exists()
    write_outputs(out, {"a.json": "2"}, force=True)
    assert (out / "a.json").read_text() == "2"


def test_output_path_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        check_outputs(f, ["a.json"], force=True)


def test_unknown_name_suggests():
    err = unknown_name("algorithm", "bpee", ["bpe", "unigram", "wordpiece"])
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert "did you mean 'bpe'" in str(err)
