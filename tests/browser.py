"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no
port, no websocket library): open a page, collect console messages and uncaught exceptions,
evaluate expressions, take a screenshot. For the HTML report tests."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The browser binary ($TOKENLAB_CHROMIUM, else the first on PATH)."""
    env = os.environ.get("TOKENLAB_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Browser:
    """One headless browser process and one page (a target attached in flat mode)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="tokenlab-chromium-")
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()

        def fds() -> None:  # the protocol pipe is fd 3 (commands in) and fd 4 (replies out)
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--window-size={width},{height}",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            [binary, *flags],
            pass_fds=(3, 4),
            preexec_fn=fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode("utf-8") + b"\0")
        return self._id

    def _recv(self, want: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buf:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no reply to DevTools message {want}")
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("the browser closed its DevTools pipe")
                self._buf += chunk
            raw, _, self._buf = self._buf.partition(b"\0")
            msg = json.loads(raw)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"DevTools error: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def _call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._recv(self._send(method, params, None))

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A protocol command on the page; its result."""
        return self._recv(self._send(method, params, self.session))

    def open(self, path: Path, timeout: float = 30.0) -> None:
        """Navigate to a local file and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not finish loading")
            self.evaluate("1")
            time.sleep(0.02)

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value (JSON-able)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression!r} threw: {res['exceptionDetails']}")
        return res["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and failed loads since the last open."""
        out = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole page by default)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], 8000),
                "scale": 1,
            }
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            self._send("Browser.close", None, None)
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
        finally:
            os.close(self._w)
            os.close(self._r)
            shutil.rmtree(self.profile, ignore_errors=True)


def check_page(browser: Browser, page: Path) -> bool | None:
    """Loads with no console error, shows every ## section of its Markdown and every chart; a click
    on a numeric header sorts that column; the screenshot is not blank."""
    browser.open(page)
    assert browser.problems() == [], page
    md = next(p for p in page.parent.glob("*.md") if p.with_suffix(".json").exists())
    headings = [h.strip() for h in re.findall(r"^## (.+)$", md.read_text(), re.M)]
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('section')).map(s => { const r = s.getBoundingClientRect();"
        " const st = getComputedStyle(s); return [s.querySelector('h2').textContent,"
        " r.height > 0 && r.width > 0 && st.display !== 'none' && st.visibility !== 'hidden'] })"
    )
    assert [title for title, _ in shown] == [re.sub(r"[`*]", "", h) for h in headings], page
    assert all(visible for _, visible in shown), shown
    # nothing runs off the side of a laptop-sized window (wide tables scroll inside their own box)
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page
    images = browser.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) == md.read_text().count("![") and all(images), page  # every chart drawn
    sortable = browser.evaluate(
        """(() => { for (const t of document.querySelectorAll('table')) {
             const rows = t.tBodies[0] ? t.tBodies[0].rows : [];
             if (rows.length < 3) continue;
             for (let c = 0; c < rows[0].cells.length; c++) {
               const vals = Array.from(rows).map(r => parseFloat(r.cells[c].textContent));
               if (vals.some(isNaN) || new Set(vals).size < 2) continue;
               t.tHead.rows[0].cells[c].click();
               const after = Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[c].textContent));
               return after.every((v, i) => i === 0 || after[i - 1] <= v)
                 && t.tHead.rows[0].cells[c].getAttribute('aria-sort') === 'ascending';
             } } return null; })()"""
    )
    assert sortable in (True, None), page
    shot = browser.screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000  # a blank page compresses to ~1 KB
    assert browser.problems() == [], page  # the click raised nothing either
    return sortable
