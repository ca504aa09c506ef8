"""Reading corpora: streamed, fingerprinted in the same pass, invalid UTF-8 counted or refused.

A corpus spec is a text file (.txt, .gz), .jsonl (a field), .parquet/.csv/.tsv (a column), a
folder or glob of those, `-` for stdin, a local HF `datasets` folder (saved to disk), or
`hf:NAME[:config][:split]` when the hub is reachable; `embedded:NAME` names the bundled corpora.
Fingerprints: for text files, sha256 of the (decompressed) bytes; for structured sources, sha256
of the extracted records, each UTF-8 encoded and followed by a newline.
"""

from __future__ import annotations

import codecs
import glob as _glob
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tokenizers_lab.errors import InputError, unknown_name
from tokenizers_lab.hub import check_repo, silent_hub
from tokenizers_lab.records import (
    MAX_RECORD_BYTES,
    CorpusStats,
    iter_csv,
    iter_dataset_disk,
    iter_jsonl,
    iter_parquet,
)
from tokenizers_lab.report import InputRef

ERROR_MODES = ("strict", "replace")


TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ".dev", ".devtest", ".py", ".js", ".c", ".go", ".rs", ""}


STRUCTURED_SUFFIXES = {".jsonl", ".parquet", ".csv", ".tsv"}


CHUNK_BYTES = 1 << 20


# Counter used by the "tokenlab-count" codec error handler (replace mode).
_INVALID = [0]


def _count_and_replace(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):  # registered for decoding only
        raise err
    _INVALID[0] += 1
    return "\ufffd", err.end


codecs.register_error("tokenlab-count", _count_and_replace)


def embedded_root() -> Path:
    """Folder of the bundled corpora: inside the installed package, or the repo's corpora/."""
    here = Path(__file__).resolve().parent
    for cand in (here / "corpora", here.parent / "corpora"):
        if (cand / "MANIFEST.json").exists():
            return cand
    raise InputError("the embedded corpora are missing from this installation")


def _manifest() -> dict:
    return json.loads((embedded_root() / "MANIFEST.json").read_text("utf-8"))


def _manifest_entry(name: str) -> dict:
    corpora = _manifest()["corpora"]
    if name not in corpora:
        raise unknown_name("embedded corpus", name, corpora)
    return corpora[name]


def embedded_names() -> list[str]:
    """Names usable as `embedded:NAME`."""
    return sorted(_manifest()["corpora"])


def embedded_path(name: str) -> Path:
    """Path of one bundled corpus (a folder)."""
    return embedded_root() / _manifest_entry(name)["path"]


def embedded_files(name: str) -> list[Path]:
    """The files of one bundled corpus, exactly as its manifest lists them (never byte-code or
    other files an installer may have added beside them)."""
    entry = _manifest_entry(name)
    return [embedded_root() / entry["path"] / f for f in sorted(entry["files"])]


def skipped(rel: Path) -> bool:
    """Folder walks skip hidden paths, byte-code caches and bookkeeping files."""
    return (
        any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
        or rel.suffix in (".pyc", ".pyo")
        or rel.name in ("MANIFEST.json", "README.md", "LICENSE")
    )


@dataclass(frozen=True)
class CorpusOptions:
    """How every corpus of a job is read: one set of fields that TrainConfig, AuditConfig and
    InvertConfig inherit (flat, so reports and signatures name them as they always have)."""

    errors: str = "strict"  # invalid UTF-8: strict (refuse, exit 1) or replace (U+FFFD, counted)
    field: str = "text"  # the JSONL field holding the text
    column: str = "text"  # the Parquet/CSV/datasets column holding the text

    def open_corpus(self, spec: str) -> Corpus:
        """The corpus `spec`, read with these options."""
        return Corpus(spec, errors=self.errors, field_name=self.field, column=self.column)

    def check_corpus_options(self) -> None:
        """A usage error before any work (exit 2)."""
        if self.errors not in ERROR_MODES:
            raise unknown_name("--errors mode", self.errors, ERROR_MODES)


class Corpus:
    """A streamed corpus: iterate records once; stats and sha256 are complete after the pass."""

    def __init__(
        self, spec: str, *, errors: str = "strict", field_name: str = "text", column: str = "text"
    ) -> None:
        if errors not in ERROR_MODES:
            raise unknown_name("--errors mode", errors, ERROR_MODES)
        self.spec = spec
        self.errors = errors
        self.field_name = field_name
        self.column = column
        self.stats = CorpusStats()
        self._hash = hashlib.sha256()
        try:
            self._sources = self._resolve(spec)
        except OSError as e:  # a name too long for the file system, an unreadable folder, ...
            raise InputError(f"cannot read corpus {spec[:200]}: {e.strerror or e}") from None

    # -- resolution ---------------------------------------------------------------------
    def _resolve(self, spec: str) -> list[str]:
        if spec == "-" or spec.startswith("hf:"):
            return [spec]
        if spec.startswith("embedded:"):
            return [str(f) for f in embedded_files(spec.split(":", 1)[1])]
        p = Path(spec)
        if p.is_dir():
            if (
                (p / "dataset_info.json").exists()
                or (p / "dataset_dict.json").exists()
                or (p / "state.json").exists()
            ):
                return [f"datasets-disk:{p}"]
            files = sorted(f for f in p.rglob("*") if f.is_file() and not skipped(f.relative_to(p)))
            if not files:
                raise InputError(f"corpus folder {p} holds no files")
            return [str(f) for f in files]
        if any(ch in spec for ch in "*?["):
            matched = sorted(_glob.glob(spec, recursive=True))
            if not matched:
                raise InputError(f"corpus glob {spec!r} matches no file")
            return matched
        if not p.exists():
            raise InputError(f"corpus not found: {spec}")
        return [str(p)]

    @property
    def sha256(self) -> str:
        """Content fingerprint (complete once iteration has finished)."""
        return self._hash.hexdigest()

    @property
    def name(self) -> str:
        return self.spec

    def input_ref(self, role: str = "corpus") -> InputRef:
        """This corpus as a provenance entry."""
        return InputRef(role=role, name=display_name(self.spec), sha256=self.sha256, bytes=self.stats.bytes)

    def plain_files(self) -> list[Path] | None:
        """The local, uncompressed text files this corpus reads, or None when any source is
        something else (stdin, hub, datasets, .gz, structured, anything but a regular file): lets
        trainers read files directly."""
        files = []
        for src in self._sources:
            if src == "-" or src.startswith(("hf:", "datasets-disk:")):
                return None
            p = Path(src)
            suffix = p.suffix.lower()
            if suffix == ".gz" or suffix in STRUCTURED_SUFFIXES:
                return None
            if not p.is_file():  # a pipe, FIFO or device is read once, by us, never twice
                return None
            files.append(p)
        return files

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        for batch in self.iter_batches():
            yield from batch

    def iter_batches(self) -> Iterator[list[str]]:
        """Records in lists (one per ~1 MB read), for consumers that work on batches."""
        for src in self._sources:
            self.stats.files.append(src)
            if src == "-":
                yield from self._iter_binary(sys.stdin.buffer, "<stdin>")
            elif src.startswith("hf:"):
                yield from self._iter_hub(src)
            elif src.startswith("datasets-disk:"):
                yield from self._iter_records(iter_dataset_disk(src.split(":", 1)[1], self.column))
            else:
                yield from self._iter_path(Path(src))

    def _iter_path(self, path: Path) -> Iterator[list[str]]:
        suffixes = [s.lower() for s in path.suffixes]
        gz = bool(suffixes) and suffixes[-1] == ".gz"
        kind = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes and not gz else "")
        try:
            if kind == ".jsonl":
                with gzip.open(path, "rb") if gz else open(path, "rb") as f:
                    yield from self._iter_records(iter_jsonl(f, path, self.field_name, self.stats))
            elif kind == ".parquet":
                yield from self._iter_records(iter_parquet(path, self.column, self.stats))
            elif kind in (".csv", ".tsv"):
                yield from self._iter_records(iter_csv(path, self.column, "\t" if kind == ".tsv" else ","))
            else:
                with gzip.open(path, "rb") if gz else open(path, "rb") as f:
                    yield from self._iter_binary(f, str(path))
        except OSError as e:
            raise InputError(f"cannot read corpus {path}: {e.strerror or e}") from None
        except EOFError:
            raise InputError(f"cannot read corpus {path}: truncated gzip") from None

    def _iter_binary(self, f: io.BufferedIOBase | BinaryIO, name: str) -> Iterator[list[str]]:
        mode = "strict" if self.errors == "strict" else "tokenlab-count"
        dec = codecs.getincrementaldecoder("utf-8-sig")(mode)  # a leading BOM is no text
        tail = ""
        pending: list[str] = []  # pieces of a record longer than a chunk (joined once, not per chunk)
        pending_bytes = 0
        offset = 0
        lines_before = 0
        while True:
            chunk = f.read(CHUNK_BYTES)
            final = not chunk
            self._hash.update(chunk)
            self.stats.bytes += len(chunk)
            before = _INVALID[0]
            try:
                text = dec.decode(chunk, final=final)
            except UnicodeDecodeError as e:
                line = lines_before + chunk[: max(0, e.start)].count(b"\n") + 1
                raise InputError(
                    f"invalid UTF-8 in {name} at byte {offset + max(0, e.start)} (line {line}); "
                    "pass --errors replace to substitute U+FFFD"
                ) from None
            self.stats.invalid_utf8 += _INVALID[0] - before
            offset += len(chunk)
            newlines = chunk.count(b"\n")
            lines_before += newlines
            if not newlines and not final:
                pending.append(text)
                pending_bytes += len(chunk)
                if pending_bytes > MAX_RECORD_BYTES:
                    raise InputError(
                        f"{name}: line {lines_before + 1} runs over {MAX_RECORD_BYTES >> 20} MiB "
                        "without a line break (the longest record tokenlab reads; is it text?)"
                    )
                continue
            if pending:
                text, pending, pending_bytes = "".join(pending) + text, [], 0
            text = tail + text
            parts = text.split("\n")
            tail = parts.pop()
            if "\r" in text:
                parts = [p.removesuffix("\r") for p in parts]
            if parts:
                self.stats.records += len(parts)
                yield parts
            if final:
                break
        if tail:
            self.stats.records += 1
            yield [tail]

    def _iter_records(self, records: Iterator[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        for rec in records:
            data = rec.encode("utf-8", "surrogatepass")
            self._hash.update(data + b"\n")
            self.stats.bytes += len(data) + 1
            self.stats.records += 1
            batch.append(rec)
            if len(batch) == 1024:
                yield batch
                batch = []
        if batch:
            yield batch

    def _iter_hub(self, src: str) -> Iterator[list[str]]:
        parts = src[3:].split(":")
        name, config, split = (
            parts[0],
            (parts[1] if len(parts) > 1 and parts[1] else None),
            (parts[2] if len(parts) > 2 else "train"),
        )
        problem = check_repo(name, "dataset")  # one quick try: no five retries and their lines (24 s) offline
        if problem is not None:
            raise InputError(f"cannot load {src} from the hub (offline, or no such dataset?): {problem}")
        try:
            import datasets

            with silent_hub():
                ds = datasets.load_dataset(name, config, split=split, streaming=True)
        except Exception as e:  # noqa: BLE001 - hub/network errors come in many types
            raise InputError(
                f"cannot load {src} from the hub (offline?): {str(e).splitlines()[0][:160]}"
            ) from None
        yield from self._iter_records(str(row[self.column]) for row in ds)


def display_name(spec: str) -> str:
    """A relative, stable name for reports (embedded corpora by name, files by relative path)."""
    if spec.startswith(("embedded:", "hf:")) or spec == "-":
        return spec
    p = Path(spec)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.name if p.is_file() else p.as_posix().rstrip("/").rsplit("/", 1)[-1]
