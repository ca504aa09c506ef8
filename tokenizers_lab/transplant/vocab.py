"""Vocabularies in one canonical byte space, special tokens by role, and decomposition of a token's
bytes by the old tokenizer's own model (BPE merges, Unigram Viterbi or WordPiece), as ZeTT and
tokenkit do it: never decode -> re-encode, which breaks partial-UTF-8 tokens and adds
pre-tokenizer effects."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tokenizers_lab.errors import InputError
from tokenizers_lab.tokenizer import (
    BYTE_FALLBACK,
    TokenizerView,
    bytes_to_bytelevel,
)
from tokenizers_lab.tokenizer.convert import hf_tokenizer

# Roles a special token can play, in priority order: a token holding several roles takes the row
# of the first (so a shared <pad>/<bos> never overwrites <bos>: tokenkit's Gemma3 -> Qwen3 bug).
ROLES = ("bos", "eos", "unk", "pad", "turn_start", "turn_end", "cls", "sep", "mask")
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "bos": ("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|begin▁of▁sentence|>", "[BOS]"),
    "eos": ("</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", "<|end▁of▁sentence|>", "[EOS]"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|finetune_right_pad_id|>", "<|PAD_TOKEN|>"),
    "turn_start": ("<|im_start|>", "<|start_header_id|>", "<start_of_turn>"),
    "turn_end": ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"),
    "cls": ("[CLS]", "<cls>"),
    "sep": ("[SEP]", "<sep>"),
    "mask": ("[MASK]", "<mask>"),
}


@dataclass
class Vocab:
    """A tokenizer's ids in the canonical byte space: word-start pieces carry a leading space
    (Ġ, ▁ and WordPiece word-initial pieces alike), WordPiece ## continuations and <0xNN> byte
    pieces are their plain bytes. Specials have no key."""

    view: TokenizerView
    keys: list[bytes | None]
    native: list[str | None]
    specials: dict[str, int]
    roles: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.keys)

    @cached_property
    def model_spec(self) -> dict[str, Any]:
        """The tokenizer's model section as tokenizer.json spells it (what Decomposer rebuilds)."""
        return json.loads(hf_tokenizer(self.view).to_str())["model"]

    def release(self) -> None:
        """Drop the cached model section (no decomposition follows)."""
        self.__dict__.pop("model_spec", None)

    def index(self) -> dict[bytes, int]:
        """key -> id; where keys collide (a byte piece <0x41> and a piece A) the plain piece wins,
        then the lowest id."""
        out: dict[bytes, int] = {}
        for i, k in enumerate(self.keys):
            if k is None:
                continue
            j = out.get(k)
            if j is None or (self._is_byte_piece(j) and not self._is_byte_piece(i)):
                out[k] = i
        return out

    def _is_byte_piece(self, i: int) -> bool:
        s = self.native[i]
        return s is not None and BYTE_FALLBACK.match(s) is not None


def canonical_key(view: TokenizerView, token_id: int) -> bytes | None:
    """The canonical bytes of one id (None for specials and holes)."""
    b = view.token_bytes(token_id)
    if b is None:
        return None
    if getattr(view, "convention", "") == "wordpiece" and not view.is_continuation(token_id):
        return b" " + b
    return b


def build_vocab(view: TokenizerView, role_hints: dict[str, str] | None = None) -> Vocab:
    """Canonical keys, native strings, specials and their roles of a tokenizer."""
    n = view.vocab_size
    keys = [canonical_key(view, i) for i in range(n)]
    native = [view.id_to_token(i) for i in range(n)]
    specials = dict(view.special_tokens)
    return Vocab(view, keys, native, specials, special_roles(specials, role_hints or {}))


def special_roles(specials: dict[str, int], hints: dict[str, str]) -> dict[str, int]:
    """role -> id: the tokenizer's own declaration (tokenizer_config / model config) first, then
    well-known names."""
    roles: dict[str, int] = {}
    for role, content in hints.items():
        if role in ROLES and content in specials:
            roles[role] = specials[content]
    for role in ROLES:
        if role in roles:
            continue
        for name in ROLE_NAMES[role]:
            if name in specials:
                roles[role] = specials[name]
                break
    return roles


def role_hints_from_folder(folder: Any) -> dict[str, str]:
    """Special-token roles a tokenizer folder declares (tokenizer_config.json, special_tokens_map.json)."""
    from pathlib import Path

    folder = Path(folder)
    hints: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        f = folder / name
        if not f.is_file():
            continue
        try:
            cfg = json.loads(f.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            raise InputError(f"{f} is not valid JSON") from None
        for role in ("bos", "eos", "unk", "pad", "cls", "sep", "mask"):
            v = cfg.get(f"{role}_token")
            if isinstance(v, dict):
                v = v.get("content")
            if isinstance(v, str):
                hints[role] = v
    return hints


class Decomposer:
    """Splits canonical bytes into old-vocabulary ids with the old tokenizer's model alone (no
    normalizer, no pre-tokenizer), optionally with some tokens hidden (leave-out evaluation:
    hidden tokens leave the vocabulary and every merge that makes or uses them)."""

    def __init__(self, old: Vocab, hidden: Iterable[int] = ()) -> None:
        from tokenizers import models

        self.old = old
        spec = old.model_spec
        self.kind = spec["type"]
        self.convention = getattr(old.view, "convention", "bytelevel")
        hidden_native = {old.native[i] for i in hidden if old.native[i] is not None}
        self._str_to_id = {s: i for i, s in enumerate(old.native) if s is not None and s not in hidden_native}
        for s in old.specials:  # specials never take part in a decomposition
            self._str_to_id.pop(s, None)
        model: models.Model
        if self.kind == "BPE":
            vocab = {s: i for s, i in spec["vocab"].items() if s not in hidden_native}
            merges = []
            for m in spec["merges"]:
                a, b = m if isinstance(m, list) else m.split(" ", 1)
                if a in hidden_native or b in hidden_native or (a + b) in hidden_native:
                    continue
                merges.append((a, b))
            extra = {k: spec[k] for k in ("continuing_subword_prefix", "end_of_word_suffix") if spec.get(k)}
            model = models.BPE(
                vocab,
                merges,
                fuse_unk=False,
                byte_fallback=bool(spec.get("byte_fallback")),
                ignore_merges=bool(spec.get("ignore_merges")),
                **extra,
            )
        elif self.kind == "Unigram":
            pieces = [(p, s) for p, s in spec["vocab"] if p not in hidden_native]
            unk = spec.get("unk_id")
            unk_piece = spec["vocab"][unk][0] if unk is not None else None
            unk_id = next((i for i, (p, _) in enumerate(pieces) if p == unk_piece), None)
            model = models.Unigram(pieces, unk_id, bool(spec.get("byte_fallback")))
        elif self.kind == "WordPiece":
            vocab = {s: i for s, i in spec["vocab"].items() if s not in hidden_native}
            model = models.WordPiece(
                vocab, unk_token=spec.get("unk_token", "[UNK]"), max_input_chars_per_word=1000
            )
            self._prefix = spec.get("continuing_subword_prefix") or "##"
        else:
            raise InputError(f"cannot decompose with a {self.kind} model (need BPE, Unigram or WordPiece)")
        self.model = model
        self._memo: dict[bytes, list[int] | None] = {}

    def _pieces(self, text: str) -> list[str]:
        return [t.value for t in self.model.tokenize(text)] if text else []

    def native_pieces(self, key: bytes) -> list[str] | None:
        """Old-tokenizer piece strings spelling key, or None if some byte cannot be spelt."""
        if self.convention == "bytelevel":
            return self._pieces(bytes_to_bytelevel(key))
        if self.convention == "wordpiece":
            out: list[str] = []
            words = key.split(b" ")
            for n, w in enumerate(words):
                if not w:
                    continue
                try:
                    s = w.decode("utf-8")
                except UnicodeDecodeError:
                    return None
                word_start = n > 0  # a piece after a space starts a word; the first continues one
                out += self._pieces(s if word_start else self._prefix + s)
            return out
        # metaspace: valid UTF-8 runs go through the model; stray bytes become <0xNN> pieces
        out = []
        for run, ok in _utf8_runs(key):
            if ok:
                out += self._pieces(run.decode("utf-8").replace(" ", "\u2581"))
            else:
                out += [f"<0x{b:02X}>" for b in run]
        return out

    def decompose(self, key: bytes) -> list[int] | None:
        """Old ids whose canonical bytes concatenate to key exactly, or None (memoised: a run asks
        for the same keys when estimating and when counting what could not be decomposed)."""
        if key in self._memo:
            return self._memo[key]
        ids = self._decompose(key)
        self._memo[key] = ids
        return ids

    def _decompose(self, key: bytes) -> list[int] | None:
        pieces = self.native_pieces(key)
        if not pieces:
            return None
        ids = []
        for p in pieces:
            i = self._str_to_id.get(p)
            if i is None:
                return None
            ids.append(i)
        if b"".join(self.old.keys[i] or b"" for i in ids) != key:
            return None  # e.g. bytes the BPE vocabulary lacks and silently drops, or an [UNK]
        return ids

    def decompose_many(self, keys: Sequence[bytes]) -> list[list[int] | None]:
        """decompose() over many keys."""
        return [self.decompose(k) for k in keys]


def _utf8_runs(b: bytes) -> list[tuple[bytes, bool]]:
    """Split bytes into maximal valid UTF-8 runs and single invalid bytes."""
    out: list[tuple[bytes, bool]] = []
    i = 0
    while i < len(b):
        try:
            b[i:].decode("utf-8")
            out.append((b[i:], True))
            break
        except UnicodeDecodeError as e:
            if e.start > 0:
                out.append((b[i : i + e.start], True))
            out.append((b[i + e.start : i + e.start + 1], False))
            i += e.start + 1
    return out
