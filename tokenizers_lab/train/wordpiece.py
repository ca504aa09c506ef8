"""WordPiece (`wordpiece`): BERT pre-tokenization, words counted on the engine, BPE-style
merges learned over marked continuation pieces."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers_lab.engine import Engine, LocalEngine, cpu_count
from tokenizers_lab.train.common import TrainOut, count_on, normalizer, tokenizer_json, top_chars, write_words
from tokenizers_lab.train.config import TrainConfig
from tokenizers_lab.train.prepare import Prepared, train_native

# WordPiece continuation characters are shifted into private-use planes before BPE training.
_CONT_BMP = 0xF0000


def _continuation_table(chars: Iterable[str]) -> dict[str, str]:
    """Private-use stand-ins for word-internal characters: BMP characters shift into plane 15,
    the rest take plane-16 code points in code-point order. (Text that already holds plane-15/16
    private-use characters would be ambiguous; such text is vanishingly rare.)"""
    table, astral = {}, 0
    for ch in sorted(chars):
        o = ord(ch)
        if o < 0xFFFE:
            table[ch] = chr(_CONT_BMP + o)
        else:
            table[ch] = chr(0x100000 + astral)
            astral += 1
    return table


def train_wordpiece(prep: Prepared, config: TrainConfig, sizes: Sequence[int]) -> TrainOut:
    """WordPiece as tokenizers' own trainer builds it (BPE with a ## prefix), made deterministic.

    tokenizers' WordPieceTrainer assigns ids to ##-tokens in hash-map order, so its output changes
    from run to run (tokenizers#1794). Here continuation characters become private-use characters,
    so plain (deterministic) BPE learns the same kind of vocabulary; ## is restored afterwards.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    norm = normalizer(
        config.normalization,
        normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
        ),
    )
    word_tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    if norm is not None:
        word_tok.normalizer = norm
    word_tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = _count_words(
        prep.train_paths,
        word_tok,
        bert_default=config.normalization == "none",
        engine=prep.engine,
        processes=config.threads or cpu_count(),
    )
    plain = list(counts)
    joined = "\n".join(plain)
    table = _continuation_table(set(joined) - {"\n"})
    trans = {ord(k): v for k, v in table.items()}
    # Mark every character, then restore each word's first: one C-level translate for all words.
    marked = [w[0] + m[1:] for w, m in zip(plain, joined.translate(trans).split("\n"))]
    words = dict(zip(plain, marked))
    unmap = {v: k for k, v in table.items()}
    by_count: dict[int, list[str]] = {}
    for w, m in words.items():
        by_count.setdefault(counts[w], []).append(m)
    char_counts: Counter[str] = Counter()
    for n, group in by_count.items():  # weighted character counts, one C-level count per frequency
        for c, k in Counter("".join(group)).items():
            char_counts[c] += k * n
    words_file = str(write_words(prep.workdir / "words.txt", words, counts))
    # The word tables are on disk now; free them before tokenizers builds its own (peak memory).
    del counts, plain, joined, marked, words, by_count
    gc.collect()
    out: TrainOut = {}
    specials = config.specials()
    for v in sizes:
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        alphabet = top_chars(char_counts, (v - len(specials)) // 2)
        trainer = trainers.BpeTrainer(
            vocab_size=v - len(specials),
            min_frequency=config.min_frequency,
            show_progress=False,
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
        )
        train_native(bpe.train, [words_file], trainer, prep=prep)
        learned = sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])
        vocab = {s: i for i, s in enumerate(specials)}
        for s, _ in learned:
            piece = "".join(unmap.get(c, c) for c in s)
            key = ("##" + piece) if s[0] in unmap else piece
            vocab.setdefault(key, len(vocab))
        tok = Tokenizer(
            models.WordPiece(
                vocab, unk_token="[UNK]" if "[UNK]" in vocab else specials[0], max_input_chars_per_word=100
            )
        )
        if norm is not None:
            tok.normalizer = norm
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        tok.add_special_tokens([AddedToken(s, special=True) for s in specials])
        out[v] = (tokenizer_json(tok), {}, {})
    return out


class _BertSplitter:
    """BertNormalizer(clean_text, handle_chinese_chars; no lowercase/accents) + BertPreTokenizer as
    one str.translate and a split: control characters deleted, whitespace -> " ", punctuation and
    CJK ideographs -> " c ". Characters are classified by the tested regexes in patterns.py the
    first time they are seen, so the table stays as small as the corpus alphabet."""

    def __init__(self) -> None:
        import regex

        from tokenizers_lab.patterns import BERT_CONTROL, BERT_WORDS

        self._control, self._words = regex.compile(BERT_CONTROL), regex.compile(BERT_WORDS)
        self._table: dict[int, str | None] = {}

    def _learn(self, chars: Iterable[str]) -> None:
        for c in chars:
            if self._control.fullmatch(c):
                self._table[ord(c)] = None
            elif not self._words.fullmatch(c):
                self._table[ord(c)] = " "  # whitespace: no word matches it
            elif self._words.match(c + "a").end() == 1 or self._words.match("a" + c).end() == 1:
                self._table[ord(c)] = f" {c} "  # isolated: punctuation or CJK
            else:
                self._table[ord(c)] = c

    def words(self, text: str) -> list[str]:
        new = {c for c in set(text) if ord(c) not in self._table}
        if new:
            self._learn(sorted(new))
        return [w for w in text.translate(self._table).split(" ") if w]


class _WordCounter:
    """Words of text chunks after a tokenizer's normalizer and pre-tokenizer, counted (a picklable
    callable: engine workers run it). With the default BERT normalizer the split is `_BertSplitter`
    (identical words, tested against tokenizers' components)."""

    def __init__(self, tok: Any, bert_default: bool) -> None:
        self.tok = None if bert_default else tok
        self.bert = _BertSplitter() if bert_default else None
        self.chunk_chars = (1 << 22) if bert_default else (1 << 13)  # tokenizers' components: 8 KB

    def __call__(self, chunks: Sequence[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for chunk in chunks:
            if self.bert is not None:
                counts.update(self.bert.words(chunk))
                continue
            tok = self.tok
            assert tok is not None  # one of bert and tok is set
            if tok.normalizer is not None:
                chunk = tok.normalizer.normalize_str(chunk)
            counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(chunk))
        return counts


def _count_words(
    paths: Sequence[Path],
    tok: Any,
    bert_default: bool,
    engine: Engine | None = None,
    processes: int = 1,
) -> Counter[str]:
    """Words of text files after the tokenizer's normalizer and pre-tokenizer, counted (in
    `processes` forked workers on the local engine when the text is large enough)."""
    counter = _WordCounter(tok, bert_default)
    return count_on(engine or LocalEngine(), counter, paths, counter.chunk_chars, processes)
