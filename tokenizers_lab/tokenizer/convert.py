"""Any tokenizer as a `tokenizers.Tokenizer` (to save as tokenizer.json): SentencePiece models
(so every trained artifact loads in stock `tokenizers`) and tiktoken ranks as a byte-level BPE."""

from __future__ import annotations

from typing import Any

from tokenizers_lab.errors import InputError
from tokenizers_lab.patterns import METASPACE_WORDS
from tokenizers_lab.tokenizer.base import TokenizerView
from tokenizers_lab.tokenizer.bytelevel import Splitter, bytes_to_bytelevel
from tokenizers_lab.tokenizer.hf import HFView
from tokenizers_lab.tokenizer.ranks import TiktokenView
from tokenizers_lab.tokenizer.spm import SentencePieceView, load_spm_proto, spm_bpe_merges, spm_pieces


def spm_to_hf(model_bytes: bytes) -> Any:
    """Build a `tokenizers.Tokenizer` equivalent to a SentencePiece model (BPE, Unigram or char).

    Whitespace becomes ▁ with a dummy prefix as the model's normalizer spec says; byte pieces
    feed a ByteFallback decoder; a non-empty precompiled charsmap becomes a Precompiled normalizer.
    Segmentations can differ from sentencepiece on ties; callers measure the agreement.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    proto = load_spm_proto(model_bytes)
    pieces = spm_pieces(proto)
    unk_id = next((i for i, (_, _, t) in enumerate(pieces) if t == 2), 0)
    byte_fallback = any(t == 6 for _, _, t in pieces)
    if proto.trainer_spec.model_type == 2:  # BPE
        vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
        tok = Tokenizer(
            models.BPE(
                vocab,
                spm_bpe_merges(pieces),
                unk_token=pieces[unk_id][0],
                fuse_unk=True,
                byte_fallback=byte_fallback,
            )
        )
    else:  # unigram and char: Viterbi over scored pieces
        tok = Tokenizer(models.Unigram([(p, s) for p, s, _ in pieces], unk_id, byte_fallback))
    norm: list[normalizers.Normalizer] = []
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


def hf_tokenizer(view: TokenizerView) -> Any:
    """The tokenizer as a `tokenizers.Tokenizer`: tokenizer.json models as they are, SentencePiece
    models through spm_to_hf, tiktoken ranks as a byte-level BPE with their merges and regex."""
    from tokenizers import Tokenizer

    if isinstance(view, HFView):
        return Tokenizer.from_str(view.tok.to_str())
    if isinstance(view, SentencePieceView):
        return spm_to_hf(view.proto.SerializeToString())
    if isinstance(view, TiktokenView):
        return _tiktoken_to_hf(view)
    raise InputError(f"cannot express {view.label} as a tokenizer.json")


def _tiktoken_to_hf(view: TiktokenView) -> Any:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    off = view.id_offset
    ranks = view._ranks
    vocab = {bytes_to_bytelevel(b): r + off for b, r in ranks.items()}
    # an id no rank holds (a tokenizer.json exported with its special token at id 0, cl100k's
    # 100256) keeps its place as a token no text can produce: byte-level strings never hold NUL
    for j in sorted(set(range(max(vocab.values()) + 1)) - set(vocab.values())):
        vocab[f"\x00tokenlab_hole_{j}"] = j
    # tiktoken merges whichever adjacent pair concatenates to the lowest-ranked token, however it
    # is split; a BPE merge list names one split per token. Listing every split of every token,
    # ranked by the token, makes the two agree (the one-split list of merges_from_ranks differs
    # on ~1 % of lines, e.g. Czech "ující").
    splitter = Splitter(ranks)
    splits = [(r, k, tok_bytes) for tok_bytes, r in ranks.items() for k in splitter.points(tok_bytes)]
    splits.sort()
    merges = [(bytes_to_bytelevel(t[:k]), bytes_to_bytelevel(t[k:])) for _, k, t in splits]
    # tiktoken returns a whole piece that is itself a token without merging: ignore_merges.
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    if view.nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(view.pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    n = tok.get_vocab_size()
    if n != max(vocab.values()) + 1:
        raise InputError(f"{view.label}: the ranks have holes; cannot express it as a tokenizer.json")
    for content, i in sorted(view.special_tokens.items(), key=lambda kv: kv[1]):
        if i < n:
            raise InputError(f"{view.label}: special token {content} has id {i}, already taken")
        # ids skipped before a special (cl100k has none at 100256) are held by unused placeholders
        tok.add_special_tokens(
            [AddedToken(f"<|tokenlab_unused_{j}|>", special=True, normalized=False) for j in range(n, i)]
        )
        tok.add_special_tokens([AddedToken(content, special=True, normalized=False)])
        n = i + 1
    return tok
