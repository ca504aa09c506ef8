"""The distributed engine: a real Dask cluster (a scheduler and two single-threaded worker
processes, started as `dask scheduler` / `dask worker` would be) gives reports identical to the
local engine's on ../shared/data, for audit, invert (both replay paths) and train."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tokenizers_lab.cli import app
from tokenizers_lab.engine import EngineSpec, LocalEngine, open_engine
from tokenizers_lab.errors import UsageError
from tokenizers_lab.native import MMAP_THRESHOLD, TRIM_THRESHOLD

pytestmark = pytest.mark.slow


# -- pieces that need no cluster --------------------------------------------------------------


def test_local_engine_keeps_order_with_threads() -> None:
    eng = LocalEngine(threads=3)
    out = list(eng.imap(lambda k, x: (k, x * x), range(50), "k", window=4))
    assert out == [("k", x * x) for x in range(50)]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (EngineSpec("ray"), "Dask"),
        (EngineSpec("spark"), "unknown --engine"),
        (EngineSpec("local", address="tcp://127.0.0.1:8786"), "--engine dask"),
        (EngineSpec("dask", workers=-1), "--workers"),
    ],
)
def test_engine_spec_refuses_bad_options(spec: EngineSpec, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        spec.validate()


def test_merged_per_shard_chain_stores_equal_the_global_store(shared: Path) -> None:
    from tokenizers_lab.invert import chains, pretokens
    from tokenizers_lab.invert.replay import plan_for
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(str(shared / "tokenizers" / "gpt2"))
    merges = view.merges()[:3000]
    plan = plan_for(merges, "byte")
    texts = [
        (shared / "text" / "lang" / f"{lang}.txt").read_text("utf-8")[:150_000] for lang in ("eng", "deu")
    ]
    texts.append((shared / "text" / "code" / "c.txt").read_text("utf-8")[:150_000])
    units = [pretokens.count(view, [t[i : i + 50_000]]) for t in texts for i in (0, 50_000, 100_000)]
    whole = chains.store(units, plan, merges)
    merged = chains.merge_stores([chains.store([u], plan, merges) for u in units], plan)
    for name in ("unit", "pid", "t", "delta", "pairs", "bytes", "merge_pair"):
        assert np.array_equal(getattr(whole, name), getattr(merged, name)), name
    assert whole.pair_list == merged.pair_list and whole.n_pairs == merged.n_pairs
    assert (whole.merge_pair >= 0).sum() > 1000  # the shards really exercise the merges


def test_train_word_counts_do_not_depend_on_task_size(shared: Path) -> None:
    from tokenizers_lab.patterns import PATTERNS
    from tokenizers_lab.train.common import text_chunks
    from tokenizers_lab.train.superbpe import Stage2Counter

    path = shared / "text" / "lang" / "fra.txt"
    counter = Stage2Counter(__import__("regex").compile(f"({PATTERNS['superbpe-stage2']})"), True)
    one = counter([path.read_text("utf-8")])
    many: Counter[str] = Counter()
    for group in text_chunks([path], 4096, task_chars=20_000):
        many.update(counter(group))
    assert one == many and sum(one.values()) > 10_000


# -- a real cluster -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """tcp address of a scheduler with two worker processes (one thread each)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from dask.distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    sched_file = folder / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--port",
                "0",
                "--scheduler-file",
                str(sched_file),
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "the scheduler did not start"
        for k in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        "--scheduler-file",
                        str(sched_file),
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--name",
                        f"w{k}",
                        "--local-directory",
                        str(folder),
                        *common,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        address = json.loads(sched_file.read_text())["address"]
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _report(runner, args: list[str]) -> dict:
    res = runner.invoke(app, [*args, "--format", "json", "--quiet"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    run = rep.pop("run")
    rep.pop("timings", None)
    return {"report": rep, "engine": run["engine"]}


def _both(runner, args: list[str], address: str) -> tuple[dict, dict]:
    # where a job runs is no part of its configuration: both runs would share one default folder
    outs = (
        [] if "--out" in args else [["--out", str(Path(tempfile.mkdtemp()) / e)] for e in ("local", "dask")]
    )
    local = _report(runner, [*args, *(outs[0] if outs else [])])
    remote = _report(runner, [*args, *(outs[1] if outs else []), "--engine", "dask", "--address", address])
    assert local["engine"]["engine"] == "local"
    assert remote["engine"]["engine"] == "dask" and remote["engine"]["workers"] == 2
    assert len(remote["engine"]["worker_peak_rss_mb"]) == 2
    return local["report"], remote["report"]


def test_audit_on_a_cluster_equals_local(runner, shared: Path, cluster: str) -> None:
    tok = shared / "tokenizers"
    args = [
        "audit",
        f"gpt2={tok / 'gpt2'}",
        f"llama2={tok / 'llama2' / 'tokenizer.model'}",
        f"bert={tok / 'bert-base-uncased' / 'vocab.txt'}",
        "--parallel",
        str(shared / "flores200" / "core_dev"),
        "--corpus",
        str(shared / "text" / "code"),
        "--corpus",
        str(shared / "text" / "domain_en"),
        "--charbench-items",
        "3",
        "--no-plots",
    ]
    local, remote = _both(runner, args, cluster)
    assert local == remote
    gpt2 = local["tokenizers"][0]
    assert gpt2["corpus_compression"]["bytes"] > 10_000_000  # the monolingual corpora were counted
    assert len(gpt2["fairness"]) == 14


@pytest.mark.parametrize("tok", ["gpt2", "llama2/tokenizer.model"])  # chain method / merge-by-merge replay
def test_invert_on_a_cluster_equals_local(runner, shared: Path, cluster: str, tok: str) -> None:
    text = shared / "text"
    args = [
        "invert",
        str(shared / "tokenizers" / tok),
        "-c",
        f"eng={text / 'lang' / 'eng.txt'}",
        "-c",
        f"deu={text / 'lang' / 'deu.txt'}",
        "-c",
        f"code={text / 'code'}",
        "--merges",
        "1500",
        "--sample-bytes",
        "600000",
        "--shards",
        "4",
        "--bootstrap",
        "3",
        "--workers",
        "1",
    ]
    local, remote = _both(runner, args, cluster)
    assert local == remote
    assert sum(c["share"] for c in local["categories"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("algo", ["wordpiece", "superbpe"])
def test_train_on_a_cluster_equals_local(
    runner, shared: Path, cluster: str, tmp_path: Path, algo: str
) -> None:
    text = shared / "text"
    args = ["train", str(text / "lang" / "eng.txt"), str(text / "code" / "c.txt"), "-a", algo, "-v", "3000"]
    local = _report(runner, [*args, "--out", str(tmp_path / "local")])
    remote = _report(
        runner, [*args, "--out", str(tmp_path / "dask"), "--engine", "dask", "--address", cluster]
    )
    assert local["report"] == remote["report"]
    assert (tmp_path / "local" / "tokenizer.json").read_bytes() == (
        tmp_path / "dask" / "tokenizer.json"
    ).read_bytes()


def test_a_local_dask_cluster_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """...and its workers get one thread and the malloc settings, while this process's own
    environment is left as it was (Dask's nanny writes the workers' settings into it)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    names = ("RAYON_NUM_THREADS", "TOKENLAB_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAYON_NUM_THREADS", "7")
    with open_engine(EngineSpec("dask", workers=2)) as eng:
        assert eng.workers == 2
        assert list(eng.imap(pow, range(6), 2)) == [2**k for k in range(6)]
        # a value already set in the environment wins (Dask's precedence)
        assert list(eng.imap(os.getenv, names)) == ["7", "1", str(MMAP_THRESHOLD), str(TRIM_THRESHOLD)]
        assert os.environ.get("RAYON_NUM_THREADS") == "7"
        assert not any(name in os.environ for name in names[1:])
    assert os.environ.get("RAYON_NUM_THREADS") == "7"
    assert not any(name in os.environ for name in names[1:])


def test_an_unreachable_scheduler_is_one_error_line(runner) -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    res = runner.invoke(
        app,
        [
            "train",
            "embedded:domain",
            "-a",
            "wordpiece",
            "-v",
            "500",
            "--engine",
            "dask",
            "--address",
            "tcp://127.0.0.1:9",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 1
    assert res.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in res.output
