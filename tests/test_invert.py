"""`invert` (work in progress): the merge replay engine against a real BPE training."""

from __future__ import annotations

from collections import Counter

import pytest

from tokenizers_lab.corpus import Corpus
from tokenizers_lab.errors import UsageError
from tokenizers_lab.invert.replay import merge_ids, replay
from tokenizers_lab.tokenizer import HFView, bytelevel_to_bytes


def _bytelevel_words(tok, lines) -> Counter[bytes]:
    """Pre-tokens of lines under a byte-level tokenizers.Tokenizer, as exact bytes, counted."""
    c: Counter[bytes] = Counter()
    for ln in lines:
        c.update(bytelevel_to_bytes(w) for w, _ in tok.pre_tokenizer.pre_tokenize_str(ln))
    return c


def test_replay_by_hand():
    words = {b"aaa": 2, b"ab": 3}
    r = replay(words, [(b"a", b"a"), (b"a", b"b"), (b"aa", b"a")])
    assert r.initial == {(97, 97): 4, (97, 98): 3} and r.total_pairs == 7 and r.total_bytes == 12
    assert r.merged_counts == [4, 3, 2]
    # merge 0 turns "aaa" into [aa, a]: (a,a) disappears, (aa,a) appears twice
    assert dict(r.steps[0]) == {(97, 97): 0, (256, 97): 2}
    assert dict(r.steps[1]) == {(97, 98): 0}
    assert r.counts_at(3) == {}
    assert merge_ids([(b"x", b"y"), (b"xyz", b"q")]) == [(120, 121), None]  # "xyz" is not a symbol


def test_replayed_merges_are_the_most_frequent_pair_at_every_step():
    """Replaying a BPE tokenizer's merges on its own training text: merge t's pair has the highest
    count at step t (BPE's greedy rule), exactly what the LP's constraints encode."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    lines = [ln for ln in Corpus("embedded:parallel") if ln.strip()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(lines, trainer)
    view = HFView(tok, "bpe", "memory", "0" * 64)
    words: Counter[bytes] = Counter()
    for ln in lines:
        words.update(bytelevel_to_bytes(w) for w, _ in tok.pre_tokenizer.pre_tokenize_str(ln))
    merges = view.merges()
    assert len(merges) > 300
    r = replay(words, merges)
    counts = dict(r.initial)
    for t, step in enumerate(r.steps):
        m = merge_ids(merges)[t]
        assert r.merged_counts[t] == counts.get(m, 0) == max(counts.values()), t
        for p, c in step:
            if c:
                counts[p] = c
            else:
                counts.pop(p)
        if t % 97 == 0:  # the stored deltas rebuild the same table
            assert counts == r.counts_at(t + 1)
    assert sum(c * len(w) for w, c in words.items()) == r.total_bytes


@pytest.mark.parametrize("limit,steps,merged", [(0, 0, []), (2, 2, [1, 1]), (5, 3, [1, 1, 1])])
def test_replay_limit(limit, steps, merged):
    r = replay({b"hello": 1}, [(b"l", b"l"), (b"h", b"e"), (b"he", b"ll")], limit=limit)
    assert len(r.steps) == steps and r.merged_counts == merged


def test_lp_recovers_a_known_mixture_exactly():
    """The paper's controlled setting in miniature: BPE trained on a known mixture of five
    categories, samples equal to the training text per category -> the mixture comes back exactly."""
    import numpy as np
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from tokenizers_lab.invert import lp
    from tokenizers_lab.parallel import load_parallel

    par = load_parallel(["embedded:parallel"])
    cats = {lang: par.lines[lang] for lang in ("eng_Latn", "deu_Latn", "tur_Latn", "rus_Cyrl")}
    cats["code"] = [ln for ln in Corpus("embedded:code") if ln.strip()]
    reps = {"eng_Latn": 3, "deu_Latn": 1, "tur_Latn": 2, "rus_Cyrl": 1, "code": 2}
    mixture = [ln for c, lines in cats.items() for _ in range(reps[c]) for ln in lines]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        mixture,
        trainers.BpeTrainer(
            vocab_size=1200,
            min_frequency=2,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    merges = HFView(tok, "mix", "memory", "0" * 64).merges()

    replays = [replay(_bytelevel_words(tok, lines), merges) for lines in cats.values()]
    prob = lp.aggregate(lp.store(replays, merge_ids(merges)), range(len(cats)))
    sol = lp.solve(prob, ranges=True)
    size = np.array([sum(len(x.encode()) for x in lines) for lines in cats.values()], float)
    truth = np.array([reps[c] for c in cats]) * size
    truth /= truth.sum()
    assert sol.status == "optimal" and sol.objective == pytest.approx(0.0, abs=1e-9)
    assert np.log10(np.mean((np.array(sol.proportions) - truth) ** 2)) < -12
    assert sol.constraints > 0 and sol.passes >= 2
    assert all(lo <= p + 1e-9 and p <= hi + 1e-9 for (lo, hi), p in zip(sol.ranges, sol.proportions))
    # seeded with its own rows, the solver needs one walk to confirm the optimum
    again = lp.solve(prob, seed_rows=sol.rows)
    assert again.passes == 1 and np.allclose(again.proportions, sol.proportions, atol=1e-9)


def test_shards_aggregate_to_the_whole_sample():
    """Pair counts are additive over text: replaying two halves and summing equals replaying the
    whole; a bootstrap weight of 2 equals the text twice; the lookup matches counts_at."""
    import numpy as np

    from tokenizers_lab.invert import lp

    lines = [ln for ln in Corpus("embedded:domain") if ln.strip()]
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        lines,
        trainers.BpeTrainer(
            vocab_size=600, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    merges = HFView(tok, "d", "memory", "0" * 64).merges()
    ids = merge_ids(merges)

    half = len(lines) // 2
    a, b, whole = (
        replay(_bytelevel_words(tok, part), merges) for part in (lines[:half], lines[half:], lines)
    )
    split = lp.aggregate(lp.store([a, b], ids), [0, 0])
    one = lp.aggregate(lp.store([whole], ids), [0])
    twice = lp.aggregate(lp.store([a, b], ids), [0, 0], [2, 2])
    assert np.array_equal(split.merge_count, one.merge_count) and split.pairs[0] == one.pairs[0]
    assert np.array_equal(twice.merge_count, 2 * one.merge_count) and twice.bytes[0] == 2 * one.bytes[0]
    s = lp.store([whole], ids)
    pid = {pair: i for i, pair in enumerate(s.pair_list)}
    for t in (0, 5, 50, len(merges) - 1):
        truth = whole.counts_at(t)
        assert one.merge_count[t, 0] == truth.get(ids[t], 0)
        some = sorted(pid)[::7]
        got = one.lookup(np.array([pid[q] for q in some]), 0, t)
        assert got.tolist() == [truth.get(q, 0) for q in some]
    assert s.n_steps == len(merges)
    # d_i before the first constrained merge: the pairs left at that step (all of them at 0)
    for first in (0, 7, 120, len(merges) - 1):
        assert lp.aggregate(s, [0], first=first).denom[0] == sum(whole.counts_at(first).values())
    assert one.denom[0] == one.pairs[0]


def test_char_unit_replay_starts_from_characters():
    # SentencePiece-style BPE merges characters: "é" is one symbol, not two bytes
    merges = [("é".encode(), b"t"), (b" ", "ét".encode())]
    r = replay({" été".encode(): 2}, merges, unit="char")
    from tokenizers_lab.invert.replay import CHAR_BASE

    assert r.merged_counts == [2, 2] and r.counts_at(2) == {(257, CHAR_BASE + ord("é")): 2}  # " ét" + "é"
    assert replay({" été".encode(): 2}, merges, unit="byte").merged_counts == [0, 0]  # bytes never meet "é"


def test_pretokens_follow_each_tokenizer(shared):
    from tokenizers_lab.invert import pretokens
    from tokenizers_lab.tokenizer import load_tokenizer

    text = ["Hello world, it's 2024!", "  indented\tline"]
    cl = load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken"))
    assert pretokens.unit(cl) == "byte"
    assert pretokens.count(cl, text) == Counter(
        [b"Hello", b" world", b",", b" it", b"'s", b" ", b"202", b"4", b"!", b" ", b" indented", b"\tline"]
    )
    gpt2 = load_tokenizer(str(shared / "tokenizers/gpt2"))
    assert pretokens.count(gpt2, ["it's  fine"]) == Counter([b"it", b"'s", b" ", b" fine"])
    llama2 = load_tokenizer(str(shared / "tokenizers/llama2/tokenizer.model"))
    assert pretokens.unit(llama2) == "char"
    assert pretokens.count(llama2, ["a  b"]) == Counter([b" a", b"  b"])
    bert = load_tokenizer(str(shared / "tokenizers/bert-base-uncased/vocab.txt"))
    with pytest.raises(UsageError, match="needs BPE merges"):
        pretokens.count(bert, text)


def test_vectorised_separation_matches_brute_force():
    """The walk's rows are all violated, and every pair violated at some step gets a row: checked
    against counts replayed step by step, under a random mixture and random slacks."""
    import numpy as np
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from tokenizers_lab.invert import lp
    from tokenizers_lab.parallel import load_parallel

    par = load_parallel(["embedded:parallel"])
    cats = [par.lines[x] for x in ("eng_Latn", "deu_Latn", "tur_Latn")]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        [ln for c in cats for ln in c],
        trainers.BpeTrainer(
            vocab_size=256 + 150, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    merges = HFView(tok, "m", "memory", "0" * 64).merges()
    ids = merge_ids(merges)

    reps = [replay(_bytelevel_words(tok, c), merges) for c in cats]
    st = lp.store(reps, ids)
    prob = lp.aggregate(st, [0, 1, 2])
    pid = {p: i for i, p in enumerate(st.pair_list)}
    rng = np.random.default_rng(0)
    for _ in range(3):
        alpha = rng.dirichlet(np.ones(3))
        v_step = rng.exponential(1e-3, prob.n_steps) * (rng.random(prob.n_steps) < 0.3)
        v_pair = rng.exponential(1e-3, prob.n_pairs) * (rng.random(prob.n_pairs) < 0.3)
        coef = alpha / prob.pairs
        violated: dict[int, set[int]] = {}
        for t in range(prob.n_steps):
            m = ids[t]
            if m is None or not any(r.counts_at(t).get(m) for r in reps):
                continue
            score = Counter()
            for i, r in enumerate(reps):
                for p, c in r.counts_at(t).items():
                    score[pid[p]] += coef[i] * c
            cutoff = score[pid[m]] + v_step[t] + 1e-9
            for p, s in score.items():
                if p != pid[m] and s - v_pair[p] > cutoff:
                    violated.setdefault(p, set()).add(t)
        seg = lp.segments(prob)
        rows = lp.walk_segments(prob, seg, alpha, v_step, v_pair, 1e-9, 0, prob.n_steps, set(), 10**9)
        assert violated, "the check needs violations"
        assert all(t in violated.get(p, ()) for t, p in rows)
        assert {p for _, p in rows} == set(violated)
        # pruned to the violable stretches: the same rows; a stage prefix: the violations before it
        keep = lp.violable(prob, seg, 0)
        assert 0 < len(keep) < len(seg.start)
        assert (
            lp.walk_segments(prob, seg, alpha, v_step, v_pair, 1e-9, 0, prob.n_steps, set(), 10**9, keep)
            == rows
        )
        last = prob.n_steps // 3
        early = lp.walk_segments(prob, seg, alpha, v_step, v_pair, 1e-9, 0, last, set(), 10**9, keep)
        assert all(t < last and t in violated.get(p, ()) for t, p in early)
        assert {p for _, p in early} == {p for p, ts in violated.items() if min(ts) < last}
    # violable keeps exactly the stretches where some category counts the pair above the merge
    possible: set[tuple[int, int]] = set()
    for t in range(prob.n_steps):
        m = ids[t]
        if m is None or not any(r.counts_at(t).get(m) for r in reps):
            continue
        for i, r in enumerate(reps):
            counts = r.counts_at(t)
            for p, c in counts.items():
                if p != m and c > counts.get(m, 0):
                    possible.add((t, pid[p]))
    seg = lp.segments(prob)
    kept = set()
    for j in lp.violable(prob, seg, 0).tolist():
        kept.update((t, int(seg.pid[j])) for t in range(seg.start[j], min(seg.end[j], prob.n_steps - 1) + 1))
    assert possible <= kept
    assert all(
        any(
            (t, int(seg.pid[j])) in possible
            for t in range(seg.start[j], min(seg.end[j], prob.n_steps - 1) + 1)
        )
        for j in lp.violable(prob, seg, 0).tolist()
    )


def _events(s) -> set[tuple]:
    """A Store's events keyed by the pair's symbols (pair numbering differs between builders)."""
    return set(zip(s.unit.tolist(), [s.pair_list[p] for p in s.pid.tolist()], s.t.tolist(), s.delta.tolist()))


def _same_store(a, b) -> None:
    assert _events(a) == _events(b) and len(a.unit) == len(b.unit) and a.n_pairs == b.n_pairs
    assert a.pairs.tolist() == b.pairs.tolist() and a.bytes.tolist() == b.bytes.tolist()
    assert [a.pair_list[m] if m >= 0 else None for m in a.merge_pair] == [
        b.pair_list[m] if m >= 0 else None for m in b.merge_pair
    ]


def test_chain_events_equal_the_merge_by_merge_replay():
    """chains.store reads every unit's count events off the final tokens; they must be exactly the
    replay's, including runs of one byte ("aaaa"), words never fully merged and bytes never merged."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from tokenizers_lab.invert import chains, lp
    from tokenizers_lab.invert.replay import plan_for
    from tokenizers_lab.parallel import load_parallel

    par = load_parallel(["embedded:parallel"])
    extra = ["aaaa aaaaa aaa ababab abababa", "zzzzzzzz 0000000 ....... !!!!"] * 20
    parts = [
        par.lines["eng_Latn"],
        par.lines["rus_Cyrl"],
        par.lines["zho_Hans"] + extra,
        [ln for ln in Corpus("embedded:code") if ln.strip()],
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        [ln for p in parts for ln in p],
        trainers.BpeTrainer(
            vocab_size=256 + 900, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    merges = HFView(tok, "m", "memory", "0" * 64).merges()
    plan = plan_for(merges, "byte")
    assert chains.eligible(plan, "byte") and not chains.eligible(plan_for(merges, "char"), "char")
    units = [_bytelevel_words(tok, p[i::2]) for p in parts for i in (0, 1)]  # two shards each
    units.append(Counter({"ğğğ".encode(): 3, b"\xff\xfe": 1}))  # bytes the training never merged
    for limit in (len(merges), 137):  # the full list and a prefix
        sub = merges[:limit]
        sub_plan = plan_for(sub, "byte")
        _same_store(
            chains.store(units, sub_plan, sub),
            lp.store([replay(u, sub, plan=sub_plan) for u in units], sub_plan.constrained),
        )


def test_chain_events_on_a_real_tokenizer(shared):
    """The same identity on cl100k's first 3000 merges and real text in three scripts."""
    from tokenizers_lab.invert import chains, lp, pretokens
    from tokenizers_lab.invert.replay import plan_for
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(str(shared / "tokenizers/openai/cl100k_base.tiktoken"))
    merges = view.merges()[:3000]
    plan = plan_for(merges, "byte")
    units = [
        pretokens.count(view, [(shared / f"text/{f}").read_text("utf-8")[:60_000]])
        for f in ("lang/eng.txt", "lang/hin.txt", "lang/zho.txt", "code/rust_stdlib.txt")
    ]
    _same_store(
        chains.store(units, plan, merges),
        lp.store([replay(u, merges, plan=plan) for u in units], plan.constrained),
    )


@pytest.mark.parametrize("name", ["gpt2", "qwen2", "deepseek-v3"])
def test_regex_pretokens_equal_the_tokenizers_pipeline(shared, name, monkeypatch):
    """invert splits byte-level tokenizer.json pre-tokenizers with `regex` (5x faster than
    pre_tokenize_str): the pieces must be the pipeline's own, on text in every script of the data."""
    from tokenizers_lab.invert import pretokens
    from tokenizers_lab.tokenizer import load_tokenizer

    view = load_tokenizer(str(shared / "tokenizers" / name))
    split = pretokens.regex_splitter(view)
    assert split is not None
    for f in sorted((shared / "text").glob("*/*.txt")):
        text = f.read_text("utf-8")[:40_000]
        assert [p.encode("utf-8") for p in split(text)] == pretokens._hf_words(view, text), f.name
    text = (shared / "text/lang/hin.txt").read_text("utf-8")[:20_000]
    fast = pretokens.count(view, [text])
    monkeypatch.setattr(pretokens, "regex_splitter", lambda v: None)
    assert pretokens.count(view, [text]) == fast
    # a splitter that disagrees with the pipeline on the first text is not trusted
    monkeypatch.setattr(pretokens, "regex_splitter", lambda v: lambda t: t.split())
    assert pretokens.count(view, [text]) == fast
