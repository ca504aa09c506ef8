"""The tokenizer view every format implements, the spec of a tokenizer to load, and reading a
tokenizer file once (hashed, size-capped)."""

from __future__ import annotations

import hashlib
import os
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from tokenizers_lab.tokenizer.fast import FastEncoder

from tokenizers_lab.errors import InputError, LabError
from tokenizers_lab.tokenizer.align import Aligned, flatten
from tokenizers_lab.tokenizer.bytelevel import BYTE_FALLBACK

# encoder threads; TOKENLAB_THREADS=1 in engine workers that each own one core
THREADS = max(1, int(os.environ.get("TOKENLAB_THREADS") or 0) or os.cpu_count() or 1)
_THREADS = [THREADS]


def threads() -> int:
    """Threads an encoder may use now (1 in a forked worker that owns one core)."""
    return _THREADS[0]


def set_threads(n: int) -> None:
    _THREADS[0] = max(1, n)


def sha256_file(path: Path) -> str:
    """sha256 of a file's stored bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_LIBRARIES = {"hf": "tokenizers", "tiktoken": "tiktoken", "sentencepiece": "sentencepiece"}


def library_name(backend: str) -> str:
    """The package name of a view's reference library (tokenizers for "hf")."""
    return _LIBRARIES.get(backend, backend)


def library_version(backend: str) -> str:
    """`library version` of a view's reference library (tokenizers for "hf")."""
    from importlib.metadata import PackageNotFoundError, version

    name = library_name(backend)
    try:
        return f"{name} {version(name)}"
    except (PackageNotFoundError, ValueError):
        return name


class TokenizerView(ABC):
    """Uniform read-only view of a tokenizer, whatever format it came from."""

    #: the format's own (reference) library: "hf", "tiktoken" or "sentencepiece"
    backend: str = ""

    def __init__(self, label: str, source: str, fingerprint: str, model_type: str) -> None:
        self.label = label
        self.source = source
        self.fingerprint = fingerprint
        self.model_type = model_type  # bpe | unigram | wordpiece | wordlevel | char
        self.nbytes = 0  # size of what it was loaded from (the file, or the folder's files)
        self.notes: list[str] = []  # what loading chose for the user (reports carry these as notes)
        self.fast: FastEncoder | None = None  # gigatoken, once checked on the run's input (fast.py)

    # -- vocabulary --------------------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, specials included."""

    @property
    @abstractmethod
    def special_tokens(self) -> dict[str, int]:
        """Special (control) tokens by content."""

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes | None:
        """Exact bytes a token stands for (None for specials and unknown ids)."""

    @abstractmethod
    def id_to_token(self, token_id: int) -> str | None:
        """The token's string in its native convention (Ġ, ▁, ##, <0xNN>)."""

    def is_continuation(self, token_id: int) -> bool:
        """True when the token may only follow another in a word (WordPiece ##)."""
        return False

    def is_byte_fallback(self, token_id: int) -> bool:
        """True for SentencePiece-style <0xNN> byte pieces."""
        s = self.id_to_token(token_id)
        return s is not None and BYTE_FALLBACK.match(s) is not None

    @property
    def unk_id(self) -> int | None:
        """Id of the unknown token, or None when the model cannot emit one (byte-level BPE)."""
        return None

    # -- encoding ---------------------------------------------------------------------
    # encode/encode_batch go through the fast encoder when one is attached (checked exact on the
    # run's input by tokenizer.fast.use_fastest), else the reference library's _encode/_encode_batch

    @property
    def encoder(self) -> str:
        """What encodes: the fast library or the reference library, with its version."""
        if self.fast is not None:
            return f"{self.fast.name} {self.fast.version}"
        return library_version(self.backend)

    def prepare(self, text: str) -> str:
        """The text as the reference library's encoder sees it (e.g. NFC for some rank files)."""
        return text

    def encode(self, text: str) -> list[int]:
        """Token ids of text, no special tokens added."""
        return self.encode_batch([text])[0] if self.fast is not None else self._encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of many texts, using the backend's native parallelism."""
        if self.fast is not None:
            got = self.fast.encode_batch(texts, self._encode_batch)
            if got is not None:
                return got
        return self._encode_batch(texts)

    def encode_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(every id of the texts in order, one int64 array; each text's id count): what the
        corpus passes need, without a Python list per text where the encoder allows."""
        import numpy as np

        if self.fast is not None:
            got = self.fast.encode_flat(texts, self._encode_batch)
            if got is not None:
                return got
        ids = self._encode_batch(texts)
        return flatten(ids), np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))

    def reference_encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids from the format's own library, whatever encoder is attached."""
        return self._encode_batch(texts)

    @abstractmethod
    def _encode(self, text: str) -> list[int]:
        """The reference library's ids of text, no special tokens added."""

    def _encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self._encode(t) for t in texts]

    def encode_aligned(self, texts: Sequence[str]) -> Aligned:
        """Ids and character spans of a batch of lines, vectorised (see Aligned). Default: token
        bytes laid end to end, exact for byte-level models."""
        texts = list(texts)
        return Aligned.from_byte_lengths(texts, *self.encode_flat(texts), self.byte_lengths)

    def encode_no_prefix_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of texts as they would be encoded in the middle of a text: no dummy prefix space
        added (SentencePiece add_dummy_prefix, Metaspace prepend). Default: plain encoding."""
        return self.encode_batch(texts)

    @cached_property
    def all_token_bytes(self) -> list[bytes | None]:
        """token_bytes of every id, worked out once (the vocabulary-wide measures read it)."""
        return [self.token_bytes(i) for i in range(self.vocab_size)]

    @cached_property
    def byte_lengths(self) -> np.ndarray:
        """Per id, the length of its bytes (0 for specials)."""
        import numpy as np

        return np.fromiter(
            (len(b or b"") for b in self.all_token_bytes), dtype=np.int64, count=self.vocab_size
        )

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids."""

    # -- merges -----------------------------------------------------------------------
    def merges(self) -> list[tuple[bytes, bytes]]:
        """The ordered merge list as byte pairs (BPE models only)."""
        raise LabError(f"tokenizer {self.label} is a {self.model_type} model and has no merge list")

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:7]

    def describe(self) -> dict[str, Any]:
        """Identity facts for reports."""
        return {
            "label": self.label,
            "source": self.source,
            "backend": self.backend,
            "encoder": self.encoder,
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "sha256": self.fingerprint,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} {self.model_type} |V|={self.vocab_size}>"


@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed tokenizer argument: optional label, path (or hf:NAME), optional pattern."""

    label: str
    path: str
    pattern: str | None = None


MAX_LABEL = 100  # a label names table columns, chart legends and signature fields


# The largest tokenizer file read (after decompression): 256 MiB, eight times Gemma 3's 33 MB
# tokenizer.json; a 1 MB gzip bomb stops here instead of filling memory.
MAX_TOKENIZER_BYTES = 1 << 28


def read_file(path: Path, limit: int | None = None) -> tuple[bytes, str]:
    """A tokenizer file's bytes (decompressed if .gz) and the sha256 of its stored bytes, from one
    read: a pipe or FIFO is read exactly once. Over `limit` bytes, stored or decompressed, is
    refused before it is held in memory (a gzip bomb stops at the cap)."""
    limit = MAX_TOKENIZER_BYTES if limit is None else limit
    h = hashlib.sha256()
    gz = path.suffix == ".gz"
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gz else None
    parts: list[bytes] = []
    size = 0

    def too_big() -> InputError:
        what = "decompressed " if gz else ""
        return InputError(
            f"cannot read tokenizer {path}: {what}size over {limit >> 20} MiB "
            "(the largest tokenizer file tokenlab reads)"
        )

    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                if inflate is None:
                    size += len(chunk)
                    if size > limit:
                        raise too_big()
                    parts.append(chunk)
                    continue
                while chunk:
                    out = inflate.decompress(chunk, limit + 1 - size)
                    size += len(out)
                    if size > limit:
                        raise too_big()
                    parts.append(out)
                    chunk = inflate.unconsumed_tail
                    if inflate.eof and inflate.unused_data:  # a concatenated gzip member
                        chunk, inflate = inflate.unused_data + chunk, zlib.decompressobj(16 + zlib.MAX_WBITS)
    except OSError as e:
        raise InputError(f"cannot read tokenizer {path}: {e.strerror or e}") from None
    except zlib.error as e:
        raise InputError(f"cannot read tokenizer {path}: corrupt gzip ({e})") from None
    if inflate is not None and not inflate.eof:
        raise InputError(f"cannot read tokenizer {path}: corrupt gzip (truncated)")
    return b"".join(parts), h.hexdigest()


def folder_fingerprint(files: Sequence[tuple[str, str]]) -> str:
    """A folder's fingerprint from its files' (name, sha256) pairs."""
    h = hashlib.sha256()
    for name, sha in sorted(files):
        h.update(name.encode() + b"\0" + sha.encode() + b"\n")
    return h.hexdigest()
