"""Gate results for CI systems: JUnit XML (one test case per gate and tokenizer) and GitHub Actions
annotations (`::error` workflow commands, on stderr: the runner reads both streams, and stdout stays
the results)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GateCase:
    """One gate on one tokenizer (or one number): passed, failed or undefined."""

    gate: str  # the expression as given
    subject: str  # the tokenizer label, or the report path the gate read
    status: str  # "passed", "failed" or "undefined"
    detail: str  # the value(s) read, for the message


def gate_cases(results: Sequence[Any], detail: Callable[[Any], str]) -> list[GateCase]:
    """Every gate result (audit's or diff's: expression, values, failing, undefined) on every
    subject it read; `detail` says what a value was."""
    out = []
    for g in results:
        for subject, value in g.values.items():
            status = "failed" if subject in g.failing else "undefined" if subject in g.undefined else "passed"
            out.append(GateCase(g.expression, subject, status, detail(value)))
    return out


def junit_xml(suite: str, cases: Sequence[GateCase]) -> bytes:
    """A JUnit XML document: one <testcase> per gate and subject, <failure> when tripped, <error>
    when the value was undefined."""
    root = ET.Element("testsuites")
    failures = sum(c.status == "failed" for c in cases)
    errors = sum(c.status == "undefined" for c in cases)
    ts = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    for c in cases:
        tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{c.subject}", name=c.gate)
        if c.status == "failed":
            ET.SubElement(
                tc, "failure", message=f"{c.gate} holds for {c.subject}", type="gate"
            ).text = c.detail
        elif c.status == "undefined":
            ET.SubElement(
                tc, "error", message=f"{c.gate}: undefined for {c.subject}", type="undefined"
            ).text = c.detail
        else:
            ET.SubElement(tc, "system-out").text = c.detail
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _escape(text: str) -> str:
    # workflow-command data escapes (actions/toolkit's escapeData)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(command: str, cases: Sequence[GateCase]) -> list[str]:
    """`::error` lines for every failed or undefined case, when running under GitHub Actions
    (GITHUB_ACTIONS=true); [] elsewhere."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return []
    out = []
    for c in cases:
        if c.status == "passed":
            continue
        title = f"tokenlab {command} gate" if c.status == "failed" else f"tokenlab {command} gate undefined"
        msg = f"{c.gate} {'holds' if c.status == 'failed' else 'is undefined'} for {c.subject}: {c.detail}"
        out.append(f"::error title={_escape(title).replace(',', '%2C').replace(':', '%3A')}::{_escape(msg)}")
    return out
