"""One self-contained HTML page per report (`report.html` beside its JSON and Markdown).

The page is the report's Markdown rendered (markdown-it-py, raw HTML off: tokenizer strings are
user input), its charts inlined as data URIs, its tables sortable by a click on a header (a few
lines of inline script), one `<section>` per `##` heading with a contents bar, and links to other
reports of the run rewritten to their pages. Nothing is fetched: it works from file:// offline."""

from __future__ import annotations

import base64
import html
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import PurePosixPath

from tokenizers_lab import __version__

PAGE = "report.html"
REPORT_STEMS = ("train", "audit", "invert", "transplant", "demo", "diff", "encode", "inspect", "compare")
MEDIA = {".svg": "image/svg+xml", ".png": "image/png"}

STYLE = """
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --accent: #0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
nav.toc { position: sticky; top: 0; background: #f6f8fa; border-bottom: 1px solid var(--line);
  padding: .4rem 1.5rem; font-size: 13px; z-index: 1; display: flex; flex-wrap: wrap; gap: .15rem 1rem; }
nav.toc a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav.runs ul { columns: 2; padding-left: 1.2rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
section { margin-top: 1.5rem; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; font-size: 85%; word-break: break-all; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .25rem .55rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; cursor: pointer; user-select: none; position: relative; padding-right: 1.2rem; }
thead th::after { content: "\\2195"; position: absolute; right: .3rem; color: #afb8c1; }
thead th[aria-sort=ascending]::after { content: "\\2191"; color: var(--accent); }
thead th[aria-sort=descending]::after { content: "\\2193"; color: var(--accent); }
tbody tr:nth-child(even) { background: #fafbfc; }
img { max-width: 100%; height: auto; display: block; margin: .8rem 0; border: 1px solid var(--line); }
footer { color: var(--muted); font-size: 12px; margin-top: 3rem; }
"""

# Click a header: sort its table's rows by that column (numbers as numbers, then text); again: reverse.
SCRIPT = """
(function () {
  function value(cell) {
    var s = cell.textContent.trim().replace(/[,%\\u00d7]/g, "");
    return /^[-+]?(\\d|\\.\\d)/.test(s) && !isNaN(parseFloat(s)) ? parseFloat(s) : null;
  }
  function compare(a, b) {
    if (a.n !== null && b.n !== null) return a.n - b.n;
    if (a.n !== null) return -1;
    if (b.n !== null) return 1;
    return a.t.localeCompare(b.t);
  }
  document.querySelectorAll("table").forEach(function (table) {
    var body = table.tBodies[0];
    if (!body) return;
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      function sort() {
        var up = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var rows = Array.prototype.map.call(body.rows, function (row, i) {
          var cell = row.cells[col] || row.cells[0];
          return { row: row, n: value(cell), t: cell.textContent.trim(), i: i };
        });
        rows.sort(function (a, b) { return (up ? 1 : -1) * compare(a, b) || a.i - b.i; });
        rows.forEach(function (r) { body.appendChild(r.row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
  });
})();
"""


def _markdown() -> object:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def is_report_markdown(name: str, names: Collection[str]) -> bool:
    """A report's Markdown: `<folder>/<command>.md` with its JSON beside it (`names`: a set or a
    mapping of the run's files)."""
    p = PurePosixPath(name)
    return p.suffix == ".md" and p.stem in REPORT_STEMS and str(p.with_suffix(".json")) in names


def page_name(markdown_name: str) -> str:
    """The page of a report's Markdown: report.html in the same folder."""
    return str(PurePosixPath(markdown_name).parent / PAGE).removeprefix("./")


def page_names(names: Iterable[str]) -> list[str]:
    """The pages a set of output files gets (one per report Markdown among them)."""
    files = set(names)
    return sorted(page_name(n) for n in files if is_report_markdown(n, files))


def _relative(target: str, folder: PurePosixPath) -> str:
    """target (a path from the run's folder) as seen from a page in `folder`."""
    return posixpath.relpath(target, str(folder))


def _resolve(ref: str, folder: PurePosixPath) -> str | None:
    """A relative link of a page in `folder` as a path from the run's folder (None: external, or
    outside the run's folder)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", ref):
        return None
    path = posixpath.normpath(posixpath.join(str(folder), ref.split("#")[0]))
    return None if path == ".." or path.startswith("../") else path


def _sections(body: str) -> tuple[str, list[tuple[str, str]]]:
    """Wrap each `<h2>` and what follows it in a `<section>`; the (id, title) of each."""
    chunks = re.split(r"(?=<h2>)", body)
    out, toc, seen = [chunks[0]], [], set()
    for chunk in chunks[1:]:
        m = re.match(r"<h2>(.*?)</h2>", chunk, re.S)
        title = re.sub(r"<[^>]+>", "", m.group(1)) if m else "section"
        slug = re.sub(r"[^a-z0-9]+", "-", html.unescape(title).lower()).strip("-") or "section"
        while slug in seen:
            slug += "-"
        seen.add(slug)
        toc.append((slug, title))
        out.append(f'<section id="{slug}">{chunk}</section>')
    return "".join(out), toc


def render_page(markdown_name: str, files: Mapping[str, bytes | str], pages: Iterable[str]) -> str:
    """The HTML page of one report: its Markdown rendered, charts inlined, report links rewritten."""
    folder = PurePosixPath(markdown_name).parent
    pages = set(pages)
    text = files[markdown_name]
    body = _markdown().render(text.decode("utf-8") if isinstance(text, bytes) else text)  # type: ignore[attr-defined]

    def image(m: re.Match[str]) -> str:
        target = _resolve(html.unescape(m.group(2)), folder)
        data = files.get(target) if target else None
        kind = MEDIA.get(PurePosixPath(target or "").suffix)
        if data is None or kind is None:
            return m.group(0)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return f"{m.group(1)}data:{kind};base64,{base64.b64encode(raw).decode('ascii')}{m.group(3)}"

    def link(m: re.Match[str]) -> str:
        target = _resolve(html.unescape(m.group(2)), folder)
        if target and target.endswith(".md") and page_name(target) in pages:
            return f"{m.group(1)}{html.escape(_relative(page_name(target), folder))}{m.group(3)}"
        return m.group(0)

    body = re.sub(r'(<img src=")([^"]*)(")', image, body)
    body = re.sub(r'(<a href=")([^"]*)(")', link, body)
    body = re.sub(r"(<table>.*?</table>)", r'<div class="table-wrap">\1</div>', body, flags=re.S)
    body, toc = _sections(body)
    head, _, rest = body.partition('<section id="')
    title = re.search(r"<h1>(.*?)</h1>", body, re.S)
    here = page_name(markdown_name)
    below = sorted(p for p in pages if p != here and (str(folder) == "." or p.startswith(f"{folder}/")))
    runs = ""
    if below:
        items = "".join(
            f'<li><a href="{html.escape(_relative(p, folder))}">{html.escape(p)}</a></li>' for p in below
        )
        runs = f'<nav class="runs" aria-label="reports of this run"><h2>Reports of this run</h2><ul>{items}</ul></nav>'
    body = head + runs + ('<section id="' + rest if rest else "")
    nav = "".join(f'<a href="#{slug}">{t}</a>' for slug, t in toc)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{re.sub(r'<[^>]+>', '', title.group(1)) if title else 'tokenlab report'}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<nav class="toc" aria-label="contents">{nav}</nav>\n<main>\n{body}\n'
        f"<footer>Written by tokenizers-lab {__version__}; the JSON beside this page holds every number.</footer>\n"
        f"</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def pages(files: Mapping[str, bytes | str]) -> dict[str, str]:
    """report.html beside every report Markdown among a run's files."""
    reports = [n for n in files if is_report_markdown(n, files)]
    names = [page_name(n) for n in reports]
    return {page_name(n): render_page(n, files, names) for n in reports}
