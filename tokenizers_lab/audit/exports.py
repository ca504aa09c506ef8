"""Exports for scripts: the audit's per-language and per-tokenizer tables as CSV (`--csv DIR`), and
one named number (`--metric NAME`, like sacrebleu's --score-only).

Both read the report's JSON form, so a table or a metric names the same value as the JSON, the
gates and `tokenlab diff` (floats rounded once, as in the JSON)."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tokenizers_lab import metric as paths
from tokenizers_lab.audit import gates
from tokenizers_lab.audit.report import AuditReport, gate_values_of_json
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.report import to_jsonable

CSV_FILES = ("languages.csv", "tokenizers.csv")


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    return buf.getvalue()


def _scalars(record: Mapping[str, Any], skip: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != skip and not isinstance(v, (dict, list))}


def language_rows(tokenizers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per tokenizer and language: every per-language field of the report (fairness,
    words and compression, %Lang/%Pure), a field that two lists share prefixed with its list."""
    rows = []
    for a in tokenizers:
        by_lang: dict[str, dict[str, Any]] = {}
        for list_name, records in a.items():
            if not (isinstance(records, list) and records and isinstance(records[0], Mapping)):
                continue
            if "language" not in records[0]:
                continue
            for r in records:
                row = by_lang.setdefault(r["language"], {"tokenizer": a["label"], "language": r["language"]})
                for k, v in _scalars(r, "language").items():
                    row[f"{list_name}.{k}" if k in row else k] = v
        rows += [by_lang[lang] for lang in sorted(by_lang)]
    return rows


def tokenizer_rows(tokenizers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per tokenizer: its facts and every per-tokenizer gate metric (max_premium, gini,
    bytes_per_token, renyi, roundtrip, …: the names `--metric` and `--fail-on` take)."""
    values = gate_values_of_json(tokenizers)
    rows = []
    for a in tokenizers:
        row: dict[str, Any] = {"tokenizer": a["label"]}
        row.update({k: v for k, v in _scalars(a, "label").items() if k != "fingerprint"})
        row.update({k: v for k, v in values[a["label"]].items() if "." not in k})
        rows.append(row)
    return rows


def csv_tables(report: Any) -> dict[str, str]:
    """languages.csv and tokenizers.csv of an audit report."""
    tokenizers = to_jsonable(report)["tokenizers"]
    return {
        "languages.csv": _csv(language_rows(tokenizers)),
        "tokenizers.csv": _csv(tokenizer_rows(tokenizers)),
    }


def parse_metric(text: str, labels: Sequence[str]) -> gates.Gate | None:
    """`METRIC[.KEY][@TOKENIZER]` as a gate without a threshold; a run of several tokenizers must
    name one (usage errors, before any work). Any other name is a dotted report path, as for every
    command (tokenizers_lab.metric): checked here, None returned."""
    head = text.strip().split("@")[0].split(".")[0]
    if head not in gates.METRICS and head in {f.name for f in dataclasses.fields(AuditReport)}:
        if "@" in text:
            raise UsageError(
                f"--metric {text!r}: @TOKENIZER applies to audit metrics only (max_premium@LABEL)"
            )
        paths.check(AuditReport, text.strip())
        return None
    m = re.fullmatch(r"\s*([A-Za-z_][\w.\-]*?)(?:@([^<>=!\s]+))?\s*", text)
    if not m:
        raise UsageError(
            f"--metric {text!r}: expected METRIC[.KEY][@TOKENIZER], e.g. max_premium or premium.tur_Latn@mine"
        )
    metric, key = gates.metric_key(text, m.group(1), "--metric")
    gate = gates.Gate(text=text.strip(), metric=metric, key=key, tokenizer=m.group(2), op="==", threshold=0.0)
    if gate.tokenizer is None and len(labels) > 1:
        raise UsageError(
            f"--metric {text!r}: this run audits {len(labels)} tokenizers; name one, e.g. "
            f"{text}@{labels[0]} (one of {', '.join(labels)})"
        )
    return gate


def metric_value(report: Any, gate: gates.Gate) -> str:
    """The named gate metric as `--metric` prints it (metric.shown); an error when it is undefined."""
    values = gate_values_of_json(to_jsonable(report)["tokenizers"])
    label = gate.tokenizer or next(iter(values))
    value = values[label].get(gate.name)
    if value is None:
        raise InputError(f"--metric {gate.text}: {label} has no value on this input (null in the report)")
    return paths.shown(value)
