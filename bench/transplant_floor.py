"""The floor of a rows-only transplant: SmolLM2-135M scored on a new tokenizer's segmentation of
held-out text, each token SmolLM2 lacks spelled by SmolLM2's own split of its bytes -- what
perfectly fitted new rows would match (the ALM target). Bits per byte over the original's
(canonical SmolLM2 tokens) on the first 20 KB of FLORES devtest, documents as `--eval` cuts them.

Needs: the SmolLM2 folder bench/transplant.py converts (~/.cache/tokenlab/smollm2-135m-instruct).

Usage: python bench/transplant_floor.py [gpt2 qwen2 llama3/tokenizer.model ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOKENLAB_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
MODEL = Path(os.environ.get("TOKENLAB_CACHE", Path.home() / ".cache" / "tokenlab")) / "smollm2-135m-instruct"


def main() -> None:
    import torch

    from bench.transplant_gap import require_inputs, token_pieces
    from tokenizers_lab.tokenizer import load_tokenizer
    from tokenizers_lab.transplant.evaluate import bits_per_byte, documents, load_causal_lm

    names = sys.argv[1:] or ["gpt2", "qwen2", "llama3/tokenizer.model"]
    require_inputs(names)
    torch.set_num_threads(os.cpu_count() or 1)
    old = load_tokenizer(str(MODEL))
    model = load_causal_lm(MODEL)
    prefix = int(model.config.bos_token_id)
    text = (SHARED / "flores200/core_devtest/eng_Latn.devtest").read_text("utf-8")[:20000]
    docs = documents(text.splitlines())
    canonical = bits_per_byte(model, lambda ds: [old.encode(d) for d in ds], prefix, docs)
    for name in names:
        new = load_tokenizer(str(SHARED / "tokenizers" / name))

        pieces = token_pieces(old, new)[1]

        def spelled(ds: list[str], new=new, pieces=pieces) -> list[list[int]]:
            return [[i for t in new.encode(d) for i in pieces[t]] for d in ds]

        floor = bits_per_byte(model, spelled, prefix, docs)
        print(
            f"{name}: canonical {canonical.bpb:.4f}, new segmentation {floor.bpb:.4f}, floor ratio {floor.bpb / canonical.bpb:.4f}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
