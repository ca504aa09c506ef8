"""A report's numbers as flat dotted paths: what `diff` compares and what its gates name.

Only the measured part counts: the `run` and `timings` blocks (wall time, host, dates), the
provenance (compared on its own, as configuration and inputs), definitions and chart names are left
out. A list of records is keyed by the field that names them (a tokenizer's label, a language, a
method, a vocabulary size …), so `tokenizers.cl100k.fairness.tur_Latn.premium_sum` names the same
number in two reports whatever the order of their lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SKIP = frozenset({"run", "timings", "provenance", "definitions", "charts", "notes", "artifacts", "baseline"})
# fields that name the records of a list, in order of preference
KEYS = (
    "label",
    "language",
    "lang",
    "tokenizer",
    "name",
    "method",
    "task",
    "feature",
    "category",
    "probe",
    "vocab_size",
    "size",
    "role",
    "expression",
)


def _record_key(items: list[Any]) -> str | None:
    """The field whose values name every record of the list uniquely, if any."""
    if not items or not all(isinstance(x, Mapping) for x in items):
        return None
    for key in KEYS:
        values = [x.get(key) for x in items]
        if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values) and len(
            set(values)
        ) == len(values):
            return key
    return None


def _segment(value: Any) -> str:
    return str(value).replace(".", "_")  # a dot inside a name (a file name) must not split the path


def flatten(
    node: Any, prefix: str = "", out: dict[str, float] | None = None, singles: dict[str, str] | None = None
) -> dict[str, float]:
    """Every number of a report's measured part, by dotted path (booleans and strings left out).
    `singles`, when given, collects the keyed lists that hold one record ({list path: its key}):
    two runs of one size each name their one result differently, and `compare` pairs them."""
    out = {} if out is None else out
    if isinstance(node, Mapping):
        for k, v in node.items():
            if not prefix and k in SKIP:
                continue
            flatten(v, f"{prefix}.{_segment(k)}" if prefix else _segment(k), out, singles)
    elif isinstance(node, list):
        key = _record_key(node)
        if key is not None and len(node) == 1 and singles is not None:
            singles[prefix] = _segment(node[0][key])
        for i, v in enumerate(node):
            name = _segment(v[key]) if key is not None else str(i)
            rest = {k: x for k, x in v.items() if k != key} if key is not None else v
            flatten(rest, f"{prefix}.{name}", out, singles)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out[prefix] = float(node)
    return out


def leaves(node: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every leaf (numbers, strings, booleans, null) of a config-like block, by dotted path."""
    out = {} if out is None else out
    if isinstance(node, Mapping):
        for k, v in node.items():
            leaves(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(node, list) and any(isinstance(x, (Mapping, list)) for x in node):
        for i, v in enumerate(node):
            leaves(v, f"{prefix}.{i}", out)
    else:
        out[prefix] = node
    return out
