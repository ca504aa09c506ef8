"""bench/invert_interval: what invert's confidence interval costs beside its point estimate.

One real tokenizer (GPT-2's merges), several categories of ../shared/data text, three runs of
`tokenlab invert` in fresh processes, side by side:
- point: `--bootstrap 0` (the estimate alone);
- default: the default interval (8 resamples warm-started from the binding rows, at most 3 lazy
  passes each, solved side by side on the cores);
- converged: the previous default (20 resamples, each solved to convergence, one thread).
The table gives each run's wall time, LP and bootstrap seconds, the bootstrap's cost as a multiple
of the point estimate's LP, and how far each interval end of the default lies from the converged
run's (percentage points).

Usage: python bench/invert_interval.py [--merges 5000] [--sample-bytes 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import out_path

SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CATEGORIES = {
    "eng": "text/lang/eng.txt",
    "deu": "text/lang/deu.txt",
    "fra": "text/lang/fra.txt",
    "rus": "text/lang/rus.txt",
    "python": "text/code/python_django.txt",
    "c": "text/code/c.txt",
}
RUNS = {
    "point": (["--bootstrap", "0"], {}),
    "default": ([], {}),
    "converged": (["--bootstrap", "20", "--bootstrap-passes", "0"], {"TOKENLAB_THREADS": "1"}),
}


def run(args: list[str], env: dict[str, str], out: Path) -> tuple[float, dict]:
    cmd = [
        sys.executable,
        "-m",
        "tokenizers_lab",
        "invert",
        str(SHARED / "tokenizers/gpt2"),
        *args,
        "--format",
        "json",
        "-q",
        "--out",
        str(out),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"invert failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - t0, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--merges", type=int, default=5000)
    ap.add_argument("--sample-bytes", type=int, default=1_000_000)
    a = ap.parse_args()
    base = ["--merges", str(a.merges), "--sample-bytes", str(a.sample_bytes)]
    for name, path in CATEGORIES.items():
        base += ["-c", f"{name}={SHARED / path}"]
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for label, (extra, env) in RUNS.items():
            print(f"invert_interval: {label}", file=sys.stderr, flush=True)
            wall, rep = run(base + extra, env, Path(d) / label)
            res[label] = {
                "wall": wall,
                "solve": rep["timings"]["solve_seconds"],
                "bootstrap": rep["timings"].get("bootstrap_seconds", 0.0),
                "ci": {c["name"]: (c["ci_low"], c["ci_high"]) for c in rep["categories"]},
                "share": {c["name"]: c["share"] for c in rep["categories"]},
            }
    out_path("invert-interval.json").write_text(json.dumps(res, indent=1))
    lines = [
        "# invert interval",
        "",
        f"GPT-2's first {a.merges} merges, {len(CATEGORIES)} categories of ../shared/data text "
        f"({a.sample_bytes / 1e6:g} MB each: {', '.join(CATEGORIES)}); each run a fresh process. "
        "Cost = the bootstrap's seconds over the point estimate's LP seconds of the same run.",
        "",
        "| run | resamples | wall s | LP s | bootstrap s | **bootstrap / point LP** |",
        "|---|---|---|---|---|---|",
    ]
    for label, resamples in (("point", 0), ("default", 8), ("converged", 20)):
        r = res[label]
        lines.append(
            f"| {label} | {resamples} | {r['wall']:.1f} | {r['solve']:.1f} | {r['bootstrap']:.1f} | "
            f"**{r['bootstrap'] / r['solve']:.2f}×** |"
        )
    gaps = [
        100 * abs(x - y)
        for n in CATEGORIES
        for x, y in zip(res["default"]["ci"][n], res["converged"]["ci"][n])
        if x is not None and y is not None
    ]
    lines += [
        "",
        f"Interval ends of the default vs the converged run: largest gap {max(gaps):.2f} percentage "
        f"points, median {sorted(gaps)[len(gaps) // 2]:.2f}.",
        "",
    ]
    lines += ["| category | share | default interval | converged interval |", "|---|---|---|---|"]
    for n in CATEGORIES:
        d, c = res["default"]["ci"][n], res["converged"]["ci"][n]
        lines.append(
            f"| {n} | {100 * res['default']['share'][n]:.2f}% | {100 * d[0]:.2f}–{100 * d[1]:.2f}% | "
            f"{100 * c[0]:.2f}–{100 * c[1]:.2f}% |"
        )
    out_path("RESULTS-invert-interval.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
