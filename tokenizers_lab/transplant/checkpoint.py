"""A local Hugging Face model folder read through safetensors only: config, the input and output
embedding tensors, tied or untied. Pickle checkpoints and remote code are refused, never run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers_lab.errors import InputError, MissingExtraError

# Input embedding tensors of common architectures, most specific first.
INPUT_NAMES = (
    "model.embed_tokens.weight",
    "transformer.wte.weight",
    "gpt_neox.embed_in.weight",
    "model.decoder.embed_tokens.weight",
    "transformer.word_embeddings.weight",
    "embeddings.word_embeddings.weight",
    "bert.embeddings.word_embeddings.weight",
    "model.language_model.embed_tokens.weight",
    "tok_embeddings.weight",
    "embed_tokens.weight",
    "wte.weight",
)
OUTPUT_NAMES = ("lm_head.weight", "embed_out.weight", "output.weight", "model.lm_head.weight")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def torch_modules() -> tuple[Any, Any]:
    """torch and safetensors.torch, or an error naming the extra."""
    try:
        import safetensors.torch
        import torch
    except ImportError:
        raise MissingExtraError(
            "transplant needs the torch extra: pip install 'tokenizers-lab[torch]'"
        ) from None
    return torch, safetensors.torch


def quiet_transformers() -> None:
    """transformers prints progress bars and advice on loading; the library never prints."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@dataclass
class Checkpoint:
    """What transplant needs to know about a model folder, without loading its weights."""

    folder: Path
    config: dict[str, Any]
    shards: list[Path]
    index: dict[str, Any] | None
    tensor_shard: dict[str, Path]
    input_name: str
    output_name: str | None
    tied: bool
    rows: int
    dim: int
    dtype: str
    bytes: int
    extra_files: list[Path] = field(default_factory=list)

    def tensor(self, name: str) -> Any:
        """One tensor, read through safetensors (float32 torch tensor)."""
        torch, _ = torch_modules()
        from safetensors import safe_open

        with safe_open(str(self.tensor_shard[name]), framework="pt") as f:
            return f.get_tensor(name).to(torch.float32)

    def input_embeddings(self) -> Any:
        return self.tensor(self.input_name)

    def output_embeddings(self) -> Any | None:
        """The output embedding matrix when untied, else None."""
        if self.tied or self.output_name is None:
            return None
        return self.tensor(self.output_name)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a JSON object")
    return data


def refuse_remote_code(folder: Path, config: dict[str, Any]) -> None:
    """Models that need their own Python code are refused: it would have to be trusted and run."""
    code = sorted(p.name for p in folder.glob("*.py"))
    if config.get("auto_map") or code:
        what = f"ships {code[0]}" if code else "declares auto_map"
        raise InputError(f"{folder} {what}: remote-code models are refused (their code is never run)")


def open_checkpoint(folder: Path | str, role: str = "model") -> Checkpoint:
    """Inspect a model folder: config.json, safetensors shards, embedding tensors, tying."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{role} folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{role} {folder} is not a folder (expected a Hugging Face model folder)")
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder} has no config.json: not a Hugging Face model folder")
    config = _json(folder / "config.json")
    refuse_remote_code(folder, config)
    index = None
    if (folder / "model.safetensors.index.json").is_file():
        index = _json(folder / "model.safetensors.index.json")
        names = sorted(set((index.get("weight_map") or {}).values()))
        shards = [folder / n for n in names]
        missing = [s.name for s in shards if not s.is_file()]
        if not shards or missing:
            raise InputError(
                f"{folder}: the safetensors index names missing shard {missing[0] if missing else '?'}"
            )
    else:
        shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise InputError(
                f"{folder} holds only a pickle checkpoint ({pickles[0]}); it is never unpickled — "
                "convert it to safetensors first"
            )
        raise InputError(f"{folder} has no safetensors weights")
    torch_modules()
    from safetensors import SafetensorError, safe_open

    tensor_shard: dict[str, Path] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    total = 0
    for shard in shards:
        total += shard.stat().st_size
        try:
            with safe_open(str(shard), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open is not iterable)
                    if name in tensor_shard:  # e.g. a consolidated.safetensors beside the shards, no index
                        raise InputError(
                            f"{folder}: tensor {name} is in both {tensor_shard[name].name} and "
                            f"{shard.name}; keep one copy of the weights (or the index that names them)"
                        )
                    sl = f.get_slice(name)
                    tensor_shard[name] = shard
                    shapes[name] = tuple(sl.get_shape())
                    dtypes[name] = sl.get_dtype()
        except (SafetensorError, OSError, ValueError) as e:
            raise InputError(f"cannot read {shard}: {str(e).splitlines()[0]}") from None
    input_name = next((n for n in INPUT_NAMES if n in shapes and len(shapes[n]) == 2), None)
    vocab = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    if input_name is None:  # an unlisted architecture: a 2-D 'embed' tensor with vocab_size rows
        cands = [
            n
            for n, s in shapes.items()
            if len(s) == 2 and ("embed" in n or "wte" in n) and (vocab is None or s[0] == vocab)
        ]
        input_name = cands[0] if len(cands) == 1 else None
    if input_name is None:
        raise InputError(f"{folder}: no input embeddings found in the safetensors weights")
    rows, dim = shapes[input_name]
    output_name = next((n for n in OUTPUT_NAMES if n in shapes and shapes[n] == (rows, dim)), None)
    tie = config.get("tie_word_embeddings")
    if tie is None:
        tie = (config.get("text_config") or {}).get("tie_word_embeddings")
    if tie is None:
        tie = output_name is None
    causal = any("CausalLM" in a for a in config.get("architectures") or [])
    if not tie and output_name is None and causal:
        raise InputError(
            f"{folder}: config says the embeddings are untied but there is no lm_head in the weights"
        )
    extra = [p for p in sorted(folder.iterdir()) if p.is_file() and p not in shards]
    return Checkpoint(
        folder,
        config,
        shards,
        index,
        tensor_shard,
        input_name,
        output_name,
        bool(tie),
        rows,
        dim,
        dtypes[input_name],
        total,
        extra,
    )
