"""SentencePiece .model files: the view, the protobuf reader and BPE merges from piece scores."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from tokenizers_lab.errors import InputError, LabError
from tokenizers_lab.tokenizer.align import Aligned, Spans, byte_spans_to_chars, line_starts
from tokenizers_lab.tokenizer.base import TokenizerView, threads
from tokenizers_lab.tokenizer.bytelevel import Splitter, metaspace_to_bytes


class SentencePieceView(TokenizerView):
    """A `sentencepiece.SentencePieceProcessor` over a .model file."""

    backend = "sentencepiece"

    def __init__(self, data: bytes, label: str, source: str, fingerprint: str) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(data)
        except Exception as e:  # noqa: BLE001 - sentencepiece raises RuntimeError/OSError on bad protos
            raise InputError(f"cannot load SentencePiece model {source}: {str(e).splitlines()[0]}") from None
        self.proto = load_spm_proto(data)
        mtype = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}.get(
            self.proto.trainer_spec.model_type, "unigram"
        )
        super().__init__(label, source, fingerprint, mtype)
        n = self.sp.get_piece_size()
        self._pieces = [self.sp.id_to_piece(i) for i in range(n)]
        self._special_ids = {i for i in range(n) if self.sp.is_control(i) or self.sp.is_unknown(i)}
        self._specials = {self._pieces[i]: i for i in sorted(self._special_ids)}

    def __getstate__(self) -> dict[str, Any]:
        # the processor and the parsed proto do not pickle: ship the model bytes (to workers)
        state = {k: v for k, v in self.__dict__.items() if k not in ("sp", "proto")}
        state["_model"] = self.sp.serialized_model_proto()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import sentencepiece as spm

        data = state.pop("_model")
        self.__dict__.update(state)
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(data)
        self.proto = load_spm_proto(data)

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def id_to_token(self, token_id: int) -> str | None:
        return self._pieces[token_id] if 0 <= token_id < len(self._pieces) else None

    @property
    def unk_id(self) -> int | None:
        unk = self.sp.unk_id()
        return unk if unk >= 0 else None

    def token_bytes(self, token_id: int) -> bytes | None:
        if token_id in self._special_ids or not 0 <= token_id < len(self._pieces):
            return None
        if self.sp.is_byte(token_id):
            return metaspace_to_bytes(self._pieces[token_id])
        return self._pieces[token_id].replace("\u2581", " ").encode("utf-8")

    def _encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def _encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts), num_threads=threads())

    @cached_property
    def _no_prefix(self) -> Any:
        if not self.proto.normalizer_spec.add_dummy_prefix:
            return self.sp
        import sentencepiece as spm

        proto = load_spm_proto(self.proto.SerializeToString())
        proto.normalizer_spec.add_dummy_prefix = False
        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(proto.SerializeToString())
        return sp

    def encode_no_prefix_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._no_prefix.encode(list(texts), num_threads=threads())

    def encode_aligned(self, texts: Sequence[str]) -> Aligned:
        import numpy as np

        # Piece bytes laid end to end spell the text unless the normalizer changed it; only those
        # lines go through sentencepiece's (slower) span-reporting proto output.
        texts = list(texts)
        al = Aligned.from_byte_lengths(texts, *self.encode_flat(texts), self.byte_lengths)
        bad = np.nonzero(~al.line_ok)[0]
        if bad.size:
            fixed = self._proto_spans([texts[k] for k in bad])
            base = line_starts(texts)
            for k, (_, sp) in zip(bad.tolist(), fixed):
                if sp is None:
                    continue
                if al.counts[k] == sp[0].size:
                    al.set_line_spans(k, sp[0] + base[k], sp[1] + base[k])
        return al

    def _proto_spans(self, texts: Sequence[str]) -> list[tuple[list[int], Spans | None]]:
        import numpy as np

        # sentencepiece reports each piece's byte span in the original (unnormalized) text.
        out = []
        for text, proto in zip(
            texts, self.sp.encode(list(texts), return_type="proto", num_threads=threads())
        ):
            pieces = proto.pieces
            ids = [p.id for p in pieces]
            b = np.array([(p.begin, p.end) for p in pieces], dtype=np.int64).reshape(-1, 2)
            out.append((ids, byte_spans_to_chars(text, b[:, 0], b[:, 1])))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode(list(ids))

    def merges(self) -> list[tuple[bytes, bytes]]:
        if self.model_type != "bpe":
            return super().merges()
        return [
            (metaspace_to_bytes(a), metaspace_to_bytes(b)) for a, b in spm_bpe_merges(spm_pieces(self.proto))
        ]


def load_spm_proto(data: bytes) -> Any:
    """Parse a SentencePiece ModelProto (needs protobuf)."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError as e:  # protobuf missing
        raise LabError(f"reading SentencePiece models needs protobuf: {e}") from None
    proto = pb.ModelProto()  # type: ignore[attr-defined]  # generated protobuf module, no stubs
    try:
        proto.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf DecodeError
        raise InputError("not a SentencePiece model (protobuf parse failed)") from None
    return proto


def spm_bpe_merges(pieces: Sequence[tuple[str, float, int]]) -> list[tuple[str, str]]:
    """Merges of a SentencePiece BPE model from its (piece, score, type) list: each normal piece's
    splits, in piece-score order."""
    normal = [(p, score, i) for i, (p, score, kind) in enumerate(pieces) if kind == 1]
    rank = {piece: i for i, (piece, _, _) in enumerate(sorted(normal, key=lambda t: (-t[1], t[2])))}
    merges = []
    points = Splitter(rank).points
    for piece, r in rank.items():  # order: merged piece's rank, then left, then right rank
        for k in points(piece):
            merges.append(((r << 42) | (rank[piece[:k]] << 21) | rank[piece[k:]], k, piece))
    merges.sort()  # keys are unique: ints decide
    return [(piece[:k], piece[k:]) for _, k, piece in merges]


def spm_pieces(proto: Any) -> list[tuple[str, float, int]]:
    """A ModelProto's (piece, score, type) list, read once (each access to a protobuf field costs)."""
    return [(p.piece, p.score, p.type) for p in proto.pieces]
