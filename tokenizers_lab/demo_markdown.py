"""The demo's summary in Markdown, from the same fields as demo.json."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers_lab.report import md_provenance, md_section, md_table

if TYPE_CHECKING:
    from tokenizers_lab.demo import DemoReport

COMPARE_VOCAB = 4000  # the vocabulary size at which the demo compares its trained tokenizers


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def render(report: DemoReport) -> str:
    """Markdown summary of the demo."""
    rows = [
        (
            r.step,
            r.algorithm,
            r.vocab_size,
            r.heldout_bytes_per_token,
            r.roundtrip_rate,
            r.parallel_tokens,
            "" if r.median_premium is None else r.median_premium,
            "" if r.max_premium is None else r.max_premium,
            r.superword_tokens,
            f"[{r.report}]({r.report})",
        )
        for r in report.rows
    ]
    saving = "n/a" if report.superbpe_token_saving is None else f"{report.superbpe_token_saving:.2%}"
    out = [
        "# tokenlab demo",
        "",
        f"`{report.provenance.signature}`",
        "",
        "Tokenizers trained on the embedded corpora (parallel text in 12 languages, code, domain "
        "samples); premiums on the embedded parallel corpus, pivot eng_Latn.",
        "",
        md_table(
            [
                "step",
                "algorithm",
                "vocab",
                "held-out bytes/token",
                "held-out round-trip",
                "parallel tokens",
                "median premium",
                "max premium",
                "superword tokens",
                "report",
            ],
            rows,
        ),
        "",
        f"SuperBPE token saving vs BPE with the same stage-1 regex at vocab {COMPARE_VOCAB} on the "
        f"parallel corpus: {saving}. Superword merges need volume: on the ~100 KB embedded corpus they "
        "do not pay for the subword merges they replace; bench/train.py measures the saving on 32 MB of "
        "real text (BENCHMARKS.md).",
        "",
        *_chart(
            report, "bpe/train_sweep.svg", "The bpe sweep: compression and premiums against vocabulary size"
        ),
    ]
    out += _audit(report) + _invert(report) + _transplant(report)
    if report.notes:
        out += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    out.append(md_provenance(report.provenance))
    return "\n".join(out) + "\n"


def _chart(report: DemoReport, path: str, alt: str) -> list[str]:
    """An embedded chart (linked to its PNG twin), when the run drew it."""
    if path not in report.charts:
        return []
    return [f"[![{alt}]({path})]({path.removesuffix('.svg')}.png)", ""]


def _audit(report: DemoReport) -> list[str]:
    return md_section(
        "Audit",
        [
            "tokenizer",
            "median premium",
            "max premium",
            "Gini",
            "bytes/token",
            "Rényi eff",
            "probe round-trip",
            "unreachable",
            "digits",
        ],
        [
            (
                a.tokenizer,
                "" if a.median_premium is None else a.median_premium,
                "" if a.max_premium is None else a.max_premium,
                a.gini,
                a.bytes_per_token or "",
                a.renyi_efficiency or "",
                a.roundtrip_rate,
                a.unreachable,
                a.digits,
            )
            for a in report.audit_rows
        ],
        before=[
            f"The trained tokenizers at vocab {COMPARE_VOCAB}, side by side (full report: "
            "[audit/audit.md](audit/audit.md))."
        ],
        after=_chart(report, "audit/audit_premium.svg", "Token premium by language, per tokenizer")[:1],
    )


def _invert(report: DemoReport) -> list[str]:
    return md_section(
        "Invert",
        ["category", "estimate", "95% CI", "TC baseline", "truth"],
        [
            (
                r.category,
                f"{100 * r.share:.2f}%",
                f"{100 * r.ci_low:.2f}–{100 * r.ci_high:.2f}%"
                if r.ci_low is not None and r.ci_high is not None
                else "",
                f"{100 * r.baseline_share:.2f}%",
                f"{100 * r.truth:.2f}%" if r.truth is not None else "",
            )
            for r in report.invert_rows
        ],
        before=[
            f"A byte-level BPE ({report.invert_merges} merges) trained on a known mixture of the even lines of six "
            "embedded categories; `tokenlab invert` recovers the mixture from the odd lines, which the "
            "tokenizer never saw (full report: [invert/invert.md](invert/invert.md)). log10 MSE "
            f"{_fmt(report.invert_log10_mse)} (token-classification baseline "
            f"{_fmt(report.invert_baseline_log10_mse)})."
        ],
        after=_chart(report, "invert/invert_shares.svg", "Inferred shares with their intervals")[:1],
    )


def _transplant(report: DemoReport) -> list[str]:
    if not report.transplant_rows:  # the step was skipped: its note says why
        return ["## Transplant", "", report.transplant_note, "", "", ""]
    return md_section(
        "Transplant",
        [
            "method",
            "rows copied",
            "rows estimated",
            "fallback rows",
            "BPB original",
            "BPB transplanted",
            "BPB ratio",
            "length ratio",
            "leave-out centred cosine",
        ],
        [
            (
                t.method,
                t.copied,
                t.estimated,
                t.fallback,
                t.bpb_original,
                t.bpb,
                t.bpb_ratio,
                t.length_ratio,
                "–" if t.leave_out_centred_cosine is None else t.leave_out_centred_cosine,
            )
            for t in report.transplant_rows
        ],
        before=[report.transplant_note],
        after=_chart(report, "transplant/transplant_bpb.svg", "Bits per byte by method")[:1]
        + [", ".join(f"[{t.method}](transplant/{t.method}/transplant.md)" for t in report.transplant_rows)],
    )
