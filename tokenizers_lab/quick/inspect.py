"""`tokenlab inspect`: what a tokenizer file holds -- format, model, vocabulary, special tokens
with their roles, the pipeline stages, byte fallback, longest tokens, merges, sha256."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers_lab.errors import UsageError
from tokenizers_lab.quick.encode import show_bytes
from tokenizers_lab.report import Markdown

if TYPE_CHECKING:
    from tokenizers_lab.tokenizer import TokenizerView

LONGEST = 10
ROLES = ("bos", "eos", "unk", "pad", "mask", "cls", "sep")
# a special token's role from its content alone, when no file states it (last resort)
_ROLE_BY_NAME = (
    ("bos", re.compile(r"^<s>$|bos|begin_of_text|startoftext", re.I)),
    ("eos", re.compile(r"^</s>$|eos|end_of_text|endoftext|<\|end\|>|im_end", re.I)),
    ("unk", re.compile(r"unk", re.I)),
    ("pad", re.compile(r"pad", re.I)),
    ("mask", re.compile(r"mask", re.I)),
    ("cls", re.compile(r"^\[CLS\]$|^<cls>$", re.I)),
    ("sep", re.compile(r"^\[SEP\]$|^<sep>$", re.I)),
)


@dataclass(frozen=True)
class InspectConfig:
    """The tokenizer to describe."""

    tokenizer: str
    pattern: str | None = None
    longest: int = LONGEST


@dataclass(frozen=True)
class Special:
    """One special (control) token."""

    id: int
    content: str
    roles: tuple[str, ...]  # bos, eos, unk, pad, mask, cls, sep: what the files say it is
    role_source: str  # "file" (post-processor template, tokenizer_config.json, SentencePiece ids), "name" (guessed), ""


@dataclass(frozen=True)
class LongToken:
    id: int
    token: str
    bytes: int
    text: str


@dataclass(frozen=True)
class InspectReport(Markdown):
    """Facts about one tokenizer, read from its file(s)."""

    tokenizer: dict[str, Any]  # label, source, backend, encoder, model_type, vocab_size, sha256
    format: str
    specials: tuple[Special, ...]
    pipeline: dict[str, Any]  # normalizer, pre_tokenizer, post_processor, decoder (or the format's own)
    byte_fallback: str  # "byte-level" (every byte a token), "<0xNN> pieces", or "none (UNK)"
    unk: str | None
    merges: int | None  # BPE only
    longest: tuple[LongToken, ...]
    mean_token_bytes: float
    partial_utf8: int  # tokens whose bytes are not valid UTF-8 alone


def validate(config: InspectConfig) -> None:
    """Usage errors before the tokenizer loads."""
    if config.longest < 0:
        raise UsageError("--longest must be 0 or more")


def run(config: InspectConfig, progress: Any = None) -> InspectReport:
    """Load the tokenizer and describe it."""
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(config.tokenizer, config.pattern)
    fmt, pipeline, fallback, declared = _format(view)
    token_bytes = view.all_token_bytes
    sized = sorted(
        ((len(b), i) for i, b in enumerate(token_bytes) if b is not None), key=lambda t: (-t[0], t[1])
    )
    longest = tuple(
        LongToken(i, view.id_to_token(i) or "", n, show_bytes(token_bytes[i] or b""))
        for n, i in sized[: config.longest]
    )
    regular = [b for b in token_bytes if b is not None]
    partial = sum(1 for b in regular if not _utf8(b))
    merges = len(view.merges()) if view.model_type == "bpe" else None
    unk = view.id_to_token(view.unk_id) if view.unk_id is not None else None
    return InspectReport(
        tokenizer=view.describe(),
        format=fmt,
        specials=_specials(view, declared),
        pipeline=pipeline,
        byte_fallback=fallback,
        unk=unk,
        merges=merges,
        longest=longest,
        mean_token_bytes=sum(map(len, regular)) / max(1, len(regular)),
        partial_utf8=partial,
    )


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _stage(node: Any) -> Any:
    """A tokenizer.json stage as its type, a Sequence as the list of its parts' types."""
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    parts = (
        node.get("normalizers") or node.get("pretokenizers") or node.get("processors") or node.get("decoders")
    )
    if isinstance(parts, list):
        return [_stage(p) for p in parts]
    return kind


def _format(view: TokenizerView) -> tuple[str, dict[str, Any], str, dict[str, set[str]]]:
    """(format name, pipeline stages, byte fallback, roles the file declares by content)."""
    from tokenizers_lab.tokenizer import HFView, SentencePieceView, TiktokenView

    declared: dict[str, set[str]] = {}
    name = Path(view.source).name
    if isinstance(view, HFView):
        j = view._json
        model = j.get("model", {})
        pipeline = {k: _stage(j.get(k)) for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder")}
        if model.get("byte_fallback"):
            fallback = "<0xNN> pieces"
        elif view.convention == "bytelevel":
            fallback = "byte-level"
        else:
            fallback = "none (UNK)"
        for content, role in _template_specials(j.get("post_processor")):
            declared.setdefault(content, set()).add(role)
        src = Path(view.source)
        _roles_from_config((src if src.is_dir() else src.parent) / "tokenizer_config.json", declared)
        if name.endswith((".json", ".json.gz")):
            fmt = "tokenizer.json"
        else:
            fmt = "vocab.json + merges.txt" if src.is_dir() else f"BERT {name}"
        return fmt, pipeline, fallback, declared
    if isinstance(view, SentencePieceView):
        p, n = view.proto, view.proto.normalizer_spec
        t = p.trainer_spec
        pipeline = {
            "normalizer": n.name or None,
            "add_dummy_prefix": bool(n.add_dummy_prefix),
            "remove_extra_whitespaces": bool(n.remove_extra_whitespaces),
            "split_digits": bool(t.split_digits),
        }
        for role, i in (("unk", t.unk_id), ("bos", t.bos_id), ("eos", t.eos_id), ("pad", t.pad_id)):
            piece = view.id_to_token(i) if i >= 0 else None
            if piece is not None:
                declared.setdefault(piece, set()).add(role)
        return "SentencePiece model", pipeline, "<0xNN> pieces" if t.byte_fallback else "none (UNK)", declared
    assert isinstance(view, TiktokenView)
    pipeline = {"pattern": view.pattern, "nfc": view.nfc}
    fmt = "tekken JSON" if name.endswith(".json") else f"tiktoken ranks ({view.preset})"
    return fmt, pipeline, "byte-level", declared


def _template_specials(node: Any) -> list[tuple[str, str]]:
    """(content, role) of the special tokens a TemplateProcessing post-processor adds: the first of
    the single template is bos (cls for BERT-style), the last eos (sep)."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        return [x for p in node.get("processors", []) for x in _template_specials(p)]
    if node.get("type") == "BertProcessing":
        return [(node["cls"][0], "cls"), (node["sep"][0], "sep")]
    if node.get("type") != "TemplateProcessing":
        return []
    single = [x["SpecialToken"]["id"] for x in node.get("single", []) if "SpecialToken" in x]
    if not single:
        return []
    bert = "[CLS]" in single
    out = [(single[0], "cls" if bert else "bos")]
    if len(single) > 1 or single[-1] != single[0]:
        out.append((single[-1], "sep" if bert else "eos"))
    return out


def _roles_from_config(path: Path, declared: dict[str, set[str]]) -> None:
    """bos_token, eos_token, … of a tokenizer_config.json beside the tokenizer (strings or
    AddedToken dicts); a config that is missing or unreadable adds nothing."""
    try:
        cfg = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(cfg, dict):
        return
    for role in ROLES:
        v = cfg.get(f"{role}_token")
        content = v.get("content") if isinstance(v, dict) else v
        if isinstance(content, str):
            declared.setdefault(content, set()).add(role)


def _specials(view: TokenizerView, declared: dict[str, set[str]]) -> tuple[Special, ...]:
    out = []
    specials = dict(view.special_tokens)
    for content in declared:  # a declared role on a token the file does not mark special (e.g. <s>)
        i = _id_of(view, content)
        if i is not None:
            specials.setdefault(content, i)
    for content, i in sorted(specials.items(), key=lambda t: t[1]):
        if content in declared:
            roles, source = tuple(r for r in ROLES if r in declared[content]), "file"
        else:
            roles, source = tuple(r for r, rx in _ROLE_BY_NAME if rx.search(content))[:1], "name"
        out.append(Special(i, content, roles, source if roles else ""))
    return tuple(out)


def _id_of(view: TokenizerView, content: str) -> int | None:
    specials = view.special_tokens
    if content in specials:
        return specials[content]
    from tokenizers_lab.tokenizer import HFView, SentencePieceView

    if isinstance(view, HFView):
        return view._vocab.get(content)
    if isinstance(view, SentencePieceView):
        i = view.sp.piece_to_id(content)
        return i if view.id_to_token(i) == content else None
    return None
