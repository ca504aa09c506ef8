"""The audit's Markdown: tables rendered from the report's fields, never recomputed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenizers_lab.report import md_provenance, md_table

if TYPE_CHECKING:
    from tokenizers_lab.audit.report import AuditReport


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _num(x: Any) -> Any:
    return "" if x is None else x


def _esc(s: str) -> str:
    return repr(s)[1:-1].replace("`", "'")


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
    out += [
        "## Tokenizers",
        "",
        md_table(
            ["label", "backend", "model", "vocab", "sha256"],
            [(a.label, a.backend, a.model_type, a.vocab_size, a.sha256[:12]) for a in r.tokenizers],
        ),
        "",
    ]

    rows = []
    for a in r.tokenizers:
        s, c = a.fairness_summary, a.corpus_compression or a.parallel_compression
        rows.append(
            (
                a.label,
                _num(s.median_premium),
                "" if s.max_premium is None else f"{s.max_premium:.3g} ({s.max_premium_language})",
                s.languages_above_2x,
                s.gini,
                s.mean_tokens_per_sentence,
                _num(c.bytes_per_token),
                _num(c.renyi_efficiency_full_vocab),
                _num(c.renyi_efficiency_observed),
                _pct(c.vocab_utilization),
                _pct(a.roundtrip_rate),
                a.vocabulary.unreachable,
                a.vocabulary.partial_utf8,
                a.numbers.scheme,
            )
        )
    out += [
        "## Summary",
        "",
        md_table(
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
        ),
        "",
        f"Premiums: Arnett convention (per-sentence sums), valid non-pivot languages, on `{r.parallel}`. "
        f"bytes/token, Rényi (alpha = {r.tokenizers[0].parallel_compression.renyi_alpha if r.tokenizers else ''}) "
        f"and vocab used measured on {measured_on(r)}. Probe round-trip: share of the robustness probes "
        "that decode back exactly.",
        "",
    ]
    if r.charts:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in r.charts] + [""]

    rows = []
    by_lang = {a.label: {f.language: f for f in a.fairness} for a in r.tokenizers}
    for lang in r.languages:
        f0 = by_lang[labels[0]][lang] if labels else None
        row = [lang, _num(f0.char_premium if f0 else None), _num(f0.byte_premium if f0 else None)]
        for label in labels:
            f = by_lang[label][lang]
            mark = "" if f.valid else " (invalid)"
            row.append(
                f"{f.premium_sum:.3f} / {f.premium_concat:.3f}{mark}"
                if f.premium_sum is not None and f.premium_concat is not None
                else ""
            )
        rows.append(row)
    out += [
        "## Token premium per language",
        "",
        "Each cell: Arnett (per-sentence sum) / Petrov (joined text); "
        "invalid = more than 10% of characters under UNK.",
        "",
        md_table(["language", "char premium", "byte premium", *labels], rows),
        "",
    ]
    rows = []
    for a in r.tokenizers:
        for f in a.fairness:
            rows.append(
                (
                    a.label,
                    f.language,
                    f.tokens_sum,
                    f.tokens_concat,
                    f.tokens_per_sentence,
                    f.unk_tokens,
                    _pct(f.unk_char_share),
                    _pct(f.byte_fallback_share),
                    _pct(f.partial_utf8_share),
                )
            )
    out += [
        "### Counts",
        "",
        md_table(
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
        ),
        "",
    ]

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
                    _num(c.bytes_per_token),
                    _num(c.chars_per_token),
                    fert,
                    _pct(c.continued_words),
                    _pct(c.boundary_violations),
                    _pct(c.aligned_lines),
                    _num(c.renyi_efficiency_full_vocab),
                )
            )
    out += [
        "## Compression per language",
        "",
        md_table(
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
        ),
        "",
    ]
    rows = []
    for a in r.tokenizers:
        for name, c in (("parallel", a.parallel_compression), ("corpora", a.corpus_compression)):
            if c is None:
                continue
            rows.append(
                (
                    a.label,
                    name,
                    c.tokens,
                    _num(c.bytes_per_token),
                    _num(c.chars_per_token),
                    _num(c.tokens_per_word),
                    c.observed_types,
                    _pct(c.vocab_utilization),
                    _num(c.renyi_efficiency_full_vocab),
                    _num(c.renyi_efficiency_observed),
                    _num(c.shannon_efficiency_full_vocab),
                    _num(c.shannon_efficiency_observed),
                )
            )
    out += [
        "## Compression and efficiency",
        "",
        md_table(
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
        ),
        "",
    ]

    rows = []
    for a in r.tokenizers:
        for i in a.integrity:
            rows.append(
                (
                    a.label,
                    i.language,
                    i.validator + (" (frequency-based)" if i.frequency_based else ""),
                    i.types,
                    _pct(i.lang_type),
                    _pct(i.lang_token),
                    _pct(i.lang_type_letters),
                    _pct(i.pure_type),
                    _pct(i.pure_token),
                    ", ".join(_esc(x) for x in i.examples_invalid[:4]),
                )
            )
    if rows:
        out += [
            "## Language integrity (%Lang / %Pure)",
            "",
            md_table(
                [
                    "tokenizer",
                    "language",
                    "validator",
                    "types",
                    "%Lang (types)",
                    "%Lang (tokens)",
                    "%Lang (letter types)",
                    "%Pure (types)",
                    "%Pure (tokens)",
                    "frequent invalid",
                ],
                rows,
            ),
            "",
            "Validators: " + "; ".join(f"{k}: {v}" for k, v in r.validators.items()),
            "",
        ]

    if r.charbench_items:
        rows = []
        for a in r.tokenizers:
            for s in a.charbench:
                rows.append(
                    (
                        a.label,
                        s.task,
                        s.items,
                        s.mean_tokens,
                        s.mean_chars_per_token,
                        _num(s.mean_target_token_length),
                        _pct(s.share_target_in_long_token),
                        _num(s.mean_context_tokens),
                        _pct(s.context_differs),
                    )
                )
        out += [
            "## CharBench-style probes",
            "",
            f"{r.charbench_items} items in `charbench_items.jsonl` "
            "(answer them with any model, then pass `--predictions`).",
            "",
            md_table(
                [
                    "tokenizer",
                    "task",
                    "items",
                    "tokens/word",
                    "chars/token",
                    "target token length",
                    "target in token >= 4 chars",
                    "tokens in prompt",
                    "splits differently in prompt",
                ],
                rows,
            ),
            "",
        ]
        rows = []
        for a in r.tokenizers:
            for s in a.charbench_scores:
                c = s.correlations
                rows.append(
                    (
                        a.label,
                        s.task,
                        s.answered,
                        _pct(s.accuracy),
                        _num(c.get("tokens")),
                        _num(c.get("chars_per_token")),
                        _num(c.get("target_token_length")),
                        _num(c.get("target_position")),
                        _num(c.get("word_length")),
                    )
                )
        if rows:
            out += [
                "### Accuracy and Pearson r with correctness",
                "",
                md_table(
                    [
                        "tokenizer",
                        "task",
                        "answered",
                        "accuracy",
                        "r tokens",
                        "r chars/token",
                        "r target token length",
                        "r position in token",
                        "r word length",
                    ],
                    rows,
                ),
                "",
            ]

    rows = [
        (
            a.label,
            a.numbers.scheme,
            _pct(a.numbers.consistency),
            a.numbers.with_space_scheme,
            "/".join(str(a.numbers.single_token_numbers[k]) for k in ("1-digit", "2-digit", "3-digit")),
            _pct(a.numbers.comma_groups_aligned),
            _pct(a.numbers.year_single_token),
            _esc(a.numbers.examples.get("1234567", "")),
            _esc(a.numbers.examples.get(" 2024", "")),
        )
        for a in r.tokenizers
    ]
    out += [
        "## Numbers",
        "",
        md_table(
            [
                "tokenizer",
                "digit scheme",
                "consistency",
                "after a space",
                "single-token 1/2/3-digit (of 10/90/900)",
                "comma groups aligned",
                "years one token",
                "1234567",
                "' 2024'",
            ],
            rows,
        ),
        "",
    ]

    if r.tokenizers:
        probes = [p.probe for p in r.tokenizers[0].roundtrip]
        rows = []
        for k, name in enumerate(probes):
            row = [name]
            for a in r.tokenizers:
                p = a.roundtrip[k]
                row.append("ok" if p.ok else f"differs at {p.first_difference}")
            rows.append(row)
        out += ["## Round-trip probes", "", md_table(["probe", *labels], rows), ""]
        rows = [
            (
                a.label,
                a.vocabulary.tokens_checked,
                a.vocabulary.unreachable,
                ", ".join(_esc(x) for x in a.vocabulary.unreachable_examples[:5]),
                a.vocabulary.partial_utf8,
                _pct(a.vocabulary.decomposable_share),
                _num(a.vocabulary.mean_splits),
                ", ".join(f"{_esc(t)} ({n})" for t, n in a.boundary_offenders[:5]),
            )
            for a in r.tokenizers
        ]
        out += [
            "## Vocabulary health",
            "",
            md_table(
                [
                    "tokenizer",
                    "tokens checked",
                    "unreachable",
                    "examples",
                    "partial UTF-8",
                    "decomposable",
                    "mean splits",
                    "top boundary-crossing tokens",
                ],
                rows,
            ),
            "",
        ]

    if r.gates:
        rows = [
            (
                g.expression,
                "TRIPPED" if g.tripped else "ok",
                ", ".join(g.failing),
                ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=n/a" for k, v in g.values.items()),
            )
            for g in r.gates
        ]
        out += ["## Gates", "", md_table(["expression", "result", "failing", "values"], rows), ""]
    if r.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    out += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in sorted(r.definitions.items())] + [""]
    out += [md_provenance(r.provenance)]
    return "\n".join(out) + "\n"
