"""report.html: one self-contained page per report (charts inlined, sortable tables, report links
rewritten), checked as text and in a real headless Chromium (no console errors, every section
shown, sorting works, a non-blank screenshot)."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.browser import Browser, check_page, find_chromium
from tokenizers_lab.cli import app
from tokenizers_lab.htmlpage import page_names, pages

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def _files() -> dict[str, bytes | str]:
    return {
        "demo.json": "{}",
        "demo.md": "# tokenlab demo\n\nSee [the audit](audit/audit.md) and [elsewhere](https://example.org/x.md).\n\n"
        "## Audit\n\n| tokenizer | premium |\n|---|---|\n| b<script>alert(1)</script> | 1.5 |\n| a | 10 |\n\n"
        "![premium](audit/audit_premium.svg)\n\n## Audit\n\nagain\n",
        "audit/audit.json": "{}",
        "audit/audit.md": "# tokenlab audit\n\n[back](../demo.md)\n\n## Charts\n\n![premium](audit_premium.svg)\n",
        "audit/audit_premium.svg": SVG,
        "notes.md": "# not a report: no notes.json beside it\n",
    }


def test_a_page_beside_every_report_markdown():
    files = _files()
    assert page_names(files) == ["audit/report.html", "report.html"]
    out = pages(files)
    assert set(out) == {"report.html", "audit/report.html"}
    top, sub = out["report.html"], out["audit/report.html"]
    # links to another report of the run point at its page; external links are left alone
    assert 'href="audit/report.html"' in top and 'href="https://example.org/x.md"' in top
    assert 'href="../report.html"' in sub
    # charts are inlined (works from file://, no fetch), from the page's own folder too
    assert "data:image/svg+xml;base64," in top and "data:image/svg+xml;base64," in sub
    assert 'src="audit/audit_premium.svg"' not in top
    # one <section> per ## heading, unique ids, a contents bar linking them
    assert re.findall(r'<section id="([^"]+)"', top) == ["audit", "audit-"]
    assert '<a href="#audit">Audit</a>' in top
    # the index page lists every report below it
    assert '<a href="audit/report.html">audit/report.html</a>' in top and "Reports of this run" in top
    # report text is text: markup in a tokenizer label is escaped, never run
    assert "<script>alert(1)</script>" not in top and "&lt;script&gt;alert(1)&lt;/script&gt;" in top
    assert top.count("<script>") == 1  # the page's own sorting script only
    assert "<title>tokenlab demo</title>" in top
    assert "http://" not in top.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch


def test_cli_run_writes_report_html_and_names_it(runner, tmp_path, small_corpus):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(small_corpus), "-v", "300,400", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.stderr
    wrote = res.stdout.splitlines()[-1]
    assert wrote.startswith(f"wrote {out}/: train.json, train.md, report.html, ")
    for name in ("report.html", "train_sweep.svg", "train_sweep.png"):
        assert name in wrote and (out / name).stat().st_size > 0
    page = (out / "report.html").read_text()
    assert (
        "data:image/svg+xml;base64," in page
        and "vocabulary-size sweep" in (out / "train_sweep.svg").read_text()
    )
    assert json.loads((out / "train.json").read_text())["charts"] == ["train_sweep.svg"]
    # the page is an output like the others: not overwritten without --force
    (out / "train.json").unlink()
    res = runner.invoke(app, ["train", str(small_corpus), "-v", "300,400", "--out", str(out)])
    assert res.exit_code == 1 and "report.html exists; pass --force" in res.stderr


CHROMIUM = find_chromium()
# .ci/run installs Chromium and sets TOKENLAB_REQUIRE_BROWSER: there a missing browser fails, never skips
needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("TOKENLAB_REQUIRE_BROWSER"),
    reason="no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM is not None
    b = Browser(CHROMIUM)
    yield b
    b.close()


@needs_browser
def test_report_pages_in_a_headless_browser(browser, runner, tmp_path, small_corpus, tok_file):
    train_out, audit_out = tmp_path / "train", tmp_path / "audit"
    res = runner.invoke(
        app, ["train", str(small_corpus), "-v", "300,400", "--out", str(train_out), "--quiet"]
    )
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(
        app, ["audit", f"mine={tok_file}", "--charbench-items", "4", "--out", str(audit_out), "--quiet"]
    )
    assert res.exit_code == 0, res.stderr
    sorted_any = [
        check_page(browser, page) for page in (train_out / "report.html", audit_out / "report.html")
    ]
    assert True in sorted_any  # the audit's per-language table was sorted by a click
