"""Two reports of one subcommand compared: configuration and inputs first (from their provenance),
then every number of the measured part that changed, then the change gates."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers_lab.diff.flatten import flatten, leaves
from tokenizers_lab.diff.gates import ChangeGate, ChangeGateResult, check, check_names
from tokenizers_lab.errors import InputError

MAX_REPORT_BYTES = 1 << 28


@dataclass(frozen=True)
class SettingChange:
    """A configuration value that differs (absent on one side: null)."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class InputChange:
    """An input whose content differs, or that only one run read (`name@sha256[:7]`)."""

    role: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Change:
    """One number that changed (absent on one side: null)."""

    path: str
    old: float | None
    new: float | None
    delta: float | None
    relative: float | None  # delta / |old|; null when old is 0 or absent


@dataclass(frozen=True)
class Comparison:
    """What differs between two reports."""

    command: str
    old_signature: str
    new_signature: str
    old_version: str
    new_version: str
    settings: tuple[SettingChange, ...]
    inputs: tuple[InputChange, ...]
    changes: tuple[Change, ...]
    unchanged: int
    gates: tuple[ChangeGateResult, ...]
    paired: tuple[str, ...] = ()  # one-record lists compared with each other under the old name


def load_report(path: str, what: str = "report") -> dict[str, Any]:
    """A tokenlab JSON report (one clear line when it is not one)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_REPORT_BYTES:
            raise InputError(f"{what} {path} is over {MAX_REPORT_BYTES >> 20} MiB: not a tokenlab report")
        data = json.loads(p.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder; give its <cmd>.json") from None
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{what} {path} is not valid JSON") from None
    prov = data.get("provenance") if isinstance(data, dict) else None
    if not isinstance(prov, dict) or not isinstance(prov.get("command"), str):
        raise InputError(f"{what} {path} is not a tokenlab report (no provenance block)")
    return data


def named_metrics(report: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """An audit report's gate metrics per tokenizer ({} for other commands)."""
    if report["provenance"]["command"] != "audit":
        return {}
    from tokenizers_lab.audit.report import gate_values_of_json

    try:
        return gate_values_of_json(report.get("tokenizers") or [])
    except (KeyError, TypeError) as e:
        raise InputError(
            f"the audit report lacks a field the gates read ({e}); was it written by tokenlab?"
        ) from None


def _settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[SettingChange, ...]:
    a, b = leaves(old.get("config") or {}), leaves(new.get("config") or {})
    out = [SettingChange(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("seed") != new.get("seed"):
        out.insert(0, SettingChange("seed", old.get("seed"), new.get("seed")))
    return tuple(out)


def _inputs(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> tuple[InputChange, ...]:
    def by_role(refs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in refs:
            role, n = str(r.get("role")), 2
            key = role
            while key in out:  # several inputs of one role (tokenizers, corpora): numbered
                key, n = f"{role} {n}", n + 1
            out[key] = f"{r.get('name')}@{str(r.get('sha256'))[:7]}"
        return out

    a, b = by_role(old), by_role(new)
    return tuple(
        InputChange(k, a.get(k), b.get(k))
        for k in sorted(set(a) | set(b))
        if (a.get(k) or "").partition("@")[2] != (b.get(k) or "").partition("@")[2] or (k in a) != (k in b)
    )


def _changes(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[tuple[Change, ...], int]:
    out, same = [], 0
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if x is not None and y is not None and (x == y or (math.isnan(x) and math.isnan(y))):
            same += 1
            continue
        delta = None if x is None or y is None else y - x
        rel = None if delta is None or not x else delta / abs(x)
        out.append(Change(path, x, y, delta, rel))
    return tuple(out), same


def _pair_singles(flat_new: dict[str, float], old: dict[str, str], new: dict[str, str]) -> tuple[str, ...]:
    """A list holding one record on each side under different names (a training at 300 ids, one
    at 400): the new record's numbers take the old record's path, so they compare; says which."""
    out = []
    for path, key in sorted(new.items()):
        was = old.get(path)
        if was is None or was == key:
            continue
        head, head_old = f"{path}.{key}.", f"{path}.{was}."
        for p in [p for p in flat_new if p.startswith(head)]:
            flat_new[head_old + p[len(head) :]] = flat_new.pop(p)
        out.append(f"{path}: {was} (old) compared with {key} (new), named {head_old[:-1]}")
    return tuple(out)


def compare(old: dict[str, Any], new: dict[str, Any], gates: Sequence[ChangeGate] = ()) -> Comparison:
    """Compare two reports of one subcommand (an input error when the subcommands differ)."""
    po, pn = old["provenance"], new["provenance"]
    if po["command"] != pn["command"]:
        raise InputError(f"cannot compare a {po['command']} report with a {pn['command']} report")
    singles_old: dict[str, str] = {}
    singles_new: dict[str, str] = {}
    flat_old, flat_new = flatten(old, singles=singles_old), flatten(new, singles=singles_new)
    paired = _pair_singles(flat_new, singles_old, singles_new)
    named_old, named_new = named_metrics(old), named_metrics(new)
    labels = set(named_old) | set(named_new)
    names = {
        k: {**dict.fromkeys(named_old.get(k, {})), **dict.fromkeys(named_new.get(k, {}))} for k in labels
    }
    check_names(gates, names, sorted(set(flat_old) | set(flat_new)))
    changes, same = _changes(flat_old, flat_new)
    return Comparison(
        command=po["command"],
        old_signature=str(po.get("signature")),
        new_signature=str(pn.get("signature")),
        old_version=str(po.get("version")),
        new_version=str(pn.get("version")),
        settings=_settings(po, pn),
        inputs=_inputs(po.get("inputs") or [], pn.get("inputs") or []),
        changes=changes,
        unchanged=same,
        gates=check(gates, named_old, named_new, flat_old, flat_new),
        paired=paired,
    )
