"""CI gates: `--fail-on EXPR` such as `premium.tur_Latn>2.5`, `roundtrip<1` or
`max_premium@bpe32k>=3`. An expression that holds for a tokenizer trips the gate (exit 3)."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tokenizers_lab.errors import UsageError, unknown_name

OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPR = re.compile(
    r"^\s*([A-Za-z_][\w.\-]*?)(?:@([^<>=!\s]+))?\s*(<=|>=|==|!=|<|>)\s*"
    r"(-?(?:\d+\.?\d*|\.\d+)(?:[eE]-?\d+)?)\s*$"
)
# metric name -> (needs a .KEY, what it is)
METRICS: dict[str, tuple[bool, str]] = {
    "premium": (True, "token premium vs the pivot, per-sentence counts summed (Arnett)"),
    "premium_concat": (True, "token premium vs the pivot, lines joined and encoded once (Petrov)"),
    "tokens_per_sentence": (True, "mean tokens per parallel sentence"),
    "unk_share": (True, "share of characters under UNK (Petrov)"),
    "fertility": (True, "tokens per whitespace word"),
    "pcw": (True, "proportion of continued words"),
    "lang": (True, "%Lang, type level (0-1)"),
    "lang_token": (True, "%Lang, token level (0-1)"),
    "pure": (True, "%Pure, type level (0-1)"),
    "charbench": (True, "CharBench accuracy of a task or 'all' (needs predictions)"),
    "median_premium": (False, "median premium over valid non-pivot languages"),
    "max_premium": (False, "largest premium over valid non-pivot languages"),
    "above_2x": (False, "languages with premium above 2"),
    "gini": (False, "Gini of tokens per sentence across languages"),
    "roundtrip": (False, "share of robustness probes that round-trip exactly"),
    "unreachable": (False, "tokens whose own string does not encode back to them"),
    "partial_utf8": (False, "vocabulary tokens that are not valid UTF-8 alone"),
    "bytes_per_token": (False, "corpus bytes per token"),
    "chars_per_token": (False, "corpus characters per token"),
    "renyi": (False, "Rényi efficiency, full vocabulary"),
    "renyi_observed": (False, "Rényi efficiency, observed types"),
    "utilization": (False, "share of the vocabulary seen on the corpus"),
    "digits_consistency": (False, "share of integers chunked by the tokenizer's digit scheme"),
}


@dataclass(frozen=True)
class Gate:
    """One parsed --fail-on expression."""

    text: str
    metric: str
    key: str | None
    tokenizer: str | None
    op: str
    threshold: float

    @property
    def name(self) -> str:
        return f"{self.metric}.{self.key}" if self.key else self.metric


@dataclass(frozen=True)
class GateResult:
    """A gate checked against every tokenizer it names."""

    expression: str
    tripped: bool
    values: dict[str, float | None]
    failing: tuple[str, ...]
    undefined: tuple[str, ...] = ()  # tokenizers whose value is undefined on this input: an error


def parse(text: str) -> Gate:
    """Parse `METRIC[.KEY][@TOKENIZER] OP NUMBER`; unknown metrics get a did-you-mean."""
    m = _EXPR.match(text)
    if not m:
        raise UsageError(
            f"--fail-on {text!r}: expected METRIC[.KEY][@TOKENIZER] OP NUMBER, "
            "e.g. premium.tur_Latn>2.5 or roundtrip<1"
        )
    name, tok, op, num = m.groups()
    metric, key = metric_key(text, name, "--fail-on")
    return Gate(text=text.strip(), metric=metric, key=key, tokenizer=tok, op=op, threshold=float(num))


def metric_key(text: str, name: str, option: str) -> tuple[str, str | None]:
    """`METRIC[.KEY]` checked against METRICS (did-you-mean; a key exactly where one is needed)."""
    metric, _, key = name.partition(".")
    if metric not in METRICS:
        raise unknown_name(f"{option} metric", metric, METRICS)
    keyed = METRICS[metric][0]
    if keyed and not key:
        raise UsageError(f"{option} {text!r}: {metric} needs a key, e.g. {metric}.tur_Latn")
    if not keyed and key:
        raise UsageError(f"{option} {text!r}: {metric} takes no .{key}")
    return metric, key or None


def check_keys(
    gates: Sequence[Gate], labels: Sequence[str], keys: Mapping[str, Sequence[str]], option: str = "--fail-on"
) -> None:
    """Refuse, before any encoding, a gate naming a tokenizer or a key the run will not measure.
    `keys` maps each keyed metric to the keys the inputs give it (languages from the parallel
    folder's file names, CharBench tasks, …); every available key is listed, none cut."""
    for g in gates:
        if g.tokenizer and g.tokenizer not in labels:
            raise unknown_name(f"{option} tokenizer", g.tokenizer, labels)
        if g.key is not None and g.key not in keys.get(g.metric, ()):
            avail = sorted(keys.get(g.metric, ()))
            close = difflib.get_close_matches(g.key, avail, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise UsageError(
                f"{option} {g.text!r}: this run measures no {g.name} ({hint}available keys: "
                f"{', '.join(avail) or 'none: enable the measure that makes it'})"
            )


def check(gates: Sequence[Gate], values: Mapping[str, Mapping[str, float | None]]) -> tuple[GateResult, ...]:
    """Evaluate gates on per-tokenizer metric values ({label: {name: value}})."""
    out = []
    for g in gates:
        labels = [g.tokenizer] if g.tokenizer else list(values)
        if g.tokenizer and g.tokenizer not in values:
            raise unknown_name("--fail-on tokenizer", g.tokenizer, values)
        # check_keys ran before any encoding; a value undefined on this input after all (every
        # language invalid, a task without answers) cannot pass a gate: it is listed as undefined
        # and the CLI exits 1 with the report written
        got: dict[str, float | None] = {label: values[label].get(g.name) for label in labels}
        failing = tuple(label for label, x in got.items() if x is not None and OPS[g.op](x, g.threshold))
        undefined = tuple(label for label, x in got.items() if x is None)
        out.append(
            GateResult(
                expression=g.text, tripped=bool(failing), values=got, failing=failing, undefined=undefined
            )
        )
    return tuple(out)
