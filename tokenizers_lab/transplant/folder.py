"""The new model folder: rewritten safetensors and index, config ids, the new tokenizer's files,
what else of the old folder is carried (settings, documentation) and what is left out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tokenizers_lab.errors import InputError, OutputExistsError
from tokenizers_lab.outputs import install_folder
from tokenizers_lab.transplant.checkpoint import Checkpoint
from tokenizers_lab.transplant.vocab import (
    Vocab,
)

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
)


REWRITTEN = ("config.json", "generation_config.json", "model.safetensors.index.json")


# What else of the model folder travels to the new one: settings (JSON) and documentation or
# licence files. Everything else is left out, and named in a note: pickles (never copied: loading
# one runs code), weights in any other format or file (they still hold the old vocabulary's rows,
# e.g. a consolidated.safetensors beside the indexed shards) and their indexes, the old
# tokenizer's own files, code, and any file of a kind not listed here.
CARRIED_SUFFIXES = (".json", ".md", ".txt", ".rst")


CARRIED_NAMES = ("README", "LICENSE", "LICENCE", "NOTICE", "COPYING", "USE_POLICY", ".gitattributes")


OLD_TOKENIZER_SUFFIXES = (".model", ".tiktoken", ".vocab")


OLD_TOKENIZER_NAMES = ("tekken.json", "tokenizer.json.gz", "vocab.json", "merges.txt", "vocab.txt")


def move_into_place(stage: Path, out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to replace it")
    install_folder(stage, out, force)


def new_config_ids(config: dict[str, Any], old: Vocab, new: Vocab, src: list[int | None]) -> dict[str, Any]:
    """bos/eos/pad/unk ids for the new config: the old ids carried over where their token came
    along, else the new tokenizer's own token of that role, else none."""
    old_to_new: dict[int, int] = {}
    for i, j in enumerate(src):
        if j is not None and old.keys[j] is None and j not in old_to_new:
            old_to_new[j] = i
    out: dict[str, Any] = {}
    for role in ("bos", "eos", "pad", "unk"):
        v = config.get(f"{role}_token_id")
        if isinstance(v, list):
            mapped = [old_to_new[x] for x in v if x in old_to_new]
            out[role] = mapped or ([new.roles[role]] if role in new.roles else None)
        elif isinstance(v, int) and v in old_to_new:
            out[role] = old_to_new[v]
        else:
            out[role] = new.roles.get(role)
    if out["pad"] is None:
        out["pad"] = out["eos"][0] if isinstance(out["eos"], list) else out["eos"]
    return out


def carried_files(ck: Checkpoint) -> tuple[list[Path], list[str]]:
    """The model folder's other files that the new folder keeps, and what is left out (with why)."""
    from tokenizers_lab.transplant.checkpoint import PICKLE_SUFFIXES

    keep, left = [], []
    for f in ck.extra_files:
        name, suffix = f.name, f.suffix.lower()
        if name in TOKENIZER_FILES or name in REWRITTEN or name.startswith("transplant."):
            continue  # replaced by the new tokenizer's, rewritten, or our own report
        if suffix in PICKLE_SUFFIXES:
            left.append(f"{name} (a pickle: never copied)")
        elif (
            suffix == ".safetensors"
            or name.endswith(".index.json")
            or suffix in (".h5", ".msgpack", ".onnx", ".gguf", ".tflite", ".npz", ".npy", ".ot")
        ):
            left.append(f"{name} (weights or an index for the old vocabulary)")
        elif suffix in OLD_TOKENIZER_SUFFIXES or name in OLD_TOKENIZER_NAMES or name.startswith("tokenizer"):
            left.append(f"{name} (the old tokenizer's)")
        elif (
            suffix in CARRIED_SUFFIXES or name.split(".")[0].upper() in CARRIED_NAMES or name in CARRIED_NAMES
        ):
            keep.append(f)
        else:
            left.append(f"{name} (not a settings or documentation file)")
    return keep, left


def write_folder(
    stage: Path,
    ck: Checkpoint,
    new_in: np.ndarray,
    new_out: np.ndarray | None,
    rows: int,
    ids: dict[str, Any],
    new_hf: Any,
    new: Vocab,
    template: str | None,
    torch: Any,
    st: Any,
) -> None:
    from safetensors import SafetensorError, safe_open

    from tokenizers_lab.transplant.stio import rewrite

    sizes = 0
    for shard in ck.shards:
        replace = {}
        if ck.tensor_shard[ck.input_name] == shard:
            replace[ck.input_name] = torch.from_numpy(new_in)
        if ck.output_name is not None and ck.tensor_shard[ck.output_name] == shard:
            replace[ck.output_name] = torch.from_numpy(new_out if new_out is not None else new_in)
        sizes += rewrite(shard, stage / shard.name, replace)
        try:  # read back through the library: every tensor present, replaced ones with the new rows
            with safe_open(str(stage / shard.name), framework="pt") as f:
                for name in replace:
                    if tuple(f.get_slice(name).get_shape()) != (rows, ck.dim):
                        raise InputError(f"rewritten {shard.name}: {name} has the wrong shape")
        except SafetensorError as e:
            raise InputError(f"rewritten {shard.name} does not read back: {e}") from None
    if ck.index is not None:
        index = dict(ck.index)
        index["metadata"] = dict(index.get("metadata") or {}, total_size=sizes)
        (stage / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    cfg = dict(ck.config)
    target = (
        cfg["text_config"] if "vocab_size" not in cfg and isinstance(cfg.get("text_config"), dict) else cfg
    )
    target["vocab_size"] = rows
    for role in ("bos", "eos", "pad", "unk"):
        if f"{role}_token_id" in target or ids.get(role) is not None:
            target[f"{role}_token_id"] = ids.get(role)
    target["tie_word_embeddings"] = ck.tied
    (stage / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gen_path = ck.folder / "generation_config.json"
    if gen_path.is_file():
        try:
            gen = json.loads(gen_path.read_text("utf-8"))
        except ValueError:
            raise InputError(f"{gen_path} is not valid JSON") from None
        for role in ("bos", "eos", "pad"):
            if f"{role}_token_id" in gen:
                gen[f"{role}_token_id"] = ids.get(role)
        (stage / "generation_config.json").write_text(
            json.dumps(gen, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    for f in carried_files(ck)[0]:
        shutil.copyfile(f, stage / f.name)
    new_hf.save(str(stage / "tokenizer.json"))
    id_to = {i: s for s, i in new.specials.items()}

    def content(v: Any) -> str | None:
        if isinstance(v, list):
            v = v[0] if v else None
        return id_to.get(v) if isinstance(v, int) else None

    tcfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(ck.config.get("max_position_embeddings") or 1_000_000),
    }
    for role in ("bos", "eos", "pad", "unk"):
        c = content(ids.get(role))
        if c is not None:
            tcfg[f"{role}_token"] = c
    if template is not None:
        tcfg["chat_template"] = template
    (stage / "tokenizer_config.json").write_text(
        json.dumps(tcfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
