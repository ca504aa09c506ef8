"""The shape of the code, locked in: no import cycle in the package (lazy imports included), no
job importing another job or an example, every job package with the same files and exports, a
Markdown renderer that never imports its job, no library module over 400 lines, and every CLI
command a config handed to run_job."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "tokenizers_lab"
JOBS = {"train": "Train", "audit": "Audit", "invert": "Invert", "transplant": "Transplant"}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every tokenizers_lab module a file imports, at module level or inside a function; what is
    imported only for type checking (`if TYPE_CHECKING:`) is no dependency."""
    tree = ast.parse(path.read_text("utf-8"))
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tokenizers_lab")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if not base.startswith("tokenizers_lab"):
                continue
            for a in node.names:  # `from pkg import module` names a module
                sub = f"{base}.{a.name}"
                out.add(
                    sub
                    if (PKG.parent / (sub.replace(".", "/") + ".py")).exists()
                    or (PKG.parent / sub.replace(".", "/")).is_dir()
                    else base
                )
    out.discard(me)
    return out


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
GRAPH = {m: {i for i in _imports(p) if i in MODULES} for m, p in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle between modules (a package's __init__ re-exporting its own modules is
    not one: importing a submodule always runs its package first)."""

    def deps(m: str) -> set[str]:
        return {
            d
            for d in GRAPH[m]
            if not (MODULES[m].name == "__init__.py" and d.startswith(m + ".")) and not m.startswith(d + ".")
        }

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(deps(m)):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(MODULES):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


@pytest.mark.parametrize("job", JOBS)
def test_no_job_imports_another_job_or_an_example(job: str) -> None:
    for name, path in MODULES.items():
        if not name.startswith(f"tokenizers_lab.{job}.") or name.endswith(".example"):
            continue
        bad = [
            d
            for d in GRAPH[name]
            if d.endswith(".example")
            or any(
                d == f"tokenizers_lab.{other}" or d.startswith(f"tokenizers_lab.{other}.")
                for other in JOBS
                if other != job
            )
        ]
        assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("job", JOBS)
def test_every_job_package_has_the_same_shape(job: str) -> None:
    folder = PKG / job
    for f in ("config.py", "report.py", "markdown.py", "job.py"):
        assert (folder / f).is_file(), f"{job}/{f}"
    assert not any(d.startswith(f"tokenizers_lab.{job}.job") for d in GRAPH[f"tokenizers_lab.{job}.markdown"])
    assert not any(d.startswith(f"tokenizers_lab.{job}.job") for d in GRAPH[f"tokenizers_lab.{job}.report"])
    pkg = importlib.import_module(f"tokenizers_lab.{job}")
    cmd = JOBS[job]
    for name in (f"{cmd}Config", f"{cmd}Report", "run", "validate", "output_names"):
        assert name in pkg.__all__ and hasattr(pkg, name), f"tokenizers_lab.{job} lacks {name}"
    import inspect

    params = inspect.signature(pkg.run).parameters
    first, *rest = params.values()
    assert first.name == "config" and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
    assert "progress" in params
    if pkg.__name__ != "tokenizers_lab.audit" and pkg.__name__ != "tokenizers_lab.invert":
        # audit takes prepared `views`, invert a prepared `view`; nothing else is extra
        assert list(params) == ["config", "progress"], list(params)


def test_no_library_module_over_400_lines() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


MAX_FUNCTION_LINES = 100


def test_no_library_function_over_100_lines() -> None:
    """Long jobs read as a sequence of named steps (a CLI command's signature is its option list,
    counted by test_every_command_is_config_then_run_job instead)."""
    long = {}
    for name, path in MODULES.items():
        if name.startswith("tokenizers_lab.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = n
    assert not long, long


def test_the_library_never_imports_typer_or_rich() -> None:
    for name, path in MODULES.items():
        if name.startswith("tokenizers_lab.cli"):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        used = {
            a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        } | {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not used & {"typer", "rich", "click"}, name


MAX_COMMAND_BODY = 30


def test_every_command_is_config_then_run_job() -> None:
    """Each Typer command builds its config from the options and hands it to run_job (which
    validates, refuses an output clash, runs, writes and prints) or, for a quick lookup, run_lookup:
    a body of at most 30 lines."""
    commands = 0
    for path in sorted((PKG / "cli").glob("*.py")):
        for node in ast.parse(path.read_text("utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or not any(
                isinstance(d, ast.Name) and d.id == "lab_command" for d in node.decorator_list
            ):
                continue
            commands += 1
            body = node.end_lineno - node.body[0].lineno + 1  # type: ignore[operator]
            assert body <= MAX_COMMAND_BODY, (path.name, node.name, body)
            calls = {
                n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            }
            assert calls & {"run_job", "run_lookup"}, (path.name, node.name)
    # train, audit, invert, transplant, demo, diff (run_job); encode, inspect, compare (run_lookup:
    # the same sequence for lookups, which write a folder only with --out)
    assert commands == 9
