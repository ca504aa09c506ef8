"""One view over every tokenizer format: token bytes, specials, encode/decode, merges, fingerprint.

Formats: HF tokenizer.json (also .json.gz); a folder (tokenizer.json, vocab.json + merges.txt,
tokenizer.model); SentencePiece .model; tiktoken rank files (.tiktoken, Llama-3's rank-format
tokenizer.model); Mistral tekken JSON; BERT vocab.txt. A spec may carry a label: `name=path`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import unicodedata
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from tokenizers_lab.errors import InputError, LabError, UsageError
from tokenizers_lab.patterns import NFC_PRESETS, matches_empty, resolve_pattern

# encoder threads; TOKENLAB_THREADS=1 in engine workers that each own one core
THREADS = max(1, int(os.environ.get("TOKENLAB_THREADS") or 0) or os.cpu_count() or 1)
Spans = tuple["np.ndarray", "np.ndarray"]  # (starts, ends) in characters, one pair per token


def byte_spans_to_chars(text: str, starts: np.ndarray | None, ends: np.ndarray | None) -> Spans | None:
    """Byte offsets into text's UTF-8 -> character offsets (a token holding part of a
    character's bytes spans that whole character)."""
    import numpy as np
    if starts is None or ends is None:
        return None
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if cps.size and cps.max() < 0x80:
        return starts, ends
    widths = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
    char_end = np.cumsum(widths)
    char_start = char_end - widths
    return np.searchsorted(char_end, starts, "right"), np.searchsorted(char_start, ends, "left")


def line_starts(texts: Sequence[str]) -> np.ndarray:
    """Where each text starts in "\n".join(texts)."""
    import numpy as np

    return np.concatenate([[0], np.cumsum([len(t) + 1 for t in texts])[:-1]]).astype(np.int64) if texts \
        else np.zeros(0, np.int64)


def flatten(lists: Sequence[Sequence[int]]) -> np.ndarray:
    """Token-id lists as one int64 array."""
    import numpy as np
    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=sum(map(len, lists)))


@dataclass
class Aligned:
    """A batch of lines encoded at once, laid end to end one separator character apart (the
    coordinates of "\n".join(lines)): every token's id and character span in that text, and
    which lines' tokens could be aligned with their text."""

    ids: list[list[int]]
    flat: np.ndarray
    line_of_token: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    line_ok: np.ndarray
    text_lengths: list[int]

    @classmethod
    def from_byte_lengths(cls, texts: Sequence[str], ids: list[list[int]], lengths: np.ndarray) -> Aligned:
        """Spans from token byte lengths laid end to end (a leading dummy-prefix space absorbed)."""
        import numpy as np
        flat = flatten(ids)
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        line_of_token = np.repeat(np.arange(len(ids)), counts)
        tok_len = lengths[flat] if flat.size else np.zeros(0, dtype=np.int64)
        joined = "\n".join(texts)
        line_bytes = np.fromiter((len(t.encode("utf-8")) for t in texts), dtype=np.int64, count=len(texts))
        sums = np.bincount(line_of_token, weights=tok_len, minlength=len(ids)).astype(np.int64)
        shift = sums - line_bytes
        line_ok = (shift == 0) | (shift == 1)
        line_base = np.concatenate([[0], np.cumsum(line_bytes + 1)[:-1]]) if texts else np.zeros(0, np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if texts else np.zeros(0, np.int64)
        csum = np.cumsum(tok_len)
        before_line = (csum[first - 1] * (first > 0)) if flat.size else np.zeros(len(ids), np.int64)
        ends_b = csum - before_line[line_of_token] - shift[line_of_token]
        ends_b = np.maximum(ends_b, 0)
        starts_b = np.maximum(ends_b - tok_len, 0)
        ends_b = ends_b + line_base[line_of_token]
        starts_b = starts_b + line_base[line_of_token]
        spans = byte_spans_to_chars(joined, starts_b, ends_b)
        return cls(ids, flat, line_of_token, spans[0], spans[1], line_ok, [len(t) for t in texts])

    @classmethod
    def from_char_spans(cls, texts: Sequence[str], ids: list[list[int]],
                        spans: Sequence[tuple[np.ndarray, np.ndarray] | None]) -> Aligned:
        """From per-line character spans (None: that line cannot be aligned)."""
        import numpy as np
        flat = flatten(ids)
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        line_of_token = np.repeat(np.arange(len(ids)), counts)
        base = line_starts(texts)
        st, en = [], []
        for b, n, sp in zip(base, counts, spans):
            if sp is None:
                st.append(np.zeros(n, np.int64))
                en.append(np.zeros(n, np.int64))
            else:
                st.append(sp[0] + b)
                en.append(sp[1] + b)
        line_ok = np.array([sp is not None for sp in spans], dtype=bool)
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
        return cls(ids, flat, line_of_token, cat(st), cat(en), line_ok, [len(t) for t in texts])
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table used by byte-level BPE."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


# str.translate table: byte-level characters -> chr(byte); every other Latin-1 character -> a
# character above U+00FF, so that encoding the result as Latin-1 fails exactly on non-byte-level input.
_BYTELEVEL_TABLE = {**{c: 0x100 for c in range(256)}, **{ord(c): b for c, b in BYTE_DECODER.items()}}


def bytelevel_to_bytes(s: str) -> bytes | None:
    """Bytes of a byte-level token string (Ġ = space), or None if it is not byte-level."""
    try:
        return s.translate(_BYTELEVEL_TABLE).encode("latin-1")
    except UnicodeEncodeError:
        return None


def bytes_to_bytelevel(b: bytes) -> str:
    """Byte-level string (GPT-2 alphabet) of raw bytes."""
    return "".join(BYTE_ENCODER[x] for x in b)


def metaspace_to_bytes(s: str) -> bytes:
    """Bytes of a SentencePiece-style piece: ▁ is a space, <0xNN> is one byte."""
    m = _BYTE_FALLBACK.match(s)
    if m:
        return bytes([int(m.group(1), 16)])
    return s.replace("\u2581", " ").encode("utf-8")


def sha256_file(path: Path) -> str:
    """sha256 of a file's stored bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover the ordered merge list of a rank-based BPE (tiktoken-style).

    For every multi-byte token, run BPE on its bytes using only ranks below its own; the two
    parts that remain are the merge that created it. Merges come out in rank order.
    """
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = [token[i:i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best_i, best_r = -1, rank
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < best_r:
                    best_i, best_r = i, r
            if best_i < 0:
                break
            parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        if len(parts) == 2 and parts[0] in ranks and parts[1] in ranks:
            merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


class TokenizerView(ABC):
    """Uniform read-only view of a tokenizer, whatever format it came from."""

    #: backend that encodes: "hf", "tiktoken" or "sentencepiece"
    backend: str = ""

    def __init__(self, label: str, source: str, fingerprint: str, model_type: str) -> None:
        self.label = label
        self.source = source
        self.fingerprint = fingerprint
        self.model_type = model_type  # bpe | unigram | wordpiece | wordlevel | char
        self.nbytes = 0  # size of what it was loaded from (the file, or the folder's files)
        self.notes: list[str] = []  # what loading chose for the user (reports carry these as notes)

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
        return s is not None and _BYTE_FALLBACK.match(s) is not None

    @property
    def unk_id(self) -> int | None:
        """Id of the unknown token, or None when the model cannot emit one (byte-level BPE)."""
        return None

    # -- encoding ---------------------------------------------------------------------
    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of text, no special tokens added."""

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of many texts, using the backend's native parallelism."""
        return [self.encode(t) for t in texts]

    def encode_aligned(self, texts: Sequence[str]) -> Aligned:
        """Ids and character spans of a batch of lines, vectorised (see Aligned). Default: token
        bytes laid end to end, exact for byte-level models."""
        texts = list(texts)
        return Aligned.from_byte_lengths(texts, self.encode_batch(texts), self.byte_lengths)

    def encode_no_prefix_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of texts as they would be encoded in the middle of a text: no dummy prefix space
        added (SentencePiece add_dummy_prefix, Metaspace prepend). Default: plain encoding."""
        return self.encode_batch(texts)

    @cached_property
    def byte_lengths(self) -> np.ndarray:
        """Per id, the length of its bytes (0 for specials)."""
        import numpy as np
        return np.fromiter((len(self.token_bytes(i) or b"") for i in range(self.vocab_size)), dtype=np.int64,
                           count=self.vocab_size)

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
        return {"label": self.label, "source": self.source, "backend": self.backend,
                "model_type": self.model_type, "vocab_size": self.vocab_size,
                "sha256": self.fingerprint}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label} {self.model_type} |V|={self.vocab_size}>"


# ---------------------------------------------------------------------------------------
# Hugging Face tokenizers
# ---------------------------------------------------------------------------------------

def _walk_types(node: Any) -> set[str]:
    """Every "type" value inside a tokenizer.json component tree."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            found.add(node["type"])
        for v in node.values():
            found |= _walk_types(v)
    elif isinstance(node, list):
        for v in node:
            found |= _walk_types(v)
    return found


class HFView(TokenizerView):
    """A `tokenizers.Tokenizer` (tokenizer.json, vocab+merges, BERT vocab.txt)."""

    backend = "hf"

    def __init__(self, tok: Any, label: str, source: str, fingerprint: str,
                 spec_json: dict | None = None) -> None:
        # Reports measure tokenization itself: padding/truncation stored in a file are switched off.
        tok.no_padding()
        tok.no_truncation()
        self.tok = tok
        self._json = spec_json if spec_json is not None else json.loads(tok.to_str())
        model = self._json["model"]
        mtype = {"BPE": "bpe", "Unigram": "unigram", "WordPiece": "wordpiece",
                 "WordLevel": "wordlevel"}.get(model["type"], model["type"].lower())
        super().__init__(label, source, fingerprint, mtype)
        kinds = _walk_types(self._json.get("pre_tokenizer")) | _walk_types(self._json.get("decoder"))
        if "ByteLevel" in kinds:
            self.convention = "bytelevel"
        elif mtype == "wordpiece":
            self.convention = "wordpiece"
        else:
            self.convention = "metaspace"
        self._prefix = model.get("continuing_subword_prefix") or "##"
        self._specials = {t["content"]: t["id"] for t in self._json.get("added_tokens", []) if t.get("special")}
        self._vocab = tok.get_vocab(with_added_tokens=True)
        self._id_to_tok = {i: s for s, i in self._vocab.items()}

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def id_to_token(self, token_id: int) -> str | None:
        return self._id_to_tok.get(token_id)

    @property
    def unk_id(self) -> int | None:
        model = self._json["model"]
        if model.get("type") == "Unigram":
            return model.get("unk_id")
        unk = model.get("unk_token")
        return self._vocab.get(unk) if unk is not None else None

    def is_continuation(self, token_id: int) -> bool:
        s = self._id_to_tok.get(token_id)
        return self.convention == "wordpiece" and s is not None and s.startswith(self._prefix)

    def _string_bytes(self, s: str) -> bytes:
        if self.convention == "bytelevel":
            b = bytelevel_to_bytes(s)
            return b if b is not None else s.encode("utf-8")
        if self.convention == "wordpiece":
            return (s.removeprefix(self._prefix)).encode("utf-8")
        return metaspace_to_bytes(s)

    def token_bytes(self, token_id: int) -> bytes | None:
        s = self._id_to_tok.get(token_id)
        if s is None or s in self._specials:
            return None
        return self._string_bytes(s)

    def encode(self, text: str) -> list[int]:
        with self._encoding():
            return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        fast = getattr(self.tok, "encode_batch_fast", None) or self.tok.encode_batch
        with self._encoding():
            return [e.ids for e in fast(list(texts), add_special_tokens=False)]

    @contextlib.contextmanager
    def _encoding(self) -> Iterator[None]:
        """tokenizers raises a bare Exception when a model cannot encode some text (a WordPiece or
        BPE whose unk token is not in its vocabulary, found by fuzzing): one InputError instead."""
        try:
            yield
        except LabError:
            raise
        except Exception as e:  # noqa: BLE001 - tokenizers' errors are plain Exception
            raise InputError(f"tokenizer {self.label} cannot encode this text: {str(e).splitlines()[0][:160]}") from None

    @cached_property
    def _no_prefix(self) -> Any:
        # Only the normalizer and pre-tokenizer change: copy those two subtrees, not the whole
        # (vocabulary-sized) JSON.
        j = {**self._json, "normalizer": copy.deepcopy(self._json.get("normalizer")),
             "pre_tokenizer": copy.deepcopy(self._json.get("pre_tokenizer"))}
        changed = False

        def walk(node: Any) -> Any:
            nonlocal changed
            if isinstance(node, dict):
                if node.get("type") == "Prepend":
                    changed = True
                    return None
                if node.get("type") == "Metaspace" and node.get("prepend_scheme", "always") != "never":
                    node["prepend_scheme"] = "never"
                    node["add_prefix_space"] = False
                    changed = True
                if node.get("type") == "ByteLevel" and node.get("add_prefix_space"):
                    node["add_prefix_space"] = False
                    changed = True
                for k, v in list(node.items()):
                    node[k] = walk(v)
                if node.get("type") == "Sequence":
                    for key in ("normalizers", "pretokenizers"):
                        if key in node:
                            node[key] = [x for x in node[key] if x is not None]
            elif isinstance(node, list):
                return [walk(x) for x in node]
            return node

        j["normalizer"], j["pre_tokenizer"] = walk(j.get("normalizer")), walk(j.get("pre_tokenizer"))
        if not changed:
            return None
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(json.dumps(j))
        tok.no_padding()
        tok.no_truncation()
        return tok

    def encode_no_prefix_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if self._no_prefix is None:
            return self.encode_batch(texts)
        with self._encoding():
            return [e.ids for e in self._no_prefix.encode_batch(list(texts), add_special_tokens=False)]

    def encode_aligned(self, texts: Sequence[str]) -> Aligned:
        import numpy as np
        # Byte-level and metaspace tokens spell their text: lay their bytes end to end (the fast
        # path, no offsets computed); lines a normalizer changed -- and WordPiece, whose tokens drop
        # the spaces -- take tokenizers' own offsets.
        texts = list(texts)
        if self.convention == "wordpiece":
            return self._aligned_by_offsets(texts)
        al = Aligned.from_byte_lengths(texts, self.encode_batch(texts), self.byte_lengths)
        bad = np.nonzero(~al.line_ok)[0]
        if bad.size:
            fix = self._aligned_by_offsets([texts[k] for k in bad])
            base, fbase = line_starts(texts), line_starts([texts[k] for k in bad])
            for j, k in enumerate(bad.tolist()):
                sel, fsel = al.line_of_token == k, fix.line_of_token == j
                if sel.sum() == fsel.sum():
                    al.starts[sel] = fix.starts[fsel] - fbase[j] + base[k]
                    al.ends[sel] = fix.ends[fsel] - fbase[j] + base[k]
                    al.line_ok[k] = True
        return al

    def _aligned_by_offsets(self, texts: list[str]) -> Aligned:
        import numpy as np
        with self._encoding():
            encs = self.tok.encode_batch(texts, add_special_tokens=False)
        spans = []
        for e in encs:
            off = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
            spans.append((off[:, 0], off[:, 1]))
        return Aligned.from_char_spans(texts, [e.ids for e in encs], spans)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def merges(self) -> list[tuple[bytes, bytes]]:
        if self.model_type != "bpe":
            return super().merges()
        out = []
        for m in self._json["model"].get("merges", []):
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            out.append((self._string_bytes(a), self._string_bytes(b)))
        return out


# ---------------------------------------------------------------------------------------
# tiktoken
# ---------------------------------------------------------------------------------------

_TIKTOKEN_SPECIALS: dict[str, dict[str, int]] = {
    "r50k": {"<|endoftext|>": 50256},
    "cl100k": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
               "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}


def _llama3_specials(n: int) -> dict[str, int]:
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
             "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|reserved_special_token_4|>", "<|eot_id|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(5, 256 - 5)]
    return {s: n + i for i, s in enumerate(names)}


def _qwen_specials(n: int) -> dict[str, int]:
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return {s: n + i for i, s in enumerate(names)}


# sha256 of the published rank files of known encodings -> their preset: a rank file is identified
# by its content first, never by the folder it sits in
KNOWN_RANK_FILES = {
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7": "cl100k",  # cl100k_base.tiktoken
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d": "o200k",  # o200k_base.tiktoken
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930": "r50k",  # GPT-2 (r50k_base)
    "b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126": "r50k",  # Whisper multilingual
    "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55": "llama3",  # Llama 3 tokenizer.model
    "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186": "qwen",  # qwen.tiktoken
    "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd": "qwen35",  # qwen3_6.tiktoken
}
# ranks in each preset's own file: its special tokens are grafted only onto a file of that size
PRESET_RANKS = {"r50k": 50256, "cl100k": 100256, "o200k": 199998, "llama3": 128000, "qwen": 151643,
                "qwen35": 248044}


def _preset_from_name(path: Path) -> str | None:
    """The preset a rank file's own name announces (its name alone, never its folders)."""
    name = path.name.lower()
    for key, preset in (("o200k", "o200k"), ("cl100k", "cl100k"), ("qwen3_6", "qwen35"),
                        ("qwen3.6", "qwen35"), ("qwen35", "qwen35"), ("qwen3.5", "qwen35"),
                        ("qwen", "qwen"), ("llama3", "llama3"), ("llama-3", "llama3"),
                        ("gpt2", "r50k"), ("r50k", "r50k"), ("p50k", "r50k"), ("whisper", "r50k")):
        if key in name:
            return preset
    return None


class TiktokenView(TokenizerView):
    """A tiktoken `Encoding` built offline from a rank file (or tekken JSON)."""

    backend = "tiktoken"

    def __init__(self, ranks: dict[bytes, int], pattern: str, specials: dict[str, int], label: str,
                 source: str, fingerprint: str, preset: str, id_offset: int = 0) -> None:
        import tiktoken

        super().__init__(label, source, fingerprint, "bpe")
        if len(set(ranks.values())) != len(ranks):  # tiktoken panics on two tokens of one rank
            raise InputError(f"{source} gives two tokens the same rank")
        if matches_empty(pattern):  # and on an empty pre-token (found by fuzzing a tekken pattern)
            raise InputError(f"the pre-tokenizer pattern of {source} matches the empty string")
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:  # tiktoken's Rust core panics (past any except Exception) on a byte it cannot start from
            raise InputError(f"{source} lacks {len(missing)} of the 256 single-byte tokens (first 0x{missing[0]:02X}): "
                             "byte-level BPE ranks must hold every byte")
        self.preset = preset
        self.pattern = pattern
        self.nfc = preset in NFC_PRESETS
        self.id_offset = id_offset
        self._ranks = ranks
        self._specials = dict(specials)
        try:
            self.enc = tiktoken.Encoding(name=label, pat_str=pattern, mergeable_ranks=ranks,
                                         special_tokens={} if id_offset else specials)
        except Exception as e:  # tiktoken raises plain ValueError for bad regexes / ranks
            raise InputError(f"cannot build tiktoken encoding for {source}: {e}") from None
        self._bytes = {r: b for b, r in ranks.items()}
        self._n = max(max(ranks.values()) + 1 + id_offset, max(specials.values(), default=-1) + 1)

    @property
    def vocab_size(self) -> int:
        return self._n

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def token_bytes(self, token_id: int) -> bytes | None:
        return self._bytes.get(token_id - self.id_offset)

    def id_to_token(self, token_id: int) -> str | None:
        b = self.token_bytes(token_id)
        if b is None:
            return next((s for s, i in self._specials.items() if i == token_id), None)
        return bytes_to_bytelevel(b)

    def _prep(self, text: str) -> str:
        return unicodedata.normalize("NFC", text) if self.nfc else text

    def encode(self, text: str) -> list[int]:
        ids = self.enc.encode_ordinary(self._prep(text))
        return [i + self.id_offset for i in ids] if self.id_offset else ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # tiktoken releases the GIL; a per-item thread pool costs more than it gains on short
        # texts, so each worker loops over a contiguous chunk.
        texts = list(texts)
        if len(texts) < 64 or THREADS == 1:
            return [self.encode(t) for t in texts]
        step = (len(texts) + THREADS - 1) // THREADS
        chunks = [texts[i:i + step] for i in range(0, len(texts), step)]
        with ThreadPoolExecutor(THREADS) as ex:
            parts = list(ex.map(lambda c: [self.encode(t) for t in c], chunks))
        return [ids for part in parts for ids in part]

    def decode(self, ids: Sequence[int]) -> str:
        out = bytearray()
        inv = {i: s.encode("utf-8") for s, i in self._specials.items()}
        for i in ids:
            b = self._bytes.get(i - self.id_offset)
            out += b if b is not None else inv.get(i, b"")
        return out.decode("utf-8", errors="replace")

    def merges(self) -> list[tuple[bytes, bytes]]:
        return self._merges

    @cached_property
    def _merges(self) -> list[tuple[bytes, bytes]]:
        return merges_from_ranks(self._ranks)


# ---------------------------------------------------------------------------------------
# SentencePiece
# ---------------------------------------------------------------------------------------

class SentencePieceView(TokenizerView):
    """A `sentencepiece.SentencePieceProcessor` over a .model file."""

    backend = "sentencepiece"

    def __init__(self, data: bytes, label: str, source: str, fingerprint: str) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(data)
        except Exception as e:  # sentencepiece raises RuntimeError/OSError on bad protos
            raise InputError(f"cannot load SentencePiece model {source}: {str(e).splitlines()[0]}") from None
        self.proto = load_spm_proto(data)
        mtype = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}.get(self.proto.trainer_spec.model_type, "unigram")
        super().__init__(label, source, fingerprint, mtype)
        n = self.sp.get_piece_size()
        self._pieces = [self.sp.id_to_piece(i) for i in range(n)]
        self._special_ids = {i for i in range(n) if self.sp.is_control(i) or self.sp.is_unknown(i)}
        self._specials = {self._pieces[i]: i for i in sorted(self._special_ids)}

    def __getstate__(self) -> dict[str, Any]:
        # the processor and the parsed proto do not pickle: ship the model bytes (to workers)
        state = {k: v for k, v in self.__dict__.items() if k not in ("sp", "proto")}
        state["_model"] = self.sp.serialized_model_proto()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import sentencepiece as spm

        data = state.pop("_model")
        self.__dict__.update(state)
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(data)
        self.proto = load_spm_proto(data)

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def id_to_token(self, token_id: int) -> str | None:
        return self._pieces[token_id] if 0 <= token_id < len(self._pieces) else None

    @property
    def unk_id(self) -> int | None:
        unk = self.sp.unk_id()
        return unk if unk >= 0 else None

    def token_bytes(self, token_id: int) -> bytes | None:
        if token_id in self._special_ids or not 0 <= token_id < len(self._pieces):
            return None
        if self.sp.is_byte(token_id):
            return metaspace_to_bytes(self._pieces[token_id])
        return self._pieces[token_id].replace("\u2581", " ").encode("utf-8")

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts), num_threads=THREADS)

    @cached_property
    def _no_prefix(self) -> Any:
        if not self.proto.normalizer_spec.add_dummy_prefix:
            return self.sp
        import sentencepiece as spm

        proto = load_spm_proto(self.proto.SerializeToString())
        proto.normalizer_spec.add_dummy_prefix = False
        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(proto.SerializeToString())
        return sp

    def encode_no_prefix_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._no_prefix.encode(list(texts), num_threads=THREADS)

    def encode_aligned(self, texts: Sequence[str]) -> Aligned:
        import numpy as np
        # Piece bytes laid end to end spell the text unless the normalizer changed it; only those
        # lines go through sentencepiece's (slower) span-reporting proto output.
        texts = list(texts)
        al = Aligned.from_byte_lengths(texts, self.encode_batch(texts), self.byte_lengths)
        bad = np.nonzero(~al.line_ok)[0]
        if bad.size:
            fixed = self._proto_spans([texts[k] for k in bad])
            base = line_starts(texts)
            for k, (_, sp) in zip(bad.tolist(), fixed):
                if sp is None:
                    continue
                sel = al.line_of_token == k
                if sel.sum() == sp[0].size:
                    al.starts[sel] = sp[0] + base[k]
                    al.ends[sel] = sp[1] + base[k]
                    al.line_ok[k] = True
        return al

    def _proto_spans(self, texts: Sequence[str]) -> list[tuple[list[int], Spans | None]]:
        import numpy as np
        # sentencepiece reports each piece's byte span in the original (unnormalized) text.
        out = []
        for text, proto in zip(texts, self.sp.encode(list(texts), return_type="proto", num_threads=THREADS)):
            pieces = proto.pieces
            ids = [p.id for p in pieces]
            b = np.array([(p.begin, p.end) for p in pieces], dtype=np.int64).reshape(-1, 2)
            out.append((ids, byte_spans_to_chars(text, b[:, 0], b[:, 1])))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode(list(ids))

    def merges(self) -> list[tuple[bytes, bytes]]:
        if self.model_type != "bpe":
            return super().merges()
        return [(metaspace_to_bytes(a), metaspace_to_bytes(b)) for a, b in spm_bpe_merges(self.proto)]


def load_spm_proto(data: bytes) -> Any:
    """Parse a SentencePiece ModelProto (needs protobuf)."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError as e:  # protobuf missing
        raise LabError(f"reading SentencePiece models needs protobuf: {e}") from None
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:  # protobuf DecodeError
        raise InputError("not a SentencePiece model (protobuf parse failed)") from None
    return proto


class Splitter:
    """Where a token splits into two entries of a vocabulary (str or bytes keys).

    Only split points k where both k and len(token) - k are lengths some entry has are tried, so a
    token costs a test per distinct entry length instead of one slice per position (quadratic in
    its length: one 20 MB entry kept an audit busy for minutes). Exact: a half of any other
    length cannot be an entry."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab
        self.length_set = {len(t) for t in vocab}
        self.lengths = sorted(self.length_set)

    def points(self, token: Any) -> list[int]:
        """Every k with token[:k] and token[k:] both in the vocabulary, ascending."""
        n = len(token)
        vocab, lengths = self.vocab, self.length_set
        out = []
        for k in self.lengths:
            if k >= n:
                break
            if n - k in lengths and token[:k] in vocab and token[k:] in vocab:
                out.append(k)
        return out


def spm_bpe_merges(proto: Any) -> list[tuple[str, str]]:
    """Merges of a SentencePiece BPE model: each normal piece's splits, in piece-score order."""
    normal = [(p.piece, p.score, i) for i, p in enumerate(proto.pieces) if p.type == 1]
    rank = {piece: i for i, (piece, _, _) in enumerate(sorted(normal, key=lambda t: (-t[1], t[2])))}
    merges = []
    splitter = Splitter(rank)
    for piece, r in rank.items():  # order: merged piece's rank, then left, then right rank
        for k in splitter.points(piece):
            merges.append(((r << 42) | (rank[piece[:k]] << 21) | rank[piece[k:]], k, piece))
    merges.sort()  # keys are unique: ints decide
    return [(piece[:k], piece[k:]) for _, k, piece in merges]


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed tokenizer argument: optional label, path (or hf:NAME), optional pattern."""

    label: str
    path: str
    pattern: str | None = None


MAX_LABEL = 100  # a label names table columns, chart legends and signature fields


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
                raise UsageError(f"tokenizer label {left[:20]}… is {len(left)} characters (at most {MAX_LABEL})")
            label, path = left, right
    if not label:
        p = path.removeprefix("hf:")
        stem = Path(p.rstrip("/")).name
        for suf in (".gz", ".json", ".tiktoken", ".model", ".txt"):
            stem = stem.removesuffix(suf)
        label = stem if stem not in ("tokenizer", "vocab", "") else Path(p.rstrip("/")).parent.name or stem
    return TokenizerSpec(label=label, path=path, pattern=pattern)


# The largest tokenizer file read (after decompression): 256 MiB, eight times Gemma 3's 33 MB
# tokenizer.json; a 1 MB gzip bomb stops here instead of filling memory.
MAX_TOKENIZER_BYTES = 1 << 28


def _read_file(path: Path, limit: int | None = None) -> tuple[bytes, str]:
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
        return InputError(f"cannot read tokenizer {path}: {what}size over {limit >> 20} MiB "
                          "(the largest tokenizer file tokenlab reads)")
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


def _hf_from_str(text: str, source: str) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:  # tokenizers raises its own Exception type on bad JSON
        raise InputError(f"cannot load tokenizer.json {source}: {str(e).splitlines()[0][:200]}") from None
    return tok


def _check_unk(j: dict, source: str) -> None:
    """A model whose unk token is missing from its vocabulary loads, then fails on the first
    unknown word (found by fuzzing): refused at load."""
    model = j.get("model") if isinstance(j.get("model"), dict) else {}
    unk, vocab = model.get("unk_token"), model.get("vocab")
    if isinstance(unk, str) and isinstance(vocab, dict) and unk not in vocab:
        raise InputError(f"tokenizer.json {source}: its unk token {unk!r} is not in its vocabulary")


def _parse_ranks(data: bytes, source: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    try:
        for line in data.splitlines():
            if not line.strip():
                continue
            tok, rank = line.split()
            token = base64.b64decode(tok)
            if token:  # whisper's file holds one empty placeholder ("= 50256"); it is unreachable
                ranks[token] = int(rank)
    except (ValueError, base64.binascii.Error):
        raise InputError(f"{source} is not a tiktoken rank file (expected 'base64 rank' lines)") from None
    if not ranks:
        raise InputError(f"{source} is an empty tiktoken rank file")
    return ranks


def _looks_like_ranks(data: bytes) -> bool:
    head = data[:4096].split(b"\n")[:3]
    return bool(head) and all(re.fullmatch(rb"[A-Za-z0-9+/=]+ \d+", h.strip()) for h in head if h.strip())


def _tiktoken_view(ranks: dict[bytes, int], path: Path, spec: TokenizerSpec, fp: str) -> TiktokenView:
    """The pre-tokenizer preset comes from --pattern, else the file's content (a known encoding's
    sha256), else its own name, else the user must say (exit 2); the report notes which rule chose
    it. A preset's special tokens are added only to a file of that preset's size, never grafted
    onto a foreign rank file."""
    known = KNOWN_RANK_FILES.get(fp)
    if spec.pattern:
        (preset, regex), rule = resolve_pattern(spec.pattern), "--pattern"
    else:
        preset, rule = (known, "content (the sha256 of a published rank file)") if known else \
            (_preset_from_name(path), "file name")
        if preset is None:
            raise UsageError(f"cannot tell the pre-tokenizer of {path.name} from its content or its name; pass "
                             "--pattern (r50k, cl100k, o200k, llama3, qwen, qwen35 or a regex)")
        regex = resolve_pattern(preset)[1]
    n = max(ranks.values()) + 1
    specials: dict[str, int] = {}
    if PRESET_RANKS.get(preset) == len(ranks):
        if preset == "llama3":
            specials = _llama3_specials(n)
        elif preset in ("qwen", "qwen35"):
            specials = _qwen_specials(n)
        else:
            specials = {s: i for s, i in _TIKTOKEN_SPECIALS.get(preset, {}).items() if i >= n}
            if preset == "r50k" and "<|endoftext|>" not in specials:
                specials = {"<|endoftext|>": n}
    view = TiktokenView(ranks, regex, specials, spec.label, str(path), fp, preset)
    view.notes.append(f"{spec.label}: pre-tokenizer {preset} chosen by {rule}"
                      + ("" if specials or preset not in PRESET_RANKS else
                         f"; no {preset} special tokens added ({len(ranks)} ranks is not {preset}'s own file)"))
    return view


def _tekken_view(j: dict, path: Path, spec: TokenizerSpec, fp: str) -> TiktokenView:
    cfg = j["config"]
    n_special = int(cfg.get("default_num_special_tokens", 1000))
    n_inner = int(cfg.get("default_vocab_size", 131072)) - n_special
    ranks = {}
    for item in j["vocab"][:n_inner]:
        ranks[base64.b64decode(item["token_bytes"])] = int(item["rank"])
    specials = {}
    for s in j.get("special_tokens") or []:
        specials[s["token_str"]] = int(s["rank"])
    if not specials:
        specials = {"<unk>": 0, "<s>": 1, "</s>": 2}
    regex = resolve_pattern(spec.pattern)[1] if spec.pattern else cfg["pattern"]
    return TiktokenView(ranks, regex, specials, spec.label, str(path), fp, "tekken", id_offset=n_special)


def _bert_vocab_view(data: bytes, path: Path, spec: TokenizerSpec, fp: str) -> HFView:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    for i, line in enumerate(text.splitlines()):
        vocab.setdefault(line.rstrip("\r"), i)
    if "[UNK]" not in vocab:
        raise InputError(f"{path} is not a BERT vocab.txt (no [UNK] token)")
    # An uncased vocabulary holds no upper-case ASCII word pieces.
    lowercase = not any(re.search(r"[A-Z]", t) for t in vocab if not t.startswith("["))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None,
                                                clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True) for t in
                            ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t in vocab])
    return HFView(tok, spec.label, str(path), fp)


def _vocab_merges_view(folder: Path, spec: TokenizerSpec) -> HFView:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    (vocab_data, vocab_sha), (merges_data, merges_sha) = \
        _read_file(folder / "vocab.json"), _read_file(folder / "merges.txt")
    fp = _folder_fingerprint([("merges.txt", merges_sha), ("vocab.json", vocab_sha)])
    try:
        vocab = json.loads(vocab_data)
        lines = merges_data.decode("utf-8").splitlines()
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read vocab.json/merges.txt in {folder}: {e}") from None
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    if any(len(m) != 2 for m in merges):
        raise InputError(f"{folder / 'merges.txt'} has a line that is not one pair")
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    cls = ""
    cfg = folder / "tokenizer_config.json"
    if cfg.exists():
        try:
            cls = json.loads(cfg.read_text("utf-8")).get("tokenizer_class", "")
        except ValueError:
            cls = ""
    preset = spec.pattern or ("qwen" if "qwen" in cls.lower() else None)
    if preset:
        name, regex = resolve_pattern(preset)
        if name in NFC_PRESETS:
            tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # Qwen's specials live in tokenizer_config.json, after the BPE ids; GPT-2's in vocab.json.
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if "qwen" in cls.lower() else \
        [t for t in ("<|endoftext|>",) if t in vocab]
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    return HFView(tok, spec.label, str(folder), fp)


def _folder_fingerprint(files: Sequence[tuple[str, str]]) -> str:
    """A folder's fingerprint from its files' (name, sha256) pairs."""
    h = hashlib.sha256()
    for name, sha in sorted(files):
        h.update(name.encode() + b"\0" + sha.encode() + b"\n")
    return h.hexdigest()


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
        raise InputError(f"cannot load tokenizer {path}: malformed file ({type(e).__name__}"
                         f"{': ' + detail if detail else ''})") from None


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
            raise InputError(f"tokenizer not found: {path} (not a file, a folder or a model in the local "
                             "Hugging Face cache)")
        path = cached
    with _parsing(path):
        view = _load_folder(path, spec) if path.is_dir() else _load_file(path, spec)
    if not view.nbytes and path.is_dir():
        view.nbytes = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return view


def _load_file(path: Path, spec: TokenizerSpec) -> TokenizerView:
    data, fp = _read_file(path)
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
            return _tekken_view(j, path, spec, fp)
        if isinstance(j, dict) and "model" in j:
            _check_unk(j, str(path))
            return HFView(_hf_from_str(data.decode("utf-8"), str(path)), spec.label, str(path), fp, j)
        raise InputError(f"{path} is JSON but neither a tokenizer.json nor a tekken file")
    if name.endswith(".tiktoken") or (name.endswith((".model", ".vocab")) and _looks_like_ranks(data)):
        return _tiktoken_view(_parse_ranks(data, str(path)), path, spec, fp)
    if name.endswith(".txt") or name == "vocab.txt":
        return _bert_vocab_view(data, path, spec, fp)
    if ".model" in name:
        return SentencePieceView(data, spec.label, str(path), fp)
    if _looks_like_ranks(data):
        return _tiktoken_view(_parse_ranks(data, str(path)), path, spec, fp)
    raise InputError(f"unrecognised tokenizer file {path} (expected tokenizer.json, .model, "
                     ".tiktoken, tekken .json or vocab.txt)")


def _load_folder(folder: Path, spec: TokenizerSpec) -> TokenizerView:
    for name in ("tokenizer.json", "tokenizer.json.gz"):
        if (folder / name).exists():
            return load_tokenizer(TokenizerSpec(spec.label, str(folder / name), spec.pattern))
    if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        return _vocab_merges_view(folder, spec)
    for name in ("tokenizer.model", "spm.model"):
        if (folder / name).exists():
            return load_tokenizer(TokenizerSpec(spec.label, str(folder / name), spec.pattern))
    models_ = sorted(folder.glob("*.model")) + sorted(folder.glob("*.tiktoken"))
    if len(models_) == 1:
        return load_tokenizer(TokenizerSpec(spec.label, str(models_[0]), spec.pattern))
    if (folder / "vocab.txt").exists():
        return load_tokenizer(TokenizerSpec(spec.label, str(folder / "vocab.txt"), spec.pattern))
    raise InputError(f"no tokenizer found in folder {folder} (looked for tokenizer.json, "
                     "vocab.json+merges.txt, tokenizer.model, *.tiktoken, vocab.txt)")


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_HUB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json", "vocab.txt")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_snapshot(name: str) -> Path | None:
    """The snapshot folder of hub repo `name` in the local Hugging Face cache, or None. Never
    touches the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    # the cache folder as the environment says now (huggingface_hub reads it once, at import)
    cache = os.environ.get("HF_HUB_CACHE") or (os.path.join(os.environ["HF_HOME"], "hub")
                                               if os.environ.get("HF_HOME") else None)
    for fname in _HUB_FILES:
        try:
            hit = try_to_load_from_cache(name, fname, cache_dir=cache)
        except Exception:  # an invalid repo id, an unreadable cache: simply not cached
            return None
        if isinstance(hit, str):
            return Path(hit).parent
    return None


@contextlib.contextmanager
def _silent_hub() -> Iterator[None]:
    """No third-party warnings, progress bars or retry chatter while the hub is asked."""
    import logging
    import warnings

    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hub_log.setLevel(level)


def _load_hub(spec: TokenizerSpec) -> TokenizerView:
    """hf:NAME from the local Hugging Face cache first; downloaded only when online, in one try."""
    name = spec.path[3:]
    cached = hub_snapshot(name)
    if cached is not None:
        with _parsing(cached):
            return _load_folder(cached, spec)
    if _offline():
        raise InputError(f"{spec.path} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: "
                         "give a local path (or download it once while online)")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError(f"{spec.path}: huggingface_hub is not installed; give a local path") from None
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        with _silent_hub():
            got = Path(hf_hub_download(name, "tokenizer.json", etag_timeout=10,
                                       cache_dir=os.environ.get("HF_HUB_CACHE") or None))
    except Exception as e:  # offline, unknown repo, gated: one line, at once
        detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot fetch {spec.path} from the hub (offline, or no such repo?): {detail}") from None
    with _parsing(got.parent):
        return _load_folder(got.parent, spec)
