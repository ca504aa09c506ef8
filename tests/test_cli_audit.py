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


def test_metric_prints_one_number_and_csv_exports_the_tables(runner, tmp_path, tok_file):
    import csv

    out, tables = tmp_path / "m", tmp_path / "tables"
    base = ["audit", f"mine={tok_file}", f"other={tok_file}", "--no-plots", "--charbench-items", "0"]
    res = runner.invoke(
        app, [*base, "--out", str(out), "--metric", "max_premium@other", "--csv", str(tables)]
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads((out / "audit.json").read_text())
    other = next(t for t in rep["tokenizers"] if t["label"] == "other")
    # stdout: that number alone (as the JSON rounds it); the files written are named on stderr
    assert res.stdout.splitlines() == [repr(other["fairness_summary"]["max_premium"])]
    assert f"wrote {out}/: audit.json" in res.stderr
    assert f"wrote {tables}/: languages.csv, tokenizers.csv" in res.stderr
    # --metric and --csv choose what is printed and exported: neither enters the signature
    assert "metric" not in rep["provenance"]["config"] and "csv" not in rep["provenance"]["config"]
    langs = list(csv.DictReader((tables / "languages.csv").open(encoding="utf-8")))
    assert len(langs) == 2 * len(rep["languages"])
    deu = next(r for r in langs if r["tokenizer"] == "mine" and r["language"] == "deu_Latn")
    fair = next(
        f
        for t in rep["tokenizers"]
        if t["label"] == "mine"
        for f in t["fairness"]
        if f["language"] == "deu_Latn"
    )
    assert float(deu["premium_sum"]) == fair["premium_sum"] and int(deu["tokens_sum"]) == fair["tokens_sum"]
    assert "tokens_per_word" in deu and "lang_type" in deu  # words and %Lang columns joined per language
    toks = list(csv.DictReader((tables / "tokenizers.csv").open(encoding="utf-8")))
    assert [t["tokenizer"] for t in toks] == ["mine", "other"]
    assert float(toks[1]["max_premium"]) == other["fairness_summary"]["max_premium"]
    assert float(toks[0]["roundtrip"]) == rep["tokenizers"][0]["roundtrip_rate"]
    # a keyed metric of one tokenizer
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "k"), "--metric", "premium.deu_Latn@mine"])
    assert res.exit_code == 0 and res.stdout.strip() == repr(fair["premium_sum"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metric", "max_premium"], "name one, e.g. max_premium@mine"),
        (["--metric", "max_premum@mine"], "did you mean"),
        (["--metric", "premium.xxx_Latn@mine"], "this run measures no premium.xxx_Latn"),
        (["--metric", "max_premium@nobody"], "--metric tokenizer"),
        (["--metric", "max_premium@mine", "--format", "json"], "does not combine with --format json"),
        (["--metric", "premium@mine"], "premium needs a key"),
    ],
)
def test_bad_metric_is_a_usage_error_before_any_work(runner, tmp_path, tok_file, extra, message):
    out = tmp_path / "never"
    res = runner.invoke(app, ["audit", f"mine={tok_file}", f"b={tok_file}", "--out", str(out), *extra])
    assert res.exit_code == 2, res.stderr
    assert message in _err_line(res) and not out.exists()


def test_csv_refuses_to_overwrite_before_any_work(runner, tmp_path, tok_file):
    tables, out = tmp_path / "tables", tmp_path / "never"
    tables.mkdir()
    (tables / "tokenizers.csv").write_text("mine\n")
    res = runner.invoke(app, ["audit", f"mine={tok_file}", "--out", str(out), "--csv", str(tables)])
    assert res.exit_code == 1 and "tokenizers.csv exists; pass --force" in _err_line(res)
    assert not out.exists() and (tables / "tokenizers.csv").read_text() == "mine\n"


def test_metric_undefined_on_the_input_exits_1_with_the_report_written(runner, tmp_path, tok_file):
    par, out = tmp_path / "par", tmp_path / "u"
    par.mkdir()
    (par / "eng_Latn.txt").write_text(
        "the river\nthe stone\n"
    )  # the pivot alone: no premium to take a max of
    res = runner.invoke(
        app,
        ["audit", f"mine={tok_file}", "--parallel", str(par), "--charbench-items", "0", "--no-plots"]
        + ["--metric", "max_premium", "--out", str(out)],
    )
    assert res.exit_code == 1 and res.stdout == ""
    assert "error: --metric max_premium: mine has no value on this input" in res.stderr
    assert f"wrote {out}/: audit.json, audit.md, report.html" in res.stderr
    assert (
        json.loads((out / "audit.json").read_text())["tokenizers"][0]["fairness_summary"]["max_premium"]
        is None
    )
