"""Markdown rendering of an InvertReport (the same fields as its JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers_lab.report import md_provenance, md_table

if TYPE_CHECKING:
    from tokenizers_lab.invert.report import InvertReport

BAR_WIDTH = 40


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def bars(report: InvertReport) -> str:
    """A text bar chart of the estimates (and the baseline) that renders anywhere Markdown does."""
    width = max(len(c.name) for c in report.categories)
    lines = ["```"]
    for c in report.categories:
        n = round(c.share * BAR_WIDTH)
        lines.append(f"{c.name:<{width}}  LP {'█' * n}{'·' * (BAR_WIDTH - n)} {pct(c.share):>7}")
        b = round(c.baseline_share * BAR_WIDTH)
        lines.append(f"{'':<{width}}  TC {'▒' * b}{'·' * (BAR_WIDTH - b)} {pct(c.baseline_share):>7}")
        if c.truth is not None:
            t = round(c.truth * BAR_WIDTH)
            lines.append(f"{'':<{width}}  ✓  {'░' * t}{'·' * (BAR_WIDTH - t)} {pct(c.truth):>7}")
    lines.append("```")
    return "\n".join(lines)


def render(r: InvertReport) -> str:
    s = r.solver
    has_truth = any(c.truth is not None for c in r.categories)
    head = ["category", "share", "95% CI", "LP range", "identifiable", "TC baseline"]
    head += ["truth"] if has_truth else []
    head += ["sample bytes", "pre-tokens", "pairs d_i"]
    rows = []
    for c in r.categories:
        ci = f"{pct(c.ci_low)} – {pct(c.ci_high)}" if c.ci_low is not None else "–"
        row: list[str | int] = [
            c.name,
            pct(c.share),
            ci,
            f"{pct(c.range_low)} – {pct(c.range_high)}" if c.range_low is not None else "–",
            "yes" if c.identifiable else "**no**",
            pct(c.baseline_share),
        ]
        row += [pct(c.truth)] if has_truth else []
        row += [c.sample_bytes, c.pretokens, c.pairs]
        rows.append(row)
    out = [
        f"# tokenlab invert: {r.tokenizer}",
        "",
        f"`{r.provenance.signature}`",
        "",
        (
            f"Training-data mixture inferred from merges {s.first_merge}–{s.last_merge - 1} of "
            f"{s.merges_in_list} ({r.unit}-level BPE) by Hayase et al.'s linear program, {r.bootstrap} "
            "bootstrap resamples."
        ),
        "",
        md_table(head, rows),
        "",
        bars(r),
        "",
    ]
    out += [f"![{c}]({c})" for c in r.charts] + ([""] if r.charts else [])
    if r.score is not None:
        sc = r.score
        out += [
            "## Against the known mixture",
            "",
            md_table(
                ["estimator", "MSE", "log10 MSE"],
                [
                    ("LP (this report)", f"{sc.mse:.3g}", f"{sc.log10_mse:.2f}"),
                    ("TC baseline", f"{sc.baseline_mse:.3g}", f"{sc.baseline_log10_mse:.2f}"),
                    ("uniform 1/n", "", f"{sc.uniform_log10_mse:.2f}"),
                ],
            ),
            "",
            f"MAE {100 * sc.mae:.3f} percentage points.",
            "",
        ]
    out += [
        "## Solver",
        "",
        md_table(
            ["status", "objective", "step slack", "pair slack", "constraints", "passes", "missing merges"],
            [
                (
                    s.status,
                    f"{s.objective:.3g}",
                    f"{s.step_slack:.3g}",
                    f"{s.pair_slack:.3g}",
                    s.constraints,
                    s.passes,
                    s.missing_merges,
                )
            ],
        ),
        "",
    ]
    if r.similar:
        out += [
            "Samples with nearly the same pair distribution (total-variation distance): "
            + ", ".join(f"{a} ~ {b} ({d:.3f})" for a, b, d in r.similar),
            "",
        ]
    if r.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    out += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in r.definitions.items()] + [""]
    out.append(md_provenance(r.provenance))
    return "\n".join(out)
