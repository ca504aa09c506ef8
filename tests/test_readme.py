"""README's and docs/usage.md's examples run as tests; .ci/run runs exactly README's test command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tokenizers_lab.cli import app

from .conftest import SHARED

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text("utf-8")
USAGE = (REPO / "docs" / "usage.md").read_text("utf-8")


def _block(heading: str, text: str = README) -> str:
    section = text.split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)


def _examples(block: str) -> list[str]:
    return [ln for ln in block.splitlines() if ln.startswith("tokenlab ")]


README_EXAMPLES = _examples(_block("## Examples"))
# README's lines again in docs/usage.md's longer list run once
EXAMPLES = list(dict.fromkeys(README_EXAMPLES + _examples(_block("## More examples", USAGE))))


def test_ci_runs_readme_test_command():
    setup = _block("## Set-up").splitlines()
    test_cmd = setup[1].split("#")[0].strip()
    assert "pytest" in test_cmd
    assert test_cmd in (REPO / ".ci/run").read_text().splitlines()
    assert setup[0].split("#")[0].strip() == 'python -m pip install ".[audit,torch]" && tokenlab demo'


def test_one_example_per_implemented_subcommand():
    assert sorted(ln.split()[1] for ln in README_EXAMPLES) == [
        "audit",
        "compare",
        "diff",
        "encode",
        "inspect",
        "invert",
        "train",
        "transplant",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("line", EXAMPLES, ids=[f"ex{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(line, runner, tmp_path):
    command, _, comment = line.partition("#")
    if "../shared/data" in command and not (SHARED / "MANIFEST.md").exists():
        pytest.skip(f"example needs {SHARED}")
    command = command.replace("../shared/data", str(SHARED)).replace("reports/", f"{tmp_path}/")
    args = shlex.split(command)[1:]
    expected = int(m.group(1)) if (m := re.search(r"exits (\d)", comment)) else 0
    res = runner.invoke(app, args)
    assert res.exit_code == expected, (line, res.stderr[-500:])
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
        assert (out / f"{args[0]}.json").exists()


def _python_block() -> str:
    section = README.split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_python_example_runs_and_equals_the_cli(runner, tmp_path, monkeypatch, capsys):
    """README's Python example: the library's report is the CLI's report, field for field (apart from
    the run block and the timings)."""
    import json

    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_python_block(), "README.md", "exec"), scope)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "1000" and printed[1].startswith("audit|tok:bpe@")
    res = runner.invoke(
        app,
        [
            "audit",
            "bpe=bpe.json",
            "--charbench-items",
            "0",
            "--no-plots",
            "--format",
            "json",
            "--out",
            str(tmp_path / "cli"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    lib, cli = json.loads(scope["json_text"]), json.loads(res.stdout)
    for key in ("run", "timings"):  # host, dates and seconds: never equal twice
        lib.pop(key), cli.pop(key)
    assert lib == cli
