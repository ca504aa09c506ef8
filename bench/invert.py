"""bench/invert: Hayase et al.'s controlled experiment, run through `tokenlab invert`.

For each trial: draw a mixture alpha ~ Dirichlet(1) (the uniform simplex, as the paper's
Smith-Tromble draw) over n categories; train a byte-level BPE with `tokenizers` (ByteLevel
pre-tokenizer, full byte alphabet, 256 + T vocabulary) on alpha_i x budget bytes of each category's
training half (lines taken cyclically from a random offset, fed as newline-joined chunks); run
`tokenlab invert` in a fresh process on the other half of each category (text the tokenizer never
saw) with --truth; collect log10 MSE, MAE, the TC baseline, wall time and peak RSS (wait4).

Categories come from ../shared/data/text (12 languages, 5 programming languages, 4 English
domains; at most 2 MB each, so each sample is about 1 MB).

Usage: python bench/invert.py [--setting languages|code|domains] [--n 10] [--trials 20]
       [--merges 30000] [--budget-mb 8] [--perf]  (--perf: the 10 categories x 10 MB timing run
       over text found on this machine)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import out_path, sync_tables  # bench/common.py (scripts run from bench/)

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
RESULTS = out_path("RESULTS-invert.md")
SETTINGS = {
    "languages": "text/lang",
    "code": "text/code",
    "domains": "text/domain_en",
    "machine": None,
}  # machine: the timing run's 10 kinds of machine text, ~10 MB samples
# the paper's controlled results (mean log10 MSE over 100 mixtures; notes/invert.md section 3.1)
PAPER = {
    ("languages", 5): -7.30,
    ("languages", 10): -7.66,
    ("code", 5): -6.46,
    ("code", 10): -6.30,
    ("domains", 5): -3.41,
}


def categories(setting: str, n: int) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (training lines, sample lines): each category's lines shuffled once (seed 0), halved.
    Categories are the files of a ../shared/data folder, or (machine) kinds of text on this machine
    (up to 20 MB each, so samples of up to ~10 MB)."""
    if SETTINGS[setting] is None:
        kinds = list(machine_categories(20_000_000).items())[:n]
        texts = {name: "".join(f.read_text("utf-8") for f in files) for name, files in kinds}
    else:
        files = sorted((SHARED / SETTINGS[setting]).glob("*.txt"))[:n]
        texts = {f.stem: f.read_text("utf-8") for f in files}
    if len(texts) < 2:
        raise SystemExit(f"fewer than two categories for {setting}; set TOKENLAB_SHARED_DATA")
    rng = np.random.default_rng(0)
    out = {}
    for name, text in texts.items():
        lines = [ln for ln in text.splitlines() if ln.strip()]
        order = rng.permutation(len(lines))
        half = len(lines) // 2
        out[name] = ([lines[i] for i in order[:half]], [lines[i] for i in order[half:]])
    return out


def chunks(lines: list[str], size: int = 1000) -> list[str]:
    return ["\n".join(lines[i : i + size]) + "\n" for i in range(0, len(lines), size)]


def train(
    cats: dict, alpha: np.ndarray, budget: int, merges: int, rng: np.random.Generator, dest: Path
) -> tuple[dict[str, float], float]:
    """Train the mixture tokenizer; return the true byte shares and the training seconds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text: list[str] = []
    got = {}
    for a, (name, (pool, _)) in zip(alpha, cats.items()):
        need, have, i = a * budget, 0, int(rng.integers(len(pool)))
        take = []
        while have < need:
            ln = pool[i % len(pool)]
            take.append(ln)
            have += len(ln.encode("utf-8")) + 1
            i += 1
        text += chunks(take)
        got[name] = have
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    t0 = time.perf_counter()
    tok.train_from_iterator(
        text,
        trainers.BpeTrainer(
            vocab_size=256 + merges, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    seconds = time.perf_counter() - t0
    tok.save(str(dest))
    total = sum(got.values())
    return {k: v / total for k, v in got.items()}, seconds


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB via wait4, stdout)."""
    with tempfile.TemporaryFile("w+") as out_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=subprocess.PIPE, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read() if proc.stderr else ""
        if status != 0:
            raise SystemExit(f"failed ({status}): {' '.join(cmd[:6])} ...\n{err[-2000:]}")
        out_f.seek(0)
        return wall, ru.ru_maxrss / 1024, out_f.read()


def controlled(a: argparse.Namespace, work: Path) -> dict:
    cats = categories(a.setting, a.n)
    paths = {}
    for name, (_, sample) in cats.items():
        paths[name] = work / f"sample-{name}.txt"
        paths[name].write_text("\n".join(sample) + "\n", encoding="utf-8")
    trials = []
    for trial in range(a.trial_offset, a.trial_offset + a.trials):
        rng = np.random.default_rng(1000 + trial)
        alpha = rng.dirichlet(np.ones(len(cats)))
        tok = work / f"tok-{trial}.json"
        truth, train_s = train(cats, alpha, a.budget_mb * 1_000_000, a.merges, rng, tok)
        cmd = [
            sys.executable,
            "-m",
            "tokenizers_lab",
            "invert",
            str(tok),
            "--quiet",
            "--format",
            "json",
            "--bootstrap",
            str(a.bootstrap),
            "--merges",
            str(a.merges),
        ]
        for name in cats:
            cmd += ["-c", f"{name}={paths[name]}", f"--truth={name}={truth[name]:.9f}"]
        wall, rss, out = measure(cmd)
        rep = json.loads(out)
        guess = rng.dirichlet(np.ones(len(cats)))
        t = np.array([truth[k] for k in cats])
        row = {
            "trial": trial,
            "log10_mse": rep["score"]["log10_mse"],
            "mae": rep["score"]["mae"],
            "tc_log10_mse": rep["score"]["baseline_log10_mse"],
            "uniform_log10_mse": rep["score"]["uniform_log10_mse"],
            "random_log10_mse": float(np.log10(np.mean((guess - t) ** 2))),
            "train_s": train_s,
            "wall_s": wall,
            "rss_mb": rss,
            "timings": rep["timings"],
            "passes": rep["solver"]["passes"],
            "rows": rep["solver"]["constraints"],
            "lp_s": rep["timings"]["solve_seconds"],
            "walk_s": rep["timings"]["walk_seconds"],
            "status": rep["solver"]["status"],
            "missing": rep["solver"]["missing_merges"],
        }
        trials.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "timings"}), file=sys.stderr, flush=True)
    return {
        "setting": a.setting,
        "n": len(cats),
        "merges": a.merges,
        "budget_mb": a.budget_mb,
        "sample_mb": statistics.mean(p.stat().st_size for p in paths.values()) / 1e6,
        "trials": trials,
        "categories": list(cats),
    }


PERF_KINDS = {  # name -> file suffix: kinds of text every Linux + Python machine has in quantity
    "python": ".py",
    "python-stubs": ".pyi",
    "c-headers": ".h",
    "json": ".json",
    "html": ".html",
    "markdown": ".md",
    "text": ".txt",
    "restructuredtext": ".rst",
    "xml": ".xml",
    "yaml": ".yaml",
    "javascript": ".js",
}


def machine_categories(limit: int) -> dict[str, list[Path]]:
    """Up to `limit` bytes each of kinds of text found on this machine (for the timing run): UTF-8
    files under 5 MB below the Python prefixes and /usr, in path order; kinds with less than
    a quarter of `limit` are left out."""
    roots = sorted({Path(sys.prefix), Path(sys.base_prefix), Path("/usr")})
    out: dict[str, list[Path]] = {}
    for name, suffix in PERF_KINDS.items():
        files, size, seen = [], 0, set()
        for root in roots:
            for f in sorted(root.rglob(f"*{suffix}")):
                if size >= limit:
                    break
                try:
                    real = f.resolve()
                    s = f.stat().st_size
                    if real in seen or not f.is_file() or not 0 < s < 5_000_000:
                        continue
                    f.read_bytes().decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                seen.add(real)
                files.append(f)
                size += s
        if size >= limit // 4:
            out[name] = files
    return out


def perf(a: argparse.Namespace, work: Path) -> dict:
    """30k merges x 10 categories x ~10 MB: time and memory of one `tokenlab invert` run. Each
    category's sample is its first 10 MB of files; the tokenizer is trained on the rest (up to 10 MB
    each), so the samples are text it never saw."""
    limit = 10_000_000
    cats: dict[str, str] = {}
    for name, files in machine_categories(2 * limit).items():
        if len(cats) >= 10:
            break
        b = b"".join(f.read_bytes() for f in files)
        cut = b.rfind(b"\n", 0, min(limit, len(b) // 2)) + 1  # whole lines: no character cut in two
        end = b.rfind(b"\n", 0, cut + limit) + 1
        (work / f"sample-{name}.txt").write_bytes(b[:cut])
        (work / f"train-{name}.txt").write_bytes(b[cut:end])
        cats[name] = name
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    t0 = time.perf_counter()
    tok.train(
        [str(work / f"train-{c}.txt") for c in cats],
        trainers.BpeTrainer(
            vocab_size=256 + 30000, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    train_s = time.perf_counter() - t0
    tok.save(str(work / "perf-tok.json"))
    cmd = [
        sys.executable,
        "-m",
        "tokenizers_lab",
        "invert",
        str(work / "perf-tok.json"),
        "--quiet",
        "--format",
        "json",
        "--bootstrap",
        "0",
        "--merges",
        "30000",
        "--sample-bytes",
        str(limit),
    ]
    for c in cats:
        cmd += ["-c", f"{c}={work / f'sample-{c}.txt'}"]
    wall, rss, out = measure(cmd)
    rep = json.loads(out)
    return {
        "wall_s": wall,
        "rss_mb": rss,
        "train_s": train_s,
        "timings": rep["timings"],
        "solver": rep["solver"],
        "categories": {c["name"]: c["sample_bytes"] for c in rep["categories"]},
    }


# (label, tokenizer path under ../shared/data/tokenizers, --start, --merges or None for the default)
REAL = (
    ("GPT-2", "gpt2", 0, None),
    ("GPT-3.5/4 (cl100k)", "openai/cl100k_base.tiktoken", 0, None),
    ("GPT-4o (o200k)", "openai/o200k_base.tiktoken", 0, None),
    ("Llama 3 (merges beyond cl100k)", "llama3/tokenizer.model", 100000, 27066),  # merges the ranks yield
    ("Qwen (merges beyond cl100k)", "qwen/qwen.tiktoken", 100000, None),
    ("Claude (legacy)", "claude-v1/tokenizer.json", 0, None),
)
# the paper's inferences (% of training data; notes/invert.md section 3.3): English, code, other languages
PAPER_REAL = {
    "GPT-2": (99.1, 0.7, 0.2),
    "GPT-3.5/4 (cl100k)": (34.3, 62.6, 3.1),
    "GPT-4o (o200k)": (28.1, 32.8, 39.1),
    "Llama 3 (merges beyond cl100k)": (21.3, 30.2, 48.5),
    "Claude (legacy)": (38.9, 57.5, 3.6),
}


def real(a: argparse.Namespace) -> list[dict]:
    """Every real tokenizer against the 21 category samples of ../shared/data/text."""
    cats = []
    for sub, kind in (("text/lang", "lang"), ("text/domain_en", "english"), ("text/code", "code")):
        for f in sorted((SHARED / sub).glob("*.txt")):
            name = f.stem if kind != "english" else f"eng_{f.stem}"
            kind_of = "english" if (kind == "english" or f.stem == "eng") else kind
            cats.append((name, f, kind_of))
    out = []
    for label, rel, start, merges in REAL:
        if a.real_only and label not in a.real_only:
            continue
        path = SHARED / "tokenizers" / rel
        if not path.exists():
            print(f"skip {label}: {path} missing", file=sys.stderr)
            continue
        cmd = [
            sys.executable,
            "-m",
            "tokenizers_lab",
            "invert",
            str(path),
            "--quiet",
            "--format",
            "json",
            "--bootstrap",
            str(a.bootstrap),
            "--start",
            str(start),
            "--sample-bytes",
            str(a.real_sample_bytes),
            "--merges",
            str(min(merges or a.real_merges, a.real_merges)),
        ]
        for name, f, _ in cats:
            cmd += ["-c", f"{name}={f}"]
        wall, rss, text = measure(cmd)
        rep = json.loads(text)
        kinds = {name: kind for name, _, kind in cats}
        shares = {c["name"]: c["share"] for c in rep["categories"]}
        groups = {
            k: 100 * sum(v for n, v in shares.items() if kinds[n] == k) for k in ("english", "code", "lang")
        }
        row = {
            "label": label,
            "merges": min(merges or a.real_merges, a.real_merges),
            "start": start,
            "sample_bytes": a.real_sample_bytes,
            "wall_s": wall,
            "rss_mb": rss,
            "shares": shares,
            "groups": groups,
            "ci": {c["name"]: (c["ci_low"], c["ci_high"]) for c in rep["categories"]},
            "solver": rep["solver"],
            "unidentifiable": rep["unidentifiable"],
            "baseline": {c["name"]: c["baseline_share"] for c in rep["categories"]},
        }
        out.append(row)
        print(json.dumps({k: row[k] for k in ("label", "wall_s", "groups")}), file=sys.stderr, flush=True)
    return out


def write(res: dict) -> None:
    lines = [
        "# bench/invert results",
        "",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
            "Each `tokenlab invert` run is a fresh process (peak RSS via wait4)."
        ),
        "",
    ]
    rows = []
    for s in res.get("controlled", []):
        tr = s["trials"]

        def ms(key: str) -> str:
            v = [t[key] for t in tr]
            return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f}"

        paper = PAPER.get((s["setting"], s["n"]))
        rows.append(
            f"| {s['setting']} | {s['n']} | {len(tr)} | {s['merges']} | {s['budget_mb']} MB | "
            f"{s['sample_mb']:.2f} MB | **{ms('log10_mse')}** | "
            f"{statistics.mean(t['mae'] for t in tr) * 100:.3f} pp | {ms('tc_log10_mse')} | "
            f"{ms('uniform_log10_mse')} | {ms('random_log10_mse')} | "
            f"{paper if paper is not None else '–'} | "
            f"{statistics.median(t['wall_s'] for t in tr):.0f} s | "
            f"{max(t['rss_mb'] for t in tr):.0f} MB |"
        )
    if rows:
        lines += [
            "Controlled setting (log10 MSE of the byte shares, mean ± sd over trials; lower is better):",
            "",
            "| categories | n | trials | merges | training mix | sample / category | LP (tokenlab) | "
            "MAE | TC baseline | uniform 1/n | random guess | paper (same n) | median wall | peak RSS |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
        for s in res["controlled"]:
            tr = s["trials"]
            lines.append(
                f"- {s['setting']} ({', '.join(s['categories'])}), {s['merges']} merges: median per trial "
                f"{statistics.median(t['passes'] for t in tr):.0f} passes, "
                f"{statistics.median(t['rows'] for t in tr):.0f} rows generated, LP "
                f"{statistics.median(t['lp_s'] for t in tr):.0f} s (walks "
                f"{statistics.median(t['walk_s'] for t in tr):.0f} s), pre-tokenize + count events "
                f"{statistics.median(t['timings'].get('pretokenize_seconds', 0) + t['timings']['replay_seconds'] for t in tr):.0f} s, training "
                f"{statistics.median(t['train_s'] for t in tr):.0f} s; "
                f"{sum(t['status'] == 'optimal' for t in tr)} optimal, "
                f"{sum(t['status'] == 'stalled' for t in tr)} stalled (of {len(tr)})."
            )
        lines.append("")
    if "perf" in res:
        p = res["perf"]
        t, s = p["timings"], p["solver"]
        lines += [
            "Timing run (target: 30k merges x 10 categories x 10 MB in <= 5 min, <= 4 GB):",
            "",
            "| categories (sample MB) | wall | peak RSS | read | pre-tokenize | count events | count tables | "
            "LP (of which walks) | passes | rows generated | status |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {', '.join(f'{k} ({v / 1e6:.1f})' for k, v in p['categories'].items())} | "
            f"**{p['wall_s']:.0f} s** | **{p['rss_mb']:.0f} MB** | {t['read_seconds']:.0f} s | "
            f"{t.get('pretokenize_seconds', 0):.1f} s | {t['replay_seconds']:.1f} s | "
            f"{t['count_table_seconds']:.0f} s | {t.get('solve_seconds', s.get('seconds', 0)):.0f} s "
            f"({t.get('walk_seconds', s.get('walk_seconds', 0)):.0f} s) | {s['passes']} | {s['constraints']} | "
            f"{s['status']} |",
            "",
        ]
    if res.get("real"):
        lines += [
            "Real tokenizers against the 21 samples of ../shared/data/text (12 languages incl. English news, "
            "4 English domains, 5 programming languages; up to the sample size shown, files hold 0.3-2 MB), "
            "the first merges shown (Llama 3 and Qwen: from merge 100,000, `--start 100000`: the merges they "
            "added to cl100k). Shares in % of training bytes, grouped; the paper's inference (30k merges, "
            "116 categories, up to 1 GB each) beside:",
            "",
            "| tokenizer | merges | sample | English | code | other languages | paper: English / code / other "
            "| top categories | wall | peak RSS |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["real"]:
            g = r["groups"]
            top = sorted(r.get("shares", {}).items(), key=lambda kv: -kv[1])[:4]
            paper = PAPER_REAL.get(r["label"])
            lines.append(
                f"| {r['label']} | {r['merges']} | {r['sample_bytes'] / 1e6:g} MB | {g['english']:.1f} | "
                f"{g['code']:.1f} | {g['lang']:.1f} | "
                f"{' / '.join(f'{x:.1f}' for x in paper) if paper else '–'} | "
                f"{', '.join(f'{k} {100 * v:.1f}' for k, v in top) or '–'} | {r['wall_s']:.0f} s | "
                f"{r['rss_mb']:.0f} MB |".replace("nan MB", "–")
            )
        lines.append("")
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    sync_tables("\n".join(lines[2:]), "bench-invert-table")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setting", action="append", choices=sorted(SETTINGS))
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--trial-offset", type=int, default=0, help="first trial's number (seed 1000 + trial)")
    ap.add_argument("--merges", type=int, default=30000)
    ap.add_argument("--budget-mb", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=0)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--real-merges", type=int, default=30000)
    ap.add_argument("--real-sample-bytes", type=int, default=10_000_000)
    ap.add_argument(
        "--real-only",
        action="append",
        help="run only this tokenizer label (repeatable); the other rows of the results are kept",
    )
    ap.add_argument("--json", default=str(out_path("invert-results.json")))
    a = ap.parse_args()
    res = json.loads(Path(a.json).read_text()) if Path(a.json).exists() else {}
    with tempfile.TemporaryDirectory() as d:
        if a.perf:
            res["perf"] = perf(a, Path(d))
        if a.real:
            new = real(a)
            labels = [r[0] for r in REAL]
            rows = {r["label"]: r for r in (res.get("real", []) if a.real_only else [])}
            rows.update({r["label"]: r for r in new})
            res["real"] = sorted(
                rows.values(), key=lambda r: labels.index(r["label"]) if r["label"] in labels else 99
            )
        for setting in a.setting or []:
            a.setting = setting
            done = [
                s
                for s in res.get("controlled", [])
                if not (s["setting"] == setting and s["n"] == a.n and s["merges"] == a.merges)
            ]
            res["controlled"] = [*done, controlled(a, Path(d))]
    Path(a.json).write_text(json.dumps(res, indent=1))
    write(res)


if __name__ == "__main__":
    main()
