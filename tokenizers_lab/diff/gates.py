"""Change gates: `--fail-on` expressions over the change between two reports, e.g.
`max_premium>+5%` (relative rise over 5 %), `premium.tur_Latn@cl100k>+0.1` (absolute rise over
0.1), `roundtrip<0` (any drop), `bpb.ratio>+0.01`. The number is compared with new − old, or with
(new − old) / |old| in percent when it ends in %. An expression that holds trips the gate (exit 3)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tokenizers_lab.audit.gates import METRICS, OPS
from tokenizers_lab.errors import UsageError

_EXPR = re.compile(
    r"^\s*([A-Za-z_][\w.\-]*?)(?:@([^<>=!\s]+))?\s*(<=|>=|==|!=|<|>)\s*"
    r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(%?)\s*$"
)


@dataclass(frozen=True)
class ChangeGate:
    """One parsed change expression."""

    text: str
    name: str  # an audit gate metric (premium.tur_Latn, max_premium, …) or a dotted report path
    tokenizer: str | None
    op: str
    threshold: float
    relative: bool  # True: the threshold is in percent of the old value


@dataclass(frozen=True)
class Delta:
    """One value a gate read: before, after, and the change it compared."""

    old: float | None
    new: float | None
    change: float | None  # new - old, or the relative change in percent


@dataclass(frozen=True)
class ChangeGateResult:
    """A change gate checked on everything it names (each tokenizer, or the one path)."""

    expression: str
    tripped: bool
    values: dict[str, Delta]
    failing: tuple[str, ...]
    undefined: tuple[str, ...] = ()  # no value before or after, or a relative change from 0


def parse(text: str) -> ChangeGate:
    """Parse `NAME[@TOKENIZER] OP [+-]NUMBER[%]` (usage error otherwise)."""
    m = _EXPR.match(text)
    if not m:
        raise UsageError(
            f"--fail-on {text!r}: expected NAME[@TOKENIZER] OP [+-]NUMBER[%], e.g. max_premium>+5% or roundtrip<0"
        )
    name, tok, op, num, pct = m.groups()
    return ChangeGate(text.strip(), name, tok, op, float(num), bool(pct))


def is_audit_metric(name: str) -> bool:
    """Whether `name` is an audit gate metric (`premium.tur_Latn`, `max_premium`), read per tokenizer."""
    return name.partition(".")[0] in METRICS


def check_names(
    gates: Sequence[ChangeGate],
    named: Mapping[str, Mapping[str, float | None]],
    paths: Sequence[str],
) -> None:
    """Refuse a gate naming nothing in either report (with did-you-mean). `named` holds the audit
    metrics per tokenizer (empty for other commands), `paths` every flattened number."""
    known_paths = set(paths)
    keys = sorted({k for v in named.values() for k in v})
    for g in gates:
        if named and is_audit_metric(g.name):
            if g.tokenizer is not None and g.tokenizer not in named:
                _unknown(g, "tokenizer", g.tokenizer, sorted(named))
            if g.name not in keys:
                _unknown(g, "metric", g.name, keys)
            continue
        if g.tokenizer is not None:
            raise UsageError(f"--fail-on {g.text!r}: @TOKENIZER applies to audit metrics only")
        if g.name not in known_paths:
            _unknown(g, "number", g.name, sorted(known_paths | set(keys)))


def _unknown(g: ChangeGate, what: str, name: str, choices: Sequence[str]) -> None:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"--fail-on {g.text!r}: neither report has the {what} {name!r}{hint}")


def _delta(old: float | None, new: float | None, relative: bool) -> Delta:
    if old is None or new is None:
        return Delta(old, new, None)
    if relative:
        return Delta(old, new, None if old == 0 else 100.0 * (new - old) / abs(old))
    return Delta(old, new, new - old)


def check(
    gates: Sequence[ChangeGate],
    old_named: Mapping[str, Mapping[str, float | None]],
    new_named: Mapping[str, Mapping[str, float | None]],
    old_flat: Mapping[str, float],
    new_flat: Mapping[str, float],
) -> tuple[ChangeGateResult, ...]:
    """Evaluate the gates on two reports."""
    out = []
    for g in gates:
        values: dict[str, Delta] = {}
        if (old_named or new_named) and is_audit_metric(g.name):
            labels = [g.tokenizer] if g.tokenizer else sorted(set(old_named) | set(new_named))
            for label in labels:
                values[label] = _delta(
                    old_named.get(label, {}).get(g.name), new_named.get(label, {}).get(g.name), g.relative
                )
        else:
            values[g.name] = _delta(old_flat.get(g.name), new_flat.get(g.name), g.relative)
        failing = tuple(
            k for k, d in values.items() if d.change is not None and OPS[g.op](d.change, g.threshold)
        )
        undefined = tuple(k for k, d in values.items() if d.change is None)
        out.append(ChangeGateResult(g.text, bool(failing), values, failing, undefined))
    return tuple(out)
