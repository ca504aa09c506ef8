"""Markdown of the quick commands' reports (`--format md`, `--out`), from their fields."""

from __future__ import annotations

from typing import Any

from tokenizers_lab.quick.compare import CompareReport
from tokenizers_lab.quick.encode import EncodeReport, Piece
from tokenizers_lab.quick.inspect import InspectReport
from tokenizers_lab.report import md_section, md_table


def render(report: Any) -> str:
    """The report as Markdown."""
    if isinstance(report, EncodeReport):
        lines = _encode(report)
    elif isinstance(report, InspectReport):
        lines = _inspect(report)
    else:
        assert isinstance(report, CompareReport)
        lines = _compare(report)
    return "\n".join(lines).rstrip("\n") + "\n"


def _tok(t: dict[str, Any]) -> str:
    return f"{t['label']} ({t['model_type']}, {t['vocab_size']:,} ids, sha256 {t['sha256'][:7]})"


def split_line(pieces: tuple[Piece, ...]) -> str:
    """The split as one line: tokens between bars, specials in angle brackets."""
    return "|".join(p.token if p.special else p.text.replace("\n", "\\n") for p in pieces)


def _encode(r: EncodeReport) -> list[str]:
    rows = [(p.index, p.id, p.start, p.end, p.token, p.text.replace("\n", "\\n")) for p in r.tokens]
    note = [] if r.aligned else ["The tokenizer's normalizer changed the text: spans are estimates."]
    return md_section(
        f"{r.count} tokens ({r.text_bytes} bytes, {r.characters} characters)",
        ["#", "id", "start", "end", "token", "text"],
        rows,
        before=[f"Tokenizer: {_tok(r.tokenizer)}", f"`{split_line(r.tokens)}`", *note],
        level=1,
    )


def _inspect(r: InspectReport) -> list[str]:
    t = r.tokenizer
    facts = [
        ("format", r.format),
        ("model", t["model_type"]),
        ("vocabulary", t["vocab_size"]),
        ("special tokens", len(r.specials)),
        ("unknown token", r.unk or "none"),
        ("byte fallback", r.byte_fallback),
        ("merges", "–" if r.merges is None else r.merges),
        ("mean token bytes", round(r.mean_token_bytes, 3)),
        ("tokens not valid UTF-8 alone", r.partial_utf8),
        ("sha256", t["sha256"]),
        ("source", t["source"]),
    ]
    facts += [(k, _stage(v)) for k, v in r.pipeline.items()]
    lines = [f"# {t['label']}", "", md_table(["", ""], facts), ""]
    lines += md_section(
        "Special tokens",
        ["id", "content", "roles", "from"],
        [(s.id, s.content, ", ".join(s.roles) or "–", s.role_source or "–") for s in r.specials],
    )
    if r.longest:
        rows = [(x.id, x.token, x.bytes, x.text) for x in r.longest]
        lines += md_section("Longest tokens", ["id", "token", "bytes", "text"], rows)
    return lines


def _stage(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, list):
        return "Sequence[" + ", ".join(_stage(x) for x in v) + "]"
    return str(v)


def _compare(r: CompareReport) -> list[str]:
    rows = [
        (s.tokenizer["label"], s.tokens, s.bytes_per_token, s.chars_per_token, s.relative) for s in r.sides
    ]
    lines = md_section(
        f"Compared on {r.input} ({r.bytes} bytes, {r.characters} characters, {r.lines} lines)",
        ["tokenizer", "tokens", "bytes/token", "chars/token", "tokens vs first"],
        rows,
        level=1,
    )
    if r.input == "text":
        lines += ["## Splits", ""]
        for s in r.sides:
            lines += [f"- **{s.tokenizer['label']}** ({s.tokens}): `{split_line(s.pieces)}`"]
        lines.append("")
    return lines
