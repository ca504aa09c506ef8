"""Rank files: tiktoken (.tiktoken, Llama 3's rank-format tokenizer.model) and Mistral tekken JSON,
with the pre-tokenizer preset chosen by content, else the file name."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.patterns import NFC_PRESETS, matches_empty, resolve_pattern
from tokenizers_lab.tokenizer.base import TokenizerSpec, TokenizerView, threads
from tokenizers_lab.tokenizer.bytelevel import bytes_to_bytelevel, merges_from_ranks

_TIKTOKEN_SPECIALS: dict[str, dict[str, int]] = {
    "r50k": {"<|endoftext|>": 50256},
    "cl100k": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}


def _llama3_specials(n: int) -> dict[str, int]:
    names = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|reserved_special_token_2|>",
        "<|reserved_special_token_3|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|reserved_special_token_4|>",
        "<|eot_id|>",
    ]
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
PRESET_RANKS = {
    "r50k": 50256,
    "cl100k": 100256,
    "o200k": 199998,
    "llama3": 128000,
    "qwen": 151643,
    "qwen35": 248044,
}


def _preset_from_name(path: Path) -> str | None:
    """The preset a rank file's own name announces (its name alone, never its folders)."""
    name = path.name.lower()
    for key, preset in (
        ("o200k", "o200k"),
        ("cl100k", "cl100k"),
        ("qwen3_6", "qwen35"),
        ("qwen3.6", "qwen35"),
        ("qwen35", "qwen35"),
        ("qwen3.5", "qwen35"),
        ("qwen", "qwen"),
        ("llama3", "llama3"),
        ("llama-3", "llama3"),
        ("gpt2", "r50k"),
        ("r50k", "r50k"),
        ("p50k", "r50k"),
        ("whisper", "r50k"),
    ):
        if key in name:
            return preset
    return None


class TiktokenView(TokenizerView):
    """A tiktoken `Encoding` built offline from a rank file (or tekken JSON)."""

    backend = "tiktoken"

    def __init__(
        self,
        ranks: dict[bytes, int],
        pattern: str,
        specials: dict[str, int],
        label: str,
        source: str,
        fingerprint: str,
        preset: str,
        id_offset: int = 0,
    ) -> None:
        import tiktoken

        super().__init__(label, source, fingerprint, "bpe")
        if len(set(ranks.values())) != len(ranks):  # tiktoken panics on two tokens of one rank
            raise InputError(f"{source} gives two tokens the same rank")
        if matches_empty(pattern):  # and on an empty pre-token (found by fuzzing a tekken pattern)
            raise InputError(f"the pre-tokenizer pattern of {source} matches the empty string")
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:  # tiktoken's Rust core panics (past any except Exception) on a byte it cannot start from
            raise InputError(
                f"{source} lacks {len(missing)} of the 256 single-byte tokens (first 0x{missing[0]:02X}): "
                "byte-level BPE ranks must hold every byte"
            )
        self.preset = preset
        self.pattern = pattern
        self.nfc = preset in NFC_PRESETS
        self.id_offset = id_offset
        self._ranks = ranks
        self._specials = dict(specials)
        try:
            self.enc = tiktoken.Encoding(
                name=label,
                pat_str=pattern,
                mergeable_ranks=ranks,
                special_tokens={} if id_offset else specials,
            )
        except Exception as e:  # noqa: BLE001 - tiktoken raises plain ValueError for bad regexes / ranks
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

    def prepare(self, text: str) -> str:
        return unicodedata.normalize("NFC", text) if self.nfc else text

    def rank_items(self) -> list[tuple[bytes, int]]:
        """(token bytes, rank) pairs of the rank file."""
        return list(self._ranks.items())

    def _encode(self, text: str) -> list[int]:
        ids = self.enc.encode_ordinary(self.prepare(text))
        return [i + self.id_offset for i in ids] if self.id_offset else ids

    def _encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # tiktoken releases the GIL; a per-item thread pool costs more than it gains on short
        # texts, so each worker loops over a contiguous chunk.
        texts = list(texts)
        n = threads()
        if len(texts) < 64 or n == 1:
            return [self._encode(t) for t in texts]
        step = (len(texts) + n - 1) // n
        chunks = [texts[i : i + step] for i in range(0, len(texts), step)]
        with ThreadPoolExecutor(n) as ex:
            parts = list(ex.map(lambda c: [self._encode(t) for t in c], chunks))
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


def parse_ranks(data: bytes, source: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    try:
        for line in data.splitlines():
            if not line.strip():
                continue
            tok, rank = line.split()
            token = base64.b64decode(tok)
            if token:  # whisper's file holds one empty placeholder ("= 50256"); it is unreachable
                ranks[token] = int(rank)
    except (ValueError, binascii.Error):
        raise InputError(f"{source} is not a tiktoken rank file (expected 'base64 rank' lines)") from None
    if not ranks:
        raise InputError(f"{source} is an empty tiktoken rank file")
    return ranks


def looks_like_ranks(data: bytes) -> bool:
    head = data[:4096].split(b"\n")[:3]
    return bool(head) and all(re.fullmatch(rb"[A-Za-z0-9+/=]+ \d+", h.strip()) for h in head if h.strip())


def tiktoken_view(ranks: dict[bytes, int], path: Path, spec: TokenizerSpec, fp: str) -> TiktokenView:
    """The pre-tokenizer preset comes from --pattern, else the file's content (a known encoding's
    sha256), else its own name, else the user must say (exit 2); the report notes which rule chose
    it. A preset's special tokens are added only to a file of that preset's size, never grafted
    onto a foreign rank file."""
    known = KNOWN_RANK_FILES.get(fp)
    if spec.pattern:
        (preset, regex), rule = resolve_pattern(spec.pattern), "--pattern"
    else:
        found, rule = (
            (known, "content (the sha256 of a published rank file)")
            if known
            else (_preset_from_name(path), "file name")
        )
        if found is None:
            raise UsageError(
                f"cannot tell the pre-tokenizer of {path.name} from its content or its name; pass "
                "--pattern (r50k, cl100k, o200k, llama3, qwen, qwen35 or a regex)"
            )
        preset, regex = found, resolve_pattern(found)[1]
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
    view.notes.append(
        f"{spec.label}: pre-tokenizer {preset} chosen by {rule}"
        + (
            ""
            if specials or preset not in PRESET_RANKS
            else f"; no {preset} special tokens added ({len(ranks)} ranks is not {preset}'s own file)"
        )
    )
    return view


def tekken_view(j: dict, path: Path, spec: TokenizerSpec, fp: str) -> TiktokenView:
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
