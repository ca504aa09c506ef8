"""Markdown rendering of a TransplantReport (the same fields as its JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers_lab.report import md_provenance, md_section

if TYPE_CHECKING:
    from tokenizers_lab.transplant.report import TransplantReport

ROUTE_MEANING = {
    "exact": "same token string in both vocabularies (row copied)",
    "canonical": "same bytes in another convention (Ġ / ▁ / ## / <0xNN>; row copied)",
    "special": "special token mapped by role (row copied)",
    "fvt": "mean of the old rows of its decomposition",
    "hybrid": "TokenAdapt: local (weighted decomposition) and global (nearest old tokens) blended",
    "local": "TokenAdapt local estimate only",
    "global": "TokenAdapt global estimate only (no decomposition)",
    "omp": "orthogonal matching pursuit in the donor's space",
    "hypernet": "hypernetwork over the decomposition",
    "fallback": "no estimate (or method random): drawn from the old matrix's per-dimension normal",
    "padding": "padding row beyond the tokenizer (per-dimension normal)",
}


def render(r: TransplantReport) -> str:
    m = r.model
    out = [
        f"# tokenlab transplant: {r.old_tokenizer['label']} → {r.new_tokenizer['label']} ({r.method})",
        "",
        f"`{r.provenance.signature}`",
        "",
        (
            f"Model {m.architecture}: {m.rows} × {m.dim} embeddings ({m.dtype}, "
            f"{'tied' if m.tied else 'untied'}), now {r.new_rows} rows ({r.padding_rows} padding). "
            f"Auxiliary space: {r.aux_space}."
        ),
        "",
    ]
    out += md_section(
        "How each row was made",
        ["route", "rows", "meaning"],
        [(k, v, ROUTE_MEANING.get(k, "")) for k, v in r.routes.items()],
        after=[
            f"Shared tokens: {r.canonical_overlap} in the canonical byte space against {r.raw_overlap} by raw "
            f"string. {r.undecomposable} new tokens had no decomposition into old tokens."
        ],
    )
    if r.specials:
        out += md_section(
            "Special tokens",
            ["new token", "id", "how", "old token"],
            [(s.token, s.new_id, s.how, s.old_token or "–") for s in r.specials],
        )
    extra = f"; added to the new tokenizer: {', '.join(r.added_specials)}" if r.added_specials else ""
    out += [
        f"Chat template: {r.chat_template}{extra}. Config ids: "
        + ", ".join(f"{k} {v}" for k, v in r.config_ids.items())
        + ".",
        "",
    ]
    if r.leave_out:
        out += _leave_out(r)
    if r.hypernet:
        out += md_section("Hypernetwork", ["key", "value"], sorted(r.hypernet.items()))
    if r.fit:
        out += _fit(r.fit)
    if r.bpb is not None:
        b = r.bpb
        rows: list[tuple[str, int, float, float | None]] = [
            ("original", b.original.tokens, b.original.bpb, 1.0)
        ]
        if b.heuristic is not None:
            rows.append(
                (f"{r.method} before the fit", b.heuristic.tokens, b.heuristic.bpb, b.heuristic_ratio)
            )
        rows.append(
            (
                "transplanted" + (", fitted" if r.fit else ""),
                b.transplanted.tokens,
                b.transplanted.bpb,
                b.ratio,
            )
        )
        out += md_section(
            "Bits per byte",
            ["model", "tokens", "bits per byte", "ratio to original"],
            rows,
            before=[f"Held-out text: {b.text}, {b.documents} documents, {b.bytes} bytes."],
            after=[f"BPB ratio {b.ratio:.4g}; sequence length ratio {b.length_ratio:.4g}."]
            + [f"![{c}]({c})" for c in r.charts],
        )
    if r.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    out.append(md_provenance(r.provenance))
    return "\n".join(out)


def _fit(f: dict) -> list[str]:
    return md_section(
        "Fit",
        ["key", "value"],
        [
            (k, "; ".join(f"{a} {b}" for a, b in v.items()) if isinstance(v, dict) else v)
            for k, v in f.items()
        ],
        before=[
            f"The rows of new tokens fitted on {f['corpus']} against the original model ({f['objective']}); "
            "copied rows and every other weight unchanged."
        ],
    )


def _leave_out(r: TransplantReport) -> list[str]:
    return md_section(
        "Leave-out reconstruction",
        [
            "method",
            "rebuilt",
            "cosine",
            "centred cosine",
            "median rank",
            "MRR",
            "hit@1",
            "hit@10",
            "output centred cosine",
        ],
        [
            (
                x.method,
                x.rebuilt,
                x.cosine,
                x.centred_cosine,
                x.median_rank,
                x.mrr,
                x.hit_at_1,
                x.hit_at_10,
                "–" if x.output_centred_cosine is None else x.output_centred_cosine,
            )
            for x in r.leave_out
        ],
        before=[
            f"{r.leave_out[0].hidden} old tokens hidden with every merge that makes or uses them, rebuilt from "
            "the rest; rank = position of the true row among all old rows by centred cosine."
        ],
    )
