"""Shared fixtures: the third-party data folder (skipped cleanly when absent), a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden files")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared/data, or skip with the reason."""
    if not (SHARED / "MANIFEST.md").exists():
        pytest.skip(f"third-party data not found at {SHARED} (set TOKENLAB_SHARED_DATA)")
    return SHARED


@pytest.fixture(autouse=True)
def _default_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs without --out write their default folder under the test's tmp dir, never the repo's
    reports/ (a second run of the suite would find them and need --force)."""
    folder = tmp_path / "default-reports"
    monkeypatch.setenv("TOKENLAB_REPORTS", str(folder))
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A few hundred lines of mixed text written by the test."""
    lines = []
    for i in range(300):
        lines.append(f"Line {i}: the quick brown fox jumps over {i % 7} lazy dogs near the river bank.")
        lines.append(f"Zeile {i}: Über den Fluss fährt eine Fähre, Größe {i * 3} Meter.")
        lines.append(f"def f{i}(x):  return x * {i} + 1  # comment")
    p = tmp_path / "small.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def tok_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE (vocab 1000) trained on the embedded corpora, saved as tokenizer.json."""
    from tokenizers_lab import train

    rep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(1000,)))
    p = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    p.write_bytes(rep.artifacts["tokenizer.json"])
    return p
