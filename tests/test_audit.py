"""`audit`: fairness on parallel text (Petrov and Arnett conventions), checked by hand and
against published counts."""

from __future__ import annotations

import pytest

from tokenizers_lab import audit, train
from tokenizers_lab.errors import UsageError
from tokenizers_lab.parallel import load_parallel
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
    rows, summary = audit.fairness.fairness(bpe_view, par, "eng_Latn")
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
        audit.fairness.fairness(bpe_view, par, "eng_Latm")


def test_petrov_counts_reproduced_exactly(shared):
    """cl100k on FLORES-200 dev+devtest, Petrov et al.'s published token counts."""
    view = load_tokenizer(f"cl100k={shared / 'tokenizers/openai/cl100k_base.tiktoken'}")
    par = load_parallel(
        [str(shared / "flores200/core_dev"), str(shared / "flores200/core_devtest")],
        languages=["eng_Latn", "tur_Latn", "deu_Latn"],
    )
    rows, _ = audit.fairness.fairness(view, par, "eng_Latn")
    got = {r.language: r.tokens_concat for r in rows}
    assert got == {"eng_Latn": 52835, "tur_Latn": 101176, "deu_Latn": 83450}
    assert all(r.sentences == 2009 for r in rows)


def test_unk_share_marks_languages_invalid(shared):
    """BERT's WordPiece maps Amharic to [UNK]: Petrov's 10% rule makes the pair invalid."""
    view = load_tokenizer(str(shared / "tokenizers/bert-base-uncased/vocab.txt"))
    par = load_parallel([str(shared / "flores200/core_dev")], languages=["eng_Latn", "amh_Ethi"])
    rows, summary = audit.fairness.fairness(view, par, "eng_Latn")
    by = {r.language: r for r in rows}
    assert by["amh_Ethi"].unk_char_share > 0.10 and not by["amh_Ethi"].valid
    assert by["eng_Latn"].unk_char_share < 0.01 and by["eng_Latn"].valid
    assert summary.max_premium is None  # the only non-pivot language is invalid


# -- compression ---------------------------------------------------------------------------


def test_renyi_reproduces_tokenization_scorer_vectors():
    """tokenization-scorer's own unit-test values (alpha 2.5, observed types as |V|)."""
    from collections import Counter

    import numpy as np

    from tokenizers_lab.audit.compression import efficiency, renyi_entropy

    for text, eff, ent in (
        ("pick @@ed pick @@l @@ed pick @@les", 0.8265064834225245, 1.653012966845049),
        ("pick @@e @@d pick @@l @@e @@d pick @@l @@e @@s", 0.9204840242168808, 2.1372977167241545),
    ):
        counts = np.array(list(Counter(text.split()).values()))
        assert renyi_entropy(counts, 2.5) == pytest.approx(ent, abs=1e-9)
        assert efficiency(renyi_entropy(counts, 2.5), len(counts)) == pytest.approx(eff, abs=1e-9)
    uniform = np.ones(8)
    assert renyi_entropy(uniform, 2.5) == pytest.approx(3.0) == renyi_entropy(uniform, 1.0)


def test_word_alignment_by_hand():
    import numpy as np

    from tokenizers_lab.audit.compression import WordAlignment

    a = WordAlignment()
    # "ab cd ef": tokens a | b | " c" | d | " ef"  -> ab and cd continued, no violation
    a.add("ab cd ef", [1, 2, 3, 4, 5], (np.array([0, 1, 2, 4, 5]), np.array([1, 2, 4, 5, 8])))
    assert (a.words, a.continued, a.boundaries, a.violations) == (3, 2, 2, 0)
    # "ab cd": a superword token "b c" swallows the boundary
    a.add("ab cd", [1, 9, 4], (np.array([0, 1, 4]), np.array([1, 4, 5])))
    assert (a.words, a.continued, a.boundaries, a.violations) == (5, 4, 3, 1)
    assert a.offenders == {9: 1}
    a.add("xy", [7], None)  # unaligned lines are counted, not measured
    assert (a.lines, a.aligned_lines, a.words) == (3, 2, 5)


# -- %Lang / %Pure -------------------------------------------------------------------------


def test_turkish_lowercasing():
    from tokenizers_lab.audit.integrity import lower

    assert lower("IŞIK", "tur_Latn") == "ışık" and lower("İstanbul", "tur_Latn") == "istanbul"
    assert lower("ISLAND", "eng_Latn") == "island"


def test_lexicon_measure_by_hand(tmp_path, bpe_view):
    from tokenizers_lab.audit import integrity

    words = tmp_path / "words.txt"
    words.write_text("the\ncat\n# a comment\nsat 12\n")
    v = integrity.build_validator("lexicon", str(words), "eng_Latn", [])
    text = "the cat sat on the mat."
    ids = bpe_view.encode(text)
    row = integrity.measure(bpe_view, "eng_Latn", [ids], v)
    pieces = [bpe_view.token_bytes(i).decode().strip() for i in ids]
    types = {p for p in pieces if p}
    valid = {p for p in types if p.lower() in {"the", "cat", "sat"}}
    assert row.types == len(types) and row.tokens == sum(1 for p in pieces if p)
    assert row.lang_type == pytest.approx(len(valid) / len(types))
    assert row.lang_token == pytest.approx(sum(1 for p in pieces if p in valid) / row.tokens)
    assert row.pure_type is None and not row.frequency_based
    assert "." not in row.examples_valid


def test_hunspell_validator(tmp_path, monkeypatch):
    pytest.importorskip("spylls")
    from tokenizers_lab.audit import integrity, validators

    (tmp_path / "xx.aff").write_text("SET UTF-8\nSFX S Y 1\nSFX S 0 s .\n")
    (tmp_path / "xx.dic").write_text("2\ncat/S\ndog/S\n")
    v = integrity.build_validator("hunspell", str(tmp_path / "xx.dic"), "eng_Latn", [])
    assert v.is_valid("cats") and v.is_valid("dog") and not v.is_valid("s") and not v.is_valid("cta")
    assert v.is_pure("cat") and v.is_pure("s") and not v.is_pure("cats")
    monkeypatch.setattr(validators, "HUNSPELL_DIRS", (str(tmp_path),))  # a system dictionary by name
    assert integrity.build_validator("hunspell", "xx", "eng_Latn", []).is_valid("dogs")


def test_turkish_validator_and_tr_on_flores(shared):
    from tokenizers_lab.audit import integrity

    v = integrity.build_validator("turkish", str(shared / "turkish"), "tur_Latn", [])
    for word in ("kitap", "kitaplar", "kitabı", "evlerinden", "lar", "gel", "geliyorum"):
        assert v.is_valid(word), word
    assert v.is_pure("kitap") and v.is_pure("lar") and not v.is_pure("kitaplar")
    assert not v.is_valid("xqzw") and not v.is_valid("kitapxq")
    cl = load_tokenizer(f"cl100k={shared / 'tokenizers/openai/cl100k_base.tiktoken'}")
    par = load_parallel([str(shared / "flores200/core_dev")], languages=["tur_Latn"])
    row = integrity.measure(cl, "tur_Latn", cl.encode_batch(par.lines["tur_Latn"]), v)
    assert 0.2 < row.lang_type < 0.9 and row.pure_type <= row.lang_type
    assert row.lang_type_letters >= row.lang_type


def test_unknown_validator_and_missing_file(tmp_path):
    from tokenizers_lab.audit import integrity
    from tokenizers_lab.errors import InputError

    with pytest.raises(UsageError, match="did you mean 'hunspell'"):
        integrity.parse_validator("eng_Latn=hunspel:x")
    with pytest.raises(UsageError, match="needs a path"):
        integrity.parse_validator("eng_Latn=lexicon")
    with pytest.raises(InputError, match="not found"):
        integrity.build_validator("lexicon", str(tmp_path / "nope.txt"), "eng_Latn", [])


# -- CharBench ------------------------------------------------------------------------------


def test_charbench_items_deterministic_and_correct():
    from tokenizers_lab.audit import charbench

    words = [
        w + s
        for w in ("strawberry", "banana", "kitten", "mississippi", "letter", "puzzle", "abcd", "queue")
        for s in ("", "s", "ed", "x")
    ]
    a, b = charbench.make_items(words, 3, seed=5), charbench.make_items(words, 3, seed=5)
    assert a == b and a != charbench.make_items(words, 3, seed=6)
    for it in a:
        assert 4 <= len(it.word) <= 10 and it.word in it.question and it.question in it.prompt
        expect = {
            "count_character_frequency": lambda: it.word.count(it.character),
            "count_unique_chars": lambda: len(set(it.word)),
            "find_first_occurrence": lambda: it.word.index(it.character),
            "find_last_occurrence": lambda: it.word.rindex(it.character),
        }[it.task]()
        assert it.answer == expect
    for n in range(4, 11):  # disjoint word slices per task within a length bucket
        per_task = [{it.word for it in a if it.task == t and len(it.word) == n} for t in charbench.TASKS]
        assert sum(map(len, per_task)) == len(set().union(*per_task))


def test_charbench_features_and_scores(bpe_view, tmp_path):
    import numpy as np

    from tokenizers_lab.audit import charbench

    words = charbench.collect_words(load_parallel(["embedded:parallel"]).lines["eng_Latn"])
    items = charbench.make_items(words, 5, seed=13)
    feats = charbench.features(bpe_view, items)
    col = {n: j for j, n in enumerate(charbench.FEATURES)}
    for it, row in zip(items, feats):
        ids = bpe_view.encode(it.word)
        assert row[col["tokens"]] == len(ids) and row[col["word_length"]] == len(it.word)
        if it.task.startswith("find_"):
            pieces = [bpe_view.token_bytes(i).decode() for i in ids]
            ends = np.cumsum([len(p) for p in pieces])
            k = int(np.searchsorted(ends, it.answer, "right"))
            assert row[col["target_token_length"]] == len(pieces[k])
            assert row[col["target_position"]] == it.answer - (ends[k] - len(pieces[k]))
        else:
            assert np.isnan(row[col["target_token_length"]])
    pred = tmp_path / "pred.jsonl"
    # right on counting tasks, wrong on index tasks
    pred.write_text(
        "".join(
            f'{{"id": "{it.id}", "prediction": "{it.answer if it.task.startswith("count") else -1}"}}\n'
            for it in items
        )
    )
    scores = {s.task: s for s in charbench.score(items, feats, charbench.read_predictions(pred))}
    assert scores["count_unique_chars"].accuracy == 1.0 and scores["find_first_occurrence"].accuracy == 0.0
    assert scores["all"].answered == len(items) and scores["all"].accuracy == pytest.approx(0.5)
    assert scores["count_unique_chars"].correlations["tokens"] is None  # correctness is constant
    assert scores["all"].correlations["target_token_length"] is None  # defined only on always-wrong items
    assert scores["all"].correlations["answer"] is not None


# -- numbers and robustness -------------------------------------------------------------------


def test_digit_schemes_of_real_tokenizers(shared):
    from tokenizers_lab.audit import numbers

    cl = numbers.profile(load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken")), 13)
    assert (cl.scheme, cl.consistency) == ("L2R-3", 1.0)
    assert cl.single_token_numbers == {"1-digit": 10, "2-digit": 90, "3-digit": 900}
    assert cl.comma_groups_aligned == 1.0 and cl.examples["1234567"] == "123|456|7"
    llama2 = numbers.profile(load_tokenizer(str(shared / "tokenizers/llama2/tokenizer.model")), 13)
    assert llama2.scheme == "single-digit" and llama2.single_token_numbers["2-digit"] == 0
    assert numbers.l2r(7, 3) == (3, 3, 1) and numbers.r2l(7, 3) == (1, 3, 3)


@pytest.mark.slow  # over 2.5 s: outside the fast loop, still run by CI
def test_vocabulary_health_matches_published_counts(shared):
    from tokenizers_lab.audit import robustness

    o200k = robustness.vocabulary_health(
        load_tokenizer(str(shared / "tokenizers/openai/o200k_base.tiktoken"))
    )
    assert o200k.unreachable == 12 and "\n//" in o200k.unreachable_examples
    assert o200k.partial_utf8 == 1562
    cl = robustness.vocabulary_health(load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken")))
    assert cl.unreachable == 0 and cl.partial_utf8 == 773 and cl.decomposable_share == 1.0
    assert cl.mean_splits == pytest.approx(2.33, abs=0.01)
    # SentencePiece pieces without ▁ are reachable mid-word: no dummy prefix when checking
    llama2 = robustness.vocabulary_health(load_tokenizer(str(shared / "tokenizers/llama2/tokenizer.model")))
    assert llama2.unreachable == 0


def test_roundtrip_probes(bpe_view, shared):
    from tokenizers_lab.audit import robustness

    assert robustness.first_difference("abc", "abd") == 2 and robustness.first_difference("ab", "abc") == 2
    assert all(r.ok for r in robustness.roundtrip(bpe_view))  # byte-level BPE is lossless
    bert = {
        r.probe: r
        for r in robustness.roundtrip(load_tokenizer(str(shared / "tokenizers/bert-base-uncased/vocab.txt")))
    }
    assert not bert["accents_upper"].ok and bert["accents_upper"].first_difference == 0  # lowercased


# -- gates ----------------------------------------------------------------------------------


def test_gates_parse_and_check():
    from tokenizers_lab.audit import gates

    g = gates.parse("premium.tur_Latn@bpe>2.5")
    assert (g.metric, g.key, g.tokenizer, g.op, g.threshold) == ("premium", "tur_Latn", "bpe", ">", 2.5)
    with pytest.raises(UsageError, match="did you mean 'premium'"):
        gates.parse("premum.tur_Latn>2")
    with pytest.raises(UsageError, match="needs a key"):
        gates.parse("premium>2")
    with pytest.raises(UsageError, match="expected METRIC"):
        gates.parse("premium.tur_Latn is big")
    values = {
        "a": {"premium.tur_Latn": 3.0, "roundtrip": 1.0},
        "b": {"premium.tur_Latn": 2.0, "roundtrip": 0.5},
    }
    r1, r2 = gates.check([gates.parse("premium.tur_Latn>2.5"), gates.parse("roundtrip<1")], values)
    assert r1.failing == ("a",) and r2.failing == ("b",) and r1.tripped
    # a key the inputs do not give is refused before any work, with every available key listed
    keys = {"premium": [f"l{i:02d}" for i in range(20)] + ["tur_Latn"]}
    with pytest.raises(UsageError, match="available keys: " + ", ".join(sorted(keys["premium"]))):
        gates.check_keys([gates.parse("premium.deu_Latn>1")], ["a", "b"], keys)
    with pytest.raises(UsageError, match="did you mean 'a'"):
        gates.check_keys([gates.parse("roundtrip@aa<1")], ["a", "b"], keys)
    gates.check_keys([gates.parse("premium.tur_Latn@b>1")], ["a", "b"], keys)
    # a value the run could not measure after all is n/a: reported, never tripping
    (r3,) = gates.check([gates.parse("premium.deu_Latn>1")], values)
    assert r3.values == {"a": None, "b": None} and not r3.tripped


# -- the whole job --------------------------------------------------------------------------


def test_run_report_is_deterministic_and_complete(bpe_view):
    from tokenizers_lab.report import dumps, to_jsonable

    cfg = audit.AuditConfig(tokenizers=("x",), charbench_per_bucket=5, plots=False)
    r1 = audit.run(cfg, views=[bpe_view])
    r2 = audit.run(cfg, views=[bpe_view])
    strip = lambda r: {k: v for k, v in to_jsonable(r).items() if k not in ("run", "timings")}
    assert strip(r1) == strip(r2) and r1.artifacts == r2.artifacts
    a = r1.tokenizers[0]
    assert len(a.fairness) == 12 and len(a.languages) == 12 and a.corpus_compression.tokens > 0
    assert {i.language for i in a.integrity} == {
        x for x in r1.languages if x not in ("jpn_Jpan", "tha_Thai", "zho_Hans")
    }
    assert a.roundtrip_rate == 1.0 and a.numbers.scheme and a.vocabulary.tokens_checked > 0
    assert r1.charbench_items == len(r1.artifacts["charbench_items.jsonl"].splitlines())
    assert "corpus-words proxy" in r1.notes[0]
    md = r1.to_markdown()
    for section in (
        "## Token premium per language",
        "## Compression per language",
        "## Language integrity",
        "## CharBench-style probes",
        "## Numbers",
        "## Round-trip probes",
        "## Vocabulary health",
    ):
        assert section in md
    assert "premium_concat" in dumps(r1)


def test_missing_validator_extra_names_it(monkeypatch, tmp_path):
    import sys

    from tokenizers_lab.audit import integrity
    from tokenizers_lab.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "spylls", None)
    monkeypatch.setitem(sys.modules, "spylls.hunspell", None)
    with pytest.raises(MissingExtraError, match=r"tokenizers-lab\[audit\]"):
        integrity.build_validator("hunspell", str(tmp_path / "xx.dic"), "eng_Latn", [])
    monkeypatch.setitem(sys.modules, "wordfreq", None)
    with pytest.raises(MissingExtraError, match="wordfreq"):
        integrity.build_validator("wordfreq", "", "eng_Latn", [])


@pytest.mark.slow
def test_charbench_local_model_answers_items(tmp_path, bpe_view):
    """A tiny random Llama (built from a transformers config, saved as safetensors) answers the
    items through --charbench-model's code path; greedy decoding makes the answers repeatable."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tokenizers_lab.audit import charbench

    eos = next(iter(bpe_view.special_tokens))
    PreTrainedTokenizerFast(tokenizer_object=bpe_view.tok, eos_token=eos).save_pretrained(tmp_path)
    cfg = LlamaConfig(
        vocab_size=bpe_view.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=bpe_view.special_tokens[eos],
        pad_token_id=bpe_view.special_tokens[eos],
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path, safe_serialization=True)
    words = charbench.collect_words(load_parallel(["embedded:parallel"]).lines["eng_Latn"])
    items = charbench.make_items(words, 2, seed=1)[:12]
    preds = charbench.predict_with_model(tmp_path, items, max_new_tokens=4, batch_size=5)
    assert set(preds) == {it.id for it in items}
    assert preds == charbench.predict_with_model(tmp_path, items, max_new_tokens=4, batch_size=5)
    scores = {s.task: s for s in charbench.score(items, charbench.features(bpe_view, items), preds)}
    assert scores["all"].answered == len(items) and 0.0 <= scores["all"].accuracy <= 1.0


def test_corpus_words_are_the_text_words_also_when_built_in_forked_processes(tmp_path):
    """The corpus-words validator: words holding a letter, lowercased per language (Turkish I ->
    ı), edge punctuation trimmed; the audit builds 40 languages' sets in forked workers and they
    equal the sets built here one by one."""
    from tokenizers_lab.audit import integrity
    from tokenizers_lab.audit.config import AuditConfig
    from tokenizers_lab.audit.job import _validators

    v = integrity.corpus_words(["«Hello», WORLD... 42 -- x2 (ok)", "IRMAK Irmak"], "tur_Latn")
    assert v.is_valid("hello") and v.is_valid("world") and v.is_valid("x2") and v.is_valid("ok")
    assert v.is_valid("ırmak") and not v.is_valid("42") and not v.is_valid("--") and not v.is_valid("irmak")
    folder = tmp_path / "par"
    folder.mkdir()
    for k in range(40):
        (folder / f"l{k:02d}_Latn.txt").write_text(f"Word{k} shared, «quoted{k}» {k}\nline two{k}!\n")
    par = load_parallel([str(folder)])
    notes: list[str] = []
    built = _validators(AuditConfig(parallel=(str(folder),)), par, [("*", "corpus-words", "")], notes)
    assert sorted(built) == par.languages and notes
    for lang in par.languages:
        k = int(lang[1:3])
        expect = {f"word{k}", "shared", f"quoted{k}", "line", f"two{k}"}
        assert integrity.corpus_word_set(par.lines[lang], lang) == expect
        assert {w for w in expect if built[lang].is_valid(w)} == expect
        assert not built[lang].is_valid(str(k)) and built[lang].version == "5 words"
