"""bench/train: `tokenlab train` vs the raw libraries with identical settings, side by side.

Each measurement is a fresh process; wall time and peak RSS (wait4) are taken per process; raw
and wrapped runs alternate, and each cell is the median of --repeats runs. Writes bench/RESULTS.md.
Usage: python bench/train.py [--mb 24] [--repeats 3] [--vocab 32000] [--only bpe,spm-bpe,...]
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

from common import out_path, sync_tables  # bench/common.py (scripts run from bench/)

HERE = Path(__file__).resolve().parent
# tokenlab's arguments for a bench row whose name is not an algorithm
LAB_ARGS = {"bpe-gpt2": ["-a", "bpe", "--pretokenizer", "gpt2"]}
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def build_corpus(dest: Path, mb: int) -> tuple[Path, Path]:
    """Concatenate the 12 monolingual samples; the last 2% of each file becomes held-out text."""
    files = sorted((SHARED / "text" / "lang").glob("*.txt")) + sorted(
        (SHARED / "text" / "code").glob("*.txt")
    )
    if not files:
        raise SystemExit(f"no text under {SHARED}/text; set TOKENLAB_SHARED_DATA")
    train, held = dest / "train.txt", dest / "heldout.txt"
    with open(train, "w", encoding="utf-8") as t, open(held, "w", encoding="utf-8") as h:
        size = 0
        first = True
        while size < mb * 1_000_000:  # the 12 languages + code give ~32 MB a pass; repeated past that
            for f in files:
                lines = f.read_text("utf-8").splitlines()
                cut = int(len(lines) * 0.98)
                body = "\n".join(lines[:cut]) + "\n"
                t.write(body)
                size += len(body.encode())
                if first and h.tell() < 2_000_000:
                    h.write("\n".join(lines[cut:]) + "\n")
                if size >= mb * 1_000_000:
                    break
            first = False
    return train, held


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, ru.ru_maxrss / 1024


def tokens(tokenizer_json: Path, text: list[str]) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    return sum(len(e.ids) for e in tok.encode_batch(text, add_special_tokens=False))


def compile_package() -> None:
    """Byte-compile the tokenizers_lab the runs import, as pip does when it installs a package: an
    editable install under PYTHONDONTWRITEBYTECODE=1 (this machine's shells) would otherwise
    compile ~50 modules from source in every tokenlab process (~0.08 s) and none on the raw side."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("tokenizers_lab")
    if spec is None or spec.origin is None:
        raise SystemExit("tokenizers_lab is not importable: pip install -e . first")
    compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--only", default="bpe,spm-bpe,wordpiece,spm-unigram,superbpe")
    ap.add_argument("--out", default=str(out_path("RESULTS.md")))
    a = ap.parse_args()
    compile_package()
    algos = a.only.split(",")
    py = sys.executable
    # --heldout-every 0: train on the whole file, as the raw run does (the trainer reads it directly)
    tokenlab = [py, "-m", "tokenizers_lab", "train", "--quiet", "--force", "--heldout-every", "0"]
    rows, notes = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        train, held = build_corpus(tmp, a.mb)
        heldout = held.read_text("utf-8").splitlines()
        mb = train.stat().st_size / 1e6
        for algo in algos:
            vocab = 8000 if algo == "spm-unigram" else a.vocab
            raw_t, raw_m, lab_t, lab_m = [], [], [], []
            peer_t: list[float] = []
            peer_m: list[float] = []
            iter_t: list[float] = []
            iter_m: list[float] = []
            for i in range(1 if algo == "spm-unigram" else a.repeats):  # the slow one: one run
                if algo != "superbpe":
                    w, m = measure(
                        [
                            py,
                            str(HERE / "raw_train.py"),
                            algo,
                            str(train),
                            str(vocab),
                            str(tmp / f"raw-{algo}"),
                        ]
                    )
                    raw_t.append(w), raw_m.append(m)
                if algo == "bpe-gpt2":  # the fast trainer alone, the same text and settings
                    w, m = measure(
                        [py, str(HERE / "raw_train.py"), "gigatoken-gpt2", str(train), str(vocab), "-"]
                    )
                    peer_t.append(w), peer_m.append(m)
                    # tokenizers' trainer fed the same lines from Python (train_from_iterator)
                    w, m = measure(
                        [
                            py,
                            str(HERE / "raw_train.py"),
                            "bpe-gpt2-iterator",
                            str(train),
                            str(vocab),
                            str(tmp / "raw-iter"),
                        ]
                    )
                    iter_t.append(w), iter_m.append(m)
                w, m = measure(
                    tokenlab
                    + [
                        str(train),
                        *LAB_ARGS.get(algo, ["-a", algo]),
                        "-v",
                        str(vocab),
                        "--out",
                        str(tmp / f"lab-{algo}"),
                    ]
                )
                lab_t.append(w), lab_m.append(m)
                print(
                    f"{algo} run {i + 1}: raw {raw_t[-1] if raw_t else '-'} lab {lab_t[-1]:.1f}s",
                    file=sys.stderr,
                )
            row = {
                "algorithm": algo,
                "vocab": vocab,
                "lab_s": statistics.median(lab_t),
                "lab_mb": statistics.median(lab_m),
            }
            if raw_t:
                row.update(raw_s=statistics.median(raw_t), raw_mb=statistics.median(raw_m))
            if peer_t:
                row.update(peer_s=statistics.median(peer_t), peer_mb=statistics.median(peer_m))
            if iter_t:
                row.update(iter_s=statistics.median(iter_t), iter_mb=statistics.median(iter_m))
            if algo == "bpe-gpt2":
                lab = json.loads((tmp / f"lab-{algo}" / "train.json").read_text())
                notes["bpe_gpt2_trainer"] = lab["engine"]
                notes["bpe_gpt2_iterator_identical"] = json.loads(
                    (tmp / "raw-iter").read_text("utf-8")
                ) == json.loads((tmp / f"raw-{algo}").read_text("utf-8"))
                notes["bpe_gpt2_identical"] = json.loads(
                    (tmp / f"lab-{algo}" / "tokenizer.json").read_text("utf-8")
                ) == json.loads((tmp / f"raw-{algo}").read_text("utf-8"))
            rows.append(row)
            if algo in ("bpe", "superbpe"):
                notes[f"{algo}_heldout_tokens"] = tokens(tmp / f"lab-{algo}" / "tokenizer.json", heldout)
        if "superbpe" in algos and "bpe" in algos:
            rep = json.loads((tmp / "lab-superbpe" / "train.json").read_text())
            notes["superbpe_checks"] = rep["results"][0]["extra"]
            notes["superbpe_spanning"] = rep["results"][0]["whitespace_spanning_tokens"]
    write(a, rows, notes, mb)


def write(a: argparse.Namespace, rows: list[dict], notes: dict, mb: float) -> None:
    by = {r["algorithm"]: r for r in rows}
    lines = [
        "# bench/train results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"corpus: {mb:.1f} MB of ../shared/data/text (12 languages + code); median of {a.repeats} runs per cell, "
        "raw and tokenlab alternating, each a fresh process (peak RSS via wait4).",
        "",
        "| algorithm | vocab | raw s | tokenlab s | wall ratio | raw RSS MB | tokenlab RSS MB | RSS ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "raw_s" in r:
            lines.append(
                f"| {r['algorithm']} | {r['vocab']} | {r['raw_s']:.1f} | {r['lab_s']:.1f} | "
                f"**{r['lab_s'] / r['raw_s']:.2f}×** | {r['raw_mb']:.0f} | {r['lab_mb']:.0f} | "
                f"**{r['lab_mb'] / r['raw_mb']:.2f}×** |"
            )
        else:
            lines.append(
                f"| {r['algorithm']} | {r['vocab']} | – | {r['lab_s']:.1f} | – | – | {r['lab_mb']:.0f} | – |"
            )
    if "bpe-gpt2" in by and "peer_s" in by["bpe-gpt2"]:
        r = by["bpe-gpt2"]
        lines += [
            "",
            f"bpe-gpt2 (`-a bpe --pretokenizer gpt2`): tokenlab ran {notes['bpe_gpt2_trainer']}; "
            f"gigatoken's trainer called directly {r['peer_s']:.1f} s / {r['peer_mb']:.0f} MB, tokenlab "
            f"**{r['lab_s'] / r['peer_s']:.2f}×** its wall; tokenizer.json identical to tokenizers' "
            f"own: **{notes['bpe_gpt2_identical']}**. tokenizers' trainer fed the same lines through "
            f"`train_from_iterator`: {r['iter_s']:.1f} s / {r['iter_mb']:.0f} MB (tokenlab "
            f"**{r['lab_s'] / r['iter_s']:.2f}×** its wall; same tokenizer.json as `train([file])`: "
            f"{notes['bpe_gpt2_iterator_identical']}).",
        ]
    if "superbpe" in by and "bpe" in by:
        s, b = by["superbpe"], by["bpe"]
        saving = 1 - notes["superbpe_heldout_tokens"] / notes["bpe_heldout_tokens"]
        lines += [
            "",
            f"SuperBPE vs BPE at vocab {s['vocab']} (both through tokenlab): time "
            f"**{s['lab_s'] / b['lab_s']:.2f}×**, RSS {s['lab_mb'] / b['lab_mb']:.2f}×; held-out tokens "
            f"{notes['superbpe_heldout_tokens']} vs {notes['bpe_heldout_tokens']} = **{saving:.1%} fewer**; "
            f"{notes['superbpe_spanning']} superword tokens; checks {json.dumps(notes['superbpe_checks'])}.",
        ]
    lines += [
        "",
        "Notes: tokenlab's wall time includes interpreter start-up and imports, fingerprinting and "
        "validating the corpus (a thread beside the trainer, which reads the file itself under "
        "`--heldout-every 0`), conversion, evaluation and reports. `wordpiece` is not the same run "
        "on both sides: tokenizers' WordPieceTrainer gives a different vocabulary on every run "
        "(tokenizers#1794), so tokenlab counts BERT words itself (one str.translate + split, tested "
        "equal to BertNormalizer + BertPreTokenizer) and trains deterministic BPE over "
        "continuation-marked words; that ratio is the price of reproducibility, not wrapper "
        "overhead. `spm-unigram` runs once per side (about a minute each at vocab 8,000 on this "
        "corpus). SuperBPE has no raw "
        "baseline (stock tokenizers cannot resume from merges); it is compared with tokenlab's own "
        "BPE.",
        "",
    ]
    Path(a.out).write_text("\n".join(lines), encoding="utf-8")
    sync_tables("\n".join(lines[2:]), "bench-table")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
