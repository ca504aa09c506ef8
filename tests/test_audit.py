"""`audit`: fairness on parallel text (Petrov and Arnett conventions), checked by hand and
against published counts."""

from __future__ import annotations

import pytest

from tokenizers_lab import audit, train
from tokenizers_lab.corpus import load_parallel
from tokenizers_lab.errors import UsageError
from tokenizers_lab.tokenizer import HFView, load_tokenizer


def test_gini_by_hand():
    assert audit.gini([2.0, 2.0, 2.0]) == 0.0
    assert audit.gini([1.0, 3.0]) == pytest.approx(4 / 16)  # (|1-3| + |3-1|) / (2 * 2^2 * 2)
    assert audit.gini([0.0, 0.0, 0.0, 4.0]) == pytest.approx(24 / 32)  # 6 pairs of 4, twice / (2*16*1)


def test_joined_reproduces_petrov_whole_file_split(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "eng.dev").write_text("one\ntwo\n")
    (b / "eng.devtest").write_text("three\nfour")  # no final newline
    (a / "deu.dev").write_text("eins\nzwei\n\n")  # a trailing blank line
    (b / "deu.devtest").write_text("drei\nvier\n")
    par = load_parallel([str(a), str(b)])
    for lang, files in {"eng": ["a/eng.dev", "b/eng.devtest"], "deu": ["a/deu.dev", "b/deu.devtest"]}.items():
        expect = " ".join(sum(((tmp_path / f).read_text().split("\n") for f in files), []))
        assert par.joined(lang) == expect
    assert par.lines["eng"] == ["one", "two", "three", "four"]


@pytest.fixture(scope="module")
def bpe_view():
    rep = train.run(train.TrainConfig(algorithm="bpe", vocab_sizes=(2000,)))
    from tokenizers import Tokenizer

    text = rep.artifacts["tokenizer.json"].decode()
    return HFView(Tokenizer.from_str(text), "bpe2k", "tokenizer.json", rep.results[0].sha256)


def test_fairness_on_embedded_parallel(bpe_view):
    par = load_parallel(["embedded:parallel"])
    rows, summary = audit.fairness(bpe_view, par, "eng_Latn")
    by = {r.language: r for r in rows}
    eng = by["eng_Latn"]
    assert eng.premium_concat == eng.premium_sum == eng.char_premium == eng.byte_premium == 1.0
    for r in rows:
        assert r.sentences == 100 and r.valid and r.unk_tokens == 0  # byte-level: no UNK
        assert r.tokens_sum == sum(len(bpe_view.encode(s)) for s in par.lines[r.language])
        assert r.byte_premium == pytest.approx(r.bytes / eng.bytes)
        # joining with spaces changes counts only at sentence edges
        assert abs(r.tokens_concat - r.tokens_sum) <= 2 * r.sentences
    # A 2k vocabulary learnt mostly from Latin text: Amharic costs more than German.
    assert by["amh_Ethi"].premium_sum > by["deu_Latn"].premium_sum
    assert by["amh_Ethi"].partial_utf8_share > 0.3 > by["eng_Latn"].partial_utf8_share
    others = [r.premium_sum for r in rows if r.language != "eng_Latn"]
    assert summary.max_premium == max(others)
    assert summary.languages_above_2x == sum(p > 2 for p in others)
    assert 0 < summary.gini < 1
    with pytest.raises(UsageError, match="did you mean"):
        audit.fairness(bpe_view, par, "eng_Latm")


def test_petrov_counts_reproduced_exactly(shared):
    """cl100k on FLORES-200 dev+devtest, Petrov et al.'s published token counts."""
    view = load_tokenizer(f"cl100k={shared / 'tokenizers/openai/cl100k_base.tiktoken'}")
    par = load_parallel([str(shared / "flores200/core_dev"), str(shared / "flores200/core_devtest")],
                        languages=["eng_Latn", "tur_Latn", "deu_Latn"])
    rows, _ = audit.fairness(view, par, "eng_Latn")
    got = {r.language: r.tokens_concat for r in rows}
    assert got == {"eng_Latn": 52835, "tur_Latn": 101176, "deu_Latn": 83450}
    assert all(r.sentences == 2009 for r in rows)


def test_unk_share_marks_languages_invalid(shared):
    """BERT's WordPiece maps Amharic to [UNK]: Petrov's 10% rule makes the pair invalid."""
    view = load_tokenizer(str(shared / "tokenizers/bert-base-uncased/vocab.txt"))
    par = load_parallel([str(shared / "flores200/core_dev")], languages=["eng_Latn", "amh_Ethi"])
    rows, summary = audit.fairness(view, par, "eng_Latn")
    by = {r.language: r for r in rows}
    assert by["amh_Ethi"].unk_char_share > 0.10 and not by["amh_Ethi"].valid
    assert by["eng_Latn"].unk_char_share < 0.01 and by["eng_Latn"].valid
    assert summary.max_premium is None  # the only non-pivot language is invalid
