"""`invert` (work in progress): the merge replay engine against a real BPE training."""

from __future__ import annotations

from collections import Counter

import pytest

from tokenizers_lab.corpus import Corpus
from tokenizers_lab.invert.replay import merge_ids, replay
from tokenizers_lab.tokenizer import HFView, bytelevel_to_bytes


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
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
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
