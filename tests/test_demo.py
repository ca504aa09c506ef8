"""`tokenlab demo` on the embedded corpora, checked against golden JSON and Markdown."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from tests.browser import Browser, check_page, find_chromium
from tokenizers_lab.cli import app

GOLDEN = Path(__file__).resolve().parent / "golden"
VOLATILE = {"run", "timings"}  # wall times, host, dates


def _stable(obj):
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


# Floats from CPU training and inference of the tiny transplant model (float32 GEMMs, reductions
# whose order depends on the BLAS kernel, the CPU's vector width and the thread count) are not
# bit-exact across machines of one kind. Seen between two such machines: bits per byte 4.70037 vs
# 4.70032 (relative 1e-5), and after the hypernetwork's 600 training steps its bits per byte
# 4.31996 vs 4.32236 (6e-4) and leave-out cosine 0.608666 vs 0.609442 (1.3e-3). They are compared
# with this relative tolerance, about 8x the largest spread seen; every other number of the demo
# (tokenizer training, counts, premiums, the LP) is exact integer or rational arithmetic and is
# compared exactly. The demo's real claims about them (every estimate beats random rows) are
# asserted separately.
MACHINE_REL_TOL = 1e-2
MACHINE_DEPENDENT = ("transplant_rows",)  # JSON keys whose subtree holds such floats
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _close(a, b, where: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert math.isclose(a, b, rel_tol=MACHINE_REL_TOL), f"{where}: {a} vs golden {b}"
    else:
        assert a == b, f"{where}: {a!r} vs golden {b!r}"


def _same_text_close_numbers(actual: str, expected: str, where: str) -> None:
    """Equal text apart from numbers, which may differ by MACHINE_REL_TOL (Markdown shows 4
    significant digits: a last-digit step is allowed too)."""
    assert _NUMBER.split(actual) == _NUMBER.split(expected), f"{where}: the text changed"
    for x, y in zip(_NUMBER.findall(actual), _NUMBER.findall(expected)):
        if "." in x or "." in y:
            assert math.isclose(float(x), float(y), rel_tol=MACHINE_REL_TOL), f"{where}: {x} vs {y}"
        else:  # counts (rows copied, estimated) are exact
            assert x == y, f"{where}: {x} vs {y}"


def test_golden_comparison_tolerates_machine_floats_only():
    """The comparator passes the cross-machine spread seen (4.70037 vs 4.70032) and fails a real
    change, a changed count or changed text."""
    _close({"bpb": 4.70037, "copied": 1669}, {"bpb": 4.70032, "copied": 1669}, "x")
    _close({"cos": 0.608666}, {"cos": 0.609442}, "x")
    for bad in ({"bpb": 4.9, "copied": 1669}, {"bpb": 4.70037, "copied": 1670}):
        with pytest.raises(AssertionError):
            _close(bad, {"bpb": 4.70032, "copied": 1669}, "x")
    _same_text_close_numbers("| fvt | 1669 | 4.701 |", "| fvt | 1669 | 4.7 |", "md")
    for bad in ("| fvt | 1670 | 4.7 |", "| fvt | 1669 | 4.8 |", "| omp | 1669 | 4.7 |"):
        with pytest.raises(AssertionError):
            _same_text_close_numbers(bad, "| fvt | 1669 | 4.7 |", "md")


def _check(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden {name}; run pytest --update-golden"
    expected = path.read_text("utf-8")
    if name.endswith(".json"):
        got, want = json.loads(actual), json.loads(expected)
        for key in MACHINE_DEPENDENT:
            if key in got and key in want:
                _close(got.pop(key), want.pop(key), f"{name}:{key}")
        assert got == want, f"{name} changed; if intended, run pytest --update-golden"
    elif "## Transplant" in expected:  # demo.md: exact up to its transplant section
        head, _, tail = actual.partition("## Transplant")
        head_w, _, tail_w = expected.partition("## Transplant")
        assert head == head_w, f"{name} changed; if intended, run pytest --update-golden"
        body, _, prov = tail.partition("## Provenance")
        body_w, _, prov_w = tail_w.partition("## Provenance")
        assert prov == prov_w, f"{name} provenance changed; if intended, run pytest --update-golden"
        _same_text_close_numbers(body, body_w, f"{name} transplant section")
    else:
        assert actual == expected, f"{name} changed; if intended, run pytest --update-golden"


@pytest.mark.slow  # ~3 minutes: CI runs it; the fast loop (-m 'not slow') does not
def test_demo_end_to_end_matches_golden(runner, tmp_path, update_golden):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert "SuperBPE" in res.stdout
    # stdout ends with one line per later step and the files written (every one of them)
    lines = res.stdout.splitlines()
    for step in ("audit:", "invert:", "transplant:"):
        assert any(ln.startswith(step) for ln in lines), step
    assert lines[-1].startswith(f"wrote {out}/: demo.json, demo.md, ")
    written = set(lines[-1].split(": ", 1)[1].split(", "))
    on_disk = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != ".tokenlab-outputs"
    }
    assert written == on_disk and "transplant/fvt/transplant.md" in written
    demo = json.loads((out / "demo.json").read_text())
    steps = {r["step"] for r in demo["rows"]}
    assert {"bpe", "superbpe", "spm-unigram", "wordpiece"} <= steps
    for row in demo["rows"]:
        assert (out / row["report"]).exists()
    assert (out / "superbpe/tokenizer.json").exists() and (out / "spm-unigram/tokenizer.model").exists()
    sbpe = [r for r in demo["rows"] if r["step"] == "superbpe"][0]
    assert sbpe["superword_tokens"] > 0 and sbpe["roundtrip_rate"] == 1.0
    assert [a["tokenizer"] for a in demo["audit_rows"]] == [
        "bpe-4k",
        "superbpe-4k",
        "spm-unigram-4k",
        "bpe-metaspace-4k",
        "wordpiece-4k",
    ]
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
        text = (
            json.dumps(
                _stable(json.loads((out / name).read_text())), indent=2, sort_keys=True, ensure_ascii=False
            )
            + "\n"
        )
        _check(name.replace("/", "__"), text, update_golden)
    _check("demo.md", (out / "demo.md").read_text(), update_golden)
    # one page per report, the demo's page linking every step's page; each loads clean in a browser
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("report.html"))
    assert len(pages) == 1 + len({r["step"] for r in demo["rows"]}) + 2 + len(rows), pages
    index = (out / "report.html").read_text()
    assert all(f'href="{p}"' in index for p in pages if p != "report.html")
    chromium = find_chromium()
    assert chromium or not os.environ.get("TOKENLAB_REQUIRE_BROWSER"), (
        "CI needs Chromium (.ci/run installs it)"
    )
    if chromium:
        browser = Browser(chromium)
        try:
            for p in pages:
                check_page(browser, out / p)
        finally:
            browser.close()
    _check("audit.md", (out / "audit/audit.md").read_text(), update_golden)
    # a second run refuses to overwrite, a forced one reproduces the same bytes
    res = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert res.exit_code == 1 and "--force" in res.stderr
    before = {
        f: (out / f).read_bytes()
        for f in ("superbpe/tokenizer.json", "audit/audit_premium.svg", "audit/charbench_items.jsonl")
        if (out / f).exists()
    }
    assert len(before) >= 2
    assert runner.invoke(app, ["demo", "--out", str(out), "--quiet", "--force"]).exit_code == 0
    assert {f: (out / f).read_bytes() for f in before} == before
