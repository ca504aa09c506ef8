"""Pre-tokenizer regexes of well-known encodings (public facts), keyed by preset name."""

from __future__ import annotations

from tokenizers_lab.errors import UsageError, unknown_name

_CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"

PATTERNS: dict[str, str] = {
    # GPT-2 / r50k / p50k / whisper
    "r50k": _CONTRACTIONS + r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    # GPT-3.5 / GPT-4
    "cl100k": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # GPT-4o
    "o200k": "|".join(
        [
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            r"\p{N}{1,3}",
            r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        ]
    ),
    # Llama 3 (same shape as cl100k)
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # Qwen 1/1.5/2/2.5/3: digits one by one (NFC applied before)
    "qwen": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # Qwen 3.5/3.6: combining marks join letters, no NFC
    "qwen35": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # SuperBPE stage 1 (o200k-like, Liu et al. 2025 scripts) and stage 2 (whitespace lifted)
    "superbpe-stage1": "|".join(
        [
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*",
            r"\p{N}{1,3}",
            r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        ]
    ),
    "superbpe-stage2": r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)",
}
PATTERNS["gpt2"] = PATTERNS["r50k"]

# SentencePiece-style words over ▁-marked text: a run of ▁ with the non-▁ characters after it
# (sentencepiece keeps whitespace runs together when whitespace-only pieces are allowed).
METASPACE_WORDS = "\u2581+[^\u2581]*|[^\u2581]+"

# Presets whose encoders apply Unicode NFC before splitting.
NFC_PRESETS = frozenset({"qwen"})


def resolve_pattern(name_or_regex: str) -> tuple[str, str]:
    """(preset name, regex) for a preset name, or ("custom", regex) for a raw regex, which must
    compile and never match the empty string (tiktoken's Rust core panics on an empty piece):
    checked here, once, for every entry point (train, audit, invert, transplant)."""
    if name_or_regex in PATTERNS:
        return name_or_regex, PATTERNS[name_or_regex]
    if any(ch in name_or_regex for ch in "\\|()[]?+*"):
        import regex

        try:
            regex.compile(name_or_regex)
        except regex.error as e:
            raise UsageError(f"pattern {name_or_regex!r} is not a valid regex: {e}") from None
        if matches_empty(name_or_regex):
            raise UsageError(
                f"pattern {name_or_regex!r} matches the empty string (a pre-tokenizer must "
                "consume at least one character per piece)"
            )
        return "custom", name_or_regex
    raise unknown_name("pattern preset", name_or_regex, PATTERNS)


_EMPTY_PROBE = "Hello, World! 123 ünï 中文\n\t  x_y-z.\r\n"


def matches_empty(pattern: str) -> bool:
    """Whether a pre-tokenizer regex yields an empty piece on ordinary text."""
    import regex

    try:
        compiled = regex.compile(pattern)
    except regex.error:
        return False  # tiktoken reports a pattern it cannot compile itself
    return any(m.end() == m.start() for m in compiled.finditer(_EMPTY_PROBE))


# BERT's BertNormalizer(clean_text, handle_chinese_chars, no lowercase/accent stripping) followed by
# BertPreTokenizer, as two regexes: control characters dropped; words split at whitespace; ASCII
# punctuation/symbols, Unicode punctuation and CJK ideographs isolated. Tests check equality with
# tokenizers' own components on every line of the test corpora (532 UDHR languages included).
BERT_PUNCT = r"!-/:-@\[-`{-~\p{P}"
BERT_CJK = (
    r"\u4E00-\u9FFF\u3400-\u4DBF\U00020000-\U0002A6DF\U0002A700-\U0002B73F\U0002B740-\U0002B81F"
    r"\U0002B820-\U0002CEAF\uF900-\uFAFF\U0002F800-\U0002FA1F"
)
BERT_CONTROL = r"[\x00\ufffd\p{Cf}]|[^\P{Cc}\t\n\r]"
BERT_WORDS = rf"[^\s{BERT_PUNCT}{BERT_CJK}]+|[{BERT_PUNCT}{BERT_CJK}]"
