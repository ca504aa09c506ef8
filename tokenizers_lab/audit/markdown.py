"""The audit's Markdown: tables rendered from the report's fields, never recomputed. `render`
joins the sections in order; each section is one function of the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers_lab.audit.config import SKIPPABLE
from tokenizers_lab.audit.markdown_checks import checks_sections, num, pct
from tokenizers_lab.report import md_provenance, md_section

if TYPE_CHECKING:
    from tokenizers_lab.audit.report import AuditReport


def measured_on(r: AuditReport) -> str:
    """Which text the monolingual measures (bytes/token, Rényi, vocab used) came from."""
    if r.corpora:
        return ", ".join(f"`{c}`" for c in r.corpora)
    return f"the parallel corpus `{r.parallel}` (no --corpus given)"


def render(r: AuditReport) -> str:
    """The whole report."""
    labels = [a.label for a in r.tokenizers]
    out = [
        "# tokenlab audit",
        "",
        f"`{r.provenance.signature}`",
        "",
        f"Parallel corpus `{r.parallel}` ({len(r.languages)} languages, pivot {r.pivot}); monolingual "
        f"corpora: {', '.join(f'`{c}`' for c in r.corpora) or 'none'}.",
        "",
    ]
    if r.skipped:
        out += [
            "Not measured (--skip): " + "; ".join(f"{n} ({SKIPPABLE[n][0]})" for n in r.skipped) + ".",
            "",
        ]
    out += md_section(
        "Tokenizers",
        ["label", "backend", "encoded by", "model", "vocab", "sha256"],
        [(a.label, a.backend, a.encoder, a.model_type, a.vocab_size, a.sha256[:12]) for a in r.tokenizers],
    )
    out += _summary(r)
    if r.charts:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in r.charts] + [""]
    out += _premiums(r, labels)
    out += _counts(r)
    out += _compression_per_language(r)
    out += _compression(r)
    out += checks_sections(r, labels)
    if r.baseline is not None:
        from tokenizers_lab.diff.markdown import comparison_lines

        out += ["## Against the baseline", "", f"Baseline: `{r.baseline.old_signature}`", ""]
        out += comparison_lines(r.baseline, level=3)
    out += [md_provenance(r.provenance)]
    return "\n".join(out) + "\n"


def _summary(r: AuditReport) -> list[str]:
    rows = []
    for a in r.tokenizers:
        s, c = a.fairness_summary, a.corpus_compression or a.parallel_compression
        rows.append(
            (
                a.label,
                num(s.median_premium),
                "" if s.max_premium is None else f"{s.max_premium:.3g} ({s.max_premium_language})",
                s.languages_above_2x,
                s.gini,
                s.mean_tokens_per_sentence,
                num(c.bytes_per_token),
                num(c.renyi_efficiency_full_vocab),
                num(c.renyi_efficiency_observed),
                pct(c.vocab_utilization),
                pct(a.roundtrip_rate),
                a.vocabulary.unreachable,
                a.vocabulary.partial_utf8,
                a.numbers.scheme,
            )
        )
    alpha = r.tokenizers[0].parallel_compression.renyi_alpha if r.tokenizers else ""
    return md_section(
        "Summary",
        [
            "tokenizer",
            "median premium",
            "max premium",
            "langs > 2x",
            "Gini",
            "tokens/sentence",
            "bytes/token",
            "Rényi eff (full V)",
            "Rényi eff (observed)",
            "vocab used",
            "probe round-trip",
            "unreachable",
            "partial UTF-8",
            "digits",
        ],
        rows,
        after=[
            f"Premiums: Arnett convention (per-sentence sums), valid non-pivot languages, on `{r.parallel}`. "
            f"bytes/token, Rényi (alpha = {alpha}) "
            f"and vocab used measured on {measured_on(r)}. Probe round-trip: share of the robustness probes "
            "that decode back exactly."
        ],
    )


def _premiums(r: AuditReport, labels: list[str]) -> list[str]:
    rows = []
    by_lang = {a.label: {f.language: f for f in a.fairness} for a in r.tokenizers}
    for lang in r.languages:
        f0 = by_lang[labels[0]][lang] if labels else None
        row = [lang, num(f0.char_premium if f0 else None), num(f0.byte_premium if f0 else None)]
        for label in labels:
            f = by_lang[label][lang]
            mark = "" if f.valid else " (invalid)"
            row.append(
                f"{f.premium_sum:.3f} / {f.premium_concat:.3f}{mark}"
                if f.premium_sum is not None and f.premium_concat is not None
                else ""
            )
        rows.append(row)
    return md_section(
        "Token premium per language",
        ["language", "char premium", "byte premium", *labels],
        rows,
        before=[
            "Each cell: Arnett (per-sentence sum) / Petrov (joined text); "
            "invalid = more than 10% of characters under UNK."
        ],
    )


def _counts(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            f.language,
            f.tokens_sum,
            f.tokens_concat,
            f.tokens_per_sentence,
            f.unk_tokens,
            pct(f.unk_char_share),
            pct(f.byte_fallback_share),
            pct(f.partial_utf8_share),
        )
        for a in r.tokenizers
        for f in a.fairness
    ]
    return md_section(
        "Counts",
        [
            "tokenizer",
            "language",
            "tokens (sum)",
            "tokens (joined)",
            "tokens/sentence",
            "UNK",
            "UNK chars",
            "byte fallback",
            "partial UTF-8",
        ],
        rows,
        level=3,
    )


def _compression_per_language(r: AuditReport) -> list[str]:
    rows = []
    for a in r.tokenizers:
        for c in a.languages:
            fert = (
                ""
                if c.tokens_per_word is None
                else f"{c.tokens_per_word:.3f}" + ("" if c.fertility_meaningful else " (no spaces)")
            )
            rows.append(
                (
                    a.label,
                    c.language,
                    num(c.bytes_per_token),
                    num(c.chars_per_token),
                    fert,
                    pct(c.continued_words),
                    pct(c.boundary_violations),
                    pct(c.aligned_lines),
                    num(c.renyi_efficiency_full_vocab),
                )
            )
    return md_section(
        "Compression per language",
        [
            "tokenizer",
            "language",
            "bytes/token",
            "chars/token",
            "tokens/word",
            "continued words",
            "boundary violations",
            "aligned lines",
            "Rényi eff (full V)",
        ],
        rows,
    )


def _compression(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            name,
            c.tokens,
            num(c.bytes_per_token),
            num(c.chars_per_token),
            num(c.tokens_per_word),
            c.observed_types,
            pct(c.vocab_utilization),
            num(c.renyi_efficiency_full_vocab),
            num(c.renyi_efficiency_observed),
            num(c.shannon_efficiency_full_vocab),
            num(c.shannon_efficiency_observed),
        )
        for a in r.tokenizers
        for name, c in (("parallel", a.parallel_compression), ("corpora", a.corpus_compression))
        if c is not None
    ]
    return md_section(
        "Compression and efficiency",
        [
            "tokenizer",
            "text",
            "tokens",
            "bytes/token",
            "chars/token",
            "tokens/word",
            "types",
            "vocab used",
            "Rényi (full V)",
            "Rényi (observed)",
            "Shannon (full V)",
            "Shannon (observed)",
        ],
        rows,
    )
