"""The CI and batch contract (issue 15): default output folders, progress and notes on a non-TTY
stderr, signatures that identify the configuration, gates checked before any work, unfillable
vocabularies, --force replacing an output whole, which text the audit measured, hub names from the
local cache, complete HF tokenizer folders and consistent CLI help."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokenizers_lab import outputs as outputs_mod
from tokenizers_lab import report as report_mod
from tokenizers_lab.cli import app
from tokenizers_lab.cli.common import Feedback

REPO = Path(__file__).resolve().parent.parent


# what `train` writes for one vocabulary size
ONE_SIZE_TRAIN_FILES = (
    "train.json",
    "train.md",
    "report.html",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _last_line(text: str) -> str:
    return [ln for ln in text.splitlines() if ln.strip()][-1]


# ---------------------------------------------------------------------------------------
# 2. every run leaves its outputs and names them
# ---------------------------------------------------------------------------------------


def test_train_without_out_writes_a_default_folder_and_names_every_file(
    runner, small_corpus, _default_reports
):
    args = ["train", str(small_corpus), "-a", "bpe", "-v", "400", "--heldout-every", "0"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    folders = list(_default_reports.iterdir())
    assert len(folders) == 1 and re.fullmatch(r"train-[0-9a-f]{10}", folders[0].name)
    out = folders[0]
    files = set(ONE_SIZE_TRAIN_FILES)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == files
    last = _last_line(res.stdout)
    assert last.startswith(f"wrote {out}/: ") and set(last.split(": ", 1)[1].split(", ")) == files
    # the report's artifact exists where the report says
    rep = json.loads((out / "train.json").read_text())
    assert (out / rep["results"][0]["artifact"]).is_file()
    # another configuration never lands in the same folder; the same one again needs --force
    res = runner.invoke(app, args + ["--pretokenizer", "gpt2", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert len(list(_default_reports.iterdir())) == 2
    assert json.loads(res.stdout)["results"][0]["artifact"] == "tokenizer.json"
    assert "wrote " in res.stderr  # with --format json the file list goes to stderr: stdout is one document
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "--force" in res.stderr
    assert runner.invoke(app, args + ["--force"]).exit_code == 0


def test_audit_and_invert_without_out_write_default_folders(runner, _default_reports, tok_file):
    res = runner.invoke(app, ["audit", str(tok_file), "--no-plots", "--charbench-items", "2", "-q"])
    assert res.exit_code == 0, res.stderr
    (audit_dir,) = [p for p in _default_reports.iterdir() if p.name.startswith("audit-")]
    assert (
        _last_line(res.stdout)
        == f"wrote {audit_dir}/: audit.json, audit.md, report.html, charbench_items.jsonl"
    )
    res = runner.invoke(app, ["invert", "--bootstrap", "0", "-q"])
    assert res.exit_code == 0, res.stderr
    (inv_dir,) = [p for p in _default_reports.iterdir() if p.name.startswith("invert-")]
    assert (inv_dir / "invert.json").is_file() and _last_line(res.stdout).startswith(f"wrote {inv_dir}/")


# ---------------------------------------------------------------------------------------
# 3. progress and notes on a non-TTY stderr
# ---------------------------------------------------------------------------------------


def _cli(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tokenizers_lab", *args],
        capture_output=True,
        text=True,
        env=e,
        cwd=cwd,
        timeout=600,
    )


def test_progress_lines_off_a_terminal_and_quiet(tmp_path, small_corpus):
    """stderr is a pipe here (not a TTY): plain progress lines, none with --quiet."""
    args = ["train", str(small_corpus), "-v", "400", "--heldout-every", "0", "--out"]
    res = _cli(args + [str(tmp_path / "a")], {"TOKENLAB_PROGRESS_SECONDS": "0"})
    assert res.returncode == 0, res.stderr
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("tokenlab train: ")]
    assert progress and all(re.search(r"\(\d+s", ln) for ln in progress), res.stderr
    assert any("training bpe" in ln for ln in progress)
    assert "\x1b[" not in res.stderr  # plain lines, no terminal control codes
    res = _cli(args + [str(tmp_path / "b"), "--quiet"], {"TOKENLAB_PROGRESS_SECONDS": "0"})
    assert res.returncode == 0 and res.stderr == ""
    # stdout carries the results only
    assert res.stdout.splitlines()[0].startswith("train|") and "tokenlab train:" not in res.stdout


def test_progress_is_rate_limited_with_eta(monkeypatch, capsys):
    """Off a terminal: at most one line per interval, however often the library reports, and an
    ETA once a fraction moves."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setenv("TOKENLAB_PROGRESS_SECONDS", "5")
    fb = Feedback("invert", quiet=False)
    fb.close()  # no heartbeat thread: the test drives the clock
    for k in range(200):  # 20 s of updates every 0.1 s
        clock[0] += 0.1
        fb(f"bootstrap {k + 1}/200", k / 200)
    lines = capsys.readouterr().err.splitlines()
    assert 3 <= len(lines) <= 4, lines
    assert all(ln.startswith("tokenlab invert: bootstrap ") for ln in lines)
    assert "ETA" in lines[-1] and "%" in lines[-1]
    quiet = Feedback("invert", quiet=True)
    quiet("anything", 0.5)
    quiet.note("hidden")
    assert capsys.readouterr().err == ""


def test_report_notes_go_to_stderr_as_note_lines(runner, tmp_path, small_corpus):
    res = runner.invoke(
        app, ["train", str(small_corpus), "-v", "20000", "--heldout-every", "0", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.stderr
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 1 and "fills only" in notes[0]
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-v",
            "20000",
            "--heldout-every",
            "0",
            "--out",
            str(tmp_path / "q"),
            "--quiet",
        ],
    )
    assert res.exit_code == 0 and "note:" not in res.stderr


# ---------------------------------------------------------------------------------------
# 4. signatures identify the configuration
# ---------------------------------------------------------------------------------------


def _flipped(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 + 0.25
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "x"
    if isinstance(value, tuple):
        return (*value, "x")
    raise AssertionError(type(value))


@pytest.mark.parametrize(
    "module,cls",
    [
        ("tokenizers_lab.train", "TrainConfig"),
        ("tokenizers_lab.audit", "AuditConfig"),
        ("tokenizers_lab.invert", "InvertConfig"),
    ],
)
def test_every_setting_changes_the_signature(module, cls):
    """Flip each config field: the signature's settings hash changes, except for execution
    settings (where the work runs), output choices (--metric: what is printed, never a number; they
    are flipped too, and must leave it alone) and fields that only name input files (their content
    enters through `in:`, so the same file elsewhere keeps the signature)."""
    import importlib

    Config = getattr(importlib.import_module(module), cls)
    base = Config()
    sig = report_mod.signature("x", [], 13, report_mod.settings_hash(base)[:7])
    for f in dataclasses.fields(Config):
        changed = (
            dataclasses.replace(base, **{f.name: _flipped(getattr(base, f.name))})
            if not f.metadata.get("execution")
            else base
        )
        new = report_mod.signature(
            "x", [], changed.seed if f.name == "seed" else 13, report_mod.settings_hash(changed)[:7]
        )
        if f.metadata.get("execution") or f.metadata.get("input") or f.metadata.get("output"):
            assert new == sig, f.name
        else:
            assert new != sig, f"{cls}.{f.name} does not change the signature"


def test_inputs_enter_the_signature_by_content():
    a = report_mod.InputRef("corpus", "a.txt", "1" * 64, 10)
    b = report_mod.InputRef("corpus", "elsewhere/a.txt", "1" * 64, 10)
    c = report_mod.InputRef("corpus", "a.txt", "2" * 64, 10)
    assert report_mod.inputs_hash([a]) == report_mod.inputs_hash([b]) != report_mod.inputs_hash([c])


def test_the_three_trainings_of_the_issue_have_three_signatures(runner, tmp_path, small_corpus):
    sigs = set()
    for extra in (
        [],
        ["--pretokenizer", "gpt2"],
        ["--min-frequency", "5", "--normalization", "nfkc", "--split-digits"],
    ):
        res = runner.invoke(
            app,
            [
                "train",
                str(small_corpus),
                "-v",
                "400",
                "--heldout-every",
                "0",
                "-q",
                "--out",
                str(tmp_path / str(len(sigs))),
                *extra,
            ],
        )
        assert res.exit_code == 0, res.stderr
        sigs.add(res.stdout.splitlines()[0])
    assert len(sigs) == 3, sigs
    assert any("|pre:gpt2|" in s for s in sigs)


# ---------------------------------------------------------------------------------------
# 5. gates are checked before any work
# ---------------------------------------------------------------------------------------


def test_a_misspelt_gate_fails_before_any_encoding(runner, tmp_path, monkeypatch):
    from tokenizers_lab.audit import job

    def boom(*a, **k):
        raise AssertionError("the audit ran")

    monkeypatch.setattr(job, "_run", boom)
    monkeypatch.setattr(job, "load_tokenizer", boom)
    res = runner.invoke(
        app,
        ["audit", "gpt2=/nowhere/tokenizer.json", "--fail-on", "premium.tur>2", "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 2, res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "did you mean tur_Latn" in line
    keys = line.split("available keys: ", 1)[1].rstrip(")").split(", ")
    assert len(keys) == 12 and "tur_Latn" in keys and "zho_Hans" in keys  # every key, none cut
    res = runner.invoke(
        app,
        [
            "audit",
            "gpt2=/nowhere/tokenizer.json",
            "--fail-on",
            "roundtrip@gtp2<1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "did you mean 'gpt2'" in res.stderr
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------
# 6. a vocabulary the corpus cannot fill
# ---------------------------------------------------------------------------------------


def test_unfillable_vocabulary_is_recorded_and_refused_in_a_sweep(runner, tmp_path, small_corpus):
    out = tmp_path / "big"
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-v",
            "16k",
            "--heldout-every",
            "0",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    r = rep["results"][0]
    assert r["vocab_size_requested"] == 16000 and r["vocab_size"] < 16000
    assert f"|vocab:16000>{r['vocab_size']}|" in rep["provenance"]["signature"]
    assert any("fills only" in n for n in rep["notes"]) and "## Notes" in (out / "train.md").read_text()
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-v",
            "400,16k",
            "--heldout-every",
            "0",
            "--out",
            str(tmp_path / "sweep"),
        ],
    )
    assert res.exit_code == 1 and "fills only" in res.stderr and not (tmp_path / "sweep").exists()


# ---------------------------------------------------------------------------------------
# 7. --force replaces an output whole; permissions follow the umask
# ---------------------------------------------------------------------------------------


def test_force_replaces_the_output_whole_and_keeps_foreign_files(runner, tmp_path, small_corpus):
    out = tmp_path / "o"
    base = ["train", str(small_corpus), "--heldout-every", "0", "-q", "--out", str(out)]
    assert runner.invoke(app, [*base, "-v", "300,400"]).exit_code == 0
    assert (out / "v300/tokenizer.json").exists()
    (out / "mine.txt").write_text("the user's own file")
    res = runner.invoke(app, [*base, "-v", "400", "--force"])
    assert res.exit_code == 0, res.stderr
    assert not (out / "v300").exists() and not (out / "v400").exists()  # no stale sweep folders
    assert (out / "tokenizer.json").exists() and (out / "mine.txt").read_text() == "the user's own file"
    assert sorted((out / outputs_mod.MANIFEST).read_text().split()) == sorted(
        ONE_SIZE_TRAIN_FILES
    )  # the sweep's v300/, v400/ and train_sweep.svg/.png are gone


def test_output_folders_follow_the_umask(tmp_path, small_corpus):
    old = os.umask(0o022)
    try:
        res = _cli(
            [
                "train",
                str(small_corpus),
                "-v",
                "300",
                "--heldout-every",
                "0",
                "-q",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    finally:
        os.umask(old)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "o" / "tokenizer.json").stat().st_mode) == 0o644


# ---------------------------------------------------------------------------------------
# 8. the audit measures the text given, and says which
# ---------------------------------------------------------------------------------------


def _parallel(tmp_path: Path) -> Path:
    par = tmp_path / "par"
    par.mkdir()
    (par / "eng_Latn.txt").write_text("The cat sat on the mat.\nA second line of text here.\n")
    (par / "deu_Latn.txt").write_text("Die Katze sass auf der Matte.\nEine zweite Zeile mit Text.\n")
    return par


def test_audit_with_only_parallel_measures_compression_on_that_text(runner, tmp_path, tok_file):
    res = runner.invoke(
        app,
        [
            "audit",
            str(tok_file),
            "--parallel",
            str(_parallel(tmp_path)),
            "--no-plots",
            "--charbench-items",
            "0",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "json",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["corpora"] == [] and rep["tokenizers"][0]["corpus_compression"] is None
    assert [i["role"] for i in rep["provenance"]["inputs"]] == ["tokenizer", "parallel"]
    md = (tmp_path / "o" / "audit.md").read_text()
    assert "measured on the parallel corpus `par` (no --corpus given)" in md


def test_max_corpus_bytes_caps_exactly_in_whole_lines(runner, tmp_path, tok_file):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("".join(f"line {i} ünïcödé text\n" for i in range(100)), encoding="utf-8")
    b.write_text("never read\n")
    cap = 500
    res = runner.invoke(
        app,
        [
            "audit",
            str(tok_file),
            "--corpus",
            str(a),
            "--corpus",
            str(b),
            "--max-corpus-bytes",
            str(cap),
            "--no-plots",
            "--charbench-items",
            "0",
            "--out",
            str(tmp_path / "o"),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    rep = json.loads(res.stdout)
    lines = a.read_text("utf-8").splitlines(keepends=True)
    fit, total = 0, 0
    while total + len(lines[fit].encode()) <= cap:
        total += len(lines[fit].encode())
        fit += 1
    measured = rep["tokenizers"][0]["corpus_compression"]
    assert measured["bytes"] == total - fit  # the lines' bytes, their newlines not encoded
    corpus_inputs = [i for i in rep["provenance"]["inputs"] if i["role"] == "corpus"]
    assert len(corpus_inputs) == 1 and corpus_inputs[0]["bytes"] == total  # b.txt: never read, no input
    import hashlib

    assert corpus_inputs[0]["sha256"] == hashlib.sha256("".join(lines[:fit]).encode()).hexdigest()
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: ")]
    assert any("b.txt was not measured" in n for n in notes) and any(
        f"first {total} bytes" in n for n in notes
    )


# ---------------------------------------------------------------------------------------
# 11. hub names: the local cache first, one line offline
# ---------------------------------------------------------------------------------------


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tok_file):
    snap = tmp_path / "hub" / "models--someone--tiny" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    (snap / "tokenizer.json").write_bytes(tok_file.read_bytes())
    refs = tmp_path / "hub" / "models--someone--tiny" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return snap


def test_hub_names_resolve_from_the_local_cache(hub_cache, tok_file):
    pytest.importorskip("huggingface_hub")
    from tokenizers_lab.tokenizer import load_tokenizer

    direct = load_tokenizer(str(tok_file))
    for spec in ("hf:someone/tiny", "someone/tiny"):  # bare repo names too
        view = load_tokenizer(spec)
        assert view.vocab_size == direct.vocab_size and view.fingerprint == direct.fingerprint


def test_uncached_hub_name_offline_fails_at_once_in_one_line(hub_cache, tmp_path):
    t0 = time.perf_counter()
    res = _cli(
        ["audit", "hf:nobody/nothing", "--out", str(tmp_path / "o")],
        {"HF_HUB_CACHE": os.environ["HF_HUB_CACHE"], "HF_HUB_OFFLINE": "1"},
    )
    assert time.perf_counter() - t0 < 60  # no retries (the old path retried for 24 s)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(
        "error: hf:nobody/nothing is not in the local"
    )
    res = _cli(["audit", "nobody/nothing", "--out", str(tmp_path / "o")])
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "local Hugging Face cache" in res.stderr


# ---------------------------------------------------------------------------------------
# 12. train writes a complete HF tokenizer folder
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm,roles",
    [
        ("bpe", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}),
        (
            "bpe-metaspace",
            {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"},
        ),
        (
            "wordpiece",
            {
                "pad_token": "[PAD]",
                "unk_token": "[UNK]",
                "cls_token": "[CLS]",
                "sep_token": "[SEP]",
                "mask_token": "[MASK]",
            },
        ),
    ],
)
def test_trained_folder_loads_in_transformers_with_its_special_tokens(
    runner, tmp_path, small_corpus, algorithm, roles
):
    out = tmp_path / algorithm
    res = runner.invoke(
        app,
        [
            "train",
            str(small_corpus),
            "-a",
            algorithm,
            "-v",
            "600",
            "--heldout-every",
            "0",
            "-q",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    assert {k: cfg[k] for k in roles} == roles
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    for role, content in roles.items():
        assert getattr(tok, role) == content, role
    text = "the quick brown fox"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True).strip().lower() == text


# ---------------------------------------------------------------------------------------
# 13. CLI consistency
# ---------------------------------------------------------------------------------------


def test_help_is_consistent(runner):
    helps = {
        c: runner.invoke(app, [c, "--help"], env={"COLUMNS": "200"}).stdout
        for c in ("train", "audit", "invert", "transplant", "demo")
    }
    for cmd, text in helps.items():
        assert "<bool>" not in text, cmd
    # -c means one thing: invert's --category
    assert re.search(r"--category\s+-c\b", helps["invert"])
    assert not re.search(r"--corpus\s+-c\b", helps["audit"])
    assert "invert" not in re.search(r"--workers.*", helps["train"]).group(0)
    assert "random" in re.search(r"--method.*(\n.*){0,2}", helps["transplant"]).group(0)


def test_round_trip_labels_say_which_measure():
    from tokenizers_lab import demo

    src = (
        Path(demo.__file__).read_text()
        + "".join(p.read_text() for p in (REPO / "tokenizers_lab/train").glob("*.py"))
        + (REPO / "tokenizers_lab/audit/markdown.py").read_text()
    )
    assert '"round-trip"' not in src
    assert "held-out round-trip" in src and "probe round-trip" in src


# ---------------------------------------------------------------------------------------
# 10. invert's default interval costs about one more point estimate
# ---------------------------------------------------------------------------------------


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_invert_resamples_in_threads_give_the_serial_answer_with_a_t_interval(monkeypatch):
    """Resamples run side by side (HiGHS releases the GIL) yet the report equals the one-thread
    run; the interval is the estimate +- t(0.975, B-1) bootstrap standard deviations."""
    import scipy.stats

    from tokenizers_lab.invert import example, job

    assert job.InvertConfig().bootstrap == 8 and job.InvertConfig().bootstrap_passes == 3
    cfg = job.InvertConfig(bootstrap=4, seed=5)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(job, "THREADS", threads)
        runs.append(example.run(cfg).categories)
    assert runs[0] == runs[1]
    q = scipy.stats.t.ppf(0.975, 3)
    inside = [c for c in runs[0] if c.ci_high < 1 and c.share - q * c.bootstrap_sd > 0]
    assert inside
    for c in inside:
        assert c.ci_high - c.share == pytest.approx(q * c.bootstrap_sd, rel=1e-6)
        assert c.share - c.ci_low == pytest.approx(q * c.bootstrap_sd, rel=1e-6)


def test_every_option_default_is_its_configs_default():
    """The command line cannot import the jobs at start-up, so each option states its default
    again; the two must not drift (a changed default in a config that the CLI still overrides
    would change numbers only for command-line users). An option absent on the command line
    (None) stands for an empty list or path in the config."""
    import dataclasses
    import inspect

    from tokenizers_lab.audit.config import AuditConfig
    from tokenizers_lab.cli import app
    from tokenizers_lab.invert.config import InvertConfig
    from tokenizers_lab.train.config import TrainConfig
    from tokenizers_lab.transplant import TransplantConfig

    configs = {
        "train": TrainConfig,
        "audit": AuditConfig,
        "invert": InvertConfig,
        "transplant": TransplantConfig,
    }
    compared, drift = 0, []
    for command in app.registered_commands:
        config = configs.get(command.name or command.callback.__name__)
        if config is None:
            continue
        fields = {f.name: f.default for f in dataclasses.fields(config)}
        for p in inspect.signature(command.callback).parameters.values():
            want = fields.get(p.name, dataclasses.MISSING)
            if want is dataclasses.MISSING:
                continue
            have = getattr(p.default, "default", p.default)
            have, want = getattr(have, "value", have), getattr(want, "value", want)
            compared += 1
            if not (have == want or (have is None and want in ((), ""))):
                drift.append(f"{config.__name__}.{p.name}: command line {have!r}, config {want!r}")
    assert compared > 60  # the options were found (else the test proves nothing)
    assert not drift, drift
