"""Text handling for XTTS: the 17 language codes and splitting text into speakable pieces.

XTTS degrades (and eventually truncates) past a per-language character limit, so long text is
split at sentence boundaries, then at clause punctuation, then between words, and only as a
last resort (scripts without spaces) inside a run of characters.  Nothing is ever dropped.

A full stop does not end a sentence after a title ("Mr."), after an abbreviation that never ends
one ("ca.", "z.B.", "e.g."), before a word in lower case ("7 a.m. tomorrow", "ca. 20 min. später"),
or after a figure that is an ordinal: before a month name ("24. Dezember") or after an article
("im 3. Stock").
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from voice_daemon.errors import RequestError

# Character limits of XTTS v2's tokenizer (TTS.tts.layers.xtts.tokenizer.VoiceBpeTokenizer).
CHAR_LIMITS: dict[str, int] = {
    "en": 250,
    "de": 253,
    "fr": 273,
    "es": 239,
    "it": 213,
    "pt": 203,
    "pl": 224,
    "zh-cn": 82,
    "ar": 166,
    "cs": 186,
    "ru": 182,
    "nl": 251,
    "tr": 226,
    "ja": 71,
    "hu": 224,
    "ko": 95,
    "hi": 150,
}
LANGUAGES: tuple[str, ...] = tuple(sorted(CHAR_LIMITS))

# A sentence ends at terminal punctuation (plus closing quotes/brackets) followed by white space;
# full-width CJK terminators need no space.  "Mr. Smith"-style abbreviations do not end one.
_SENTENCE_END = re.compile(r"""[.!?…؟।]+["'”’»)\]]*(?=\s|$)|[。！？]+["'”’»)\]]*""")
_ABBREVIATION = re.compile(r"(?:^|\s)[A-Z][a-z]{0,2}\.$")
# Abbreviations that never end a sentence (lower case; the full stop left off).
_NEVER_LAST = frozenset(
    {
        "ca",
        "approx",
        "e.g",
        "i.e",
        "vs",
        "cf",
        "bzw",
        "z.b",
        "vgl",
        "ggf",
        "evtl",
        "inkl",
        "zzgl",
        "u.a",
        "d.h",
        "env",
        "p.ex",
        "aprox",
        "p.ej",
        "ecc",
        "bijv",
        "o.a",
        "np",
        "tzw",
        "godz",
        "sig",
        "n.º",
    }
)
_BEFORE_FIGURE = frozenset({"no", "nr", "n", "ok"})  # "No. 5", "ok. 20" (Polish: about); "I said no." ends
# Words after which a figure with a full stop is an ordinal ("am 24.", "im 3. Stock").
_ORDINAL_ARTICLES = frozenset(
    {
        "am",
        "im",
        "vom",
        "zum",
        "zur",
        "beim",
        "der",
        "die",
        "das",
        "dem",
        "den",
        "des",
        "ab",
        "bis",
        "seit",
        "w",
        "we",
        "od",
        "do",
        "na",
        "po",
    }
)
_UNDECIDED = frozenset({"a.m", "p.m"})  # a time marker ends a sentence only before a capital
_CLAUSE_END = re.compile(r"(?<=[,;:，、：；،—–])\s*")


def normalize_language(code: str) -> str:
    """Map ``en``, ``EN-us``, ``pt_BR``, ``zh``, ``zh-CN`` ... to an XTTS code, or raise RequestError."""
    cleaned = code.strip().lower().replace("_", "-")
    base = cleaned.split("-", 1)[0]
    canonical = "zh-cn" if base == "zh" else base
    if canonical not in CHAR_LIMITS:
        supported = ", ".join(LANGUAGES)
        raise RequestError(
            f"unsupported language {code!r}: XTTS v2 speaks {supported} (a region suffix is allowed)"
        )
    return canonical


def split_text(text: str, language: str) -> list[str]:
    """Split ``text`` into pieces no longer than the language's XTTS limit, keeping every character."""
    limit = CHAR_LIMITS[normalize_language(language)]
    pieces: list[str] = []
    for sentence in _sentences(text):
        pieces.extend(_fit(sentence, limit))
    return pieces


def complete_sentences(text: str) -> tuple[list[str], str]:
    """The sentences already complete in ``text`` (streamed text so far), and the rest.

    A sentence is complete once something follows its terminal punctuation (white space, or any
    character after a full-width terminator): at the very end of the text it may still go on
    ("3." of "3.5", a closing quote).  A full stop after a figure or an abbreviation waits for the
    next word ("24." may be followed by "Dezember").  The rest is kept as it is, white space included.
    """
    ends = [end for end in _sentence_ends(text) if end < len(text) and not _undecided(text, end)]
    if not ends:
        return [], text
    sentences = [text[start:end].strip() for start, end in zip([0, *ends], ends, strict=False)]
    return [s for s in sentences if s], text[ends[-1] :]


def _sentence_ends(text: str) -> list[int]:
    """Where each sentence of ``text`` ends (after its punctuation), abbreviations and ordinals skipped."""
    ends: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        head = text[ends[-1] if ends else 0 : match.end()]
        if not _ABBREVIATION.search(head) and not (match.group() == "." and _goes_on(text, match.end())):
            ends.append(match.end())
    return ends


def _goes_on(text: str, end: int) -> bool:
    """Whether the sentence goes on past the full stop just before ``end``."""
    words = text[: end - 1].split()
    last = words[-1].lower() if words else ""
    following = text[end:].split(maxsplit=1)
    after = following[0] if following else ""
    if last in _NEVER_LAST or after[:1].islower() or (last in _BEFORE_FIGURE and after[:1].isdigit()):
        return True
    if last in _UNDECIDED:
        return bool(after) and not after[:1].isupper()
    if last.isdigit() and len(last) <= 3 and after:
        before = words[-2].lower() if len(words) > 1 else ""
        return before in _ORDINAL_ARTICLES or after.rstrip(".,;:!?").lower() in _month_names()
    return False


def _undecided(text: str, end: int) -> bool:
    """A full stop after a figure or an abbreviation with nothing after it yet (a stream goes on)."""
    if text[end - 1] != "." or text[end:].strip():
        return False
    words = text[: end - 1].split()
    last = words[-1].lower() if words else ""
    return last.isdigit() or last in _NEVER_LAST or last in _UNDECIDED


@cache
def _month_names() -> frozenset[str]:
    """Month names (CLDR) of the languages that write ordinals with a full stop, lower case."""
    from babel.dates import get_month_names

    languages = ("de", "pl", "cs", "hu", "tr", "nl", "en")
    contexts: tuple[Literal["format", "stand-alone"], ...] = ("format", "stand-alone")
    names = (get_month_names("wide", context, locale=lang) for lang in languages for context in contexts)
    return frozenset(name.lower() for group in names for name in group.values())


def _sentences(text: str) -> list[str]:
    ends = _sentence_ends(text)
    bounds = zip([0, *ends], [*ends, len(text)], strict=True)
    return [text[start:end].strip() for start, end in bounds if text[start:end].strip()]


def _split(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [part.strip() for part in pattern.split(text) if part and part.strip()]


def _fit(sentence: str, limit: int) -> list[str]:
    """Break one sentence into pieces of at most ``limit`` characters."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    for clause in _split(sentence, _CLAUSE_END):
        pieces.extend(_pack(clause.split(" "), limit) if len(clause) > limit else [clause])
    return _merge(pieces, limit)


def _pack(words: list[str], limit: int) -> list[str]:
    """Greedily pack words into lines; a word longer than the limit is cut into slices."""
    lines: list[str] = []
    for word in words:
        for start in range(0, max(len(word), 1), limit):
            slice_ = word[start : start + limit]
            if lines and len(lines[-1]) + 1 + len(slice_) <= limit and start == 0:
                lines[-1] = f"{lines[-1]} {slice_}"
            elif slice_:
                lines.append(slice_)
    return lines


def _merge(pieces: list[str], limit: int) -> list[str]:
    """Join adjacent short clauses back together while they fit, so prosody is not chopped up."""
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) + 1 + len(piece) <= limit:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged
