"""SentencePiece trainers (`spm-bpe`, `spm-unigram`, `spm-char`), written as .model and tokenizer.json."""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Sequence
from typing import Any

from tokenizers_lab.errors import LabError, UsageError
from tokenizers_lab.records import MAX_RECORD_BYTES
from tokenizers_lab.train.common import TrainOut
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import AFTER_TRAINING, Prepared, train_native

# the model proto (protobuf) is read after training, to make the tokenizer.json: imported meanwhile
AFTER_SPM = (*AFTER_TRAINING, "sentencepiece.sentencepiece_model_pb2")


def train_spm(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    import sentencepiece as spm

    from tokenizers_lab.tokenizer.convert import spm_to_hf

    model_type = {"spm-bpe": "bpe", "spm-unigram": "unigram", "spm-char": "char"}[config.algorithm]
    norm = {
        "none": "identity",
        "nfc": "nfkc",
        "nfkc": "nfkc",
        "nfkc-lower": "nfkc_cf",
        "lower": "nmt_nfkc_cf",
    }
    specials = config.specials()
    out = {}
    for v in sizes:
        buf = io.BytesIO()
        kwargs: dict[str, Any] = dict(
            input=[str(p) for p in prep.train_paths],
            model_writer=buf,
            model_type=model_type,
            vocab_size=v,
            character_coverage=config.character_coverage,
            byte_fallback=True,
            num_threads=config.threads or os.cpu_count() or 1,
            minloglevel=2,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            normalization_rule_name=norm[config.normalization],
            remove_extra_whitespaces=False,
            split_digits=config.split_digits,
            # it skips, silently, every sentence over its limit: no record tokenlab reads is
            max_sentence_length=MAX_RECORD_BYTES + 1,
            max_sentencepiece_length=config.max_token_length or 16,
            allow_whitespace_only_pieces=True,
            unk_piece=specials[0] if specials else "<unk>",
            bos_piece=specials[1] if len(specials) > 1 else "<s>",
            eos_piece=specials[2] if len(specials) > 2 else "</s>",
            user_defined_symbols=list(specials[3:]),
            hard_vocab_limit=model_type != "char",
        )
        if model_type == "char":
            kwargs.pop("max_sentencepiece_length")
        try:
            train_native(
                functools.partial(spm.SentencePieceTrainer.train, **kwargs), prep=prep, after=AFTER_SPM
            )
        except RuntimeError as e:
            msg = str(e).splitlines()[0]
            need = re.search(r"(\d+) vs (\d+)", msg)
            if need and "required_chars" in msg:
                raise UsageError(
                    f"vocab size {v} is below the alphabet of this corpus: {config.algorithm} needs "
                    f"at least {need.group(2)} pieces at --character-coverage "
                    f"{config.character_coverage}"
                ) from None
            if "Vocabulary size" in msg or "vocab_size" in msg:
                raise UsageError(
                    f"vocab size {v} does not fit this corpus for {config.algorithm}: "
                    f"{msg.split(']')[-1].strip()}"
                ) from None
            raise LabError(f"sentencepiece failed: {msg}") from None
        model = _stable_spm(buf.getvalue())
        tok = spm_to_hf(model)
        sp = spm.SentencePieceProcessor(model_proto=model)
        agree = sum(sp.encode(t) == tok.encode(t, add_special_tokens=False).ids for t in prep.heldout)
        checks = {"hf_agreement": agree / len(prep.heldout) if prep.heldout else None}
        out[v] = (tok, {"tokenizer.model": model}, checks)
    return out


def _stable_spm(model: bytes) -> bytes:
    """Drop the temporary input path sentencepiece records, so same input -> same bytes."""
    from tokenizers_lab.tokenizer import load_spm_proto

    proto = load_spm_proto(model)
    del proto.trainer_spec.input[:]
    proto.trainer_spec.input.append("train.txt")
    return proto.SerializeToString(deterministic=True)
