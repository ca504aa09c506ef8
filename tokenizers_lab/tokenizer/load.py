"""The loader: a file, a folder or a hub name (from the local cache first) to a TokenizerView."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from tokenizers_lab.errors import InputError, LabError, UsageError
from tokenizers_lab.hub import check_repo, offline, silent_hub
from tokenizers_lab.tokenizer.base import MAX_LABEL, TokenizerSpec, TokenizerView, read_file
from tokenizers_lab.tokenizer.hf import HFView, bert_vocab_view, check_unk, hf_from_str, vocab_merges_view
from tokenizers_lab.tokenizer.ranks import looks_like_ranks, parse_ranks, tekken_view, tiktoken_view
from tokenizers_lab.tokenizer.spm import SentencePieceView


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: no such file
        return False


def parse_spec(spec: str, pattern: str | None = None) -> TokenizerSpec:
    """`label=path` or `path`; the label defaults to the file or folder name."""
    label, path = "", spec
    if "=" in spec and not _exists(spec):
        left, right = spec.split("=", 1)
        if left and re.fullmatch(r"[\w.\-+]+", left):
            if len(left) > MAX_LABEL:
                raise UsageError(
                    f"tokenizer label {left[:20]}… is {len(left)} characters (at most {MAX_LABEL})"
                )
            label, path = left, right
    if not label:
        p = path.removeprefix("hf:")
        stem = Path(p.rstrip("/")).name
        for suf in (".gz", ".json", ".tiktoken", ".model", ".txt"):
            stem = stem.removesuffix(suf)
        label = stem if stem not in ("tokenizer", "vocab", "") else Path(p.rstrip("/")).parent.name or stem
    return TokenizerSpec(label=label, path=path, pattern=pattern)


@contextlib.contextmanager
def _parsing(path: Path) -> Iterator[None]:
    """Malformed files make the format libraries raise all kinds of errors (KeyError from a tekken
    file without ranks, UnicodeDecodeError from a SentencePiece piece cut mid-character, ...):
    each becomes one InputError naming the file (found by the fuzzing tests)."""
    try:
        yield
    except LabError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, RuntimeError) as e:
        detail = str(e).splitlines()[0][:160] if str(e) else ""
        raise InputError(
            f"cannot load tokenizer {path}: malformed file ({type(e).__name__}"
            f"{': ' + detail if detail else ''})"
        ) from None


def load_tokenizer(spec: str | TokenizerSpec, pattern: str | None = None) -> TokenizerView:
    """Load any supported tokenizer file or folder (optionally `label=path`) as a TokenizerView."""
    if isinstance(spec, str):
        spec = parse_spec(spec, pattern)
    if spec.path.startswith("hf:"):
        return _load_hub(spec)
    path = Path(spec.path)
    if not _exists(spec.path):
        cached = hub_snapshot(spec.path) if _REPO_ID.match(spec.path) else None
        if cached is None:
            raise InputError(
                f"tokenizer not found: {path} (not a file, a folder or a model in the local "
                "Hugging Face cache)"
            )
        path = cached
    with _parsing(path):
        view = _load_folder(path, spec) if path.is_dir() else _load_file(path, spec)
    if not view.nbytes and path.is_dir():
        view.nbytes = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return view


def _load_file(path: Path, spec: TokenizerSpec) -> TokenizerView:
    data, fp = read_file(path)
    view = _view_of(data, fp, path, spec)
    view.nbytes = path.stat().st_size or len(data)  # a pipe's size is what was read
    return view


def _view_of(data: bytes, fp: str, path: Path, spec: TokenizerSpec) -> TokenizerView:
    name = path.name.lower()
    if not data.strip():
        raise InputError(f"tokenizer file {path} is empty")
    if name.endswith((".json", ".json.gz")):
        try:
            j = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{path} is not valid JSON") from None
        if isinstance(j, dict) and "config" in j and "vocab" in j and isinstance(j["vocab"], list):
            return tekken_view(j, path, spec, fp)
        if isinstance(j, dict) and "model" in j:
            check_unk(j, str(path))
            return HFView(hf_from_str(data.decode("utf-8"), str(path)), spec.label, str(path), fp, j)
        raise InputError(f"{path} is JSON but neither a tokenizer.json nor a tekken file")
    if name.endswith(".tiktoken") or (name.endswith((".model", ".vocab")) and looks_like_ranks(data)):
        return tiktoken_view(parse_ranks(data, str(path)), path, spec, fp)
    if name.endswith(".txt") or name == "vocab.txt":
        return bert_vocab_view(data, path, spec, fp)
    if ".model" in name:
        return SentencePieceView(data, spec.label, str(path), fp)
    if looks_like_ranks(data):
        return tiktoken_view(parse_ranks(data, str(path)), path, spec, fp)
    raise InputError(
        f"unrecognised tokenizer file {path} (expected tokenizer.json, .model, "
        ".tiktoken, tekken .json or vocab.txt)"
    )


def _load_folder(folder: Path, spec: TokenizerSpec) -> TokenizerView:
    for name in ("tokenizer.json", "tokenizer.json.gz"):
        if (folder / name).exists():
            return load_tokenizer(TokenizerSpec(spec.label, str(folder / name), spec.pattern))
    if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        return vocab_merges_view(folder, spec)
    for name in ("tokenizer.model", "spm.model"):
        if (folder / name).exists():
            return load_tokenizer(TokenizerSpec(spec.label, str(folder / name), spec.pattern))
    models_ = sorted(folder.glob("*.model")) + sorted(folder.glob("*.tiktoken"))
    if len(models_) == 1:
        return load_tokenizer(TokenizerSpec(spec.label, str(models_[0]), spec.pattern))
    if (folder / "vocab.txt").exists():
        return load_tokenizer(TokenizerSpec(spec.label, str(folder / "vocab.txt"), spec.pattern))
    raise InputError(
        f"no tokenizer found in folder {folder} (looked for tokenizer.json, "
        "vocab.json+merges.txt, tokenizer.model, *.tiktoken, vocab.txt)"
    )


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


_HUB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json", "vocab.txt")


def hub_snapshot(name: str) -> Path | None:
    """The snapshot folder of hub repo `name` in the local Hugging Face cache, or None. Never
    touches the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    # the cache folder as the environment says now (huggingface_hub reads it once, at import)
    cache = os.environ.get("HF_HUB_CACHE") or (
        os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None
    )
    for fname in _HUB_FILES:
        try:
            hit = try_to_load_from_cache(name, fname, cache_dir=cache)
        except Exception:  # noqa: BLE001 - an invalid repo id, an unreadable cache: simply not cached
            return None
        if isinstance(hit, str):
            return Path(hit).parent
    return None


def _load_hub(spec: TokenizerSpec) -> TokenizerView:
    """hf:NAME from the local Hugging Face cache first; downloaded only when online, in one try."""
    name = spec.path[3:]
    cached = hub_snapshot(name)
    if cached is not None:
        with _parsing(cached):
            return _load_folder(cached, spec)
    if offline():
        raise InputError(
            f"{spec.path} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: "
            "give a local path (or download it once while online)"
        )
    problem = check_repo(name)  # one quick try: huggingface_hub's download retries for ~24 s offline
    if problem is not None:
        raise InputError(f"cannot fetch {spec.path} from the hub (offline, or no such repo?): {problem}")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError(f"{spec.path}: huggingface_hub is not installed; give a local path") from None
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        with silent_hub():
            got = Path(
                hf_hub_download(
                    name, "tokenizer.json", etag_timeout=10, cache_dir=os.environ.get("HF_HUB_CACHE") or None
                )
            )
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: one line, at once
        detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise InputError(
            f"cannot fetch {spec.path} from the hub (offline, or no such repo?): {detail}"
        ) from None
    with _parsing(got.parent):
        return _load_folder(got.parent, spec)
