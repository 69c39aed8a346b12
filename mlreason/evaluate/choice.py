"""Multiple-choice answers: per-language option labels, the options block of a prompt, strict and flexible extraction.

    from mlreason.evaluate.choice import extract_choice, option_block
    option_block(["3", "4", "5", "6"], "ru")               # "А. 3\nБ. 4\nВ. 5\nГ. 6"
    extract_choice("Ответ — Б.", "ru", ["3", "4", "5", "6"])          # ChoiceAnswer(strict=1, flexible=1)

Options are labelled with the language's letters (LABELS: Latin A-D unless listed; Russian А Б В Г,
Arabic أ ب ج د, as exams in those languages write them). Extraction returns the option's index (0-3):
- strict: the label right after the language's answer phrase (mlreason.answers.ANSWER_PHRASES, the
  last occurrence), or a reply that is nothing but a label ("B", "(B)", "B.");
- flexible: strict, else the last label written as a label ("(B)", "B.", "B)", "**B**"), else the last
  label standing alone as a word, else the one option whose text the reply contains.
Latin letters are accepted in every language besides its own labels, and full-width letters (Ｂ) are
read as ASCII. Golden completions per language: tests/test_choice.py.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mlreason.answers import ANSWER_PHRASE_VARIANTS, ANSWER_PHRASES, _phrase_regex

LATIN = ("A", "B", "C", "D")
# a label ends where no letter of a label script follows (Korean "B입니다" still names B)
_END = r"(?![A-Za-z\u0400-\u04FF\u0600-\u06FF])"
LABELS: dict[str, tuple[str, ...]] = {"ru": ("А", "Б", "В", "Г"), "ar": ("أ", "ب", "ج", "د")}


@dataclass(frozen=True)
class ChoiceAnswer:
    strict: int | None      # option index 0-3, or None
    flexible: int | None


def labels(language: str, n: int = 4) -> tuple[str, ...]:
    """The option labels of `language` for n options (at most 4)."""
    if not 2 <= n <= 4:
        raise ValueError(f"multiple choice needs 2-4 options, got {n}")
    return LABELS.get(language, LATIN)[:n]


def option_block(options: list[str], language: str) -> str:
    """'A. first\\nB. second ...' with the language's labels."""
    return "\n".join(f"{label}. {text}" for label, text in zip(labels(language, len(options)), options))


def _reading(language: str, n: int) -> dict[str, int]:
    """Every letter that names an option in `language` -> its index (native labels win over Latin)."""
    return {**{x: i for i, x in enumerate(LATIN[:n])}, **{x: i for i, x in enumerate(labels(language, n))}}


def _alternation(letters: dict[str, int]) -> str:
    return "|".join(re.escape(x) for x in sorted(letters, key=len, reverse=True))


def option_strict(text: str, language: str, n: int = 4) -> int | None:
    """The option named right after the last answer phrase, or a reply that is only a label."""
    text = unicodedata.normalize("NFKC", text)
    letters = _reading(language, n)
    alt = _alternation(letters)
    whole = re.fullmatch(rf"\s*[(*]*\s*({alt})\s*[).:*]*\s*", text)
    if whole:
        return letters[whole[1]]
    phrases = [ANSWER_PHRASES.get(language, ""), *ANSWER_PHRASE_VARIANTS.get(language, ()), ANSWER_PHRASES["en"]]
    # NFKC on both sides: it rewrites some scripts' letters too (Thai SARA AM)
    phrase = "|".join(sorted({_phrase_regex(unicodedata.normalize("NFKC", p)) for p in phrases if p},
                             key=len, reverse=True))
    found = re.findall(rf"(?:{phrase})\s*[:：—–-]?\s*(?:option\s*)?[(*]*\s*({alt}){_END}", text, re.IGNORECASE)
    return letters[found[-1]] if found and found[-1] in letters else None


def option_flexible(text: str, language: str, options: list[str]) -> int | None:
    """Strict, else the last formatted label, else the last standalone label, else the one option quoted."""
    n = len(options)
    strict = option_strict(text, language, n)
    if strict is not None:
        return strict
    text = unicodedata.normalize("NFKC", text)
    letters = _reading(language, n)
    alt = _alternation(letters)
    for pattern in (rf"\(({alt})\)|\*\*({alt})\*\*|(?<!\w)({alt})[.):](?!\w)", rf"(?<!\w)({alt})(?!\w)"):
        found = [next(g for g in m.groups() if g) for m in re.finditer(pattern, text)]
        if found:
            return letters[found[-1]]
    quoted = [i for i, option in enumerate(options) if option.strip() and option.strip().lower() in text.lower()]
    return quoted[0] if len(quoted) == 1 else None


def extract_choice(text: str, language: str, options: list[str]) -> ChoiceAnswer:
    """Both extractions of one reply to a question with `options`."""
    return ChoiceAnswer(option_strict(text, language, len(options)), option_flexible(text, language, options))
