"""Multiple-choice extraction on golden completions in every language with an answer phrase.

    pytest tests/test_choice.py
"""

from __future__ import annotations

import pytest

from mlreason.answers import ANSWER_PHRASES
from mlreason.evaluate.choice import extract_choice, labels, option_block, option_flexible, option_strict

OPTIONS = ["3", "4", "5", "6"]
# language -> (completion in the language's answer phrase naming the 2nd option with its native label,
#              flexible-only completion: the label formatted but no answer phrase)
GOLDEN = {
    "en": ("Two circles and two squares make four. The answer is B.", "I think (B) fits the picture."),
    "de": ("Es sind vier Formen. Die Antwort lautet B.", "Meiner Meinung nach: B) vier."),
    "fr": ("Il y a quatre formes. La réponse est B.", "Je choisis (B) car il y a quatre formes."),
    "es": ("Hay cuatro figuras. La respuesta es B.", "Elijo **B** porque hay cuatro figuras."),
    "ru": ("На картинке четыре фигуры. Ответ — Б.", "Я выбираю (Б), потому что фигур четыре."),
    "zh": ("图中有四个图形。答案是 Ｂ。", "我选（B），因为有四个图形。"),
    "ja": ("図形は四つです。答えは B です。", "四つなので B. を選びます。"),
    "th": ("มีรูปทรงสี่รูป คำตอบคือ B", "ฉันเลือก (B) เพราะมีสี่รูป"),
    "sw": ("Kuna maumbo manne. Jibu ni B.", "Nachagua (B) kwa sababu kuna maumbo manne."),
    "bn": ("ছবিতে চারটি আকার আছে। উত্তর হল B।", "আমি (B) বেছে নিই।"),
    "te": ("చిత్రంలో నాలుగు ఆకారాలు ఉన్నాయి. సమాధానం B.", "నేను (B) ఎంచుకుంటాను."),
    "it": ("Ci sono quattro forme. La risposta è B.", "Scelgo (B) perché ci sono quattro forme."),
    "pt": ("Há quatro formas. A resposta é B.", "Escolho (B) porque há quatro formas."),
    "ko": ("도형이 네 개입니다. 정답은 B입니다.", "저는 (B)를 고릅니다."),
    "vi": ("Có bốn hình. Câu trả lời là B.", "Tôi chọn (B) vì có bốn hình."),
    "ar": ("في الصورة أربعة أشكال. الإجابة هي ب.", "أختار (ب) لأن هناك أربعة أشكال."),
    "id": ("Ada empat bentuk. Jawabannya adalah B.", "Saya memilih (B) karena ada empat bentuk."),
    "ms": ("Terdapat empat bentuk. Jawapannya ialah B.", "Saya memilih (B) kerana ada empat bentuk."),
}


def test_every_language_with_an_answer_phrase_has_golden_completions():
    assert set(GOLDEN) == set(ANSWER_PHRASES)


@pytest.mark.parametrize("language", sorted(GOLDEN))
def test_golden_completions(language: str) -> None:
    with_phrase, formatted = GOLDEN[language]
    assert extract_choice(with_phrase, language, OPTIONS).strict == 1, with_phrase
    assert extract_choice(with_phrase, language, OPTIONS).flexible == 1
    assert option_strict(formatted, language) is None, formatted        # no answer phrase: strict finds nothing
    assert option_flexible(formatted, language, OPTIONS) == 1, formatted


def test_native_labels_and_prompt_block():
    assert labels("en") == ("A", "B", "C", "D") and labels("ru", 3) == ("А", "Б", "В")
    assert option_block(OPTIONS, "ar") == "أ. 3\nب. 4\nج. 5\nد. 6"
    # Cyrillic В is the THIRD Russian label; a Latin B (same look) still means the second option
    assert option_strict("Ответ — В", "ru") == 2 and option_strict("Ответ — B", "ru") == 1
    assert option_strict("ب", "ar") == 1 and option_strict(" (C). ", "en") == 2


def test_last_answer_wins_and_what_is_not_an_answer():
    assert option_strict("The answer is A. Wait, no: the answer is D.", "en") == 3
    assert option_strict("The answer is a circle.", "en") is None          # an article, not a label
    assert option_strict("The answer is E.", "en") is None                 # no fifth option
    assert option_strict("The answer is C.", "en", n=2) is None             # C names nothing among 2 options
    assert option_flexible("There are five shapes.", "en", OPTIONS) is None
    assert option_flexible("So the count is 6 in total.", "en", OPTIONS) == 3   # the one option quoted
    assert option_flexible("Either 3 or 4.", "en", OPTIONS) is None          # two options quoted: no guess
    assert option_flexible("Hmm. C", "en", OPTIONS) == 2                    # a standalone label
    with pytest.raises(ValueError, match="2-4 options"):
        labels("en", 5)
