"""The fast exact encoder behind a TokenizerView: gigatoken, where it loads the tokenizer and gives
the reference library's ids on the run's own input.

Exactness is checked, never assumed. `use_fastest` builds gigatoken's tokenizer from what the view
was loaded from (tokenizer.json text, tiktoken ranks with the preset's splitting scheme, a
SentencePiece model), encodes a sample of the actual input (the caller's: e.g. the head of every
language of a parallel corpus and of every corpus) plus built-in tricky strings and every special
token in context, and compares each id list with the reference library (tokenizers, tiktoken or
sentencepiece). Any difference, a refusal to load, or a crash keeps the reference path, with one
note naming the reason. A batch that fails later (gigatoken raising on some text) is encoded by
the reference library, and counted.

gigatoken prints from Rust straight to the process's file descriptors (panic messages): loading
and checking run with fds 1-2 silenced, so stdout stays JSON and --quiet stays quiet.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from tokenizers_lab.native import silenced
from tokenizers_lab.tokenizer.align import flatten
from tokenizers_lab.tokenizer.base import library_name

if TYPE_CHECKING:
    from tokenizers_lab.tokenizer.base import TokenizerView

# our tiktoken presets -> gigatoken's splitting scheme of the same regex (the check still runs)
GIGATOKEN_SCHEMES = {"r50k": "gpt2", "cl100k": "gpt4", "o200k": "o200k", "qwen": "qwen2", "qwen35": "qwen35"}

# how gigatoken's loader names a component it does not implement (a custom pre-tokenizer regex,
# an NFKC normalizer): such tokenizers are simply not covered, like WordPiece; any other refusal
# (a crash, a file it should read) is noted
NOT_IMPLEMENTED = ("Unsupported ", "Unknown ")

# characters of the head of each input that the check encodes with both libraries
SAMPLE_CHARS = 64_000

# strings the check always encodes: whitespace runs and line ends, digits, contractions, marks,
# scripts without spaces, emoji sequences, control and private-use characters, unnormalised forms
TRICKY = (
    "",
    " ",
    "  leading and trailing  ",
    "tabs\tand\r\nwindows\nlines\n\n\n  \n",
    "I'm we'll they've it's DON'T O'Neil",
    "1234567890 3.14159 1,234,567 ２０２４ ١٢٣ 12345678901234567890",
    "naïve café résumé e\u0301 n\u0303 Å A\u030a ﬁ ｆｕｌｌｗｉｄｔｈ",
    "日本語のテキスト、中文文本。한국어 텍스트 ภาษาไทย ພາສາລາວ",
    "العربية עברית \u200f\u200e हिन्दी বাংলা தமிழ் ܣܘܪܝܝܐ",
    "👩\u200d👩\u200d👧 🇩🇪 👍🏽 ❤️ \U0001f9d1\u200d\U0001f4bb",
    "\x00\x01\x7f \ufeff \u00ad \ue000 \U0010fffd \u2028 \u00a0nbsp",
    "    def f(x):\n        return x  # comment\n\tif (a&&b) { c->d[0] = 'e'; }",
    "https://example.org/a?b=c&d=e#f user@example.com <|not_special|> <s> </s>",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "!!!???...---___===+++***",
)


def gigatoken_version() -> str | None:
    try:
        return version("gigatoken")
    except PackageNotFoundError:
        return None


def _flat_and_counts(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids as int64, ids per text) of gigatoken's awkward result: read from its list-offset
    layout's two buffers (awkward's generic flatten/num calls cost a millisecond a batch, a tenth of
    the audit's encoding), else through awkward."""
    layout = getattr(arr, "layout", None)
    offsets = getattr(layout, "offsets", None)
    content = getattr(getattr(layout, "content", None), "data", None)
    if offsets is not None and content is not None and type(layout).__name__ == "ListOffsetArray":
        off = np.asarray(offsets.data, dtype=np.int64)
        return np.asarray(content, dtype=np.int64)[off[0] : off[-1]], np.diff(off)
    import awkward as ak

    return np.asarray(ak.flatten(arr), dtype=np.int64), np.asarray(ak.num(arr), dtype=np.int64)


class FastEncoder:
    """gigatoken's tokenizer, rebuilt from its recipe after pickling (workers get the recipe)."""

    name = "gigatoken"

    def __init__(
        self,
        kind: str,
        data: bytes | str,
        scheme: str | None,
        prep: Callable[[str], str],
        literal: Sequence[str] = (),
    ) -> None:
        self.kind, self.data, self.scheme, self.prep = kind, data, scheme, prep
        # special tokens the reference library reads as plain text where gigatoken emits their id
        # (sentencepiece's <s>): a text holding one is the reference library's to encode
        self.literal = (
            re.compile("|".join(map(re.escape, sorted(literal, key=len, reverse=True)))) if literal else None
        )
        # a batch is searched once, its texts joined by a character no literal holds (a match
        # cannot then span two texts)
        self._joiner = next((c for c in ("\n", "\x00", "\ufffe") if not any(c in t for t in literal)), None)
        self.version = gigatoken_version() or "?"
        self.failures = 0  # batches handed back to the reference library
        self._tok: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_tok", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tok, self._lock = None, threading.Lock()

    @property
    def tok(self) -> Any:
        if self._tok is None:
            with self._lock:
                if self._tok is None:
                    self._tok = _build(self.kind, self.data, self.scheme)
        return self._tok

    def encode_flat(
        self, texts: Sequence[str], reference: Callable[[Sequence[str]], list[list[int]]]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(every id, flat; each text's id count), or None when gigatoken fails on this batch.
        gigatoken's array result is read without building a Python list per text (that costs
        more than the encoding)."""
        from tokenizers_lab.tokenizer.base import threads

        if self.literal is not None and self._holds_literal(texts):
            got = self.encode_batch(texts, reference)  # rare: texts holding a literal special
            if got is None:
                return None
            return flatten(got), np.fromiter(map(len, got), dtype=np.int64, count=len(got))
        try:
            arr = self.tok.encode_batch(
                [self.prep(t) for t in texts], parallel=None if threads() > 1 else False
            )
            return _flat_and_counts(arr)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - pyo3's PanicException derives from BaseException
            self.failures += 1
            return None

    def _holds_literal(self, texts: Sequence[str]) -> bool:
        """Whether a text of the batch holds a literal special."""
        assert self.literal is not None
        if self._joiner is not None:
            return self.literal.search(self._joiner.join(texts)) is not None
        return any(self.literal.search(t) for t in texts)

    def encode_batch(
        self, texts: Sequence[str], reference: Callable[[Sequence[str]], list[list[int]]]
    ) -> list[list[int]] | None:
        """Ids of each text, or None when gigatoken fails on this batch (the caller encodes it with
        the reference library). Texts holding a literal special go to `reference`."""
        from tokenizers_lab.tokenizer.base import threads

        try:
            got = self.tok.encode_batch_list(
                [self.prep(t) for t in texts], parallel=None if threads() > 1 else False
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - pyo3's PanicException derives from BaseException
            self.failures += 1
            return None
        if self.literal is not None:
            marked = [k for k, t in enumerate(texts) if self.literal.search(t)]
            if marked:
                for k, ids in zip(marked, reference([texts[k] for k in marked])):
                    got[k] = ids
        return got


def _build(kind: str, data: bytes | str, scheme: str | None) -> Any:
    import gigatoken

    if kind == "json":
        return gigatoken.Tokenizer.from_json(data)
    if kind == "sentencepiece":
        return gigatoken.Tokenizer.from_sentencepiece(data)
    # ranks: gigatoken reads a rank file, so the parsed ranks are written once to a private one
    fd, path = tempfile.mkstemp(suffix=".tiktoken", prefix="tokenlab-ranks-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return gigatoken.Tokenizer.from_tiktoken(path, scheme, {})
    finally:
        os.unlink(path)


def _recipe(view: TokenizerView) -> tuple[str, bytes | str, str | None, tuple[str, ...]] | str:
    """(kind, data, scheme, literal specials) to build gigatoken's tokenizer for a view, or why
    there is none."""
    from tokenizers_lab.tokenizer.hf import HFView
    from tokenizers_lab.tokenizer.ranks import TiktokenView
    from tokenizers_lab.tokenizer.spm import SentencePieceView

    if view.model_type != "bpe":
        return f"gigatoken encodes BPE models only (this is {view.model_type})"
    if isinstance(view, HFView):
        return "json", view.tok.to_str(), None, ()
    if isinstance(view, SentencePieceView):  # sentencepiece never reads a control token from text
        return "sentencepiece", view.sp.serialized_model_proto(), None, tuple(view.special_tokens)
    if isinstance(view, TiktokenView):
        scheme = GIGATOKEN_SCHEMES.get(view.preset)
        if scheme is None or view.id_offset or view.pattern != _preset_regex(view.preset):
            return f"gigatoken has no splitting scheme for the {view.preset} pre-tokenizer"
        ranks = sorted(view.rank_items(), key=lambda kv: kv[1])
        return "ranks", b"".join(base64.b64encode(b) + b" %d\n" % r for b, r in ranks), scheme, ()
    return f"gigatoken does not load {type(view).__name__}"


def _preset_regex(preset: str) -> str | None:
    from tokenizers_lab.patterns import resolve_pattern

    try:
        return resolve_pattern(preset)[1]
    except Exception:  # noqa: BLE001 - not a preset name
        return None


def check_sample(view: TokenizerView, texts: Sequence[str]) -> list[str]:
    """The check's texts: the caller's sample, the tricky strings, the tricky strings joined by
    newlines, and every special token's text alone and inside words."""
    specials = list(view.special_tokens)
    out = [*texts, *TRICKY, "\n".join(TRICKY)]
    out += specials
    out += [f"a{s}b {s} {s}{s}\n{s}" for s in specials]
    return out


def use_fastest(view: TokenizerView, sample: Sequence[str], mode: str = "auto") -> str | None:
    """Attach gigatoken to `view` when it gives the reference ids on `sample`. Returns a note when
    gigatoken was tried and refused or differed (a model it does not cover at all -- WordPiece,
    Unigram, a pre-tokenizer it has no scheme for -- simply stays with its library: the report's
    encoder field says which ran)."""
    if mode == "reference" or view.fast is not None or gigatoken_version() is None:
        return None
    recipe = _recipe(view)
    if isinstance(recipe, str):
        return None
    texts = check_sample(view, sample)
    with silenced((1, 2)):
        try:
            kind, data, scheme, literal = recipe
            fast = FastEncoder(kind, data, scheme, view.prepare, literal)
            fast.tok  # noqa: B018 - build now, inside the silenced block
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - gigatoken's load errors and Rust panics
            detail = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            if detail.startswith(NOT_IMPLEMENTED):  # a component it does not implement: not covered
                return None
            return f"{view.label}: encoded by {library_name(view.backend)} (gigatoken does not load it: {detail})"
        got = fast.encode_batch(texts, view.reference_encode_batch)
        flat = fast.encode_flat(texts, view.reference_encode_batch)  # the corpus passes' call
    if got is None or flat is None:
        return f"{view.label}: encoded by {library_name(view.backend)} (gigatoken failed on the check sample)"
    want = view.reference_encode_batch(texts)
    bad = [k for k, (a, b) in enumerate(zip(got, want)) if list(a) != list(b)]
    if not bad and (flat[1].tolist() != [len(x) for x in want] or flat[0].tolist() != flatten(want).tolist()):
        return f"{view.label}: encoded by {library_name(view.backend)} (gigatoken's array call gave other ids than its list call)"
    if bad:
        first = texts[bad[0]][:40]
        return (
            f"{view.label}: encoded by {library_name(view.backend)} (gigatoken gave other ids on "
            f"{len(bad)} of {len(texts)} checked texts, first {first!r})"
        )
    view.fast = fast
    return None


def sample_head(lines: Sequence[str], chars: int = SAMPLE_CHARS) -> list[str]:
    """The first lines of a text up to `chars` characters (at least one line), and their join."""
    out: list[str] = []
    n = 0
    for line in lines:
        out.append(line)
        n += len(line)
        if n >= chars:
            break
    return [*out, "\n".join(out)] if len(out) > 1 else out
