"""`train`'s report as Markdown, from the same fields as the JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tokenizers_lab.report import md_provenance, md_table

if TYPE_CHECKING:
    from tokenizers_lab.train.report import TrainReport


def render(report: TrainReport) -> str:
    """The Markdown report."""
    p = report.provenance
    out = [
        f"# tokenlab train — {report.algorithm}",
        "",
        f"`{p.signature}`",
        "",
        f"Engine: {report.engine}. Corpus: {report.corpus.records} records, {report.corpus.bytes} bytes "
        f"({report.corpus.invalid_utf8} invalid UTF-8 sequences); held out "
        f"{report.corpus.heldout_records} records ({report.corpus.heldout_bytes} bytes).",
        "",
        "## Vocabularies",
        "",
    ]
    rows = [
        (
            r.vocab_size_requested,
            r.vocab_size,
            r.artifact,
            r.n_merges,
            r.mean_token_bytes,
            r.max_token_bytes,
            r.whitespace_spanning_tokens,
            r.heldout_bytes_per_token,
            r.heldout_chars_per_token,
            r.roundtrip_rate,
        )
        for r in report.results
    ]
    out.append(
        md_table(
            [
                "requested",
                "vocab",
                "artifact",
                "merges",
                "mean bytes/token",
                "max bytes",
                "tokens spanning a space",
                "held-out bytes/token",
                "chars/token",
                "held-out round-trip",
            ],
            rows,
        )
    )
    langs = sorted({lr.language for r in report.results for lr in r.languages})
    if langs:
        out += ["", "## Per language (parallel corpus; premium = tokens / pivot tokens)", ""]
        head = (
            ["language"]
            + [f"{r.vocab_size_requested} bytes/token" for r in report.results]
            + [f"{r.vocab_size_requested} premium" for r in report.results]
        )
        table = []
        for lang in langs:
            bpt = [
                next((x.bytes_per_token for x in r.languages if x.language == lang), "")
                for r in report.results
            ]
            prem = [next((x.premium for x in r.languages if x.language == lang), "") for r in report.results]
            table.append([lang, *bpt, *["" if v is None else v for v in prem]])
        out.append(md_table(head, table))
    extras = [
        (r.vocab_size_requested, json.dumps(r.extra, sort_keys=True)) for r in report.results if r.extra
    ]
    if extras:
        out += ["", "## Algorithm checks", "", md_table(["vocab", "checks"], extras)]
    if report.charts:
        out += ["", "## Charts", ""] + [f"![{c}]({c})" for c in report.charts]
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    out += ["", "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in sorted(report.definitions.items())]
    out += ["", md_provenance(p)]
    return "\n".join(out) + "\n"
