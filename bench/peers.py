"""bench/peers: `tokenlab audit` against public peers from PyPI on the same inputs.

- tokscope (token premium, fertility): for every FLORES-200 language of ../shared/data, each
  language's text joined as Petrov et al. do (lines joined by a space) and encoded once by
  tokscope's own adapters (its SentencePiece adapter on the .model file; its tiktoken adapter,
  handed an Encoding built from the rank file, since it can only fetch named encodings);
  premium = tokens / tokens of eng_Latn. Compared with the audit's premium_concat and
  tokens_concat.
- tokenization-scorer (Rényi efficiency, Zouhar et al. 2023): the monolingual corpus encoded line
  by line with the raw library, ids written as words, scored with power 2.5; compared with the
  audit's renyi_efficiency_observed (the same observed-types convention).

Speed: tokenlab is one fresh `tokenlab audit` process over both corpora (every measure on but
CharBench and charts); the peers' times are their own calls (tokscope including its encoding;
tokenization-scorer scoring text already tokenized, its encoding done by us and not counted).

Writes bench/peers-results.json and bench/RESULTS-peers.md.
Usage: python bench/peers.py [--corpus-mb 4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import out_path  # bench/common.py (scripts run from bench/)

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
RESULTS_JSON = out_path("peers-results.json")
RESULTS = out_path("RESULTS-peers.md")
TOKENIZERS = {  # label: (file, tiktoken pattern preset or None)
    "llama2": ("tokenizers/llama2/tokenizer.model", None),
    "gpt2": ("tokenizers/gpt2/gpt2.tiktoken", "r50k"),
    "cl100k": ("tokenizers/openai/cl100k_base.tiktoken", "cl100k"),
}


def tokscope_adapter(label: str, path: Path, preset: str | None):
    """tokscope's own adapter classes over local files."""
    from tokscope import adapters

    if preset is None:
        return adapters.SentencePieceAdapter(str(path))
    import tiktoken

    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(str(path), pattern=preset)  # the rank file parsed, the preset's regex
    enc = tiktoken.Encoding(
        name=label,
        pat_str=view.pattern,
        mergeable_ranks=view._ranks,
        special_tokens=dict(view.special_tokens),
    )
    ad = adapters.TiktokenAdapter.__new__(adapters.TiktokenAdapter)  # its constructor only fetches by name
    ad._enc, ad.name, ad.vocab_size, ad._partial = enc, f"tiktoken:{label}", enc.n_vocab, {}
    return ad


def raw_ids(path: Path, preset: str | None, lines: list[str]) -> list[list[int]]:
    """Per-line ids from the raw library, no special tokens (as the audit counts them)."""
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(str(path), pattern=preset)
    return view.encode_batch(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-mb", type=float, default=4)
    args = ap.parse_args()
    if not (SHARED / "MANIFEST.md").exists():
        raise SystemExit(f"third-party data not found at {SHARED} (set TOKENLAB_SHARED_DATA)")
    import tokenization_scorer
    from tokscope.runner import analyze

    flores = SHARED / "flores200" / "core_dev"
    langs = sorted(p.name.split(".")[0] for p in flores.glob("*.dev"))
    joined = {lang: (flores / f"{lang}.dev").read_text("utf-8").replace("\n", " ") for lang in langs}
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "peers": {"tokscope": _version("tokscope"), "tokenization-scorer": _version("tokenization-scorer")},
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="tokenlab-peers-") as tmp:
        corpus = Path(tmp) / "mono.txt"
        budget = int(args.corpus_mb * 1_000_000)
        text = "".join(f.read_text("utf-8") for f in sorted((SHARED / "text" / "lang").glob("*.txt")))
        text = text[:budget].rsplit("\n", 1)[0] + "\n"
        corpus.write_text(text, encoding="utf-8")
        lines = text.split("\n")[:-1]
        for label, (rel, preset) in TOKENIZERS.items():
            path = SHARED / rel
            cmd = [
                sys.executable,
                "-m",
                "tokenizers_lab",
                "audit",
                f"{label}={path}",
                "--parallel",
                str(flores),
                "--corpus",
                str(corpus),
                "--charbench-items",
                "0",
                "--no-plots",
                "--format",
                "json",
                "--quiet",
            ]
            if preset:
                cmd += ["--pattern", preset]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lab_s = time.perf_counter() - t0
            if proc.returncode:
                raise SystemExit(f"tokenlab audit failed: {proc.stderr.strip()}")
            rep = json.loads(proc.stdout)["tokenizers"][0]
            ours = {r["language"]: r for r in rep["fairness"]}
            words_ours = {
                r["language"]: (ours[r["language"]]["tokens_sum"] / r["tokens_per_word"])
                for r in rep["languages"]
                if r["tokens_per_word"]
            }
            # tokscope: its adapter encodes each language's joined text; premium against English
            ad = tokscope_adapter(label, path, preset)
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                peer = {lang: analyze(joined[lang], ad, reference_text=joined["eng_Latn"]) for lang in langs}
            scope_s = time.perf_counter() - t0
            prem_diff = max(abs(peer[x].premium - ours[x]["premium_concat"]) for x in langs)
            tok_equal = sum(peer[x].token_count == ours[x]["tokens_concat"] for x in langs)
            fert_diff = max(
                abs(peer[x].fertility - ours[x]["tokens_concat"] / words_ours[x])
                for x in langs
                if x in words_ours
            )
            # tokenization-scorer: Rényi efficiency (observed types) of the raw library's ids
            ids = raw_ids(path, preset, lines)
            as_words = "\n".join(" ".join(f"t{i}" for i in row) for row in ids)
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                renyi_peer = tokenization_scorer.score(as_words, metric="renyi_efficiency", power=2.5)
            scorer_s = time.perf_counter() - t0
            renyi_ours = rep["corpus_compression"]["renyi_efficiency_observed"]
            row = {
                "tokenizer": label,
                "languages": len(langs),
                "tokenlab_s": round(lab_s, 2),
                "tokscope_s": round(scope_s, 2),
                "scorer_s": round(scorer_s, 2),
                "premium_max_abs_diff": prem_diff,
                "token_counts_equal": tok_equal,
                "fertility_max_abs_diff": fert_diff,
                "renyi_ours": renyi_ours,
                "renyi_peer": float(renyi_peer),
                "renyi_abs_diff": abs(renyi_ours - float(renyi_peer)),
                "corpus_mb": round(len(text.encode()) / 1e6, 2),
            }
            results["rows"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    RESULTS.write_text("# bench/peers results\n\n" + table + "\n")
    print(table)


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def render(results: dict) -> str:
    """The Markdown table of a results dict."""
    p = results["peers"]
    lines = [
        f"Machine: {results['machine']}; FLORES-200 dev ({results['rows'][0]['languages']} languages) and "
        f"{results['rows'][0]['corpus_mb']} MB of ../shared/data/text/lang; tokscope {p['tokscope']}, "
        f"tokenization-scorer {p['tokenization-scorer']}. Differences of order 1e-5 are the report's rounding "
        "to 6 significant digits; token counts are compared exactly.",
        "",
        "| tokenizer | premium: max abs diff vs tokscope | token counts equal | fertility: max abs diff | "
        "Rényi eff. (α=2.5) tokenlab | tokenization-scorer | abs diff | tokenlab audit s (all measures, "
        "both corpora) | tokscope s (premiums only) | scorer s (scoring only) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['tokenizer']} | {r['premium_max_abs_diff']:.2g} | {r['token_counts_equal']}/"
            f"{r['languages']} | {r['fertility_max_abs_diff']:.2g} | {r['renyi_ours']:.6f} | "
            f"{r['renyi_peer']:.6f} | {r['renyi_abs_diff']:.2g} | {r['tokenlab_s']} | {r['tokscope_s']} | "
            f"{r['scorer_s']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
