"""Rewrite a safetensors file with a few tensors replaced, streaming: the safetensors library
writes only from a dict of every tensor in memory (the whole model), so the unchanged tensors'
bytes are copied range by range from the source file instead, and the result is checked by
reading it back with the library. Layout per the safetensors format: an 8-byte little-endian
header length, the JSON header (offsets relative to the data block), the data block."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from tokenizers_lab.errors import InputError

DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16"}
CHUNK = 1 << 22


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """(header, offset of the data block)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise InputError(f"{path} is not a safetensors file (truncated)")
        (n,) = struct.unpack("<Q", raw)
        if n > 100_000_000:
            raise InputError(f"{path} is not a safetensors file (header size {n})")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{path} is not a safetensors file (bad header)") from None
    return header, 8 + n


def tensor_buffer(t: Any) -> memoryview:
    """The raw little-endian bytes of a torch tensor of any dtype, without a copy when contiguous."""
    import torch

    return memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy())


def rewrite(src: Path, dst: Path, replace: dict[str, Any]) -> int:
    """Copy src to dst with the named tensors replaced (torch tensors, cast to each original
    dtype); returns the data bytes written."""
    import torch

    header, start = read_header(src)
    meta = header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    blobs: dict[str, memoryview] = {}
    new_header: dict[str, Any] = {}
    offset = 0
    for name in names:
        info = header[name]
        if name in replace:
            dt = DTYPES.get(info["dtype"])
            if dt is None:
                raise InputError(f"{src}: cannot rewrite tensor {name} of dtype {info['dtype']}")
            t = replace[name].to(getattr(torch, dt))
            blobs[name] = tensor_buffer(t)
            size, shape = blobs[name].nbytes, list(t.shape)
        else:
            b, e = info["data_offsets"]
            size, shape = e - b, info["shape"]
        new_header[name] = {"dtype": info["dtype"], "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if meta is not None:
        new_header["__metadata__"] = meta
    head = json.dumps(new_header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(struct.pack("<Q", len(head)))
        fout.write(head)
        for name in names:
            if name in blobs:
                fout.write(blobs.pop(name))
                continue
            b, e = header[name]["data_offsets"]
            fin.seek(start + b)
            left = e - b
            while left:
                chunk = fin.read(min(CHUNK, left))
                if not chunk:
                    raise InputError(f"{src} is truncated (tensor {name})")
                fout.write(chunk)
                left -= len(chunk)
    return offset
