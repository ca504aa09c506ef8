"""`tokenlab audit` through the CLI runner: outputs, gates (exit 3) and bad input."""

from __future__ import annotations

import json

import pytest

from tokenizers_lab.cli import app


def _err_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_audit_writes_report_and_artifacts(runner, tmp_path, tok_file):
    out = tmp_path / "a"
    res = runner.invoke(
        app, ["audit", f"mine={tok_file}", "--out", str(out), "--format", "json", "--charbench-items", "3"]
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert [t["label"] for t in rep["tokenizers"]] == ["mine"]
    assert rep["provenance"]["signature"].startswith("audit|tok:mine@")
    assert json.loads((out / "audit.json").read_text()) == rep
    assert (out / "audit.md").read_text().startswith("# tokenlab audit")
    items = (out / "charbench_items.jsonl").read_text().splitlines()
    assert len(items) == rep["charbench_items"] > 0 and json.loads(items[0])["answer"] >= 0
    # existing outputs are not overwritten without --force
    res = runner.invoke(app, ["audit", str(tok_file), "--out", str(out)])
    assert res.exit_code == 1 and "--force" in _err_line(res)


def test_audit_gate_trips_exit_3(runner, tmp_path, tok_file):
    out = tmp_path / "g"
    res = runner.invoke(
        app,
        [
            "audit",
            f"mine={tok_file}",
            "--out",
            str(out),
            "--no-plots",
            "--charbench-items",
            "0",
            "--fail-on",
            "premium.amh_Ethi>1.01",
            "--fail-on",
            "roundtrip<1",
        ],
    )
    assert res.exit_code == 3
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    # one verdict line per gate, in the order given; the report's notes as `note:` lines
    assert [ln for ln in lines if ln.startswith("gate ")] == [
        next(ln for ln in lines if ln.startswith("gate tripped: premium.amh_Ethi>1.01: mine=")),
        "gate ok: roundtrip<1: mine=1",
    ]
    assert all(ln.startswith(("gate ", "note: ")) for ln in lines), res.stderr
    rep = json.loads((out / "audit.json").read_text())  # the report is still written
    assert [g["tripped"] for g in rep["gates"]] == [True, False]


def test_audit_predictions_give_accuracy(runner, tmp_path, tok_file):
    out = tmp_path / "p"
    res = runner.invoke(
        app, ["audit", str(tok_file), "--out", str(out), "--no-plots", "--charbench-items", "4"]
    )
    assert res.exit_code == 0, res.stderr
    items = [json.loads(x) for x in (out / "charbench_items.jsonl").read_text().splitlines()]
    pred = tmp_path / "pred.csv"
    pred.write_text(
        "id,prediction\n" + "".join(f"{it['id']},The answer is {it['answer']}.\n" for it in items)
    )
    res = runner.invoke(
        app,
        [
            "audit",
            str(tok_file),
            "--no-plots",
            "--charbench-items",
            "4",
            "--predictions",
            str(pred),
            "--format",
            "json",
            "--fail-on",
            "charbench.all<1",
        ],
    )
    assert res.exit_code == 0, res.stderr
    scores = json.loads(res.stdout)["tokenizers"][0]["charbench_scores"]
    assert {s["task"]: s["accuracy"] for s in scores}["all"] == 1.0


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["nope.json"], 1, "not found"),
        (["{corrupt}"], 1, "not valid JSON"),
        (["{tok}", "--fail-on", "premum>2"], 2, "did you mean"),
        (["{tok}", "--validator", "xx=lexicon:{tok}"], 2, "unknown --validator language"),
        (["{tok}", "--validator", "eng_Latn=hunspel:x"], 2, "did you mean 'hunspell'"),
        (["{tok}", "--pivot", "eng_Latm"], 2, "did you mean 'eng_Latn'"),
        (["{tok}", "--languages", "eng_Latn,klingon"], 2, "unknown language 'klingon'"),
        (["{tok}", "--parallel", "{misaligned}"], 1, "misaligned"),
        (
            ["{tok}", "--fail-on", "premium.deu_Latn>1", "--languages", "eng_Latn,tur_Latn"],
            2,
            "measures no premium.deu_Latn",
        ),
        (["{tok}", "{tok}"], 2, "labelled"),
        (["{tok}", "--parallel", "{misaligned}", "--parallel", "{partial}"], 1, "languages differ"),
        (["{tok}", "--predictions", "{tok}", "--charbench-model", "{partial}"], 2, "not both"),
        (["{tok}", "--charbench-model", "{partial}"], 1, "no config.json"),
        (["{tok}", "--skip", "alignmnet"], 2, "did you mean 'alignment'"),
        (["{tok}", "--skip", "integrity", "--validator", "eng_Latn=corpus-words"], 2, "--skip integrity"),
        (["{tok}", "--skip", "alignment", "--fail-on", "pcw.eng_Latn>0.5"], 2, "under --skip alignment"),
        (["{tok}", "--skip", "integrity", "--fail-on", "lang.eng_Latn<0.5"], 2, "under --skip integrity"),
    ],
)
def test_audit_bad_input(runner, tmp_path, tok_file, args, code, needle):
    mis = tmp_path / "mis"
    mis.mkdir()
    (mis / "eng_Latn.txt").write_text("a\nb\n")
    (mis / "deu_Latn.txt").write_text("a\n")
    partial = tmp_path / "partial"  # a second folder lacking one language
    partial.mkdir()
    (partial / "eng_Latn.txt").write_text("c\n")
    out = tmp_path / "out"
    corrupt = tmp_path / "tokenizer.json"
    corrupt.write_text('{"model": {"type": "BPE"')
    args = [a.format(tok=tok_file, misaligned=mis, partial=partial, corrupt=corrupt) for a in args]
    items = "3" if "--charbench-model" in args else "0"
    res = runner.invoke(app, ["audit", *args, "--out", str(out), "--no-plots", "--charbench-items", items])
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert needle in _err_line(res)
    assert not out.exists()  # nothing half-written


def test_skipped_measures_leave_every_other_number_unchanged(runner, tmp_path, tok_file):
    """--skip alignment,integrity: premiums, compression and probes equal the full audit's; the
    left-out fields are null, the signature and the Markdown say what was skipped."""
    base = ["audit", f"mine={tok_file}", "--format", "json", "--no-plots", "--charbench-items", "0"]
    full = runner.invoke(app, [*base, "--out", str(tmp_path / "full")])
    part = runner.invoke(app, [*base, "--out", str(tmp_path / "part"), "--skip", "integrity, alignment"])
    assert full.exit_code == 0 and part.exit_code == 0, (full.stderr, part.stderr)
    a, b = json.loads(full.stdout), json.loads(part.stdout)
    ta, tb = a["tokenizers"][0], b["tokenizers"][0]
    for k in ("fairness", "fairness_summary", "parallel_compression", "corpus_compression", "roundtrip"):
        assert ta[k] == tb[k], k
    left_out = {"continued_words", "boundary_violations", "aligned_lines"}
    assert any(c["continued_words"] for c in ta["languages"]) and ta["integrity"] and a["validators"]
    for x, y in zip(ta["languages"], tb["languages"], strict=True):
        assert {k: v for k, v in x.items() if k not in left_out} == {
            k: v for k, v in y.items() if k not in left_out
        }
        assert all(y[k] is None for k in left_out)
    assert tb["integrity"] == [] and b["validators"] == {} and tb["boundary_offenders"] == []
    assert b["skipped"] == ["alignment", "integrity"] and a["skipped"] == []
    assert "|skip:alignment+integrity|" in b["provenance"]["signature"]
    assert a["provenance"]["signature"] != b["provenance"]["signature"]
    assert "Not measured (--skip): alignment" in (tmp_path / "part" / "audit.md").read_text()
    assert not any("corpus-words proxy" in n for n in b["notes"])
