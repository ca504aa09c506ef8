"""Outputs: every job's files staged beside the output folder and moved into place whole, a
manifest of what tokenlab wrote, the default folder of a run without --out, and no overwrite
without --force."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tokenizers_lab.errors import InterruptedAfterWrite, LabError, OutputExistsError, raise_if_interrupted
from tokenizers_lab.report import config_hash


def check_outputs(out: Path, names: Iterable[str], force: bool) -> None:
    """Refuse early when an output file exists and --force was not given, or out is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output path {out} exists and is not a folder")
    if force:
        return
    clash = sorted(n for n in names if (out / n).exists())
    if clash:
        raise OutputExistsError(f"{out / clash[0]} exists; pass --force to overwrite")


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM while finished outputs move into place, so an interrupt
    never leaves a mix of old and new files or an output folder moved away; it is raised once the
    move is done (as InterruptedAfterWrite: the outputs are whole). Off the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        raise InterruptedAfterWrite()


MANIFEST = ".tokenlab-outputs"  # in every output folder: the files tokenlab wrote there, one per line


def default_out(command: str, config: Any) -> Path:
    """The output folder of a run without --out: reports/<command>-<config hash> (reports/ or
    $TOKENLAB_REPORTS), so that two different configurations never share one (the same
    configuration again needs --force)."""
    return Path(os.environ.get("TOKENLAB_REPORTS") or "reports") / f"{command}-{config_hash(config)[:10]}"


def stage_folder(parent: Path) -> Path:
    """A private temp folder beside the output, made with the permissions the umask gives."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".tokenlab-stage-", dir=parent))
    except OSError as e:
        raise LabError(f"cannot write to {parent}: {e.strerror or e}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it 0700; an output folder follows the umask
    return stage


def written_by_tokenlab(out: Path) -> list[str]:
    """The files a previous run wrote into `out` (its manifest), [] when it has none."""
    try:
        text = (out / MANIFEST).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [line for line in text.splitlines() if line and ".." not in Path(line).parts]


def _files_under(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )


def install_folder(stage: Path, out: Path, force: bool) -> list[str]:
    """Move a finished staging folder into place as `out`; return the files written (relative).

    A new folder appears whole (one rename). With --force the previous output is replaced as a
    whole: the files its manifest lists that this run does not write (an old sweep's v1000/, …)
    are removed, so no stale output survives; files tokenlab did not write are never touched.
    Ctrl-C is held during the move.
    """
    raise_if_interrupted()  # a Ctrl-C that a library swallowed still means: write nothing
    names = [n for n in _files_under(stage) if n != MANIFEST]
    with uninterrupted():
        if not out.exists():
            (stage / MANIFEST).write_text("".join(n + "\n" for n in names), encoding="utf-8")
            os.rename(stage, out)
            return names
        previous = written_by_tokenlab(out)
        if force:
            for stale in sorted(set(previous) - set(names), reverse=True):
                with contextlib.suppress(OSError):
                    (out / stale).unlink()
                parent = (out / stale).parent
                while parent != out and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
            previous = []
        for name in names:
            dest = out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, dest)
        kept = sorted(set(previous) | set(names))
        tmp = out / f"{MANIFEST}.tmp"
        tmp.write_text("".join(n + "\n" for n in kept), encoding="utf-8")
        os.replace(tmp, out / MANIFEST)
    return names


def report_files(
    report: Any, command: str, beside: Mapping[str, bytes] | None = None
) -> dict[str, bytes | str]:
    """Every file of a report: its artifacts, `<command>.json`, `<command>.md`, and a report.html
    beside every report Markdown among them (a demo's steps get theirs). `beside`: files already
    in the folder that the page shows (charts), not returned."""
    from tokenizers_lab.htmlpage import pages
    from tokenizers_lab.report import dumps

    files: dict[str, bytes | str] = dict(getattr(report, "artifacts", {}) or {})
    files[f"{command}.json"] = dumps(report)
    files[f"{command}.md"] = report.to_markdown()
    files.update(pages({**(beside or {}), **files}))
    return files


def write_outputs(out: Path, files: Mapping[str, bytes | str], force: bool) -> list[str]:
    """Write all files of a job at once: staged in a sibling temp folder, then moved in place
    (install_folder). Nothing is left half-written if anything fails before the move. Returns
    the files written, relative to `out`."""
    out = Path(out)
    check_outputs(out, files.keys(), force)
    stage = stage_folder(out.resolve().parent)
    try:
        for name, data in files.items():
            dest = stage / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return install_folder(stage, out, force)
    except OSError as e:
        raise LabError(f"cannot write outputs to {out}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
