"""Charts for the Markdown report (matplotlib, an optional extra), written as SVG next to it.

SVG with a fixed hash salt and no date is byte-identical from run to run."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PLOT_EXTRA = "pip install 'tokenizers-lab[audit]'"


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "tokenlab"
    plt.rcParams["svg.fonttype"] = "path"
    return plt, *plt.subplots(figsize=(width, height))


def _svg(plt: Any, fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "tokenizers-lab"})
    plt.close(fig)
    return buf.getvalue()


def premium_chart(
    languages: Sequence[str], premiums: Mapping[str, Sequence[float | None]], pivot: str
) -> bytes:
    """Grouped bars: token premium per language (x) per tokenizer (colour)."""
    plt, fig, ax = _figure(max(6.0, 0.45 * len(languages) * max(1, len(premiums)) ** 0.5 + 2), 4.0)
    n = max(1, len(premiums))
    width = 0.8 / n
    for k, (label, values) in enumerate(premiums.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(languages))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width=width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(2.0, color="grey", linewidth=0.6, linestyle="--")
    ax.set_xticks(range(len(languages)), languages, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"token premium vs {pivot}")
    ax.legend(fontsize=7)
    return _svg(plt, fig)


def length_histogram(lengths: Mapping[str, Sequence[int] | np.ndarray]) -> bytes:
    """Token length (bytes) histogram of each vocabulary, as step lines."""
    plt, fig, ax = _figure(6.0, 3.5)
    top = max((max(v) for v in lengths.values() if len(v)), default=1)
    bins = list(range(1, min(top, 32) + 2))
    for label, values in lengths.items():
        ax.hist(np.minimum(np.asarray(values), 32), bins=bins, histtype="step", label=label, density=True)
    ax.set_xlabel("token length in bytes (32 = 32 or more)")
    ax.set_ylabel("share of vocabulary")
    ax.legend(fontsize=7)
    return _svg(plt, fig)
