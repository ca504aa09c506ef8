"""Parallel corpora: folders of `<lang>.<ext>` files aligned line by line (the FLORES layout), each
folder checked on its own, several folders concatenated per language."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers_lab.corpus import CHUNK_BYTES, Corpus, display_name, embedded_path, skipped
from tokenizers_lab.errors import InputError, UsageError, unknown_name
from tokenizers_lab.report import InputRef

# ---------------------------------------------------------------------------------------
# Parallel corpora
# ---------------------------------------------------------------------------------------


@dataclass
class ParallelCorpus:
    """Line-aligned text per language (FLORES layout: a folder of `<lang>.<ext>` files)."""

    name: str
    lines: dict[str, list[str]]
    sha256: str
    bytes: int
    invalid_utf8: int
    # Per language, per file in order: (lines kept, empty strings a `text.split("\n")` of that file
    # has after them) -- what Petrov et al.'s whole-file joining needs to be reproduced exactly.
    segments: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted(self.lines)

    @property
    def n_lines(self) -> int:
        return len(next(iter(self.lines.values()))) if self.lines else 0

    def input_ref(self, role: str = "parallel") -> InputRef:
        return InputRef(role=role, name=self.name, sha256=self.sha256, bytes=self.bytes)

    def subset(self, lang: str) -> ParallelCorpus:
        """One language alone (what a worker needs to measure it)."""
        return ParallelCorpus(
            name=self.name,
            lines={lang: self.lines[lang]},
            sha256=self.sha256,
            bytes=0,
            invalid_utf8=0,
            segments={lang: self.segments[lang]} if lang in self.segments else {},
        )

    def joined(self, lang: str) -> str:
        """Petrov et al. 2023's unit: each file's `read().split("\n")`, all files' lists
        concatenated and joined with one space (so each file ending in a newline adds an empty
        element: FLORES dev+devtest gives 2,009 sentences + 2 empty strings)."""
        lines = self.lines[lang]
        parts: list[str] = []
        start = 0
        for kept, empty in self.segments.get(lang, ((len(lines), 0),)):
            parts.extend(lines[start : start + kept])
            parts.extend([""] * empty)
            start += kept
        return " ".join(parts)


def _lang_files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and not skipped(Path(f.name)) and f.name != "README":
            lang = f.name.split(".", 1)[0]
            if lang in out:
                raise InputError(f"two files for language {lang} in {folder}")
            out[lang] = f
    return out


def _parallel_layout(
    specs: Sequence[str], languages: Sequence[str] | None
) -> tuple[list[dict[str, Path]], set[str]]:
    """The files of one or more parallel folders, per folder by language, and the languages kept
    (a directory listing: nothing is read)."""
    if not specs:
        raise UsageError("no parallel corpus given")
    folders = []
    for s in specs:
        p = embedded_path(s.split(":", 1)[1]) if s.startswith("embedded:") else Path(s)
        if not p.is_dir():
            raise InputError(f"parallel corpus {s} is not a folder of <lang>.<ext> files")
        folders.append(p)
    per_folder = [_lang_files(f) for f in folders]
    langs = set(per_folder[0])
    for f, files in zip(folders[1:], per_folder[1:]):
        missing = langs ^ set(files)
        if missing:
            raise InputError(
                f"languages differ between parallel folders ({f} lacks or adds "
                f"{', '.join(sorted(missing)[:5])})"
            )
    if languages:
        unknown = [lang for lang in languages if lang not in langs]
        if unknown:
            raise unknown_name("language", unknown[0], langs)
        langs = set(languages)
    if not langs:
        raise InputError(f"parallel corpus {specs[0]} holds no language files")
    return per_folder, langs


def parallel_languages(specs: Sequence[str], languages: Sequence[str] | None = None) -> list[str]:
    """The languages a parallel corpus holds (from its file names, before reading any text)."""
    return sorted(_parallel_layout(specs, languages)[1])


def load_parallel(
    specs: Sequence[str], *, errors: str = "strict", languages: Sequence[str] | None = None
) -> ParallelCorpus:
    """Load one or more parallel folders; several folders concatenate per language in order, and
    each folder must be aligned on its own (equal line counts in every language)."""
    per_folder, langs = _parallel_layout(specs, languages)
    h = hashlib.sha256()
    total = invalid = 0
    lines: dict[str, list[str]] = {}
    segments: dict[str, tuple[tuple[int, int], ...]] = {}
    for lang in sorted(langs):
        acc: list[str] = []
        seg = []
        for files in per_folder:
            c = Corpus(str(files[lang]), errors=errors)
            got = list(c)
            empty = 0
            while got and got[-1] == "":
                got.pop()
                empty += 1
            if _ends_with_newline(files[lang]):
                empty += 1
            seg.append((len(got), empty))
            acc.extend(got)
            h.update(f"{lang}\0{c.sha256}\n".encode())
            total += c.stats.bytes
            invalid += c.stats.invalid_utf8
        lines[lang] = acc
        segments[lang] = tuple(seg)
    for k, spec in enumerate(specs):  # per folder: 99 + 101 lines would sum to an aligned 200
        counts = {lang: segments[lang][k][0] for lang in lines}
        if len(set(counts.values())) > 1:
            ref = max(set(counts.values()), key=list(counts.values()).count)
            odd = sorted(lang for lang, n in counts.items() if n != ref)
            where = f" in {display_name(spec)}" if len(specs) > 1 else ""
            raise InputError(
                f"parallel files are misaligned{where}: {odd[0]} has {counts[odd[0]]} lines, others {ref}"
            )
    name = ",".join(display_name(s) for s in specs)
    return ParallelCorpus(
        name=name, lines=lines, sha256=h.hexdigest(), bytes=total, invalid_utf8=invalid, segments=segments
    )


def _ends_with_newline(path: Path) -> bool:
    if path.suffix.lower() == ".gz":  # streamed: only the last byte matters, never the whole text
        last = b""
        with gzip.open(path, "rb") as g:
            while chunk := g.read(CHUNK_BYTES):
                last = chunk[-1:]
        return last == b"\n"
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) == b"\n"
