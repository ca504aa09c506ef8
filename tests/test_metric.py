"""`--metric NAME`: one number of any report alone on stdout, named as `tokenlab diff` names it,
checked against the report's dataclasses before any work."""

from __future__ import annotations

import json

import pytest

from tokenizers_lab import metric
from tokenizers_lab.cli import app
from tokenizers_lab.errors import UsageError
from tokenizers_lab.invert.report import InvertReport
from tokenizers_lab.train.report import TrainReport
from tokenizers_lab.transplant.report import TransplantReport


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (TrainReport, "results.heldout_bytes_per_token"),  # the one result of a single size
        (TrainReport, "results.2000.heldout_bytes_per_token"),  # a sweep's result, keyed by its size
        (TrainReport, "results.2000.languages.deu_Latn.premium"),
        (TrainReport, "corpus.records"),
        (InvertReport, "score.log10_mse"),
        (InvertReport, "categories.web.share"),
        (TransplantReport, "bpb.ratio"),
        (TransplantReport, "bpb.transplanted.bpb"),
        (TransplantReport, "fit.validation_bpb_after"),  # a free-form block: checked after the run
    ],
)
def test_paths_a_report_holds_pass(cls, name):
    metric.check(cls, name)


@pytest.mark.parametrize(
    ("cls", "name", "message"),
    [
        (TrainReport, "results.heldout_bytes_per_tokn", "did you mean heldout_bytes_per_token"),
        (TrainReport, "corpus", "not a number but CorpusSummary"),
        (TrainReport, "run.wall_seconds", "the report has no 'run'"),  # timings are not results
        (TrainReport, "algorithm", "not a number but str"),
        (TransplantReport, "bpb.ratoi", "bpb has no 'ratoi' (did you mean ratio?"),
        (InvertReport, "scores.mse", "did you mean score"),
    ],
)
def test_paths_it_does_not_hold_are_usage_errors(cls, name, message):
    with pytest.raises(UsageError, match="--metric") as e:
        metric.check(cls, name)
    assert message in str(e.value)


def test_train_metric_through_the_cli(runner, tmp_path, small_corpus):
    out = tmp_path / "t"
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-v",
            "300",
            "--out",
            str(out),
            "--metric",
            "results.heldout_bytes_per_token",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads((out / "train.json").read_text())
    assert res.stdout == f"{rep['results'][0]['heldout_bytes_per_token']!r}\n"
    assert f"wrote {out}/: train.json" in res.stderr
    # a sweep names its results by size
    res = runner.invoke(
        app,
        ["train", str(small_corpus), "-v", "300,400", "--out", str(tmp_path / "s"), "-q"]
        + ["--metric", "results.400.n_merges"],
    )
    assert res.exit_code == 0, res.stderr
    assert int(res.stdout) == json.loads((tmp_path / "s/train.json").read_text())["results"][1]["n_merges"]


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--metric", "results.heldout_bytes_per_tokn"], 2, "did you mean heldout_bytes_per_token"),
        (["--metric", "corpus.records", "--format", "json"], 2, "does not combine with --format json"),
    ],
)
def test_bad_metric_fails_before_any_work(runner, tmp_path, small_corpus, extra, code, message):
    out = tmp_path / "never"
    res = runner.invoke(app, ["train", str(small_corpus), "-v", "300", "--out", str(out), *extra])
    assert res.exit_code == code and message in res.stderr and not out.exists()
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_invert_metric_and_a_dotted_audit_path(runner, tmp_path, tok_file):
    out = tmp_path / "i"
    res = runner.invoke(app, ["invert", "--bootstrap", "0", "--out", str(out), "--metric", "score.log10_mse"])
    assert res.exit_code == 0, res.stderr
    assert float(res.stdout) == json.loads((out / "invert.json").read_text())["score"]["log10_mse"]
    # audit takes report paths as well as its gate metrics
    res = runner.invoke(
        app,
        ["audit", f"mine={tok_file}", "--no-plots", "--charbench-items", "0", "--out", str(tmp_path / "a")]
        + ["--metric", "tokenizers.mine.fairness.deu_Latn.tokens_sum"],
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads((tmp_path / "a/audit.json").read_text())
    deu = next(f for f in rep["tokenizers"][0]["fairness"] if f["language"] == "deu_Latn")
    assert int(res.stdout) == deu["tokens_sum"]


def test_numbers_print_whole_or_as_the_json_holds_them():
    assert metric.shown(121565.0) == "121565"  # not 1.21565e+05
    assert metric.shown(3) == "3" and metric.shown(1.25) == "1.25" and metric.shown(0.1) == "0.1"
    assert float(metric.shown(4.72262)) == 4.72262
