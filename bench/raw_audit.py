"""The raw-library baselines of bench/audit.py: the encodes a premium/compression pass needs
(per-sentence ids and the joined-text count of every language), called directly, with the
format's own library (tokenizers, tiktoken, sentencepiece) or with gigatoken (`--gigatoken`;
its tokenizer is built from the same file, exactly as tokenlab builds it, and not timed).
Usage: raw_audit.py [--gigatoken] TOKENIZER FOLDER..."""

from __future__ import annotations

import json
import os
import sys
import time

from tokenizers_lab.parallel import load_parallel
from tokenizers_lab.tokenizer import load_tokenizer


def main() -> None:
    args = sys.argv[1:]
    giga = args[0] == "--gigatoken"
    spec, *folders = args[1:] if giga else args
    view = load_tokenizer(spec)  # only to construct the library object; not timed
    par = load_parallel(folders)
    threads = os.cpu_count() or 1
    g = None
    if giga:
        from tokenizers_lab.native import silenced
        from tokenizers_lab.tokenizer.fast import _build, _recipe

        recipe = _recipe(view)
        if isinstance(recipe, str):
            raise SystemExit(f"gigatoken cannot encode {spec}: {recipe}")
        with silenced((1, 2)):
            g = _build(*recipe[:3])
        import awkward as ak
    t0 = time.perf_counter()
    total = 0
    for lang in par.languages:
        lines, joined = par.lines[lang], par.joined(lang)
        if g is not None:  # its fastest batch call: an array result, no Python list per line
            total += int(ak.sum(ak.num(g.encode_batch([view.prepare(t) for t in lines]))))
            total += len(g.encode(view.prepare(joined)))
            continue
        if view.backend == "tiktoken":
            ids = view.enc.encode_ordinary_batch(lines, num_threads=threads)
            total += len(view.enc.encode_ordinary(joined))
        elif view.backend == "hf":
            ids = [e.ids for e in view.tok.encode_batch_fast(lines, add_special_tokens=False)]
            total += len(view.tok.encode(joined, add_special_tokens=False).ids)
        else:
            ids = view.sp.encode(lines, num_threads=threads)
            total += len(view.sp.encode(joined))
        total += sum(map(len, ids))
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "tokens": total,
                "bytes": sum(len(s.encode()) for v in par.lines.values() for s in v),
            }
        )
    )


if __name__ == "__main__":
    main()
