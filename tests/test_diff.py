"""`tokenlab diff` and `audit --baseline`: what changed between two reports, change gates (exit 3),
JUnit XML and GitHub annotations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tokenizers_lab.cli import app
from tokenizers_lab.diff.flatten import flatten

AUDIT = ["--no-plots", "--charbench-items", "0", "--skip", "alignment,integrity", "-q"]


@pytest.fixture(scope="module")
def two_tokenizers(tmp_path_factory):
    """Two byte-level BPEs of the embedded corpora (1000 and 600 ids), as tokenizer.json files."""
    from tokenizers_lab import train

    folder = tmp_path_factory.mktemp("toks")
    out = []
    for size in (1000, 600):
        rep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(size,)))
        p = folder / f"bpe{size}.json"
        p.write_bytes(rep.artifacts["tokenizer.json"])
        out.append(p)
    return out


@pytest.fixture(scope="module")
def two_audits(tmp_path_factory, two_tokenizers):
    """The same label audited with each tokenizer: OLD (1000 ids) and NEW (600 ids)."""
    from typer.testing import CliRunner

    runner = CliRunner()
    folder = tmp_path_factory.mktemp("audits")
    paths = []
    for name, tok in zip(("old", "new"), two_tokenizers):
        res = runner.invoke(app, ["audit", f"mine={tok}", "--out", str(folder / name), *AUDIT])
        assert res.exit_code == 0, res.output
        paths.append(folder / name / "audit.json")
    return paths


def test_flatten_keys_records_by_their_names_and_leaves_out_the_run():
    rep = {
        "provenance": {"seed": 1},
        "run": {"wall_seconds": 3.0},
        "timings": {"x": 1.0},
        "tokenizers": [
            {"label": "a", "fairness": [{"language": "tur_Latn", "premium_sum": 1.5}], "vocab_size": 10},
            {"label": "b.v2", "fairness": [{"language": "tur_Latn", "premium_sum": 2.0}], "vocab_size": 20},
        ],
        "values": [3, 4],
        "ok": True,
        "name": "text",
    }
    assert flatten(rep) == {
        "tokenizers.a.fairness.tur_Latn.premium_sum": 1.5,
        "tokenizers.a.vocab_size": 10.0,
        "tokenizers.b_v2.fairness.tur_Latn.premium_sum": 2.0,
        "tokenizers.b_v2.vocab_size": 20.0,
        "values.0": 3.0,
        "values.1": 4.0,
    }


def test_diff_lists_inputs_first_then_every_changed_number(runner, two_audits, tmp_path):
    old, new = two_audits
    res = runner.invoke(app, ["diff", str(old), str(new), "--out", str(tmp_path / "d"), "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    c = rep["comparison"]
    assert c["command"] == "audit"
    assert [x["key"] for x in c["settings"]] == ["tokenizers"]  # same options, other tokenizer file
    assert [i["role"] for i in c["inputs"]] == ["tokenizer"]
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    fa, fb = flatten(a), flatten(b)
    changed = {x["path"]: x for x in c["changes"]}
    assert set(changed) == {k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)}
    assert c["unchanged"] == len([k for k in fa if k in fb and fa[k] == fb[k]])
    v = changed["tokenizers.mine.vocab_size"]
    assert (v["old"], v["new"], v["delta"]) == (1000, 600, -400)
    assert v["relative"] == pytest.approx(-0.4)
    md = (tmp_path / "d" / "diff.md").read_text()
    assert md.index("Configuration and inputs") < md.index("Changed numbers")
    text = runner.invoke(app, ["diff", str(old), str(new), "--out", str(tmp_path / "t")]).stdout
    assert "input tokenizer:" in text and "numbers changed" in text


def test_change_gates_trip_with_exit_3_and_write_junit(runner, two_audits, tmp_path, monkeypatch):
    old, new = two_audits
    a = json.loads(old.read_text())["tokenizers"][0]["fairness_summary"]["max_premium"]
    b = json.loads(new.read_text())["tokenizers"][0]["fairness_summary"]["max_premium"]
    rise = 100 * (b - a) / a
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    junit = tmp_path / "gates.xml"
    args = ["diff", str(old), str(new), "--out", str(tmp_path / "d"), "--junit", str(junit)]
    gates = ["--fail-on", f"max_premium>{rise - 1:+.3f}%", "--fail-on", "max_premium@mine>+1000"]
    res = runner.invoke(app, args + gates)
    assert res.exit_code == 3, res.output
    assert "::error title=tokenlab diff gate::max_premium>" in res.stderr and "::error" not in res.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [tc.get("name") for tc in suite if tc.find("failure") is not None]
    assert failed == [f"max_premium>{rise - 1:+.3f}%"]
    # the same gate with a margin above the change passes; the JUnit file is not overwritten without --force
    res = runner.invoke(app, args + ["--fail-on", f"max_premium>+{abs(rise) + 1:.3f}%", "--force"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, args + ["--fail-on", "roundtrip<0"])
    assert res.exit_code == 1 and "exists; pass --force" in res.stderr


@pytest.mark.parametrize(
    ("gate", "code", "needle"),
    [
        ("max_premum>+5%", 2, "did you mean max_premium"),
        ("max_premium@nope>+5%", 2, "tokenizer 'nope'"),
        ("max_premium>>5", 2, "expected NAME[@TOKENIZER] OP"),
        ("tokenizers.mine.vocab_sise<0", 2, "did you mean tokenizers.mine.vocab_size"),
    ],
)
def test_bad_change_gates_are_usage_errors(runner, two_audits, tmp_path, gate, code, needle):
    old, new = two_audits
    res = runner.invoke(app, ["diff", str(old), str(new), "--fail-on", gate, "--out", str(tmp_path / "d")])
    assert res.exit_code == code, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_diff_refuses_reports_it_cannot_compare(runner, two_audits, tmp_path, small_corpus):
    res = runner.invoke(app, ["train", str(small_corpus), "-v", "300", "--out", str(tmp_path / "t"), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["diff", str(two_audits[0]), str(tmp_path / "t" / "train.json")])
    assert res.exit_code == 1 and "cannot compare a audit report with a train report" in res.stderr
    junk = tmp_path / "junk.json"
    junk.write_text('{"a": 1}')
    res = runner.invoke(app, ["diff", str(junk), str(two_audits[0])])
    assert res.exit_code == 1 and "not a tokenlab report" in res.stderr
    res = runner.invoke(app, ["diff", str(tmp_path / "none.json"), str(two_audits[0])])
    assert res.exit_code == 1 and "not found" in res.stderr


def test_diff_of_two_trainings_names_any_number_by_its_path(runner, tmp_path, small_corpus):
    for v in ("300", "400"):
        res = runner.invoke(app, ["train", str(small_corpus), "-v", v, "--out", str(tmp_path / v), "-q"])
        assert res.exit_code == 0, res.output
    old, new = (str(tmp_path / v / "train.json") for v in ("300", "400"))
    res = runner.invoke(app, ["diff", old, new, "--format", "json", "--out", str(tmp_path / "d")])
    rep = json.loads(res.stdout)["comparison"]
    assert {"key": "vocab_sizes", "old": [300], "new": [400]} in rep["settings"]
    path = next(x["path"] for x in rep["changes"] if x["path"].endswith("bytes_per_token"))
    res = runner.invoke(app, ["diff", old, new, "--fail-on", f"{path}<0", "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output  # more merges: more bytes per token, never fewer


def test_audit_baseline_embeds_the_diff_and_gates_the_change(runner, two_audits, two_tokenizers, tmp_path):
    old, _ = two_audits
    out = tmp_path / "a"
    args = ["audit", f"mine={two_tokenizers[1]}", "--out", str(out), *AUDIT, "--baseline", str(old)]
    res = runner.invoke(app, args + ["--fail-on-change", "max_premium<-1000", "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["baseline"]["command"] == "audit" and rep["baseline"]["gates"][0]["tripped"] is False
    assert any(i["role"] == "baseline" for i in rep["provenance"]["inputs"])
    vs = {x["path"]: x for x in rep["baseline"]["changes"]}["tokenizers.mine.vocab_size"]
    assert (vs["old"], vs["new"]) == (1000, 600)
    assert "## Against the baseline" in (out / "audit.md").read_text()
    res = runner.invoke(app, args + ["--fail-on-change", "max_premium>-1000", "--force"])
    assert res.exit_code == 3 and "change gate tripped: max_premium>-1000" in res.stderr


def test_audit_change_gates_fail_before_any_encoding(runner, tmp_path, two_audits, monkeypatch):
    from tokenizers_lab.audit import job

    def boom(*a, **k):
        raise AssertionError("the audit ran")

    monkeypatch.setattr(job, "_run", boom)
    base = ["audit", "mine=/nowhere/tokenizer.json", "--out", str(tmp_path / "o")]
    res = runner.invoke(app, base + ["--fail-on-change", "roundtrip<0"])
    assert res.exit_code == 2 and "--fail-on-change needs --baseline" in res.stderr
    res = runner.invoke(app, base + ["--baseline", str(two_audits[0]), "--fail-on-change", "rundtrip<0"])
    assert res.exit_code == 2 and "did you mean roundtrip" in res.stderr
    res = runner.invoke(app, base + ["--baseline", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "not found" in res.stderr
    assert not Path(tmp_path / "o").exists()
