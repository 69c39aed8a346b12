"""Answer extraction and checking for multilingual math benchmarks: the one place numbers are parsed.

Two extractions are reported side by side, as in lm-evaluation-harness's MGSM tasks:
- strict: the number after the LAST occurrence of the language's own answer phrase
  ("Die Antwort lautet 11.", "答案是 11。") or the content of the last ``\\boxed{...}``; a language
  without a phrase falls back to the last ``\\boxed{}`` and then the last number (it never raises);
- flexible: the last number anywhere in the text (``\\frac{a}{b}`` counts as a/b, and a final
  space-grouped number "1 234" as 1234).
Both run on ``normalize_digits`` output, which maps native digits to ASCII, drops thousands
separators and spaces CJK text away from digits (math-verify parses none of these raw).
``answers_match`` compares numerically with a tolerance and falls back to math-verify for
LaTeX answers (PolyMath, MMATH) after unwrapping ``$...$``, ``\\boxed{}``, ``\\dfrac`` and units.
Prompts (few-shot answers) and manifests (gold validation, parallel checks) call ``parse_number``,
``final_answer`` and ``same_answer`` here; no other module parses numbers.

    >>> score_answer("所以 5 + 6 = 11。答案是 １１。", "11", "zh").strict_correct
    True
Tested by ``pytest tests/test_answers.py tests/test_golden_table.py``.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from fractions import Fraction

# The answer sentence that closes every MGSM exemplar answer, per language (for de the
# exemplars use both "lautet" (7 of 8) and "ist"; the majority form is the canonical one).
# it pt ko vi ar id ms are not in MGSM: the usual phrasing of "The answer is".
ANSWER_PHRASES: dict[str, str] = {
    "en": "The answer is",
    "de": "Die Antwort lautet",
    "fr": "La réponse est",
    "es": "La respuesta es",
    "ru": "Ответ —",
    "zh": "答案是",
    "ja": "答えは",
    "th": "คำตอบคือ",
    "sw": "Jibu ni",
    "bn": "উত্তর হল",
    "te": "సమాధానం",
    "it": "La risposta è",
    "pt": "A resposta é",
    "ko": "정답은",
    "vi": "Câu trả lời là",
    "ar": "الإجابة هي",
    "id": "Jawabannya adalah",
    "ms": "Jawapannya ialah",
}

# Other wordings strict extraction also accepts: exemplar variants and near-synonyms models
# produce when imitating the exemplars. The phrase's own trailing dash/colon is optional.
ANSWER_PHRASE_VARIANTS: dict[str, tuple[str, ...]] = {
    "de": ("Die Antwort ist",),
    "ja": ("答え：",),
    "zh": ("答案为", "答案："),
    "bn": ("উত্তর হলো", "উত্তর:"),
    "ko": ("답은",),
    "ar": ("الجواب هو",),
    "id": ("Jawabannya",),
    "ms": ("Jawapannya", "Jawapan:"),
}

# Native decimal digits -> ASCII. Ranges start at the code point of the script's zero.
_DIGIT_ZEROS = {
    "bengali": 0x09E6, "thai": 0x0E50, "arabic-indic": 0x0660, "extended-arabic-indic": 0x06F0,
    "devanagari": 0x0966, "telugu": 0x0C66, "full-width": 0xFF10,
}
_TRANSLATE = {zero + i: str(i) for zero in _DIGIT_ZEROS.values() for i in range(10)}
# Minus signs, full-width plus/equals, Arabic decimal and thousands separators. Full-width
# "，" "．" "。" stay: they are CJK punctuation and get spaced away from the digits.
_TRANSLATE.update({0x2212: "-", 0xFF0D: "-", 0xFF0B: "+", 0xFF1D: "=", 0x066B: ".", 0x066C: ","})

# Han, kana, hangul, CJK punctuation ("。", "，") and full-width forms.
_CJK = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_CJK_THEN_DIGIT = re.compile(rf"(?<=[{_CJK}])(?=[0-9])")
_DIGIT_THEN_CJK = re.compile(rf"(?<=[0-9])(?=[{_CJK}])")
# "1.234,5" and "1.234.567": dot-grouped thousands that cannot be decimals.
_EU_GROUPED_DECIMAL = re.compile(r"(?<![0-9.,])([0-9]{1,3}(?:\.[0-9]{3})+),([0-9]+)(?![0-9]|[.,][0-9])")
_EU_MULTI_DOT = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?:\.[0-9]{3}){2,}(?![0-9]|[.,][0-9])")
_COMMA_GROUPED = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?:,[0-9]{3})+(?![0-9]|,[0-9])")
# "2,5 Stunden": a decimal comma (1-2 digits after it, not part of a list like "1,2,3", nor a pair
# inside brackets like the interval "[2,3)" or the set "{2,3}").
_DECIMAL_COMMA = re.compile(r"(?<![0-9.,\[({])([0-9]+),([0-9]{1,2})(?![0-9]|[.,][0-9]|\s*[)\]}])")
# "1 000" with no-break / narrow / thin spaces only: a plain space is too often a real gap.
_SPACE_GROUPED = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?:[\u00a0\u202f\u2009][0-9]{3})+(?![0-9])")
# \frac{25}{2}, \dfrac{-1}{2}, \tfrac{3}{4} with plain numbers inside -> 25/2
_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\}\s*\{\s*([0-9]+(?:\.[0-9]+)?)\s*\}")

# A minus sign counts only where it cannot be subtraction ("5-3", "5 - 3", "x-1"); CJK text
# may touch it ("答案是-5").
_NUMBER = r"(?:(?<![A-Za-z0-9_)\]])(?<![0-9] )-)?[0-9]+(?:\.[0-9]+)?(?:/[0-9]+)?"
_NUMBER_RE = re.compile(_NUMBER)
# "1 234" with plain spaces (fr/ru group thousands so): one number after an answer phrase, and
# when it is the last number of a text ("The answer is 1 234." -> 1234).
_PLAIN_GROUPED = r"[0-9]{1,3}(?: [0-9]{3})+(?![0-9]|[.,/][0-9]|-)"
_PLAIN_GROUPED_RE = re.compile(rf"(?<![0-9.,/-]){_PLAIN_GROUPED}")
_STRICT_NUMBER = rf"-?{_PLAIN_GROUPED}|{_NUMBER}"
_PHRASE_TAIL = r"(?:[\s:：—–*=]|\s-\s)*[$€£¥₹]?\s?"
_FULL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_FULL_FRACTION = re.compile(r"(-?[0-9]+)/([0-9]+)")
_DOT_GROUPED = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{3})+")


@dataclass(frozen=True)
class AnswerScore:
    strict_pred: str | None
    flexible_pred: str | None
    strict_correct: bool
    flexible_correct: bool


def normalize_digits(text: str) -> str:
    """Native digits -> ASCII, thousands separators dropped, CJK text spaced away from digits."""
    text = text.translate(_TRANSLATE)
    text = _CJK_THEN_DIGIT.sub(" ", text)
    text = _DIGIT_THEN_CJK.sub(" ", text)
    text = _EU_GROUPED_DECIMAL.sub(lambda m: m.group(1).replace(".", "") + "." + m.group(2), text)
    text = _EU_MULTI_DOT.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _COMMA_GROUPED.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DECIMAL_COMMA.sub(r"\1.\2", text)
    return _SPACE_GROUPED.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)


def _slash_fractions(text: str) -> str:
    """'\\frac{25}{2}' -> '25/2' wherever both parts are plain numbers."""
    return _LATEX_FRACTION.sub(r"\1/\2", text)


def _phrase_regex(phrase: str) -> str:
    """Words matched with any whitespace between them; a trailing dash/colon becomes optional."""
    return r"\s+".join(re.escape(word) for word in phrase.rstrip(" :：—–-").split())


_STRICT_CACHE: dict[str, re.Pattern[str]] = {}


def _strict_pattern(language: str) -> re.Pattern[str] | None:
    """The answer-phrase pattern of `language`; None for a language without a phrase."""
    if language not in ANSWER_PHRASES:
        return None
    if language not in _STRICT_CACHE:
        phrases = (ANSWER_PHRASES[language], *ANSWER_PHRASE_VARIANTS.get(language, ()))
        alternation = "|".join(sorted({_phrase_regex(p) for p in phrases}, key=len, reverse=True))
        _STRICT_CACHE[language] = re.compile(
            rf"(?:{alternation}){_PHRASE_TAIL}(?:\*\*)?({_STRICT_NUMBER})", re.IGNORECASE)
    return _STRICT_CACHE[language]


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    """(start, content) of every \\boxed{...} / \\fbox{...}, with nested braces balanced."""
    found = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found.append((match.start(), text[match.end():i - 1]))
    return found


def _clean_boxed(content: str) -> str:
    """'\\$18 \\text{ dollars}' -> '18'; non-numeric LaTeX is returned as is for math-verify."""
    content = re.sub(r"\\(?:text|mathrm|textbf|mbox)\s*\{[^{}]*\}", " ", content)  # units
    content = re.sub(r"\\[dt]frac", r"\\frac", content)
    content = re.sub(r"\\[,!;: $%]|[$%]", " ", content)  # LaTeX spaces, dollar and percent signs
    content = content.split("=")[-1].strip().rstrip(".")  # "x = 18" -> "18"
    compact = content.replace(" ", "")
    if _FULL_NUMBER.fullmatch(compact) or _FULL_FRACTION.fullmatch(compact):
        return compact
    return content


def extract_strict(text: str, language: str) -> str | None:
    """Number after the last answer phrase of `language`, or the last \\boxed{} (whichever is later).

    A language without an answer phrase takes the last \\boxed{} and otherwise the last number.
    """
    pattern = _strict_pattern(language)
    text = _slash_fractions(normalize_digits(text))
    candidates = [(start, _clean_boxed(c)) for start, c in _boxed_contents(text) if c.strip()]
    if pattern is not None:
        candidates += [(m.start(), m.group(1).replace(" ", "")) for m in pattern.finditer(text)]
    if candidates:
        return max(candidates, key=lambda c: c[0])[1]
    return None if pattern is not None else extract_flexible(text)


def extract_flexible(text: str) -> str | None:
    """The last number in the normalised text ("18", "-3", "8.5", "3/4", "25/2" from \\frac), or None."""
    text = _slash_fractions(normalize_digits(text))
    numbers = list(_NUMBER_RE.finditer(text))
    if not numbers:
        return None
    last = numbers[-1]
    grouped = list(_PLAIN_GROUPED_RE.finditer(text))
    if grouped and grouped[-1].end() == last.end() and grouped[-1].start() < last.start():
        return grouped[-1].group(0).replace(" ", "")
    return last.group(0)


def final_answer(text: str, language: str) -> str | None:
    """The answer a worked solution ends with: strict extraction, else the last number (few-shot shots)."""
    return extract_strict(text, language) or extract_flexible(text)


def _to_number(text: str) -> float | None:
    """'18', '-3', '8.0', '3/4', '18.' -> float; anything else -> None."""
    text = text.strip().rstrip(".").replace(" ", "")
    if _FULL_NUMBER.fullmatch(text):
        return float(text)
    fraction = _FULL_FRACTION.fullmatch(text)
    if fraction and int(fraction.group(2)) != 0:
        return float(Fraction(int(fraction.group(1)), int(fraction.group(2))))
    return None


def _readings(text: str) -> list[float]:
    """Numeric readings of a prediction: '114.200' is 114.2, or 114200 in de/es/it notation."""
    values = [_to_number(text)]
    if _DOT_GROUPED.fullmatch(text):
        values.append(float(text.replace(".", "")))
    return [v for v in values if v is not None]


_MATH_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def canonical_answer(text: str) -> str:
    """Gold or prediction made comparable: math delimiters, \\boxed{}, \\dfrac, \\left/\\right, LaTeX
    spaces, degree signs, trailing units and currency/percent signs removed; native digits -> ASCII.
    Separators stay ("[2,3)" is an interval): `parse_number` reads "1,234" as a number."""
    text = text.translate(_TRANSLATE).strip().rstrip(".").strip()
    for left, right in _MATH_WRAPPERS:
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
            text = text[len(left):-len(right)].strip()
            break
    boxed = _boxed_contents(text)
    if boxed and boxed[0][0] == 0:
        text = boxed[-1][1]
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\left\b|\\right\b|\\[,!;:]|\^\s*\{?\\circ\}?", "", text)
    unitless = re.sub(r"\\(?:text|mbox|mathrm)\s*\{[^{}]*\}\s*$", "", text).strip()
    text = unitless or text
    text = re.sub(r"^[$€£¥₹]|\\\$|\\?%$", "", text.strip()).strip()
    return _slash_fractions(text)


def parse_number(text: str | None) -> float | None:
    """The value of an answer written as a number ("1,234", "1 234", "8.0", "3/4", "$18", "١٢",
    "\\frac{1}{2}", "$-85$"), or None when it is not one (LaTeX expressions, words)."""
    if text is None:
        return None
    clean = normalize_digits(canonical_answer(text))
    if re.fullmatch(rf"-?{_PLAIN_GROUPED}", clean):
        clean = clean.replace(" ", "")
    return _to_number(clean)


def _math_verify(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    # parse/verify time out through signal.alarm, which only works on the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    wrap = lambda s: s if ("$" in s or "\\boxed" in s) else f"${s}$"  # noqa: E731
    try:
        gold_parsed = parse(wrap(gold), parsing_timeout=timeout)
        pred_parsed = parse(wrap(pred), parsing_timeout=timeout)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # math-verify raises on pathological LaTeX; count it as not matching
        return False


def answers_match(pred: str | None, gold: str | None, rel_tol: float = 1e-6) -> bool:
    """Numeric comparison with relative tolerance; math-verify for LaTeX, symbolic answers, expressions."""
    if pred is None or gold is None or not pred.strip():
        return False
    pred_clean, gold_clean = canonical_answer(pred), canonical_answer(gold)
    if not pred_clean:
        return False
    gold_value = parse_number(gold)
    pred_values = _readings(normalize_digits(pred_clean))
    if gold_value is not None and pred_values:
        return any(math.isclose(v, gold_value, rel_tol=rel_tol) for v in pred_values)
    if pred_clean == gold_clean:
        return True
    return _math_verify(gold_clean, pred_clean)


def same_answer(a: str | None, b: str | None) -> bool:
    """Do two gold answers agree (parallel rows of a dataset)? Missing golds agree with anything."""
    if a is None or b is None or a.strip() == b.strip():
        return True
    return answers_match(a, b)


def score_answer(text: str, gold: str | None, language: str) -> AnswerScore:
    """Strict and flexible extraction of one completion, each checked against the gold answer."""
    strict = extract_strict(text, language)
    flexible = extract_flexible(text)
    return AnswerScore(strict, flexible, answers_match(strict, gold), answers_match(flexible, gold))
