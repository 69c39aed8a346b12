"""Prompt styles: exact strings per style (en and zh), PiM ordering, few-shot, prefix table vs MGSM.

Run: pytest tests/test_prompts.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlreason.data import Example, build_prompt, load_examples, load_exemplars, load_manifest, parallel_rows
from mlreason.data.prompts import PREFIXES, PROMPT_STYLES, labelled
from mlreason.errors import UserError

EN = Example("t", 0, "en", "Tom has 3 apples and buys 4 more. How many apples does he have?", "7")
ZH = Example("t", 0, "zh", "汤姆有 3 个苹果，又买了 4 个。他有多少个苹果？", "7")
DE = Example("t", 0, "de", "Tom hat 3 Äpfel und kauft 4 dazu. Wie viele Äpfel hat er?", "7")
RU = Example("t", 0, "ru", "У Тома 3 яблока, он покупает ещё 4. Сколько у него яблок?", "7")
ES = Example("t", 0, "es", "Tom tiene 3 manzanas y compra 4 más. ¿Cuántas manzanas tiene?", "7")
ROW = {"en": EN, "zh": ZH, "de": DE, "ru": RU, "es": ES}
BOXED = "Please reason step by step, and put your final answer within \\boxed{}."
PIM_HEAD = ("The following questions are the same math problem written in {n} languages. "
            "Use all of them to understand the problem, then solve it step by step.")

EXPECTED = {
    ("native-cot", "en"): f"Question: {EN.question}\nStep-by-Step Answer:",
    ("native-cot", "zh"): f"问题：{ZH.question}\n逐步解答：",
    ("en-cot", "en"): f"Question: {EN.question}\nStep-by-Step Answer:",
    ("en-cot", "zh"): f"问题：{ZH.question}\nStep-by-Step Answer:",
    ("direct", "en"): f"Question: {EN.question}\nThe answer is",
    ("direct", "zh"): f"问题：{ZH.question}\n答案是",
    ("boxed", "en"): f"Question: {EN.question}\n{BOXED}",
    ("boxed", "zh"): f"问题：{ZH.question}\n{BOXED}",
    ("pim", "en"): (PIM_HEAD.format(n=4) + f"\n\nQuestion in English: {EN.question}\nQuestion in German: {DE.question}"
                    f"\nQuestion in Russian: {RU.question}\nQuestion in Spanish: {ES.question}\nAnswer in English:"),
    ("pim", "zh"): (PIM_HEAD.format(n=4) + f"\n\nQuestion in Chinese: {ZH.question}\nQuestion in German: {DE.question}"
                    f"\nQuestion in Russian: {RU.question}\nQuestion in Spanish: {ES.question}\nAnswer in Chinese:"),
}


@pytest.mark.parametrize(("style", "lang"), sorted(EXPECTED))
def test_zero_shot_exact(style: str, lang: str) -> None:
    assert build_prompt(ROW[lang], style, parallel=ROW) == EXPECTED[(style, lang)]


def test_every_style_covered() -> None:
    assert {s for s, _ in EXPECTED} == set(PROMPT_STYLES)


def test_pim_three_languages_original_first_and_skipped_in_set() -> None:
    p = build_prompt(ES, "pim", parallel=ROW, pim_languages=("de", "ru", "es"))
    assert p.startswith(PIM_HEAD.format(n=3))
    labels = [ln.split(":")[0] for ln in p.split("\n") if ln.startswith("Question in")]
    assert labels == ["Question in Spanish", "Question in German", "Question in Russian"]
    assert p.index(ES.question) < p.index(DE.question) < p.index(RU.question)
    assert p.endswith("Answer in Spanish:") and p.count("Question in") == 3


def test_pim_six_on_mgsm_translations() -> None:
    ex = load_examples("mgsm", ["en", "de", "ru", "zh", "fr", "es"], limit=2)
    row = parallel_rows(ex)[1]
    p = build_prompt(row["en"], "pim", parallel=row, pim_languages=("de", "ru", "zh", "fr", "es"))
    assert p.count("Question in ") == 6 and p.startswith(PIM_HEAD.format(n=6))
    assert "Question in Chinese: 制作一件袍子需要 2 匹蓝色纤维布料" in p


def test_pim_errors() -> None:
    with pytest.raises(UserError, match="needs the parallel row"):
        build_prompt(EN, "pim")
    with pytest.raises(UserError, match=r"no translation in fr for t:0; load those languages too"):
        build_prompt(EN, "pim", parallel=ROW, pim_languages=("de", "fr"))


def test_bad_style_and_language() -> None:
    with pytest.raises(UserError, match=r"unknown prompt style 'cot'; use one of native-cot, en-cot"):
        build_prompt(EN, "cot")
    with pytest.raises(UserError, match="no prompt prefixes for language 'xx'"):
        build_prompt(Example("t", 0, "xx", "q", "1"), "native-cot")


SHOTS = [("Ann has 2 pens and gets 1. How many?", "2 + 1 = 3. The answer is 3."),
         ("Bob has 10 cards and gives away 4. How many left?", "10 - 4 = 6. The answer is 6.")]


def test_few_shot_exact_per_style() -> None:
    q1, a1 = SHOTS[0]
    assert build_prompt(EN, "native-cot", exemplars=SHOTS[:1]) == (
        f"Question: {q1}\nStep-by-Step Answer: {a1}\n\nQuestion: {EN.question}\nStep-by-Step Answer:")
    assert build_prompt(EN, "direct", exemplars=SHOTS[:1]) == (
        f"Question: {q1}\nThe answer is 3\n\nQuestion: {EN.question}\nThe answer is")
    assert build_prompt(EN, "boxed", exemplars=SHOTS[:1]) == (
        f"Question: {q1}\n{BOXED}\n{a1} \\boxed{{3}}\n\nQuestion: {EN.question}\n{BOXED}")
    assert build_prompt(EN, "pim", exemplars=SHOTS[:1], parallel=ROW, pim_languages=("de",)) == (
        PIM_HEAD.format(n=2) + f"\n\nQuestion in English: {q1}\nAnswer in English: {a1}"
        f"\n\nQuestion in English: {EN.question}\nQuestion in German: {DE.question}\nAnswer in English:")


def test_few_shot_count_mgsm_native_and_en_cot() -> None:
    zh = load_examples("mgsm", ["zh"], limit=1)["zh"][0]
    shots = load_exemplars("mgsm", "zh")
    for k in (0, 1, 4, 8):
        p = build_prompt(zh, "native-cot", exemplars=shots[:k])
        assert p.count("问题：") == k + 1 and p.count("逐步解答：") == k + 1 and p.count("\n\n") == k
    p8 = build_prompt(zh, "native-cot", exemplars=shots)
    assert p8.startswith("问题：罗杰有 5 个网球。") and "答案是 11。\n\n问题：" in p8
    en_cot = build_prompt(zh, "en-cot", exemplars=load_exemplars("mgsm", "zh", answer_language="en")[:2])
    assert en_cot.count("Step-by-Step Answer:") == 3 and "\nStep-by-Step Answer: Roger started with 5 balls." in en_cot


def test_prefix_table_matches_mgsm_exemplars() -> None:
    """Rendering our prefixes around the stripped exemplar text gives MGSM's exemplar strings back."""
    m = load_manifest("mgsm")
    raw = json.loads((Path(m.base_dir) / m.exemplars.path).read_text(encoding="utf-8"))["MGSM_EXEMPLARS"]
    assert sorted(raw) == sorted(m.languages)
    for lang in m.languages:
        q_prefix, step_prefix = PREFIXES[lang]
        stripped = load_exemplars(m, lang)
        originals = [raw[lang][str(i)] for i in range(1, 9)]
        for (q, a), orig in zip(stripped, originals, strict=True):
            assert labelled(q_prefix, q) == orig["q"].strip(), lang
            assert labelled(step_prefix, a) == orig["a"].strip(), lang
