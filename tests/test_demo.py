"""`tokenlab demo` on the embedded corpora, checked against golden JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers_lab.cli import app

GOLDEN = Path(__file__).resolve().parent / "golden"
VOLATILE = {"run", "timings"}  # wall times, host, dates


def _stable(obj):
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _check(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden {name}; run pytest --update-golden"
    assert actual == path.read_text("utf-8"), f"{name} changed; if intended, run pytest --update-golden"


def test_demo_end_to_end_matches_golden(runner, tmp_path, update_golden):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert "SuperBPE" in res.stdout
    demo = json.loads((out / "demo.json").read_text())
    steps = {r["step"] for r in demo["rows"]}
    assert {"bpe", "superbpe", "spm-unigram", "wordpiece"} <= steps
    for row in demo["rows"]:
        assert (out / row["report"]).exists()
    assert (out / "superbpe/tokenizer.json").exists() and (out / "spm-unigram/tokenizer.model").exists()
    sbpe = [r for r in demo["rows"] if r["step"] == "superbpe"][0]
    assert sbpe["superword_tokens"] > 0 and sbpe["roundtrip_rate"] == 1.0
    assert [a["tokenizer"] for a in demo["audit_rows"]] == ["bpe-4k", "superbpe-4k", "spm-unigram-4k",
                                                            "bpe-metaspace-4k", "wordpiece-4k"]
    assert (out / "audit/charbench_items.jsonl").exists()
    # the invert step recovers the known embedded mixture far better than guessing
    assert len(demo["invert_rows"]) == 6 and (out / "invert/invert.md").exists()
    inv = json.loads((out / "invert/invert.json").read_text())
    assert demo["invert_log10_mse"] < inv["score"]["uniform_log10_mse"] - 1
    assert all(r["ci_low"] is not None for r in demo["invert_rows"])
    # the transplant step: every estimate beats random rows on bits per byte of unseen lines
    rows = {r["method"]: r for r in demo["transplant_rows"]}
    assert set(rows) == {"random", "fvt", "tokenadapt", "hypernet"}
    for m in ("fvt", "tokenadapt"):
        assert rows[m]["bpb_ratio"] < rows["random"]["bpb_ratio"] - 0.05, rows
        assert rows[m]["estimated"] > 1000 and rows[m]["copied"] > 1000
    assert (out / "transplant/fvt/transplant.md").exists()
    for name in ("demo.json", "bpe/train.json", "superbpe/train.json", "audit/audit.json"):
        text = json.dumps(_stable(json.loads((out / name).read_text())), indent=2, sort_keys=True,
                          ensure_ascii=False) + "\n"
        _check(name.replace("/", "__"), text, update_golden)
    _check("demo.md", (out / "demo.md").read_text(), update_golden)
    _check("audit.md", (out / "audit/audit.md").read_text(), update_golden)
    # a second run refuses to overwrite, a forced one reproduces the same bytes
    res = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert res.exit_code == 1 and "--force" in res.stderr
    before = {f: (out / f).read_bytes() for f in ("superbpe/tokenizer.json", "audit/audit_premium.svg",
                                                   "audit/charbench_items.jsonl") if (out / f).exists()}
    assert len(before) >= 2
    assert runner.invoke(app, ["demo", "--out", str(out), "--quiet", "--force"]).exit_code == 0
    assert {f: (out / f).read_bytes() for f in before} == before
