"""Same inputs and seed -> byte-identical reports and artifacts, for every subcommand.

Each job runs twice in fresh processes with different hash seeds (PYTHONHASHSEED changes the
order of every set and dict of strings built from hashing): every file of the output folder must
be byte for byte the same, except the report JSON's `run` and `timings` blocks (wall times, host,
date), which are compared after removing them. Markdown reports carry no times at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

VOLATILE = ("run", "timings")


def _run(args: list[str], out: Path, hash_seed: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run(
        [sys.executable, "-m", "tokenizers_lab", *args, "--out", str(out), "--quiet"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _files(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.suffix == ".json" and p.stem in ("train", "audit", "invert", "transplant", "demo"):
            rep = json.loads(data)
            assert all(k in rep for k in ("provenance", "run")), p
            for k in VOLATILE:
                rep.pop(k, None)
            data = json.dumps(rep, sort_keys=True).encode()
        out[str(p.relative_to(folder))] = data
    return out


JOBS = {
    "train-bpe-sweep": ["train", "embedded:domain", "-a", "bpe", "-v", "500,750", "--export", "tiktoken"],
    "train-superbpe": ["train", "embedded:domain", "-a", "superbpe", "-v", "900"],
    "train-wordpiece": ["train", "embedded:domain", "-a", "wordpiece", "-v", "800"],
    "train-spm-unigram": ["train", "embedded:code", "-a", "spm-unigram", "-v", "700"],
    "train-unigram": ["train", "embedded:code", "-a", "unigram", "-v", "700"],
    "audit": ["audit", "--charbench-items", "4"],  # trains its four tokenizers, charts included
    "invert": ["invert", "--bootstrap", "4"],  # the embedded known mixture
    "transplant": [
        "transplant",
        "embedded:tiny",
        "TOK",
        "--method",
        "hypernet",
        "--hypernet-steps",
        "40",
        "--aux-model",
        "none",
        "--eval",
        "--leave-out",
        "100",
    ],
}


@pytest.mark.parametrize("job", list(JOBS))
def test_same_inputs_same_bytes(job: str, tmp_path: Path) -> None:
    args = list(JOBS[job])
    if "TOK" in args:
        pytest.importorskip("torch", reason="the torch extra is not installed")
        tok = tmp_path / "tok"
        _run(["train", "embedded:domain", "-a", "bpe-metaspace", "-v", "700"], tok, "0", tmp_path)
        args[args.index("TOK")] = str(tok / "tokenizer.json")
    _run(args, tmp_path / "a", "0", tmp_path)
    _run(args, tmp_path / "b", "4242", tmp_path)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"{job}: {differ} differ between two runs"
    assert len(a) >= 2
