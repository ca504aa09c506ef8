"""`--metric NAME`: one number of a report, alone on stdout (like sacrebleu's --score-only).

NAME is the dotted path `tokenlab diff` and `--fail-on-change` use for the same number
(diff.flatten: a list of records is keyed by the field naming them), e.g. `bpb.ratio`,
`score.log10_mse`, `categories.web.share`, `results.2000.heldout_bytes_per_token`; a list holding
one record may leave its key out (`results.heldout_bytes_per_token` in a run of one size). A path
is checked against the report's dataclasses before any work (did-you-mean at the first wrong
segment); audit also takes its gate metrics (`max_premium@LABEL`, audit/exports.py)."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from tokenizers_lab.diff.flatten import SKIP, flatten
from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.report import to_jsonable

NUMBERS = (int, float)


def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, each one that cannot be resolved (a type-checking-only import) as Any."""
    try:
        return typing.get_type_hints(cls)
    except NameError:
        space = vars(sys.modules[cls.__module__])
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            try:
                out[f.name] = eval(f.type, space) if isinstance(f.type, str) else f.type
            except NameError:
                out[f.name] = Any
        return out


def _unwrap(t: Any) -> Any:
    """X from Optional[X] / X | None."""
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return t


def _fields(t: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(t)] if dataclasses.is_dataclass(t) else []


def check(report_cls: type, name: str) -> None:
    """Refuse, before any work, a path that no report of this class holds as a number."""
    t: Any = report_cls
    parts = name.split(".")
    i = 0
    while i < len(parts):
        t, seg = _unwrap(t), parts[i]
        origin = typing.get_origin(t)
        if t is Any or origin is dict:  # free-form block (a hypernet summary, routes): checked after the run
            return
        if origin in (tuple, list):
            t = typing.get_args(t)[0]
            if seg not in _fields(_unwrap(t)) and i + 1 < len(parts):  # a record's key (a label, a size)
                i += 1  # (else the list's one record, or a misspelt field: said below)
            continue
        choices = [f for f in _fields(t) if not (t is report_cls and f in SKIP)]
        if seg not in choices:
            close = difflib.get_close_matches(seg, choices, n=3, cutoff=0.5)
            where = ".".join(parts[:i]) or "the report"
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise UsageError(
                f"--metric {name!r}: {where} has no {seg!r} ({hint}it has: {', '.join(choices) or 'nothing'})"
            )
        t = _hints(t)[seg]
        i += 1
    t = _unwrap(t)
    if t not in NUMBERS:
        raise UsageError(
            f"--metric {name!r}: not a number but {getattr(t, '__name__', t)}; name a field inside it"
        )


def value(report: Any, name: str) -> str:
    """The number as the JSON holds it (rounded once); an error (exit 1) when this run has none."""
    singles: dict[str, str] = {}
    flat = flatten(to_jsonable(report), singles=singles)
    got = flat.get(name)
    if got is None:
        for path, key in singles.items():  # `results.x` for the one record of `results`
            if name.startswith(path + "."):
                got = flat.get(f"{path}.{key}.{name[len(path) + 1 :]}")
    if got is None:
        close = difflib.get_close_matches(name, list(flat), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise InputError(f"--metric {name}: this run has no such number (null or absent in the report){hint}")
    return shown(got)


def shown(x: float) -> str:
    """A number as `--metric` prints it: an integer without a point, else Python's shortest
    round-tripping repr of the JSON's (already rounded) value."""
    x = float(x)
    return f"{x:.0f}" if x.is_integer() else repr(x)


# The report class whose paths `--metric` takes, per command (audit: audit.config.metric_answer,
# which also takes its gate metrics).
REPORTS = {
    "train": "tokenizers_lab.train.report:TrainReport",
    "invert": "tokenizers_lab.invert.report:InvertReport",
    "transplant": "tokenizers_lab.transplant.report:TransplantReport",
}


def answer(command: str, name: str) -> Callable[[Any], str]:
    """NAME checked against this command's report before any work; the function that reads its
    number off the finished report."""
    module, _, cls = REPORTS[command].partition(":")
    check(getattr(importlib.import_module(module), cls), name)
    return lambda report: value(report, name)
