"""Regenerate corpora/MANIFEST.json (run by hand after editing the corpora; tests check it)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "corpora"

DESCRIPTIONS = {
    "parallel": (
        "parallel",
        "100 line-aligned everyday sentences in 12 languages and 10 scripts "
        "(FLORES-style <lang>_<Script>.txt), written for tokenizers-lab",
    ),
    "code": ("code", "hand-written sample programs in Python, JavaScript, C, Rust and Go"),
    "domain": ("domain", "short English domain samples: legal, clinical, financial, recipes"),
}


def build() -> dict:
    """The manifest as a dict: per corpus, per file sha256 and bytes; licence."""
    corpora = {}
    for name, (sub, desc) in DESCRIPTIONS.items():
        files = {}
        for f in sorted((ROOT / sub).iterdir()):
            data = f.read_bytes()
            files[f.name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        corpora[name] = {"path": sub, "description": desc, "files": files}
    return {"licence": "CC0-1.0 (written for this project; no third-party text)", "corpora": corpora}


if __name__ == "__main__":
    text = json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        sys.exit(0 if (ROOT / "MANIFEST.json").read_text("utf-8") == text else 1)
    (ROOT / "MANIFEST.json").write_text(text, encoding="utf-8")
