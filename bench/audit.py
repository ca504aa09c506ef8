"""bench/audit: `tokenlab audit` against calling the encoders directly, on all 204 FLORES-200
languages (dev + devtest), and its memory on 10 MB vs 1 GB of monolingual input.

1. Throughput: per tokenizer, the raw pass (bench/raw_audit.py: per-sentence batch encode +
   joined-text encode per language, the library calls a user would write) vs the audit's
   premium/compression pass (its `parallel_seconds` timing: the same encodes plus offsets, word
   alignment, counts, %Lang). Each side a fresh process; ratio = raw time / tokenlab time.
2. Full run: all tokenizers x 204 languages in one `tokenlab audit` (every measure on): wall, RSS.
3. Memory: peak RSS of an audit streaming a 10 MB and a --big-mb monolingual corpus.
Writes bench/RESULTS-audit.md. Usage: python bench/audit.py [--big-mb 1000] [--only throughput,full,memory]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import out_path, sync_tables  # bench/common.py (scripts run from bench/)

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
TOK = SHARED / "tokenizers"
TOKENIZERS = {
    "gpt2": TOK / "gpt2",
    "cl100k": TOK / "openai/cl100k_base.tiktoken",
    "o200k": TOK / "openai/o200k_base.tiktoken",
    "llama2": TOK / "llama2/tokenizer.model",
    "gemma3": TOK / "gemma3/tokenizer.json.gz",
}


SKIP = "alignment,integrity"


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read().decode()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status not in (0, 3 << 8):
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, ru.ru_maxrss / 1024, out


def flores(dest: Path) -> list[str]:
    """Extract the 204-language FLORES-200 archive once; return its dev and devtest folders."""
    root = dest / "flores200_dataset"
    if not (root / "devtest").is_dir():
        with tarfile.open(SHARED / "flores200/flores200_dev_devtest_204langs.tar.xz") as tar:
            tar.extractall(dest, filter="data")
    return [str(root / "dev"), str(root / "devtest")]


def big_corpus(path: Path, mb: int) -> Path:
    """A monolingual corpus of `mb` MB: the shared language and code samples, repeated."""
    if path.exists() and path.stat().st_size >= mb * 1_000_000:
        return path
    parts = [
        f.read_bytes()
        for f in sorted((SHARED / "text/lang").glob("*.txt")) + sorted((SHARED / "text/code").glob("*.txt"))
    ]
    size = 0
    with open(path, "wb") as f:
        while size < mb * 1_000_000:
            for p in parts:
                f.write(p)
                size += len(p)
                if size >= mb * 1_000_000:
                    break
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mb", type=int, default=1000)
    ap.add_argument("--only", default="throughput,full,memory")
    ap.add_argument("--tokenizers", default=",".join(TOKENIZERS), help="comma list (of %(default)s)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "tokenlab-bench-audit"))
    ap.add_argument("--out", default=str(out_path("RESULTS-audit.md")))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    folders = flores(work)
    par = sum([["--parallel", f] for f in folders], [])
    py = sys.executable
    lab = [py, "-m", "tokenizers_lab", "audit", "--quiet", "--format", "json"]
    only = a.only.split(",")
    chosen = {n: TOKENIZERS[n] for n in a.tokenizers.split(",")}
    res: dict = {"throughput": [], "mb": None, "tokenizers": list(chosen)}
    if "throughput" in only:
        for name, path in chosen.items():
            _, raw_mb, out = run([py, str(HERE / "raw_audit.py"), str(path), *folders])
            raw = json.loads(out)
            _, giga_mb, out = run([py, str(HERE / "raw_audit.py"), "--gigatoken", str(path), *folders])
            giga = json.loads(out)
            if giga["tokens"] != raw["tokens"]:
                raise SystemExit(
                    f"{name}: gigatoken gave {giga['tokens']} tokens, the library {raw['tokens']}"
                )
            wall, lab_mb, out = run(
                lab
                + [f"{name}={path}", *par, "--charbench-items", "0", "--no-plots"]
                + ["--out", str(work / f"pass-{name}"), "--force"]
            )
            rep = json.loads(out)
            t = rep["timings"]
            # the premium pass alone: premiums, compression, Rényi (no word alignment, no %Lang)
            _, _, out = run(
                lab
                + [f"{name}={path}", *par, "--charbench-items", "0", "--no-plots", "--skip", SKIP]
                + ["--out", str(work / f"premium-{name}"), "--force"]
            )
            lean = json.loads(out)
            if lean["tokenizers"][0]["fairness"] != rep["tokenizers"][0]["fairness"]:
                raise SystemExit(f"{name}: --skip {SKIP} changed the premiums")
            row = dict(
                tokenizer=name,
                encoder=rep["tokenizers"][0]["encoder"],
                raw_s=raw["seconds"],
                giga_s=giga["seconds"],
                giga_mb=giga_mb,
                lab_s=t[f"parallel_seconds.{name}"],
                lean_s=lean["timings"][f"parallel_seconds.{name}"],
                lab_wall=wall,
                raw_mb=raw_mb,
                lab_mb=lab_mb,
                mb=raw["bytes"] / 1e6,
            )
            res["throughput"].append(row)
            print(row, file=sys.stderr)
    if "full" in only:
        wall, mb, out = run(
            lab + [f"{n}={p}" for n, p in chosen.items()] + par + ["--out", str(work / "full"), "--force"]
        )
        rep = json.loads(out)
        res["full"] = dict(wall=wall, rss=mb, timings=rep["timings"], languages=len(rep["languages"]))
        wall, mb, _ = run(
            lab
            + [f"{n}={p}" for n, p in chosen.items()]
            + par
            + ["--skip", SKIP, "--out", str(work / "full-premium"), "--force"]
        )
        res["full"].update(lean_wall=wall, lean_rss=mb)
        print(res["full"], file=sys.stderr)
    if "memory" in only:
        res["memory"] = []
        for size in (10, a.big_mb):
            corpus = big_corpus(work / f"mono-{size}mb.txt", size)
            wall, mb, out = run(
                lab
                + [
                    f"cl100k={TOKENIZERS['cl100k']}",
                    "--corpus",
                    str(corpus),
                    "--charbench-items",
                    "0",
                    "--no-plots",
                    "--out",
                    str(work / f"memory-{size}"),
                    "--force",
                ]
            )
            rep = json.loads(out)
            res["memory"].append(
                dict(mb=size, wall=wall, rss=mb, tokens=rep["tokenizers"][0]["corpus_compression"]["tokens"])
            )
            print(res["memory"][-1], file=sys.stderr)
    write(Path(a.out), res)


def write(out: Path, res: dict) -> None:
    lines = [
        "# bench/audit results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "FLORES-200 dev + devtest, all 204 languages (79 MB); each measurement a fresh process.",
        "",
    ]
    if res["throughput"]:
        lines += [
            "Premium/compression pass vs the raw encoders, all called on the same text in this run (per-sentence "
            "batch + joined text per language; the libraries with their own threads; same token counts checked):",
            "",
            f"| tokenizer | library s | gigatoken s | tokenlab encoder | premium pass s (`--skip {SKIP}`) "
            "| **vs gigatoken** | every-measure pass s | **vs gigatoken** | vs library "
            "| tokenlab process s | library / gigatoken / tokenlab RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["throughput"]:
            lines.append(
                f"| {r['tokenizer']} | {r['raw_s']:.1f} | {r['giga_s']:.1f} | {r['encoder']} | {r['lean_s']:.1f} "
                f"| **{r['giga_s'] / r['lean_s']:.2f}×** | {r['lab_s']:.1f} | **{r['giga_s'] / r['lab_s']:.2f}×** "
                f"| {r['raw_s'] / r['lab_s']:.2f}× | {r['lab_wall']:.1f} "
                f"| {r['raw_mb']:.0f} / {r['giga_mb']:.0f} / {r['lab_mb']:.0f} |"
            )
        lines += [
            "",
            "The premium pass computes premiums (both conventions), UNK/byte-fallback shares, bytes and "
            "chars per token, fertility and Rényi; the every-measure pass adds the word alignment (PCW, "
            "boundary violations) and %Lang/%Pure with its corpus-words validators.",
        ]
        lines.append("")
    if res.get("full"):
        f = res["full"]
        names = res.get("tokenizers", list(TOKENIZERS))
        lines += [
            f"Full audit, {len(names)} tokenizers ({', '.join(names)}) × {f['languages']} languages, every "
            f"measure on: **{f['wall']:.0f} s** wall, peak RSS {f['rss']:.0f} MB "
            f"(raw encoding alone, one tokenizer after another on both cores: the libraries "
            f"{sum(r['raw_s'] for r in res['throughput']):.0f} s, gigatoken "
            f"{sum(r['giga_s'] for r in res['throughput']):.0f} s); with `--skip {SKIP}` "
            f"**{f['lean_wall']:.0f} s**, {f['lean_rss']:.0f} MB."
            if res["throughput"]
            else f"Full audit: {f['wall']:.0f} s, {f['rss']:.0f} MB.",
            "",
        ]
    if res.get("memory"):
        lines += [
            "Memory while streaming a monolingual corpus (cl100k, plus the embedded parallel corpus):",
            "",
            "| corpus MB | wall s | peak RSS MB | tokens |",
            "|---|---|---|---|",
        ]
        lines += [f"| {m['mb']} | {m['wall']:.0f} | {m['rss']:.0f} | {m['tokens']} |" for m in res["memory"]]
        lines.append("")
    out.write_text("\n".join(lines), encoding="utf-8")
    sync_tables("\n".join(lines[2:]), "bench-audit-table")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
