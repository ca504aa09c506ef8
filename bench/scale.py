"""bench/scale: the corpus passes on the local engine and on Dask clusters of 1 and 2 workers,
and peak memory against corpus size.

Each run is a fresh `tokenlab` process over ../shared/data. Wall time is the process's; the
driver's peak RSS is the report's run.peak_rss_mb (its own ru_maxrss), each worker's is
run.engine.worker_peak_rss_mb (VmHWM read inside the worker). Every Dask report is also checked
equal to the local one (everything but the run and timings blocks).

Workloads:
- audit: gpt2 + llama2 (SentencePiece) over a monolingual corpus (text/lang, text/code and
  text/domain_en repeated to --corpus-mb) + four FLORES dev languages;
- invert: gpt2, 3k merges, four categories of up to 10 MB (10 shards each), no bootstrap (so the
  corpus pass, not the LP, is what is timed);
- train: wordpiece 32k on the same monolingual corpus (word counting on the engine).
Memory against corpus size: audit (cl100k ranks) and invert (gpt2) on 10 MB and 1 GB inputs.

Usage: python bench/scale.py [--corpus-mb 40] [--big-mb 1000] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import out_path, sync_tables  # bench/common.py (scripts run from bench/)

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
RESULTS_JSON = out_path("scale-results.json")
RESULTS = out_path("RESULTS-scale.md")
ENGINES = [
    ("local", []),
    ("dask ×1", ["--engine", "dask", "--workers", "1"]),
    ("dask ×2", ["--engine", "dask", "--workers", "2"]),
]


def tokenlab(args: list[str], workdir: Path) -> tuple[float, dict]:
    """(wall seconds, report) of one fresh `python -m tokenizers_lab` process."""
    out = workdir / "out.json"
    t0 = time.perf_counter()
    with open(out, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "tokenizers_lab", *args, "--format", "json", "--quiet"],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
        )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tokenlab {' '.join(args[:2])} failed: {proc.stderr.strip()[-400:]}")
    return wall, json.loads(out.read_text())


def comparable(rep: dict) -> dict:
    rep = dict(rep)
    rep.pop("run", None)
    rep.pop("timings", None)
    return rep


def pass_seconds(name: str, rep: dict) -> float:
    """Seconds of the passes the engine runs, from the report's timings."""
    t = rep.get("timings", {})
    if name == "audit":
        return t.get("corpora_seconds", 0.0) + sum(
            v for k, v in t.items() if k.startswith("parallel_seconds.")
        )
    if name == "invert":
        return t.get("pretokenize_seconds", 0.0) + t.get("replay_seconds", 0.0)
    return t.get("train_seconds", 0.0)


def make_corpus(path: Path, mb: int) -> Path:
    """text/lang + text/code + text/domain_en, repeated until `mb` MB."""
    parts = [
        f.read_bytes()
        for sub in ("lang", "code", "domain_en")
        for f in sorted((SHARED / "text" / sub).glob("*.txt"))
    ]
    block = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)
    target = mb * 1_000_000
    with open(path, "wb") as f:
        n = 0
        while n < target:
            chunk = block[: target - n]
            cut = chunk.rfind(b"\n") + 1 or len(chunk)
            f.write(chunk[:cut])
            n += cut
    return path


def workloads(corpus: Path, flores: Path) -> dict[str, list[str]]:
    tok = SHARED / "tokenizers"
    text = SHARED / "text"
    return {
        "audit": [
            "audit",
            f"gpt2={tok / 'gpt2'}",
            f"llama2={tok / 'llama2' / 'tokenizer.model'}",
            "--parallel",
            str(flores),
            "--corpus",
            str(corpus),
            "--charbench-items",
            "0",
            "--no-plots",
        ],
        # samples of up to 10 MB, a short merge range and no bootstrap: the corpus pass, not the LP
        "invert": [
            "invert",
            str(tok / "gpt2"),
            "-c",
            f"mixed={corpus}",
            "-c",
            f"lang={text / 'lang'}",
            "-c",
            f"code={text / 'code'}",
            "-c",
            f"domain={text / 'domain_en'}",
            "--merges",
            "3000",
            "--sample-bytes",
            "10000000",
            "--bootstrap",
            "0",
        ],
        "train": ["train", str(corpus), "-a", "wordpiece", "-v", "32000", "--heldout-every", "0"],
    }


def flores_subset(folder: Path) -> Path:
    for lang in ("eng_Latn", "deu_Latn", "rus_Cyrl", "hin_Deva"):
        (folder / f"{lang}.dev").write_bytes((SHARED / "flores200" / "core_dev" / f"{lang}.dev").read_bytes())
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-mb", type=int, default=40)
    ap.add_argument("--big-mb", type=int, default=1000)
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "MANIFEST.md").exists():
        raise SystemExit(f"third-party data not found at {SHARED} (set TOKENLAB_SHARED_DATA)")
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "corpus_mb": args.corpus_mb,
        "speed": {},
        "memory": {},
    }
    with tempfile.TemporaryDirectory(prefix="tokenlab-scale-") as tmp:
        tmp_p = Path(tmp)
        corpus = make_corpus(tmp_p / "corpus.txt", args.corpus_mb)
        flores = flores_subset(Path(tempfile.mkdtemp(dir=tmp)))
        for name, cmd in workloads(corpus, flores).items():
            rows, base = [], None
            extra = [("local ×2 forks", ["--workers", "2"])] if name == "invert" else []
            engines = [
                (lbl, a if not (name == "invert" and lbl == "local") else ["--workers", "1"])
                for lbl, a in ENGINES
            ] + extra
            for label, eng in engines:
                wall, rep = tokenlab([*cmd, *eng], tmp_p)
                same = base is None or comparable(rep) == base
                base = base if base is not None else comparable(rep)
                rows.append(
                    {
                        "engine": label,
                        "wall_s": round(wall, 1),
                        "pass_s": round(pass_seconds(name, rep), 1),
                        "driver_rss_mb": rep["run"]["peak_rss_mb"],
                        "worker_rss_mb": rep["run"]["engine"].get("worker_peak_rss_mb", []),
                        "identical": same,
                    }
                )
                print(name, rows[-1], file=sys.stderr)
            results["speed"][name] = rows
        if not args.skip_big:
            small = make_corpus(tmp_p / "small.txt", 10)
            big = make_corpus(tmp_p / "big.txt", args.big_mb)
            tok = SHARED / "tokenizers"
            for name, build in {
                "audit": lambda c: [
                    "audit",
                    f"cl100k={tok / 'openai' / 'cl100k_base.tiktoken'}",
                    "--corpus",
                    str(c),
                    "--charbench-items",
                    "0",
                    "--no-plots",
                ],
                "invert": lambda c: [
                    "invert",
                    str(tok / "gpt2"),
                    "-c",
                    f"big={c}",
                    "-c",
                    f"code={SHARED / 'text' / 'code'}",
                    "--merges",
                    "5000",
                    "--bootstrap",
                    "3",
                ],
            }.items():
                rows = []
                for label, c, mb in (("10 MB", small, 10), (f"{args.big_mb} MB", big, args.big_mb)):
                    for elabel, eng in (ENGINES[0], ENGINES[2]):
                        wall, rep = tokenlab([*build(c), *eng], tmp_p)
                        rows.append(
                            {
                                "input": label,
                                "mb": mb,
                                "engine": elabel,
                                "wall_s": round(wall, 1),
                                "driver_rss_mb": rep["run"]["peak_rss_mb"],
                                "worker_rss_mb": rep["run"]["engine"].get("worker_peak_rss_mb", []),
                            }
                        )
                        print(name, rows[-1], file=sys.stderr)
                results["memory"][name] = rows
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    RESULTS.write_text("# bench/scale results\n\n" + table + "\n")
    sync_tables(table, "bench-scale-table")
    print(table)


def render(results: dict) -> str:
    """The Markdown tables of a results dict."""
    lines = [
        f"Machine: {results['machine']}; monolingual corpus {results['corpus_mb']} MB of ../shared/data/text; "
        "each run a fresh process; speed-up = local wall / this wall; engine-run passes = the report's timings "
        "of the passes the engine distributes (audit: corpora + parallel languages; invert: pre-tokenize + "
        "replay; train: training, word counting included).",
        "",
        "| pass | engine | wall s | speed-up vs local | engine-run passes s | vs dask ×1 | driver peak MB | "
        "worker peak MB | report = local |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in results["speed"].items():
        base = rows[0]["wall_s"]
        one = next((r["pass_s"] for r in rows if r["engine"] == "dask ×1"), None)
        for r in rows:
            workers = (
                ", ".join(f"{x:.0f}" for x in r["worker_rss_mb"]) if r["engine"].startswith("dask") else "–"
            )
            rel = (
                f"{one / r['pass_s']:.2f}×" if one and r["engine"].startswith("dask") and r["pass_s"] else "–"
            )
            lines.append(
                f"| {name} | {r['engine']} | {r['wall_s']} | **{base / r['wall_s']:.2f}×** | "
                f"{r['pass_s']} | {rel} | {r['driver_rss_mb']:.0f} | {workers} | "
                f"{'yes' if r['identical'] else '**no**'} |"
            )
    if results.get("memory"):
        lines += [
            "",
            "Peak memory against corpus size:",
            "",
            "| pass | input | engine | wall s | driver peak MB | worker peak MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, rows in results["memory"].items():
            for r in rows:
                workers = (
                    ", ".join(f"{x:.0f}" for x in r["worker_rss_mb"])
                    if r["engine"].startswith("dask")
                    else "–"
                )
                lines.append(
                    f"| {name} | {r['input']} | {r['engine']} | {r['wall_s']} | {r['driver_rss_mb']:.0f} | "
                    f"{workers} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
