"""SentencePiece model -> HF tokenizer.json, so every trained artifact loads in stock `tokenizers`."""

from __future__ import annotations

from typing import Any

from tokenizers_lab.patterns import METASPACE_WORDS
from tokenizers_lab.tokenizer import load_spm_proto, spm_bpe_merges


def spm_to_hf(model_bytes: bytes) -> Any:
    """Build a `tokenizers.Tokenizer` equivalent to a SentencePiece model (BPE, Unigram or char).

    Whitespace becomes ▁ with a dummy prefix as the model's normalizer spec says; byte pieces
    feed a ByteFallback decoder; a non-empty precompiled charsmap becomes a Precompiled normalizer.
    Segmentations can differ from sentencepiece on ties; callers measure the agreement.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    proto = load_spm_proto(model_bytes)
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    unk_id = next((i for i, (_, _, t) in enumerate(pieces) if t == 2), 0)
    byte_fallback = any(t == 6 for _, _, t in pieces)
    if proto.trainer_spec.model_type == 2:  # BPE
        vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
        tok = Tokenizer(models.BPE(vocab, spm_bpe_merges(proto), unk_token=pieces[unk_id][0],
                                   fuse_unk=True, byte_fallback=byte_fallback))
    else:  # unigram and char: Viterbi over scored pieces
        tok = Tokenizer(models.Unigram([(p, s) for p, s, _ in pieces], unk_id, byte_fallback))
    norm = []
    if proto.normalizer_spec.precompiled_charsmap:
        norm.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    if proto.normalizer_spec.add_dummy_prefix:
        norm.append(normalizers.Prepend("\u2581"))
    norm.append(normalizers.Replace(" ", "\u2581"))
    tok.normalizer = normalizers.Sequence(norm)
    if proto.trainer_spec.model_type != 2 and proto.trainer_spec.split_by_whitespace:
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(METASPACE_WORDS), behavior="isolated")
    dec = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if proto.normalizer_spec.add_dummy_prefix:
        dec.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(dec)
    tok.add_special_tokens([AddedToken(p, special=True) for p, _, t in pieces if t in (2, 3)])
    return tok
