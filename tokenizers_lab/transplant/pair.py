"""The transplant's two tokenizers: the old one (the model folder's own) and the new one, with the
chat template kept, replaced or dropped and the special tokens the kept template needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers_lab.errors import InputError, UsageError
from tokenizers_lab.tokenizer import HFView, TokenizerView, load_tokenizer
from tokenizers_lab.tokenizer.convert import hf_tokenizer
from tokenizers_lab.transplant.checkpoint import Checkpoint
from tokenizers_lab.transplant.config import TINY, TransplantConfig
from tokenizers_lab.transplant.vocab import Vocab, build_vocab, role_hints_from_folder


@dataclass
class Pair:
    old_view: TokenizerView
    new_view: TokenizerView
    new_hf: Any  # the new tokenizer as a tokenizers.Tokenizer (what the new folder holds)
    template: str | None  # the chat template the new folder gets
    added: list[str]  # special tokens added to the new tokenizer for the kept template
    notes: list[str]

    def vocabs(self, ck: Checkpoint, config: TransplantConfig) -> tuple[Vocab, Vocab]:
        """Both vocabularies in the canonical byte space, special tokens by role."""
        new_path = Path(config.tokenizer)
        old = build_vocab(self.old_view, _config_role_hints(ck.folder, ck.config, self.old_view))
        new = build_vocab(self.new_view, role_hints_from_folder(new_path) if new_path.is_dir() else {})
        return old, new


def read_pair(config: TransplantConfig, ck: Checkpoint) -> Pair:
    old_view = load_tokenizer(str(ck.folder))
    if config.model == TINY:  # trained in a temporary folder: name it, not the folder
        old_view.source = TINY
    if old_view.vocab_size > ck.rows:
        raise InputError(
            f"the model's tokenizer has {old_view.vocab_size} ids but its embeddings only "
            f"{ck.rows} rows: tokenizer and weights do not belong together"
        )
    new_path = Path(config.tokenizer)
    new_view = load_tokenizer(config.tokenizer, config.pattern)
    pair = Pair(old_view, new_view, hf_tokenizer(new_view), None, [], old_view.notes + new_view.notes)
    old_template = _old_template(ck.folder)
    if config.chat_template == "keep" and old_template is not None:
        pair.template = old_template
        order = old_view.special_tokens
        missing = [
            s
            for s in sorted(order, key=lambda s: order[s])
            if s in old_template and s not in new_view.special_tokens
        ]
        if missing:
            pair.new_view, pair.new_hf = _with_added_specials(new_view, pair.new_hf, missing)
            pair.added = missing
    elif config.chat_template == "keep":
        pair.notes.append("the model has no chat template to keep")
    elif config.chat_template == "new":
        pair.template = _old_template(new_path) if new_path.is_dir() else None
        if pair.template is None:
            raise UsageError("--chat-template new: the new tokenizer folder has no chat template")
    return pair


def _old_template(folder: Path) -> str | None:
    f = folder / "chat_template.jinja"
    if f.is_file():
        return f.read_text("utf-8")
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            t = json.loads(cfg.read_text("utf-8")).get("chat_template")
        except ValueError:
            return None
        if isinstance(t, str):
            return t
        if isinstance(t, list):  # named templates: the default one
            return next((x.get("template") for x in t if x.get("name") == "default"), None)
    return None


def _config_role_hints(folder: Path, config: dict[str, Any], view: TokenizerView) -> dict[str, str]:
    hints = role_hints_from_folder(folder)
    for role in ("bos", "eos", "pad", "unk"):
        i = config.get(f"{role}_token_id")
        if isinstance(i, list):
            i = i[0] if i else None
        if isinstance(i, int) and role not in hints:
            s = view.id_to_token(i)
            if s is not None:
                hints[role] = s
    return hints


def _with_added_specials(view: TokenizerView, hf: Any, contents: list[str]) -> tuple[TokenizerView, Any]:
    """The new tokenizer with some special tokens appended (kept from the old chat template)."""
    from tokenizers import AddedToken

    hf.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in contents])
    out = HFView(hf, view.label, view.source, view.fingerprint)
    out.nbytes = view.nbytes
    return out, hf
