"""`tokenlab audit`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tokenizers_lab.cli.common import (
    Format,
    comma_list,
    engine_spec,
    lab_command,
    run_job,
    stderr,
    wrote_line,
)
from tokenizers_lab.cli.diff import Junit, check_junit, verdicts
from tokenizers_lab.cli.options import (
    Address,
    Column,
    Encoder,
    Engine,
    Errors,
    Field,
    Fmt,
    Force,
    Out,
    Pattern,
    Pivot,
    Quiet,
    Seed,
    Workers,
)
from tokenizers_lab.outputs import check_outputs, write_outputs
from tokenizers_lab.report import md_table

if TYPE_CHECKING:
    from tokenizers_lab import audit as lib


def summary(report: lib.AuditReport) -> str:
    """Plain-text summary for --format text."""
    from tokenizers_lab.audit.markdown import measured_on

    rows = []
    for a in report.tokenizers:
        s, c = a.fairness_summary, a.corpus_compression or a.parallel_compression
        rows.append(
            (
                a.label,
                s.median_premium or "",
                s.max_premium or "",
                s.languages_above_2x,
                s.gini,
                c.bytes_per_token or "",
                c.renyi_efficiency_full_vocab or "",
                a.roundtrip_rate,
                a.vocabulary.unreachable,
                a.numbers.scheme,
            )
        )
    return (
        f"{report.provenance.signature}\n"
        + md_table(
            [
                "tokenizer",
                "median premium",
                "max premium",
                "langs > 2x",
                "Gini",
                "bytes/token",
                "Rényi eff",
                "probe round-trip",
                "unreachable",
                "digits",
            ],
            rows,
        )
        + "\n"
        + f"premiums measured on {report.parallel}; bytes/token and Rényi on {measured_on(report).replace('`', '')}\n"
    )


@lab_command
def audit(
    tokenizer: list[str] | None = typer.Argument(
        None,
        metavar="TOKENIZER",
        help="Tokenizers (files, folders, hf:NAME), optionally "
        "labelled name=path. Default: tokenizers trained on the "
        "embedded corpora.",
    ),
    parallel: list[str] | None = typer.Option(
        None,
        "--parallel",
        "-p",
        metavar="DIR",
        help="Parallel corpus folder of "
        "<lang>.<ext> files (repeatable: dev then devtest concatenate). "
        "Default: embedded:parallel.",
    ),
    corpus: list[str] | None = typer.Option(
        None,
        "--corpus",
        metavar="PATH",
        help="Monolingual corpus for compression "
        "and Rényi efficiency (repeatable). Default: the --parallel text when "
        "given, else the embedded code + domain samples.",
    ),
    languages: str | None = typer.Option(None, "--languages", help="Only these languages (comma list)."),
    pivot: Pivot = "eng_Latn",
    validator: list[str] | None = typer.Option(
        None,
        "--validator",
        metavar="LANG=KIND[:ARG]",
        help="%Lang validator LANG=KIND[:ARG] "
        "(repeatable; LANG may be *): lexicon:PATH, freq:PATH, "
        "hunspell:PATH, turkish:DIR, wordfreq[:MIN], corpus-words.",
    ),
    alpha: float = typer.Option(2.5, help="Rényi order."),
    charbench_items: int = typer.Option(25, help="CharBench items per task per word length (0: off)."),
    charbench_words: Path | None = typer.Option(None, help="Text or word list for CharBench words."),
    predictions: Path | None = typer.Option(
        None, help="Model answers to charbench_items.jsonl (JSONL id + prediction, or CSV id,prediction)."
    ),
    charbench_model: Path | None = typer.Option(
        None,
        help="Local Hugging Face causal LM folder that answers "
        "the CharBench items (needs the torch extra; never downloads).",
    ),
    fail_on: list[str] | None = typer.Option(
        None,
        "--fail-on",
        metavar="EXPR",
        help="Gate, e.g. 'premium.tur_Latn>2.5' or 'roundtrip<1' (repeatable); exit 3 when it holds.",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        metavar="OLD.json",
        help="An earlier audit.json: the report gains what changed since (as `tokenlab diff` shows it).",
    ),
    fail_on_change: list[str] | None = typer.Option(
        None,
        "--fail-on-change",
        metavar="EXPR",
        help="Gate over the change from --baseline, e.g. 'max_premium>+5%' or 'roundtrip<0' "
        "(repeatable, see `tokenlab diff --help`); exit 3 when it holds.",
    ),
    junit: Junit = None,
    skip: str | None = typer.Option(
        None,
        "--skip",
        metavar="MEASURES",
        help="Leave measures out (comma list): alignment (PCW, boundary violations), integrity "
        "(%Lang/%Pure). Premiums, compression and the probes always run.",
    ),
    plots: bool = typer.Option(
        True, "--plots/--no-plots", metavar="", help="Write the charts (SVG + PNG) next to the report."
    ),
    metric: str | None = typer.Option(
        None,
        "--metric",
        metavar="NAME",
        help="Print only this number on stdout, e.g. max_premium, premium.tur_Latn@mine "
        "(a --fail-on metric; @TOKENIZER when several are audited).",
    ),
    csv: Path | None = typer.Option(
        None,
        "--csv",
        metavar="DIR",
        help="Also write languages.csv and tokenizers.csv (the per-language and per-tokenizer tables) into DIR.",
    ),
    max_corpus_bytes: int = typer.Option(
        0,
        help="Read at most this many UTF-8 bytes of "
        "the monolingual corpora, whole lines, in the order given (0: all).",
    ),
    pattern: Pattern = None,
    errors: Errors = "strict",
    field: Field = "text",
    column: Column = "text",
    engine: Engine = "local",
    address: Address = None,
    workers: Workers = 0,
    encoder: Encoder = "auto",
    out: Out = None,
    fmt: Fmt = Format.text,
    seed: Seed = 13,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Measure tokenizers side by side: premiums, compression, %Lang/%Pure, CharBench probes, digits,
    robustness; one JSON + Markdown report; --fail-on gates exit 3."""
    from tokenizers_lab import audit as lib  # numpy and friends only when auditing

    config = lib.AuditConfig(
        tokenizers=tuple(tokenizer or ()),
        pattern=pattern,
        parallel=tuple(parallel or ()),
        corpora=tuple(corpus or ()),
        languages=comma_list(languages),
        pivot=pivot,
        alpha=alpha,
        validators=tuple(validator or ()),  # below: CharBench, gates, --metric/--csv (checked first)
        **_charbench_options(charbench_items, charbench_words, predictions, charbench_model),
        **_gate_options(fail_on, fail_on_change, baseline, junit, force),
        **_export_options(metric, csv, force),
        skip=comma_list(skip),
        plots=plots,
        **_read_options(max_corpus_bytes, errors, field, column),
        seed=seed,
        execution=engine_spec(engine, address, workers, encoder),
    )
    job = lib if config.tokenizers else lib.example  # no tokenizer: the embedded default, trained now
    report = run_job("audit", job, config, out=out, force=force, fmt=fmt, quiet=quiet, summary=summary)
    _exports_and_verdicts(report, csv, junit, force, quiet)


def _read_options(max_corpus_bytes: int, errors: str, field: str, column: str) -> dict[str, Any]:
    """The config's corpus-reading fields."""
    return {"max_corpus_bytes": max_corpus_bytes, "errors": errors, "field": field, "column": column}


def _charbench_options(
    items: int, words: Path | None, predictions: Path | None, model: Path | None
) -> dict[str, Any]:
    """The config's CharBench fields (paths as strings)."""
    return {
        "charbench_per_bucket": items,
        "charbench_words": str(words) if words else None,
        "predictions": str(predictions) if predictions else None,
        "charbench_model": str(model) if model else None,
    }


def _exports_and_verdicts(
    report: lib.AuditReport, csv: Path | None, junit: Path | None, force: bool, quiet: bool
) -> None:
    """The --csv tables (written whole, named on stderr), then the gate verdicts (which may exit 1
    or 3)."""
    if csv is not None:
        from tokenizers_lab.audit.exports import csv_tables

        names = write_outputs(csv, csv_tables(report), force)
        if not quiet:
            stderr.print(wrote_line(csv, names), markup=False, soft_wrap=True)
    _gate_verdicts(report, junit)


def _gate_options(
    fail_on: list[str] | None,
    fail_on_change: list[str] | None,
    baseline: Path | None,
    junit: Path | None,
    force: bool,
) -> dict[str, Any]:
    """The config's gate fields; a JUnit path that would overwrite a file is refused here, first."""
    check_junit(junit, force)
    return {
        "fail_on": tuple(fail_on or ()),
        "fail_on_change": tuple(fail_on_change or ()),
        "baseline": str(baseline) if baseline else None,
    }


def _export_options(metric: str | None, csv: Path | None, force: bool) -> dict[str, Any]:
    """The config's --metric; a --csv folder whose tables would overwrite files is refused here, first."""
    from tokenizers_lab.audit.exports import CSV_FILES

    if csv is not None:
        check_outputs(csv, CSV_FILES, force)
    return {"metric": metric}


def _gate_verdicts(report: lib.AuditReport, junit: Path | None) -> None:
    """One stderr line per gate, also with --quiet (CI logs show every verdict); the JUnit file and
    GitHub annotations; exit 1 when a gate is undefined on this input, 3 when one tripped."""
    from tokenizers_lab.diff import gate_cases
    from tokenizers_lab.gate_output import gate_cases as cases_of

    change = report.baseline.gates if report.baseline is not None else ()
    for g in report.gates:
        verdict = "undefined" if g.undefined else "tripped" if g.tripped else "ok"
        shown = g.undefined or (g.failing if g.tripped else tuple(g.values))
        vals = ", ".join(f"{k}={report_value(g.values[k])}" for k in shown)
        stderr.print(f"gate {verdict}: {g.expression}: {vals}", markup=False, soft_wrap=True)
    for c in change:
        verdict = "undefined" if c.undefined else "tripped" if c.tripped else "ok"
        vals = ", ".join(f"{k}={report_value(d.change)}" for k, d in c.values.items())
        stderr.print(f"change gate {verdict}: {c.expression}: {vals}", markup=False, soft_wrap=True)
    cases = cases_of(report.gates, lambda v: f"value {v}") + gate_cases(change)
    verdicts([*report.gates, *change], "audit", cases, junit, " on this input", "has no value")


def report_value(v: float | None) -> str:
    """A gate value for stderr."""
    return "n/a" if v is None else f"{v:.4g}"
