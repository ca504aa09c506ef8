"""Hugging Face `tokenizers` formats: tokenizer.json, a vocab.json + merges.txt folder, BERT vocab.txt."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from tokenizers_lab.errors import InputError, LabError
from tokenizers_lab.patterns import NFC_PRESETS, resolve_pattern
from tokenizers_lab.tokenizer.align import Aligned, line_starts
from tokenizers_lab.tokenizer.base import TokenizerSpec, TokenizerView, folder_fingerprint, read_file
from tokenizers_lab.tokenizer.bytelevel import bytelevel_to_bytes, metaspace_to_bytes


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

    def __init__(
        self, tok: Any, label: str, source: str, fingerprint: str, spec_json: dict | None = None
    ) -> None:
        # Reports measure tokenization itself: padding/truncation stored in a file are switched off.
        tok.no_padding()
        tok.no_truncation()
        self.tok = tok
        # the pipeline's description without the vocabulary and merges (tens of MB of Python
        # objects at 150k tokens, which `tok` holds already): full_json() parses them on demand
        self._json = _without_tables(spec_json if spec_json is not None else json.loads(tok.to_str()))
        model = self._json["model"]
        mtype = {"BPE": "bpe", "Unigram": "unigram", "WordPiece": "wordpiece", "WordLevel": "wordlevel"}.get(
            model["type"], model["type"].lower()
        )
        super().__init__(label, source, fingerprint, mtype)
        kinds = _walk_types(self._json.get("pre_tokenizer")) | _walk_types(self._json.get("decoder"))
        if "ByteLevel" in kinds:
            self.convention = "bytelevel"
        elif mtype == "wordpiece":
            self.convention = "wordpiece"
        else:
            self.convention = "metaspace"
        self._prefix = model.get("continuing_subword_prefix") or "##"
        self._specials = {
            t["content"]: t["id"] for t in self._json.get("added_tokens", []) if t.get("special")
        }
        self._vocab = tok.get_vocab(with_added_tokens=True)
        self._id_to_tok = {i: s for s, i in self._vocab.items()}

    def full_json(self) -> dict[str, Any]:
        """The whole tokenizer.json, vocabulary and merges included (parsed anew at each call)."""
        return json.loads(self.tok.to_str())

    @cached_property
    def vocab_size(self) -> int:
        # the call builds the vocabulary each time (a millisecond at 262k): asked once
        return int(self.tok.get_vocab_size(with_added_tokens=True))

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

    def _encode(self, text: str) -> list[int]:
        with self._encoding():
            return self.tok.encode(text, add_special_tokens=False).ids

    def _encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
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
            raise InputError(
                f"tokenizer {self.label} cannot encode this text: {str(e).splitlines()[0][:160]}"
            ) from None

    @cached_property
    def _no_prefix(self) -> Any:
        # Only the normalizer and pre-tokenizer change, in a fresh parse of the whole file.
        j = self.full_json()
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
        al = Aligned.from_byte_lengths(texts, *self.encode_flat(texts), self.byte_lengths)
        bad = np.nonzero(~al.line_ok)[0]
        if bad.size:
            fix = self._aligned_by_offsets([texts[k] for k in bad])
            base, fbase = line_starts(texts), line_starts([texts[k] for k in bad])
            for j, k in enumerate(bad.tolist()):
                fsel = fix.line_of_token == j
                if al.counts[k] == fsel.sum():
                    shift = base[k] - fbase[j]
                    al.set_line_spans(k, fix.starts[fsel] + shift, fix.ends[fsel] + shift)
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
        for m in self.full_json()["model"].get("merges", []):
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            out.append((self._string_bytes(a), self._string_bytes(b)))
        return out


def _without_tables(j: dict[str, Any]) -> dict[str, Any]:
    """A tokenizer.json without its model's vocabulary and merges (the rest as it is)."""
    model = {k: v for k, v in j.get("model", {}).items() if k not in ("vocab", "merges")}
    return {**j, "model": model}


def hf_from_str(text: str, source: str) -> Any:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:  # noqa: BLE001 - tokenizers raises its own Exception type on bad JSON
        raise InputError(f"cannot load tokenizer.json {source}: {str(e).splitlines()[0][:200]}") from None
    return tok


def check_unk(j: dict, source: str) -> None:
    """A model whose unk token is missing from its vocabulary loads, then fails on the first
    unknown word (found by fuzzing): refused at load."""
    model = j["model"] if isinstance(j.get("model"), dict) else {}
    unk, vocab = model.get("unk_token"), model.get("vocab")
    if isinstance(unk, str) and isinstance(vocab, dict) and unk not in vocab:
        raise InputError(f"tokenizer.json {source}: its unk token {unk!r} is not in its vocabulary")


def bert_vocab_view(data: bytes, path: Path, spec: TokenizerSpec, fp: str) -> HFView:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab: dict[str, int] = {}
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
    tok.normalizer = normalizers.BertNormalizer(
        lowercase=lowercase, strip_accents=None, clean_text=True, handle_chinese_chars=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    from tokenizers import AddedToken

    tok.add_special_tokens(
        [AddedToken(t, special=True) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t in vocab]
    )
    return HFView(tok, spec.label, str(path), fp)


def vocab_merges_view(folder: Path, spec: TokenizerSpec) -> HFView:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    (vocab_data, vocab_sha), (merges_data, merges_sha) = (
        read_file(folder / "vocab.json"),
        read_file(folder / "merges.txt"),
    )
    fp = folder_fingerprint([("merges.txt", merges_sha), ("vocab.json", vocab_sha)])
    try:
        vocab = json.loads(vocab_data)
        lines = merges_data.decode("utf-8").splitlines()
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read vocab.json/merges.txt in {folder}: {e}") from None
    pairs = [line.split(" ") for line in lines if line and not line.startswith("#version")]
    if any(len(m) != 2 for m in pairs):
        raise InputError(f"{folder / 'merges.txt'} has a line that is not one pair")
    tok = Tokenizer(models.BPE(vocab, [(a, b) for a, b in pairs], fuse_unk=False))
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
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(regex), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # Qwen's specials live in tokenizer_config.json, after the BPE ids; GPT-2's in vocab.json.
    specials = (
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        if "qwen" in cls.lower()
        else [t for t in ("<|endoftext|>",) if t in vocab]
    )
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    return HFView(tok, spec.label, str(folder), fp)
