"""The raw-library baseline of bench/train.py: the same training, called directly."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

CL100K = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _bytelevel_bpe(corpus: str, vocab: int, out: str, pre_tokenizer: object, lines: bool = False) -> None:
    """tokenizers' BpeTrainer with tokenlab's byte-level settings (256-byte alphabet, min
    frequency 2, <|endoftext|>), saved as tokenizer.json; `lines`: fed line by line through
    train_from_iterator (the documented way to train from Python data) instead of train([file])."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=2,
        show_progress=False,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    if lines:
        with open(corpus, encoding="utf-8") as f:
            tok.train_from_iterator(f, trainer)
    else:
        tok.train([corpus], trainer)
    tok.save(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("algorithm")
    ap.add_argument("corpus")
    ap.add_argument("vocab", type=int)
    ap.add_argument("out")
    a = ap.parse_args()
    if a.algorithm in (
        "bpe",
        "bpe-gpt2",
        "bpe-gpt2-iterator",
    ):  # tokenizers' BpeTrainer, cl100k or GPT-2 splitting
        from tokenizers import Regex, pre_tokenizers

        if a.algorithm == "bpe":
            pre = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            )
        else:
            pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        _bytelevel_bpe(a.corpus, a.vocab, a.out, pre, lines=a.algorithm.endswith("-iterator"))
    elif a.algorithm == "gigatoken-gpt2":  # gigatoken's trainer alone, each line a document
        import gigatoken

        sep = b"\x00\x1e\x00"
        data = Path(a.corpus).read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()
        blob = sep.join([line + b"\n" for line in lines] + ([tail] if tail else []))
        gigatoken.train_bpe(blob, a.vocab, ["<|endoftext|>"], tie_breaking="huggingface", separator=sep)
    elif a.algorithm == "wordpiece":
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=a.vocab,
            min_frequency=2,
            show_progress=False,
            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        )
        tok.train([a.corpus], trainer)
        tok.save(a.out)
    elif a.algorithm.startswith("spm-"):
        import sentencepiece as spm

        spm.SentencePieceTrainer.train(
            input=a.corpus,
            model_prefix=a.out,
            model_type=a.algorithm[4:],
            vocab_size=a.vocab,
            character_coverage=0.9995,
            byte_fallback=True,
            num_threads=os.cpu_count(),
            minloglevel=2,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            max_sentence_length=1 << 16,
            allow_whitespace_only_pieces=True,
        )
    else:
        raise SystemExit(f"no raw baseline for {a.algorithm}")


if __name__ == "__main__":
    main()
