"""Charts of every report (matplotlib, an optional extra): each written as SVG (what the Markdown
and HTML reports show) and as PNG beside it, for tools that do not render SVG.

Readable at any size: horizontal bars sorted by value, a title naming what is measured (and the
premium convention), one colour per tokenizer kept across a run's charts, the legend inside the
frame. Text stays text in the SVG (searchable, crisp at any zoom). A fixed hash salt and no date:
the SVG is byte-identical from run to run on one machine."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PLOT_EXTRA = "pip install 'tokenizers-lab[audit]'"
ALL_BARS = 40  # up to this many languages every one is a bar; above it, the top and bottom SHOWN
SHOWN = 20
WIDTH = 8.0  # inches, every chart
PNG_DPI = 100

PREMIUM_CONVENTIONS = {
    "sum": "per-sentence token counts summed (Arnett et al. 2025)",
    "concat": "lines joined and encoded once (Petrov et al. 2023)",
}


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "tokenlab",
            "svg.fonttype": "none",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def colours(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per label, in the order given (tab10, tab20 past ten labels)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def save(fig: Any, stem: str) -> dict[str, bytes]:
    """`stem.svg` and `stem.png` of a figure (closed afterwards)."""
    plt = _pyplot()
    out = {}
    fig.tight_layout()
    for fmt, meta in (("svg", {"Date": None, "Creator": "tokenizers-lab"}), ("png", {"Software": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=meta, dpi=PNG_DPI)
        out[f"{stem}.{fmt}"] = buf.getvalue()
    plt.close(fig)
    return out


@dataclass(frozen=True)
class PremiumBars:
    """The languages a premium chart shows, top to bottom, and how many it leaves out."""

    languages: tuple[str, ...]
    hidden: int  # languages between the top and the bottom SHOWN, not drawn
    top: int  # how many of `languages` are the top block (the rest are the bottom block)


def premium_order(
    languages: Sequence[str], premiums: Mapping[str, Sequence[float | None]], pivot: str
) -> PremiumBars:
    """Languages by mean premium over the tokenizers, highest first, the pivot and languages with no
    premium left out; above ALL_BARS languages only the top and bottom SHOWN."""
    means = {}
    for i, lang in enumerate(languages):
        values = [x for v in premiums.values() if (x := v[i]) is not None]
        if lang != pivot and values:
            means[lang] = float(np.mean(values))
    ordered = sorted(means, key=lambda lang: (-means[lang], lang))
    if len(ordered) <= ALL_BARS:
        return PremiumBars(tuple(ordered), 0, len(ordered))
    return PremiumBars(tuple(ordered[:SHOWN] + ordered[-SHOWN:]), len(ordered) - 2 * SHOWN, SHOWN)


def premium_chart(
    languages: Sequence[str],
    premiums: Mapping[str, Sequence[float | None]],
    pivot: str,
    convention: str = "sum",
    stem: str = "audit_premium",
) -> dict[str, bytes]:
    """Horizontal bars of the token premium per language (rows, highest on top) per tokenizer
    (colour); a line at parity (1) and at 2."""
    plt = _pyplot()
    bars = premium_order(languages, premiums, pivot)
    index = {lang: i for i, lang in enumerate(languages)}
    n = max(1, len(premiums))
    rows = len(bars.languages) + (1 if bars.hidden else 0)
    ys = [i + (1 if bars.hidden and i >= bars.top else 0) for i in range(len(bars.languages))]
    fig, ax = plt.subplots(figsize=(WIDTH, 1.4 + max(rows, 1) * (0.12 + 0.09 * n)))
    height, colour = 0.8 / n, colours(list(premiums))
    for k, (label, values) in enumerate(premiums.items()):
        xs = [values[index[lang]] for lang in bars.languages]
        pos = [y + (k - (n - 1) / 2) * height for y in ys]
        ax.barh(pos, [x if x is not None else 0.0 for x in xs], height=height, label=label,
                color=colour[label])  # fmt: skip
    ax.set_yticks(ys, bars.languages)
    if bars.hidden:
        ax.text(0.5, bars.top, f"… {bars.hidden} languages in between (see the distribution) …",
                transform=ax.get_yaxis_transform(), ha="center", va="center", color="dimgrey")  # fmt: skip
    ax.set_ylim(rows - 0.5, -0.5)  # highest premium on top
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(2.0, color="grey", linewidth=0.6, linestyle="--")
    drawn = [v[index[lang]] for v in premiums.values() for lang in bars.languages]
    ax.set_xlim(0, 1.3 * max([x for x in drawn if x is not None] + [2.0]))  # room for the legend
    ax.set_xlabel(f"token premium vs {pivot} (1 = as many tokens as {pivot})")
    shown = f"top and bottom {SHOWN} of {len(bars.languages) + bars.hidden}" if bars.hidden else "all"
    ax.set_title(
        f"Token premium by language, {shown} languages\n{PREMIUM_CONVENTIONS.get(convention, convention)}"
    )
    ax.legend(loc="lower right", frameon=True, framealpha=0.9)
    return save(fig, stem)


def premium_distribution(
    languages: Sequence[str],
    premiums: Mapping[str, Sequence[float | None]],
    pivot: str,
    convention: str = "sum",
    stem: str = "audit_premium_distribution",
) -> dict[str, bytes]:
    """Every language's premium per tokenizer: a box (quartiles) over the points, one row each."""
    plt = _pyplot()
    labels = list(premiums)
    colour = colours(labels)
    fig, ax = plt.subplots(figsize=(WIDTH, 1.6 + 0.5 * len(labels)))
    rng = np.random.default_rng(0)  # jitter only: the same picture every run
    for y, label in enumerate(labels):
        xs = np.array(
            [v for lang, v in zip(languages, premiums[label]) if v is not None and lang != pivot], float
        )
        if not len(xs):
            continue
        ax.boxplot([xs], positions=[y], orientation="horizontal", widths=0.6, showfliers=False,
                   medianprops={"color": "black"})  # fmt: skip
        ax.scatter(xs, y + rng.uniform(-0.2, 0.2, len(xs)), s=6, color=colour[label], alpha=0.6)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"token premium vs {pivot}")
    ax.set_title(
        f"Token premium over all {len(languages) - 1} languages\n{PREMIUM_CONVENTIONS.get(convention, convention)}"
    )
    return save(fig, stem)


def length_histogram(
    lengths: Mapping[str, Sequence[int] | np.ndarray], stem: str = "audit_token_lengths"
) -> dict[str, bytes]:
    """Token length (bytes) histogram of each vocabulary, as step lines."""
    plt = _pyplot()
    colour = colours(list(lengths))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.5))
    top = max((max(v) for v in lengths.values() if len(v)), default=1)
    bins = list(range(1, min(top, 32) + 2))
    for label, values in lengths.items():
        ax.hist(np.minimum(np.asarray(values), 32), bins=bins, histtype="step", label=label,
                density=True, color=colour[label])  # fmt: skip
    ax.set_xlabel("token length in bytes (32 = 32 or more)")
    ax.set_ylabel("share of vocabulary")
    ax.set_title("Vocabulary token lengths")
    ax.legend(loc="upper right", frameon=True)
    return save(fig, stem)


def sweep_chart(
    title: str,
    sizes: Sequence[int],
    bytes_per_token: Sequence[float | None],
    premiums: Mapping[str, Sequence[float | None]],
    stem: str = "train_sweep",
) -> dict[str, bytes]:
    """Two panels against vocabulary size (log scale): held-out bytes per token, and the premium
    statistics (median, max) over the parallel languages."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if premiums else 1, figsize=(WIDTH, 3.4), squeeze=False)
    left = axes[0][0]
    left.plot(sizes, [np.nan if v is None else v for v in bytes_per_token], marker="o", color="C0")
    left.set_ylabel("bytes per token")
    left.set_title("held-out compression (higher is better)")
    if premiums:
        right = axes[0][1]
        for k, (name, values) in enumerate(premiums.items()):
            right.plot(sizes, [np.nan if v is None else v for v in values], marker="os^"[k % 3],
                       label=name, color=f"C{k + 1}")  # fmt: skip
        right.axhline(1.0, color="black", linewidth=0.8)
        right.set_ylabel("token premium vs the pivot")
        right.set_title("parallel-text premium (1 = parity)")
        right.legend(loc="best", frameon=True)
    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(sizes), [f"{s / 1000:g}k" if s >= 1000 else str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("vocabulary size")
    fig.suptitle(title)
    return save(fig, stem)


def shares_chart(
    names: Sequence[str],
    shares: Sequence[float],
    intervals: Sequence[tuple[float | None, float | None]],
    truth: Sequence[float | None],
    baseline: Sequence[float],
    stem: str = "invert_shares",
) -> dict[str, bytes]:
    """invert's estimated shares as horizontal bars (largest on top) with their 95 % intervals; the
    token-classification baseline and, when known, the true share as markers."""
    plt = _pyplot()
    order = sorted(range(len(names)), key=lambda i: (-shares[i], names[i]))
    fig, ax = plt.subplots(figsize=(WIDTH, 1.4 + 0.32 * len(names)))
    ys = list(range(len(order)))
    spans = [(s if a is None else a, s if b is None else b) for s, (a, b) in zip(shares, intervals)]
    lo = [max(0.0, shares[i] - spans[i][0]) for i in order]
    hi = [max(0.0, spans[i][1] - shares[i]) for i in order]
    ax.barh(
        ys,
        [shares[i] for i in order],
        xerr=[lo, hi],
        color="#9ecae1",
        capsize=3,
        label="estimate (95 % interval)",
    )
    ax.scatter(
        [baseline[i] for i in order],
        ys,
        marker="|",
        s=160,
        linewidths=2,
        color="#d62728",
        label="token-classification baseline",
        zorder=3,
    )
    known = [(y, truth[i]) for y, i in zip(ys, order) if truth[i] is not None]
    if known:
        ax.scatter(
            [t for _, t in known],
            [y for y, _ in known],
            marker="D",
            s=22,
            color="black",
            label="true share",
            zorder=4,
        )
    ax.set_yticks(ys, [names[i] for i in order])
    ax.set_ylim(len(ys) - 0.5, -0.5)
    right = max([b for _, b in spans] + list(baseline) + [t for t in truth if t is not None] + [1e-9])
    ax.set_xlim(0, right * 1.6)  # room on the right for the legend, clear of every bar and marker
    ax.set_xlabel("share of the training bytes")
    ax.set_title("Inferred training-data mixture (Hayase et al. 2024)")
    ax.legend(loc="lower right", frameon=True, framealpha=0.9)
    return save(fig, stem)


def bpb_chart(
    rows: Sequence[tuple[str, float, float, float | None]], stem: str = "transplant_bpb"
) -> dict[str, bytes]:
    """Bits per byte per transplant method (rows: method, original, transplanted, heuristic before a
    fit or None), lowest on top; a line at the original model's BPB."""
    plt = _pyplot()
    ordered = sorted(rows, key=lambda r: (r[2], r[0]))
    fig, ax = plt.subplots(figsize=(WIDTH, 1.5 + 0.34 * len(ordered)))
    ys = list(range(len(ordered)))
    ax.barh(ys, [r[2] for r in ordered], color="C0", label="transplanted")
    ax.set_xlim(
        0, 1.4 * max([r[2] for r in ordered] + [r[1] for r in ordered] + [1e-9])
    )  # room for the legend
    heur = [(y, r[3]) for y, r in zip(ys, ordered) if r[3] is not None]
    if heur:
        ax.scatter([h for _, h in heur], [y for y, _ in heur], marker="o", facecolors="none",
                   edgecolors="C3", s=40, label="before the fit", zorder=3)  # fmt: skip
    original = ordered[0][1] if ordered else 0.0
    ax.axvline(original, color="black", linewidth=1.0, label=f"original model ({original:.3g})")
    ax.set_yticks(ys, [r[0] for r in ordered])
    ax.set_ylim(len(ys) - 0.5, -0.5)
    ax.set_xlabel("bits per byte on held-out text (lower is better)")
    ax.set_title("Transplanted model quality by method")
    ax.legend(loc="upper right", frameon=True, framealpha=0.9)
    return save(fig, stem)
