"""The raw-library baseline of bench/audit.py: the encodes a premium/compression pass needs
(per-sentence ids and the joined-text count of every language), called directly."""

from __future__ import annotations

import json
import os
import sys
import time

from tokenizers_lab.parallel import load_parallel
from tokenizers_lab.tokenizer import load_tokenizer


def main() -> None:
    spec, *folders = sys.argv[1:]
    view = load_tokenizer(spec)  # only to construct the library object; not timed
    par = load_parallel(folders)
    threads = os.cpu_count() or 1
    t0 = time.perf_counter()
    total = 0
    for lang in par.languages:
        lines, joined = par.lines[lang], par.joined(lang)
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
