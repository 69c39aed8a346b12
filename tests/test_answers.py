"""Answer extraction and checking: hand-written cases in every MGSM language.

Run: pytest tests/test_answers.py
"""

import json
from pathlib import Path

import pytest

from mlreason.answers import (
    ANSWER_PHRASES,
    AnswerScore,
    answers_match,
    extract_flexible,
    extract_strict,
    final_answer,
    normalize_digits,
    parse_number,
    same_answer,
    score_answer,
)
from mlreason.language import LANGUAGE_NAMES

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
EXEMPLARS = Path(__file__).resolve().parents[1] / "data" / "mgsm" / "exemplars.json"

# (language, completion, gold, strict_pred, flexible_pred, strict_correct, flexible_correct)
CASES = [
    # en: plain, distractor after the phrase, currency + decimals, negative, wrong, none, no phrase
    ("en", "5 + 6 = 11. The answer is 11.", "11", "11", "11", True, True),
    ("en", "The answer is 18. That took 3 steps.", "18", "18", "3", True, False),
    ("en", "She earns 9 * 2 = 18 dollars. The answer is $18.00.", "18", "18.00", "18.00", True, True),
    ("en", "The answer is -5.", "-5", "-5", "-5", True, True),
    ("en", "It drops from 3 to 8, so 3 - 8 = -5.", "-5", None, "-5", False, True),
    ("en", "The answer is 17.", "18", "17", "17", False, False),
    ("en", "I do not know.", "18", None, None, False, False),
    ("en", "So she makes 18 dollars.", "18", None, "18", False, True),
    ("en", "The answer is 17. Correction: \\boxed{18}", "18", "18", "18", True, True),
    ("en", "$\\boxed{\\frac{1}{2}}$", "0.5", "1/2", "1/2", True, True),
    ("en", "So $x = \\boxed{\\dfrac{25}{2}}$.", "12.5", "25/2", "25/2", True, True),
    ("en", "The answer is 1 234.", "1234", "1234", "1234", True, True),
    ("en", "The answer is **1,234,567** people.", "1234567", "1234567", "1234567", True, True),
    # de: both exemplar phrasings, dot-grouped thousands, decimal comma, English phrase is not strict
    ("de", "5 + 6 = 11. Die Antwort lautet 11.", "11", "11", "11", True, True),
    ("de", "Die Antwort ist 2.125 Dollar.", "2125", "2.125", "2.125", True, True),
    ("de", "Die Antwort lautet 1.234,5 Euro.", "1234.5", "1234.5", "1234.5", True, True),
    ("de", "Die Antwort lautet 2,5 Stunden.", "2.5", "2.5", "2.5", True, True),
    ("de", "The answer is 11.", "11", None, "11", False, True),
    ("de", "Die Antwort lautet 12. Also 12 - 1 = 11.", "12", "12", "11", True, False),
    # fr: space-grouped thousands after the phrase, trailing check, wrong
    ("fr", "La réponse est 114 200.", "114200", "114200", "114200", True, True),
    ("fr", "La réponse est 114\u202f200.", "114200", "114200", "114200", True, True),
    ("fr", "La réponse est 11. Vérification : 5 + 6 = 11.", "11", "11", "11", True, True),
    ("fr", "La réponse est 12.", "11", "12", "12", False, False),
    # es
    ("es", "La respuesta es 2,125.", "2,125", "2125", "2125", True, True),
    ("es", "Entonces, la respuesta es \\boxed{18}.", "18", "18", "18", True, True),
    ("es", "No lo sé.", "18", None, None, False, False),
    # ru: exemplar dash, colon, plain-space thousands, distractor
    ("ru", "5 + 6 = 11. Ответ — 11.", "11", "11", "11", True, True),
    ("ru", "Ответ: 7. Проверка: 7 + 4 = 11.", "7", "7", "11", True, False),
    ("ru", "Ответ — 2 125.", "2125", "2125", "2125", True, True),
    ("ru", "Ответ — 3. Всего 4 пакета по 100 г.", "3", "3", "100", True, False),
    ("ru", "Ответ — 10.", "11", "10", "10", False, False),
    # zh: full-width digits, distractor, nothing
    ("zh", "所以一共有 5 + 6 = 11 个球。答案是 11。", "11", "11", "11", True, True),
    ("zh", "答案是１８。", "18", "18", "18", True, True),
    ("zh", "答案是18元，也就是每天3次。", "18", "18", "3", True, False),
    ("zh", "我不知道。", "18", None, None, False, False),
    ("zh", "温度下降了，答案是-5。", "-5", "-5", "-5", True, True),
    # ja: exemplar forms with counters
    ("ja", "5+6=11。答えは11です。", "11", "11", "11", True, True),
    ("ja", "答えは３９個です。", "39", "39", "39", True, True),
    ("ja", "答えは40個です。", "39", "40", "40", False, False),
    # th: Thai digits, distractor, nothing
    ("th", "ดังนั้น 5 + 6 = 11 คำตอบคือ ๑๑", "11", "11", "11", True, True),
    ("th", "คำตอบคือ 18 บาท จากทั้งหมด 3 วัน", "18", "18", "3", True, False),
    ("th", "ไม่ทราบคำตอบ", "18", None, None, False, False),
    # sw
    ("sw", "5 + 6 = 11. Jibu ni 11.", "11", "11", "11", True, True),
    ("sw", "Jibu ni 5,600.", "5600", "5600", "5600", True, True),
    ("sw", "Jibu ni 10.", "11", "10", "10", False, False),
    # bn: Bengali digits, Bengali digits with thousands comma, counter suffix
    ("bn", "৫ + ৬ = ১১। উত্তর হল ১১।", "11", "11", "11", True, True),
    ("bn", "উত্তর হল ২,১২৫।", "2125", "2125", "2125", True, True),
    ("bn", "উত্তর হল ১৮টি। মোট ৩ দিন।", "18", "18", "3", True, False),
    # te: Telugu digits, boxed with thousands, distractor
    ("te", "5+6=11. సమాధానం ౧౧.", "11", "11", "11", True, True),
    ("te", "సమాధానం \\boxed{276,000}", "276,000", "276000", "276000", True, True),
    ("te", "సమాధానం 9. మొత్తం 3 రోజులు.", "9", "9", "3", True, False),
]


@pytest.mark.parametrize("language,text,gold,strict,flexible,strict_ok,flexible_ok", CASES)
def test_score_answer(language, text, gold, strict, flexible, strict_ok, flexible_ok):
    assert score_answer(text, gold, language) == AnswerScore(strict, flexible, strict_ok, flexible_ok)


def test_every_mgsm_language_has_cases():
    assert {case[0] for case in CASES} == set(MGSM_LANGUAGES)


@pytest.mark.parametrize("text,expected", [
    ("১২৩ ๑๒๓ ٤٥ ۴۵ १२ ౧౨ １２", "123 123 45 45 12 12 12"),
    ("2,125 and 1,234,567.5", "2125 and 1234567.5"),
    ("1,2,3 and 12,3456", "1,2,3 and 12,3456"),        # lists and odd groupings are left alone
    ("2,5 Stunden", "2.5 Stunden"),
    ("[2,3) and {2,3} and (2,5)", "[2,3) and {2,3} and (2,5)"),   # intervals, sets and pairs keep their comma
    ("80.000.000 und 1.234,50", "80000000 und 1234.50"),
    ("1\u00a0000 et 2\u2009500", "1000 et 2500"),
    ("答案是18元。", "答案是 18 元。"),
    ("５＋６＝１１。", "5+6=11 。"),
    ("共18，3个", "共 18 ， 3 个"),                # a full-width comma never joins digits
    ("٣٫٥ and \u22125", "3.5 and -5"),
])
def test_normalize_digits(text, expected):
    assert normalize_digits(text) == expected


@pytest.mark.parametrize("pred,gold,expected", [
    ("8", "8.0", True),
    ("8.0000001", "8.0", True),
    ("8.01", "8.0", False),
    ("2,125", "2125", True),
    ("$18", "18", True),
    ("18.", "18", True),
    ("3/4", "0.75", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{3}", "0.33", False),
    ("\\sqrt{2}", "\\sqrt{2}", True),
    ("\\frac{2}{4}", "\\frac{1}{2}", True),
    ("114.200", "114200", True),   # dot-grouped thousands (de/es/it) also read as 114200
    ("114.200", "114.2", True),
    ("0", "0", True),
    (None, "18", False),
    ("", "18", False),
    ("abc", "18", False),
])
def test_answers_match(pred, gold, expected):
    assert answers_match(pred, gold) is expected


def test_flexible_takes_last_number_and_ignores_subtraction_signs():
    assert extract_flexible("16 - 3 - 4 = 9 and 9 * 2 = 18") == "18"
    assert extract_flexible("5 - 3") == "3"
    assert extract_flexible("5-3") == "3"
    assert extract_flexible("x = -3.") == "-3"
    assert extract_flexible("x-1 and (4)-2") == "2"


def test_phrases_cover_all_languages():
    assert set(ANSWER_PHRASES) == set(LANGUAGE_NAMES)


@pytest.mark.parametrize("language", sorted(set(ANSWER_PHRASES) - set(MGSM_LANGUAGES)))
def test_non_mgsm_phrases_extract(language):
    assert extract_strict(f"{ANSWER_PHRASES[language]} 42.", language) == "42"


@pytest.mark.parametrize("language,text,strict", [
    ("hi", "उत्तर है ४२।", "42"),                         # no Hindi phrase: the last number
    ("hi", "\\boxed{७} ... कुल ३ दिन", "7"),              # a \\boxed{} wins over the last number
    ("xx", "nothing to see here", None),
])
def test_language_without_a_phrase_falls_back_and_never_raises(language, text, strict):
    assert extract_strict(text, language) == strict
    assert score_answer(text, "42", language).strict_correct is (strict == "42")


@pytest.mark.parametrize("text,expected", [
    ("\\boxed{\\frac{25}{2}}", "25/2"),
    ("x = -\\frac{1}{2}", "-1/2"),
    ("\\tfrac{3}{4} of it", "3/4"),
    ("The answer is 1 234.", "1234"),
    ("Il reste 3 000 euros.", "3000"),
    ("It costs 2 100-page books", "100"),       # "2 100-page" is not a grouped number
    ("so 16 - 3 - 4 = 9 and 9 * 2 = 18", "18"),
])
def test_flexible_fractions_and_space_groups(text, expected):
    assert extract_flexible(text) == expected


@pytest.mark.parametrize("text,value", [
    ("1,234", 1234.0), ("1 234", 1234.0), ("1\u202f234", 1234.0), ("1.234.567", 1234567.0), ("8.0", 8.0),
    ("3/4", 0.75), ("\\frac{1}{2}", 0.5), ("$-85$", -85.0), ("$18", 18.0), ("১২", 12.0), ("\\boxed{7}", 7.0),
    ("$\\frac{\\pi}{3}$", None), ("abc", None), ("", None), (None, None),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("gold,pred,expected", [
    ("$\\frac{\\pi}{3}$", "\\dfrac{\\pi}{3}", True),          # PolyMath LaTeX golds
    ("$\\frac{\\pi}{3}$", "\\frac{\\pi}{4}", False),
    ("$[2,3)$", "[2, 3)", True),
    ("$4\\sqrt{2}$", "\\sqrt{32}", True),
    ("$49$", "49", True),
    ("$-\\frac{1}{2}$", "-0.5", True),
    ("204", "\\boxed{204}", True),                         # MMATH
    ("$90^\\circ$", "90", True),
    ("$18 \\text{ dollars}$", "18", True),
])
def test_symbolic_golds(gold, pred, expected):
    assert answers_match(pred, gold) is expected


def test_same_answer_for_parallel_golds():
    assert same_answer("2,125", "2125") and same_answer("8.0", "8") and same_answer(None, "3")
    assert same_answer("$\\frac{1}{2}$", "$\\frac{1}{2}$") and same_answer("$\\frac{1}{2}$", "0.5")
    assert not same_answer("7", "9")


def test_final_answer_of_a_worked_solution():
    assert final_answer("5 + 6 = 11. The answer is 11. Check: 11 - 6 = 5.", "en") == "11"
    assert final_answer("Roger started with 5 balls. 5 + 6 = 11.", "en") == "11"
    assert final_answer("no number", "en") is None


@pytest.mark.skipif(not EXEMPLARS.exists(), reason="data/mgsm not copied into the project")
@pytest.mark.parametrize("language", MGSM_LANGUAGES)
def test_mgsm_exemplar_answers_extract_strictly(language):
    """Every MGSM exemplar answer ends with the answer sentence our phrases must recognise."""
    data = json.loads(EXEMPLARS.read_text(encoding="utf-8"))
    golds = data["EXEMPLAR_NUMBER_ANSWERS"]
    exemplars = data["MGSM_EXEMPLARS"][language]
    assert len(exemplars) == 8
    for k, exemplar in enumerate(exemplars.values()):
        assert extract_strict(exemplar["a"], language) == str(golds[k]), exemplar["a"][-60:]
