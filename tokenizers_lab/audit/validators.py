"""The %Lang / %Pure validators: offline oracles of whether a string is a word (or a single
morpheme) of a language. integrity.py measures tokenizers with them.

Bayram et al. 2025 define %TR (valid Turkish tokens) and %Pure (tokens that are a root or a single
morpheme) for Turkish; their published numbers are type level (unique decoded tokens, word-boundary
markers stripped, whitespace-only tokens gone). Here the same is generalised to any language with
pluggable offline validators, at type and token level.

Validators (a registry, `KIND[:ARG]`):
  lexicon:PATH    word list (first field of each line); validity only
  freq:PATH       frequency list ("word count" lines); validity only, labelled frequency-based
                  because such lists contain fragments ("lar", "ing")
  hunspell:PATH   Hunspell .dic/.aff via spylls (pure Python), a path or a system dictionary name
                  (tr_TR: /usr/share/hunspell, Debian's hunspell-* packages); validity = the
                  dictionary accepts the word; pure = a .dic stem or an affix string of the .aff
  turkish:DIR     the Zemberek lexicon (roots with their Voicing/LastVowelDrop/Doubling variants),
                  Zemberek's inflectional endings and the MFT suffix list; valid = root + ending or a
                  single suffix; pure = a root or a single suffix
  wordfreq[:MIN]  wordfreq's list for the language (Zipf >= MIN, default 3); frequency-based
  corpus-words    the words of the audited text itself; a proxy needing no data, no morphology
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers_lab.errors import InputError, MissingExtraError, UsageError, unknown_name

_LETTER = re.compile(r"[^\W\d_]")
_PUNCTUATION = ".,;:!?\"'()[]{}«»“”„‘’—–-…"


def _dotted_i(lang: str) -> bool:
    """Languages whose I lowercases to dotless ı (and İ to i)."""
    return lang.split("_")[0] in ("tur", "azj", "aze", "tr", "az", "crh", "gag")


def lower(word: str, lang: str) -> str:
    """Language-aware lowercasing: Turkish and Azerbaijani map I -> ı and İ -> i first."""
    if _dotted_i(lang):
        word = word.replace("I", "ı").replace("İ", "i")
    return unicodedata.normalize("NFC", word).lower()


@dataclass
class Validator:
    """One language's word/morpheme oracle."""

    kind: str
    source: str
    version: str
    frequency_based: bool
    is_valid: Callable[[str], bool]
    is_pure: Callable[[str], bool] | None
    note: str = ""


def _read_lines(path: Path) -> Iterable[str]:
    if not path.is_file():
        raise InputError(f"validator file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
    except UnicodeDecodeError:
        raise InputError(f"validator file {path} is not UTF-8 text") from None


def _lexicon(arg: str, lang: str, frequency: bool) -> Validator:
    path = Path(arg)
    words = {
        lower(line.split()[0], lang)
        for line in _read_lines(path)
        if line.strip() and not line.startswith("#")
    }
    if not words:
        raise InputError(f"validator word list {path} is empty")
    return Validator(
        "freq" if frequency else "lexicon",
        path.name,
        f"{len(words)} entries",
        frequency,
        words.__contains__,
        None,
        "frequency list: contains bound fragments, an upper bound" if frequency else "",
    )


def _hunspell(arg: str, lang: str) -> Validator:
    try:
        from spylls.hunspell import Dictionary
    except ImportError:
        raise MissingExtraError(
            "the hunspell validator needs spylls: pip install 'tokenizers-lab[audit]'"
        ) from None
    base = Path(arg)
    base = base.with_suffix("") if base.suffix in (".dic", ".aff") else base
    if not base.with_suffix(".dic").is_file() and "/" not in arg:
        # a bare name such as tr_TR: the system dictionaries (Debian's hunspell-* packages)
        for folder in HUNSPELL_DIRS:
            if (Path(folder) / f"{arg}.dic").is_file():
                base = Path(folder) / arg
                break
    dic, aff = base.with_suffix(".dic"), base.with_suffix(".aff")
    for f in (dic, aff):
        if not f.is_file():
            raise InputError(f"hunspell dictionary file not found: {f}")
    try:
        d = Dictionary.from_files(str(base))
    except Exception as e:  # noqa: BLE001 - spylls raises assorted errors on malformed files
        raise InputError(f"cannot read hunspell dictionary {base}: {e}") from None
    stems = {lower(w.stem, lang) for w in d.dic.words}
    affixes: set[str] = set()
    for table in (d.aff.SFX, d.aff.PFX):
        for rules in table.values():
            affixes.update(lower(r.add, lang) for r in rules if r.add)
    pure = stems | affixes

    def valid(word: str) -> bool:
        return bool(d.lookup(word)) or bool(d.lookup(word.capitalize()))

    import spylls

    return Validator(
        "hunspell",
        base.name,
        f"spylls {getattr(spylls, '__version__', '0.1.7')}",
        False,
        valid,
        pure.__contains__,
        "lookup of the lowercased word and its capitalised form",
    )


HUNSPELL_DIRS = ("/usr/share/hunspell", "/usr/share/myspell", "/usr/share/myspell/dicts")
_VOICING = {"p": "b", "ç": "c", "t": "d", "k": "ğ"}
_VOWELS = set("aeıioöuüâîû")


def _turkish(arg: str, lang: str) -> Validator:
    folder = Path(arg)
    lexicon, endings_file, suffix_file = (
        folder / "zemberek_lexicon.tsv.gz",
        folder / "zemberek_endings.txt",
        folder / "mft_ekler.json",
    )
    for f in (lexicon, endings_file, suffix_file):
        if not f.is_file():
            raise InputError(f"turkish validator needs {f.name} in {folder}")
    roots: set[str] = set()
    for line in _read_lines(lexicon):
        cols = line.split("\t")
        if len(cols) < 9 or cols[4] in ("Prop", "Abbrv"):
            continue  # proper nouns and abbreviations accept too many short strings
        root, attrs = lower(cols[2], "tur"), cols[8]
        if not root:
            continue
        roots.add(root)
        if "Voicing" in attrs and root[-1] in _VOICING:
            roots.add(root[:-1] + _VOICING[root[-1]])
        if "LastVowelDrop" in attrs and len(root) > 2 and root[-2] in _VOWELS:
            roots.add(root[:-2] + root[-1])
        if "Doubling" in attrs:
            roots.add(root + root[-1])
    endings = {lower(e, "tur") for e in _read_lines(endings_file) if e}
    try:
        suffixes = {lower(s, "tur") for s in json.loads(suffix_file.read_text("utf-8"))}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"cannot read {suffix_file}: not a JSON object of suffixes") from None
    max_end = max(map(len, endings), default=0)

    def valid(word: str) -> bool:
        if word in roots or word in suffixes:
            return True
        for cut in range(max(1, len(word) - max_end), len(word)):
            if word[:cut] in roots and word[cut:] in endings:
                return True
        return False

    def pure(word: str) -> bool:
        return word in roots or word in suffixes

    return Validator(
        "turkish",
        folder.name,
        f"zemberek lexicon {len(roots)} roots, {len(endings)} endings, {len(suffixes)} suffixes",
        False,
        valid,
        pure,
        "valid = root (+ Zemberek ending) or one suffix; pure = root or one suffix; proper nouns "
        "and abbreviations excluded; vowel harmony is not checked across the root/ending cut",
    )


def _wordfreq(arg: str, lang: str) -> Validator:
    try:
        import wordfreq
    except ImportError:
        raise MissingExtraError("the wordfreq validator needs wordfreq: pip install wordfreq") from None
    code = {
        "eng": "en",
        "tur": "tr",
        "deu": "de",
        "fra": "fr",
        "spa": "es",
        "rus": "ru",
        "ara": "ar",
        "arb": "ar",
        "hin": "hi",
        "jpn": "ja",
        "zho": "zh",
        "kor": "ko",
        "ell": "el",
        "fin": "fi",
    }.get(lang.split("_")[0], lang.split("_")[0])
    minimum = float(arg) if arg else 3.0
    if code not in wordfreq.available_languages():
        raise UsageError(f"wordfreq has no list for {lang} ({code})")
    return Validator(
        "wordfreq",
        code,
        f"wordfreq {wordfreq.__version__} zipf>={minimum}",
        True,
        lambda w: wordfreq.zipf_frequency(w, code) >= minimum,
        None,
        "frequency list: contains bound fragments, an upper bound",
    )


def corpus_word_set(lines: Sequence[str], lang: str) -> frozenset[str]:
    """The words (holding a letter, whitespace-separated, punctuation trimmed) of the text, lowercased
    in one pass. The letter test runs before trimming: the trimmed characters are no letters."""
    search = _LETTER.search
    return frozenset(w.strip(_PUNCTUATION) for w in set(lower("\n".join(lines), lang).split()) if search(w))


def corpus_words(lines: Sequence[str], lang: str, words: frozenset[str] | None = None) -> Validator:
    """The words of the text itself as the validator (`words`: corpus_word_set(lines, lang), when
    already built)."""
    words = corpus_word_set(lines, lang) if words is None else words
    return Validator(
        "corpus-words",
        "audited text",
        f"{len(words)} words",
        False,
        words.__contains__,
        None,
        "proxy: a token counts when it is a whole word of the audited text itself",
    )


VALIDATORS: dict[str, Callable[[str, str], Validator]] = {
    "lexicon": lambda arg, lang: _lexicon(arg, lang, False),
    "freq": lambda arg, lang: _lexicon(arg, lang, True),
    "hunspell": _hunspell,
    "turkish": _turkish,
    "wordfreq": _wordfreq,
    "corpus-words": lambda arg, lang: Validator("corpus-words", "", "", False, lambda w: False, None),
}


def parse_validator(spec: str) -> tuple[str, str, str]:
    """'tur_Latn=turkish:DIR' -> ('tur_Latn', 'turkish', 'DIR'); '*' stands for every language."""
    if "=" not in spec:
        raise UsageError(f"--validator {spec!r}: expected LANG=KIND[:ARG], e.g. tur_Latn=turkish:DIR")
    lang, rest = spec.split("=", 1)
    kind, _, arg = rest.partition(":")
    if kind not in VALIDATORS:
        raise unknown_name("validator", kind, VALIDATORS)
    if kind in ("lexicon", "freq", "hunspell", "turkish") and not arg:
        raise UsageError(f"--validator {spec!r}: {kind} needs a path ({kind}:PATH)")
    return lang.strip(), kind, arg


def build_validator(kind: str, arg: str, lang: str, lines: Sequence[str]) -> Validator:
    """Load one validator for one language (corpus-words reads the language's own lines)."""
    if kind == "corpus-words":
        return corpus_words(lines, lang)
    return VALIDATORS[kind](arg, lang)
