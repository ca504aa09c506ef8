"""The audit report's check sections in Markdown: language integrity, CharBench-style probes,
numbers, round-trip probes, vocabulary health, gates, notes and definitions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenizers_lab.report import md_section

if TYPE_CHECKING:
    from tokenizers_lab.audit.report import AuditReport


def pct(x: float | None) -> str:
    """A share as a percentage cell ('' when undefined)."""
    return "" if x is None else f"{100 * x:.1f}%"


def num(x: Any) -> Any:
    """A number cell ('' when undefined)."""
    return "" if x is None else x


def esc(s: str) -> str:
    """A token's text, escaped for a Markdown cell."""
    return repr(s)[1:-1].replace("`", "'")


def checks_sections(r: AuditReport, labels: list[str]) -> list[str]:
    """Every section after compression, in order."""
    out = _integrity(r)
    if r.charbench_items:
        out += _charbench(r)
    out += _numbers(r)
    if r.tokenizers:
        out += _roundtrip(r, labels)
        out += _vocabulary(r)
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
        out += md_section("Gates", ["expression", "result", "failing", "values"], rows)
    if r.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    out += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in sorted(r.definitions.items())] + [""]
    return out


def _integrity(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            i.language,
            i.validator + (" (frequency-based)" if i.frequency_based else ""),
            i.types,
            pct(i.lang_type),
            pct(i.lang_token),
            pct(i.lang_type_letters),
            pct(i.pure_type),
            pct(i.pure_token),
            ", ".join(esc(x) for x in i.examples_invalid[:4]),
        )
        for a in r.tokenizers
        for i in a.integrity
    ]
    if not rows:
        return []
    return md_section(
        "Language integrity (%Lang / %Pure)",
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
        after=["Validators: " + "; ".join(f"{k}: {v}" for k, v in r.validators.items())],
    )


def _charbench(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            s.task,
            s.items,
            s.mean_tokens,
            s.mean_chars_per_token,
            num(s.mean_target_token_length),
            pct(s.share_target_in_long_token),
            num(s.mean_context_tokens),
            pct(s.context_differs),
        )
        for a in r.tokenizers
        for s in a.charbench
    ]
    out = md_section(
        "CharBench-style probes",
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
        before=[
            f"{r.charbench_items} items in `charbench_items.jsonl` "
            "(answer them with any model, then pass `--predictions`)."
        ],
    )
    scores = [
        (
            a.label,
            t.task,
            t.answered,
            pct(t.accuracy),
            num(t.correlations.get("tokens")),
            num(t.correlations.get("chars_per_token")),
            num(t.correlations.get("target_token_length")),
            num(t.correlations.get("target_position")),
            num(t.correlations.get("word_length")),
        )
        for a in r.tokenizers
        for t in a.charbench_scores
    ]
    if scores:
        out += md_section(
            "Accuracy and Pearson r with correctness",
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
            scores,
            level=3,
        )
    return out


def _numbers(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            a.numbers.scheme,
            pct(a.numbers.consistency),
            a.numbers.with_space_scheme,
            "/".join(str(a.numbers.single_token_numbers[k]) for k in ("1-digit", "2-digit", "3-digit")),
            pct(a.numbers.comma_groups_aligned),
            pct(a.numbers.year_single_token),
            esc(a.numbers.examples.get("1234567", "")),
            esc(a.numbers.examples.get(" 2024", "")),
        )
        for a in r.tokenizers
    ]
    return md_section(
        "Numbers",
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
    )


def _roundtrip(r: AuditReport, labels: list[str]) -> list[str]:
    rows = [
        [name]
        + [
            "ok" if a.roundtrip[k].ok else f"differs at {a.roundtrip[k].first_difference}"
            for a in r.tokenizers
        ]
        for k, name in enumerate(p.probe for p in r.tokenizers[0].roundtrip)
    ]
    return md_section("Round-trip probes", ["probe", *labels], rows)


def _vocabulary(r: AuditReport) -> list[str]:
    rows = [
        (
            a.label,
            a.vocabulary.tokens_checked,
            a.vocabulary.unreachable,
            ", ".join(esc(x) for x in a.vocabulary.unreachable_examples[:5]),
            a.vocabulary.partial_utf8,
            pct(a.vocabulary.decomposable_share),
            num(a.vocabulary.mean_splits),
            ", ".join(f"{esc(t)} ({n})" for t, n in a.boundary_offenders[:5]),
        )
        for a in r.tokenizers
    ]
    return md_section(
        "Vocabulary health",
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
    )
