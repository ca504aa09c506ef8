"""CharBench-style character-level probes (Uzan & Pinter 2025, templates MIT).

Items: the four tasks over words of 4-10 ASCII letters, per length bucket a seeded shuffle split
into disjoint slices per task (as the authors' generator does). Per tokenizer, the token features
they correlate with accuracy: tokens per word, characters per token, the length of the token that
holds the queried position and the position inside it -- for the bare word (their analysis) and
for the word inside the prompt (quotes and the leading space can merge). Given predictions, accuracy
per task and the Pearson correlation of each feature with correctness.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenizers_lab.errors import InputError, MissingExtraError
from tokenizers_lab.tokenizer import Aligned, TokenizerView

TASKS = ("count_character_frequency", "count_unique_chars", "find_first_occurrence", "find_last_occurrence")
TEMPLATES = {
    "count_character_frequency": "How many times does the character '{character}' appear in the string '{word}'?",
    "count_unique_chars": "How many unique characters appear in the string '{word}'?",
    "find_first_occurrence": "What is the index of the first occurrence of the character '{character}' in the "
    "string '{word}'?\nStart counting from 0.",
    "find_last_occurrence": "What is the index of the last occurrence of the character '{character}' in the "
    "string '{word}'?\nStart counting from 0.",
}
INSTRUCTION = (
    "Answer this question only with the final number, without any other text. Lower case and upper "
    "case letters are considered different characters."
)
LENGTHS = range(4, 11)
_WORD = re.compile(r"\b[a-zA-Z]+\b")
FEATURES = (
    "word_length",
    "answer",
    "tokens",
    "chars_per_token",
    "target_token_length",
    "target_position",
    "context_tokens",
    "context_target_token_length",
)


@dataclass(frozen=True)
class Item:
    """One question with its gold answer."""

    id: str
    task: str
    word: str
    character: str | None
    question: str
    prompt: str
    answer: int


def collect_words(texts: Iterable[str]) -> list[str]:
    """Unique ASCII-letter words of 4-10 letters, in first-seen order."""
    seen: dict[str, None] = {}
    for t in texts:
        for w in _WORD.findall(t):
            if 4 <= len(w) <= 10:
                seen.setdefault(w, None)
    return list(seen)


def gold(task: str, word: str, ch: str | None) -> int:
    """The answer of one question, as the authors' generator computes it."""
    if task == "count_character_frequency":
        return word.count(ch or "")
    if task == "count_unique_chars":
        return len(set(word))
    if task == "find_first_occurrence":
        return word.index(ch or "")
    return word.rindex(ch or "")


def make_items(words: Sequence[str], per_bucket: int, seed: int) -> list[Item]:
    """Deterministic items: per length, shuffle the words (seeded) and give each task its own slice."""
    rng = random.Random(seed)
    by_len: dict[int, list[str]] = {n: sorted({w for w in words if len(w) == n}) for n in LENGTHS}
    items = []
    for n in LENGTHS:
        pool = by_len[n]
        rng.shuffle(pool)
        take = min(per_bucket, len(pool) // len(TASKS))
        for k, task in enumerate(TASKS):
            for j, word in enumerate(pool[k * take : (k + 1) * take]):
                ch = None if task == "count_unique_chars" else rng.choice(word)
                answer = gold(task, word, ch)
                q = TEMPLATES[task].format(character=ch, word=word)
                items.append(
                    Item(
                        id=f"{task}-{n}-{j}",
                        task=task,
                        word=word,
                        character=ch,
                        question=q,
                        prompt=f"{INSTRUCTION}\n{q}",
                        answer=answer,
                    )
                )
    return items


def items_jsonl(items: Sequence[Item]) -> bytes:
    """The item set as JSONL any model harness can answer (one object per line)."""
    return "".join(
        json.dumps(
            {
                "id": it.id,
                "task": it.task,
                "word": it.word,
                "character": it.character,
                "question": it.question,
                "prompt": it.prompt,
                "answer": it.answer,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        + "\n"
        for it in items
    ).encode("utf-8")


def _target(item: Item) -> int | None:
    return item.answer if item.task in ("find_first_occurrence", "find_last_occurrence") else None


def _locate(starts: np.ndarray, ends: np.ndarray, pos: int) -> int | None:
    hit = np.nonzero((starts <= pos) & (ends > pos))[0]
    return int(hit[0]) if hit.size else None


def _per_line(al: Aligned, n: int) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each line's token spans, in that line's own coordinates (None: not aligned)."""
    cut = np.searchsorted(al.line_of_token, np.arange(n + 1))
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    base = 0
    for k in range(n):
        a, b = cut[k], cut[k + 1]
        out.append((al.starts[a:b] - base, al.ends[a:b] - base) if al.line_ok[k] else None)
        base += al.text_lengths[k] + 1
    return out


def features(view: TokenizerView, items: Sequence[Item]) -> np.ndarray:
    """Per item the FEATURES row (NaN where a feature does not apply or cannot be aligned)."""
    bare = view.encode_aligned([it.word for it in items])
    ctx = view.encode_aligned([it.prompt for it in items])
    out = np.full((len(items), len(FEATURES)), np.nan)
    for k, (it, ids, spans, cspans) in enumerate(
        zip(items, bare.ids, _per_line(bare, len(items)), _per_line(ctx, len(items)))
    ):
        n = len(it.word)
        row = out[k]
        row[0], row[1] = n, it.answer
        row[2] = len(ids)
        row[3] = n / len(ids) if ids else np.nan
        target = _target(it)
        if spans is not None and target is not None:
            t = _locate(*spans, target)
            if t is not None:
                row[4] = spans[1][t] - spans[0][t]
                row[5] = target - spans[0][t]
        if cspans is not None:
            ws = it.prompt.rfind(f"'{it.word}'") + 1
            s, e = cspans
            row[6] = int(((s < ws + n) & (e > ws) & (e > s)).sum())
            if target is not None:
                t = _locate(s, e, ws + target)
                if t is not None:
                    row[7] = e[t] - s[t]
    return out


@dataclass(frozen=True)
class FeatureSummary:
    """Distribution of the token features of one tokenizer on one task."""

    task: str
    items: int
    mean_tokens: float
    mean_chars_per_token: float
    mean_target_token_length: float | None
    share_target_in_long_token: float | None  # queried character inside a token of >= 4 characters
    mean_context_tokens: float | None
    context_differs: float | None  # share of items whose word splits differently inside the prompt


def summarize(task: str, feats: np.ndarray) -> FeatureSummary:
    """Means of a task's features."""

    def mean(col: int) -> float | None:
        v = feats[:, col]
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else None

    tl = feats[:, 4]
    tl = tl[~np.isnan(tl)]
    ctx = feats[:, 6]
    both = ~np.isnan(ctx)
    return FeatureSummary(
        task=task,
        items=len(feats),
        mean_tokens=mean(2) or 0.0,
        mean_chars_per_token=mean(3) or 0.0,
        mean_target_token_length=mean(4),
        share_target_in_long_token=float((tl >= 4).mean()) if tl.size else None,
        mean_context_tokens=mean(6),
        context_differs=float((ctx[both] != feats[both, 2]).mean()) if both.any() else None,
    )


def read_predictions(path: Path) -> dict[str, str]:
    """Predictions as {item id: raw answer}: JSONL with id + prediction, or CSV/TSV id,prediction."""
    if not path.is_file():
        raise InputError(f"predictions file not found: {path}")
    out: dict[str, str] = {}
    text = path.read_text("utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
                out[str(obj["id"])] = str(obj.get("prediction", obj.get("answer_pred", "")))
            except (json.JSONDecodeError, KeyError):
                raise InputError(f"{path}:{n}: expected a JSON object with id and prediction") from None
        else:
            parts = re.split(r"[\t,]", line, maxsplit=1)
            if n == 1 and parts[0].strip().lower() == "id":
                continue
            if len(parts) != 2:
                raise InputError(f"{path}:{n}: expected 'id,prediction'")
            out[parts[0].strip()] = parts[1].strip()
    if not out:
        raise InputError(f"predictions file {path} holds no predictions")
    return out


def parse_answer(raw: str) -> int | None:
    """The first integer in a model's answer."""
    m = re.search(r"-?\d+", raw)
    return int(m.group()) if m else None


@dataclass(frozen=True)
class TaskScore:
    """Accuracy on one task and the Pearson r of each feature with correctness."""

    task: str
    answered: int
    accuracy: float
    correlations: dict[str, float | None]


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r over rows where x is defined; None when either side is constant."""
    ok = ~np.isnan(x)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(np.corrcoef(x, y)[0, 1])


def score(items: Sequence[Item], feats: np.ndarray, predictions: dict[str, str]) -> tuple[TaskScore, ...]:
    """Per task (and 'all'): accuracy of the answered items and feature-correctness correlations."""
    rows = [(k, it) for k, it in enumerate(items) if it.id in predictions]
    if not rows:
        raise InputError("no prediction matches an item id of this item set (same --seed and words?)")
    correct = np.array([parse_answer(predictions[it.id]) == it.answer for _, it in rows], dtype=float)
    idx = np.array([k for k, _ in rows])
    tasks = np.array([it.task for _, it in rows])
    out = []
    for task in (*TASKS, "all"):
        sel = np.ones(len(rows), bool) if task == "all" else tasks == task
        if not sel.any():
            continue
        f = feats[idx[sel]]
        out.append(
            TaskScore(
                task=task,
                answered=int(sel.sum()),
                accuracy=float(correct[sel].mean()),
                correlations={name: pearson(f[:, j], correct[sel]) for j, name in enumerate(FEATURES)},
            )
        )
    return tuple(out)


def predict_with_model(
    model_dir: Path, items: Sequence[Item], max_new_tokens: int = 8, batch_size: int = 16
) -> dict[str, str]:
    """Answer the items with a local Hugging Face causal LM (greedy, CPU; the `torch` extra).
    Never downloads and never runs remote code; the chat template is used when the model has one."""
    if not (model_dir / "config.json").is_file():
        raise InputError(
            f"--charbench-model {model_dir} is not a local Hugging Face model folder (no config.json)"
        )
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingExtraError(
            "--charbench-model needs torch and transformers: pip install 'tokenizers-lab[torch]'"
        ) from None
    try:
        tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
    except (OSError, ValueError) as e:
        raise InputError(f"cannot load model {model_dir}: {str(e).splitlines()[0]}") from None
    model.eval()
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    prompts = [
        tok.apply_chat_template(
            [{"role": "user", "content": it.prompt}], tokenize=False, add_generation_prompt=True
        )
        if tok.chat_template
        else it.prompt + "\n"
        for it in items
    ]
    out: dict[str, str] = {}  # greedy decoding (do_sample=False): no random state involved
    with torch.inference_mode():
        for k in range(0, len(items), batch_size):
            enc = tok(prompts[k : k + batch_size], return_tensors="pt", padding=True)
            gen = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
            texts = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for it, text in zip(items[k : k + batch_size], texts):
                out[it.id] = text.strip()
    return out


def predictions_jsonl(predictions: dict[str, str]) -> bytes:
    """Model answers as JSONL (id, prediction), the format --predictions reads."""
    return "".join(
        json.dumps({"id": k, "prediction": v}, ensure_ascii=False, sort_keys=True) + "\n"
        for k, v in sorted(predictions.items())
    ).encode("utf-8")
