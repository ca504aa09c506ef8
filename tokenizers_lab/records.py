"""Structured corpus records: JSONL fields, parquet and CSV/TSV columns, saved `datasets` folders;
a record's text must be a string (null skipped and counted), and no record is over 64 MiB."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers_lab.errors import InputError

MAX_RECORD_BYTES = 1 << 26  # the longest record (line) read: 64 MiB; more is no text (e.g. /dev/zero)


@dataclass
class CorpusStats:
    """What one pass over a corpus saw."""

    records: int = 0
    bytes: int = 0
    invalid_utf8: int = 0
    files: list[str] = field(default_factory=list)
    null_records: int = 0  # JSONL/parquet records whose text field is null: skipped, counted


def _text_value(value: object, where: str, name: str, stats: CorpusStats) -> str | None:
    """A record's text: a string; null is skipped and counted; anything else (a number, a list, an
    object) is refused rather than trained on as its Python repr."""
    if isinstance(value, str):
        return value
    if value is None:
        stats.null_records += 1
        return None
    kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )
    raise InputError(f"{where}: {name} is {kind}, not a string")


def iter_jsonl(f: io.BufferedIOBase, path: Path, field_name: str, stats: CorpusStats) -> Iterator[str]:
    for n, raw in enumerate(iter(lambda: f.readline(MAX_RECORD_BYTES + 1), b""), 1):
        if len(raw) > MAX_RECORD_BYTES:
            raise InputError(
                f"{path} line {n} is over {MAX_RECORD_BYTES >> 20} MiB (the longest record tokenlab reads)"
            )
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            raise InputError(f"{path} line {n} is not JSON") from None
        if not isinstance(obj, dict) or field_name not in obj:
            raise InputError(f"{path} line {n} has no field {field_name!r} (use --field)")
        text = _text_value(obj[field_name], f"{path} line {n}", f"field {field_name!r}", stats)
        if text is not None:
            yield text


def iter_parquet(path: Path, column: str, stats: CorpusStats) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid for non-parquet files
        raise InputError(f"cannot read parquet {path}: {e}") from None
    if column not in pf.schema_arrow.names:
        raise InputError(
            f"{path} has no column {column!r} (columns: {', '.join(pf.schema_arrow.names)}; use --column)"
        )
    row = 0
    for batch in pf.iter_batches(columns=[column], batch_size=4096):
        for v in batch.column(0).to_pylist():
            row += 1
            text = _text_value(v, f"{path} row {row}", f"column {column!r}", stats)
            if text is not None:
                yield text


def iter_csv(path: Path, column: str, sep: str) -> Iterator[str]:
    import pandas as pd

    try:
        # TSV is read as it is: no quote processing (a '"' in a cell is text, not a multi-row field)
        reader = pd.read_csv(
            path,
            sep=sep,
            usecols=[column],
            dtype=str,
            chunksize=10000,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL,
        )
        for chunk in reader:
            yield from chunk[column].tolist()
    except ValueError as e:
        raise InputError(f"cannot read {path}: {str(e).splitlines()[0]} (use --column)") from None


def iter_dataset_disk(path: str, column: str) -> Iterator[str]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:  # noqa: BLE001 - datasets raises FileNotFoundError/ValueError variants
        raise InputError(f"cannot load dataset from {path}: {e}") from None
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"] if "train" in ds else ds[min(ds)]
    if column not in ds.column_names:
        raise InputError(f"dataset {path} has no column {column!r} (columns: {', '.join(ds.column_names)})")
    for i in range(0, len(ds), 1000):
        yield from (str(v) for v in ds[i : i + 1000][column])
