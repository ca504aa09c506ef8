"""Charts: order and size of the premium bars at 14 and at 204 languages (read back from the SVG:
text stays text), PNG twins, the sweep/invert/transplant charts."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from tokenizers_lab import charts

pytestmark = pytest.mark.skipif(
    not charts.available(), reason="matplotlib (the audit extra) is not installed"
)

TOKENIZERS = ("cl100k", "o200k", "bpe-4k")


def _premiums(n: int, seed: int = 3) -> tuple[list[str], dict[str, list[float | None]]]:
    rng = np.random.default_rng(seed)
    langs = ["eng_Latn"] + [f"x{i:03d}_Test" for i in range(n - 1)]
    base = rng.uniform(0.8, 4.0, n - 1)
    return langs, {t: [1.0, *(base * rng.uniform(0.9, 1.1, n - 1))] for t in TOKENIZERS}


def _svg_size(svg: bytes) -> tuple[float, float]:
    m = re.search(rb'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, svg[:300]
    return float(m.group(1)), float(m.group(2))


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def _y_labels(svg: bytes) -> list[str]:
    """The y tick labels from top to bottom, by their drawn position."""
    text = svg.decode("utf-8")
    ticks = re.findall(r'<g id="ytick_\d+">.*?<text[^>]*\by="([\d.]+)"[^>]*>([^<]*)</text>', text, re.S)
    return [label for _, label in sorted(ticks, key=lambda t: float(t[0]))]


def _mean(premiums: dict[str, list[float | None]], langs: list[str], lang: str) -> float:
    i = langs.index(lang)
    return float(np.mean([v[i] for v in premiums.values()]))


@pytest.mark.parametrize("n", [14, 204])
def test_premium_bars_sorted_highest_first_and_sized_for_reading(n):
    langs, prem = _premiums(n)
    files = charts.premium_chart(langs, prem, "eng_Latn", "sum")
    assert set(files) == {"audit_premium.svg", "audit_premium.png"}
    svg = files["audit_premium.svg"]
    shown = _y_labels(svg)
    means = {lang: _mean(prem, langs, lang) for lang in langs[1:]}
    ranked = sorted(means, key=lambda lang: -means[lang])
    if n <= charts.ALL_BARS:
        assert shown == ranked  # every language but the pivot, highest premium on top
    else:
        assert shown == ranked[: charts.SHOWN] + ranked[-charts.SHOWN :]
        assert f"{n - 1 - 2 * charts.SHOWN} languages in between" in svg.decode()
    assert "eng_Latn" not in shown
    # the title names the convention; the legend names every tokenizer
    assert b"Arnett et al. 2025" in svg and all(t.encode() in svg for t in TOKENIZERS)
    width, height = _svg_size(svg)
    assert width == charts.WIDTH * 72
    per_row = height / (len(shown) + (1 if n > charts.ALL_BARS else 0))
    assert 10 <= per_row <= 60, per_row  # room for three bars and a label per language, no more
    assert height <= 1800  # 204 languages stay one readable page, not a 9,000 pt strip
    png_w, png_h = _png_size(files["audit_premium.png"])
    assert (png_w, png_h) == (round(width / 72 * charts.PNG_DPI), round(height / 72 * charts.PNG_DPI))


def test_premium_chart_size_is_bounded_past_forty_languages():
    small = _svg_size(charts.premium_chart(*_premiums(41), "eng_Latn")["audit_premium.svg"])[1]
    large = _svg_size(charts.premium_chart(*_premiums(204), "eng_Latn")["audit_premium.svg"])[1]
    assert large == pytest.approx(small, rel=0.05)


def test_distribution_shows_every_language_per_tokenizer():
    langs, prem = _premiums(204)
    files = charts.premium_distribution(langs, prem, "eng_Latn", "concat")
    svg = files["audit_premium_distribution.svg"]
    assert _y_labels(svg) == list(TOKENIZERS)
    assert b"all 203 languages" in svg and b"Petrov et al. 2023" in svg
    assert svg.count(b'<g id="PathCollection_') == len(TOKENIZERS)  # one point cloud each


def test_colours_are_one_per_tokenizer_and_stable():
    a = charts.colours(["a", "b", "c"])
    assert len(set(a.values())) == 3 and charts.colours(["a", "b", "c"]) == a


def test_sweep_invert_and_bpb_charts():
    sweep = charts.sweep_chart(
        "bpe sweep", [1000, 2000, 4000], [2.0, 2.4, 2.8], {"median premium": [1.3, 1.2, None]}
    )
    assert set(sweep) == {"train_sweep.svg", "train_sweep.png"} and b"1k" in sweep["train_sweep.svg"]
    shares = charts.shares_chart(
        ["web", "code", "books"],
        [0.2, 0.5, 0.3],
        [(0.1, 0.3), (0.45, 0.55), (None, None)],
        [0.25, 0.5, None],
        [0.3, 0.4, 0.3],
    )
    assert _y_labels(shares["invert_shares.svg"]) == ["code", "books", "web"]  # largest share on top
    bpb = charts.bpb_chart([("random", 1.0, 1.4, None), ("fvt", 1.0, 1.1, 1.2)])
    svg = bpb["transplant_bpb.svg"]
    assert _y_labels(svg) == ["fvt", "random"] and b"original model" in svg and b"before the fit" in svg


def test_svg_is_byte_identical_from_run_to_run():
    langs, prem = _premiums(14)
    assert charts.premium_chart(langs, prem, "eng_Latn") == charts.premium_chart(langs, prem, "eng_Latn")


def test_audit_past_forty_languages_adds_the_distribution(runner, tmp_path, tok_file):
    import json

    from tokenizers_lab.cli import app

    par = tmp_path / "par"
    par.mkdir()
    words = ["river", "stone", "light", "window", "garden", "number", "table", "morning"]
    for i in range(45):
        lang = "eng_Latn" if i == 0 else f"x{i:02d}_Latn"
        lines = [
            " ".join(words[(j + k) % len(words)] * (1 + (i + k) % 3) for k in range(5)) for j in range(6)
        ]
        (par / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "a"
    res = runner.invoke(
        app,
        [
            "audit",
            f"mine={tok_file}",
            "--parallel",
            str(par),
            "--charbench-items",
            "0",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.stderr
    charts_listed = json.loads((out / "audit.json").read_text())["charts"]
    assert charts_listed == ["audit_premium.svg", "audit_premium_distribution.svg", "audit_token_lengths.svg"]
    for stem in ("audit_premium", "audit_premium_distribution", "audit_token_lengths"):
        assert (out / f"{stem}.svg").stat().st_size > 0 and (out / f"{stem}.png").stat().st_size > 0
    assert len(_y_labels((out / "audit_premium.svg").read_bytes())) == 2 * charts.SHOWN
    assert (
        "![audit_premium_distribution.svg](audit_premium_distribution.svg)" in (out / "audit.md").read_text()
    )


@pytest.mark.slow  # ~20 s: extracts FLORES-200 (204 languages) and audits two tokenizers on it
@pytest.mark.parametrize("languages", [14, 204])
def test_flores_premium_chart_order_and_size(languages, runner, tmp_path):
    """On real data: the chart's bars are the report's premiums, highest mean first (top and bottom
    20 at 204 languages, with the distribution), at a size that stays readable."""
    import json
    import tarfile

    from tests.conftest import SHARED
    from tokenizers_lab.cli import app

    gpt2, archive = SHARED / "tokenizers/gpt2", SHARED / "flores200/flores200_dev_devtest_204langs.tar.xz"
    if not (gpt2.exists() and archive.exists()):
        pytest.skip(f"needs {gpt2} and {archive} (../shared/data)")
    if languages == 14:
        par = SHARED / "flores200/core_dev"
    else:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/dev/" in m.name]
            tar.extractall(tmp_path, members=members, filter="data")
        par = next(tmp_path.rglob("dev"))
    out = tmp_path / "a"
    tok = SHARED / "tokenizers/openai/o200k_base.tiktoken"
    args = [
        "audit",
        f"gpt2={gpt2}",
        f"o200k={tok}",
        "--parallel",
        str(par),
        "--charbench-items",
        "0",
        "--out",
        str(out),
    ]
    res = runner.invoke(app, [*args, "-q", "--skip", "integrity"])
    assert res.exit_code == 0, res.stderr
    rep = json.loads((out / "audit.json").read_text())
    assert len(rep["languages"]) == languages
    prem = {t["label"]: {f["language"]: f["premium_sum"] for f in t["fairness"]} for t in rep["tokenizers"]}
    means = {
        lang: np.mean([prem[t][lang] for t in prem]) for lang in rep["languages"] if lang != rep["pivot"]
    }
    ranked = sorted(means, key=lambda lang: -means[lang])
    expected = ranked if len(ranked) <= charts.ALL_BARS else ranked[: charts.SHOWN] + ranked[-charts.SHOWN :]
    svg = (out / "audit_premium.svg").read_bytes()
    assert _y_labels(svg) == expected
    width, height = _svg_size(svg)
    assert width == charts.WIDTH * 72 and 10 <= height / (len(expected) + 1) <= 60 and height <= 1800
    assert (out / "audit_premium_distribution.svg").exists() == (languages > charts.ALL_BARS + 1)
