"""Prompt styles: exact strings per style (en and zh), PiM as the authors' files, few-shot, prefix table vs MGSM.

Run: pytest tests/test_prompts.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlreason.data import Example, build_prompt, load_examples, load_exemplars, load_manifest, parallel_rows
from mlreason.data.prompts import PIM_INSTRUCTION, PREFIXES, PROMPT_STYLES, labelled, pim_line_languages
from mlreason.errors import UserError

EN = Example("t", 0, "en", "Tom has 3 apples and buys 4 more. How many apples does he have?", "7")
ZH = Example("t", 0, "zh", "汤姆有 3 个苹果，又买了 4 个。他有多少个苹果？", "7")
DE = Example("t", 0, "de", "Tom hat 3 Äpfel und kauft 4 dazu. Wie viele Äpfel hat er?", "7")
RU = Example("t", 0, "ru", "У Тома 3 яблока, он покупает ещё 4. Сколько у него яблок?", "7")
ES = Example("t", 0, "es", "Tom tiene 3 manzanas y compra 4 más. ¿Cuántas manzanas tiene?", "7")
ROW = {"en": EN, "zh": ZH, "de": DE, "ru": RU, "es": ES}
BOXED = "Please reason step by step, and put your final answer within \\boxed{}."
# typed from the authors' gpt_translated_data/GSM8K/PMI_Prompt/0shot-prompt_pmi3.jsonl
PIM_HEAD = ("You are provided with a set of parallel mathematical problems in multiple languages. Each problem "
            "presents the same mathematical question, but expressed in different languages. Your task is to "
            "comprehend the problem in any of these languages, reason through the problem in English, and finally, "
            "generate a solution in English.")
NATIVE_HEAD = ("The following questions are the same math problem written in {n} languages. "
               "Use all of them to understand the problem, then solve it step by step.")
LINES = (f"\nQuestion in German: {DE.question}\nQuestion in Russian: {RU.question}"
         f"\nQuestion in Spanish: {ES.question}")

EXPECTED = {
    ("native-cot", "en"): f"Question: {EN.question}\nStep-by-Step Answer:",
    ("native-cot", "zh"): f"问题：{ZH.question}\n逐步解答：",
    ("en-cot", "en"): f"Question: {EN.question}\nStep-by-Step Answer:",
    ("en-cot", "zh"): f"问题：{ZH.question}\nStep-by-Step Answer:",
    ("direct", "en"): f"Question: {EN.question}\nThe answer is",
    ("direct", "zh"): f"问题：{ZH.question}\n答案是",
    ("boxed", "en"): f"Question: {EN.question}\n{BOXED}",
    ("boxed", "zh"): f"问题：{ZH.question}\n{BOXED}",
    ("pim", "en"): PIM_HEAD + f"\n\nQuestion in English: {EN.question}{LINES}\nAnswer in English:",
    ("pim", "zh"): PIM_HEAD + f"\n\nQuestion in Chinese: {ZH.question}{LINES}\nAnswer in English:",
    ("pim-native", "en"): NATIVE_HEAD.format(n=4) + f"\n\nQuestion in English: {EN.question}{LINES}"
                                                    "\nAnswer in English:",
    ("pim-native", "zh"): NATIVE_HEAD.format(n=4) + f"\n\nQuestion in Chinese: {ZH.question}{LINES}"
                                                    "\nAnswer in Chinese:",
}


@pytest.mark.parametrize(("style", "lang"), sorted(EXPECTED))
def test_zero_shot_exact(style: str, lang: str) -> None:
    assert build_prompt(ROW[lang], style, parallel=ROW) == EXPECTED[(style, lang)]


def test_every_style_covered() -> None:
    assert {s for s, _ in EXPECTED} == set(PROMPT_STYLES)


def test_pim_source_in_the_set_is_filled_from_english() -> None:
    """Every problem gets the original plus exactly N: es is in de/ru/es, so English takes its place."""
    p = build_prompt(ES, "pim", parallel=ROW, pim_languages=("de", "ru", "es"))
    labels = [ln.split(":")[0] for ln in p.split("\n") if ln.startswith("Question in")]
    assert labels == ["Question in Spanish", "Question in German", "Question in Russian", "Question in English"]
    assert p.endswith("\nAnswer in English:") and p.startswith(PIM_HEAD + "\n\n")


@pytest.mark.parametrize("source,pim,available,expected", [
    ("zh", ("de", "ru", "es"), ["en", "de", "ru", "es", "zh"], ["de", "ru", "es"]),
    ("de", ("de", "ru", "es"), ["en", "de", "ru", "es", "zh"], ["ru", "es", "en"]),
    ("de", ("de", "ru", "es"), ["de", "ru", "es", "zh", "fr"], ["ru", "es", "zh"]),     # no English: next available
    ("en", ("de", "ru", "zh", "fr", "es", "it"), ["en", "de", "ru", "zh", "fr", "es", "it"],
     ["de", "ru", "zh", "fr", "es", "it"]),                                             # PiM-6
    ("sw", (), ["sw", "en"], []),                                                       # source only
])
def test_pim_line_languages(source, pim, available, expected) -> None:
    assert pim_line_languages(source, pim, available) == expected


def test_pim_too_few_languages_is_a_user_error() -> None:
    with pytest.raises(UserError, match="PiM needs 3 translations of a de problem but only 2"):
        pim_line_languages("de", ("de", "ru", "es"), ["de", "ru", "es"])


EN_GSM8K_0 = ("Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
              "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
              "duck egg. How much in dollars does she make every day at the farmers' market?")


def test_pim_reproduces_the_authors_released_prompt() -> None:
    """Row 0 of the authors' gpt_translated_data/GSM8K/PMI_Prompt/0shot-prompt_pmi3.jsonl, byte for byte,
    from their English question and their GPT-4 translations (typed here from that file)."""
    theirs = {
        "en": EN_GSM8K_0,
        "de": "Janets Enten legen 16 Eier pro Tag. Sie isst jeden Morgen drei zum Frühstück und backt jeden Tag "
              "Muffins für ihre Freunde mit vier. Sie verkauft den Rest täglich auf dem Bauernmarkt für 2 Dollar pro "
              "frischem Entenei. Wie viel verdient sie täglich auf dem Bauernmarkt in Dollar?",
        "ru": "Утки Джанет несут 16 яиц в день. Она ест три на завтрак каждое утро и печет маффины для своих друзей "
              "каждый день, используя четыре. Остальные она продает на фермерском рынке каждый день по 2 доллара за "
              "свежее утиное яйцо. Сколько долларов она зарабатывает каждый день на фермерском рынке?",
        "es": "Los patos de Janet ponen 16 huevos al día. Ella come tres para el desayuno cada mañana y hornea "
              "magdalenas para sus amigos todos los días con cuatro. Vende el resto en el mercado de agricultores "
              "diariamente por $2 por cada huevo fresco de pato. ¿Cuánto dinero gana cada día en el mercado de "
              "agricultores?",
    }
    row = {lang: Example("gsm8k", 0, lang, q, "18") for lang, q in theirs.items()}
    expected = (PIM_HEAD + "\n\n" + "\n".join(
        f"Question in {name}: {theirs[lang]}" for lang, name in
        (("en", "English"), ("de", "German"), ("ru", "Russian"), ("es", "Spanish"))) + "\nAnswer in English:")
    assert build_prompt(row["en"], "pim", parallel=row) == expected
    assert PIM_INSTRUCTION == PIM_HEAD


# MGSM row 0 (data/mgsm/mgsm_{zh,de,ru,es}.tsv), written out by hand.
MGSM_0 = {
    "zh": "珍妮特的鸭子每天下 16 颗蛋。她每天早上早餐时吃 3 颗，每天用 4 颗为自己的朋友做松饼。"
          "剩下的鸭蛋她每天拿去农贸市场卖，每颗新鲜鸭蛋卖 2 美元。她每天在农贸市场赚多少钱？",
    "de": "Janets Enten legen 16 Eier pro Tag. Sie isst drei jeden Morgen zum Frühstück und backt mit vier jeden Tag "
          "Muffins für ihre Freunde. Den Rest verkauft sie täglich auf dem Bauernmarkt für 2 US-Dollar pro frischem "
          "Entenei. Wie viel Dollar nimmt sie täglich auf dem Bauernmarkt ein?",
    "ru": "Утки Дженет несут по 16 яиц в день. Она ест три на завтрак каждое утро и печет кексы для своих друзей "
          "каждый день, используя четыре. Остаток она каждый день продает на фермерском рынке по 2 $ за свежее утиное "
          "яйцо. Сколько в долларах она зарабатывает на фермерском рынке каждый день?",
    "es": "Los patos de Janet ponen 16 huevos por día. Ella come tres en el desayuno todas las mañanas y usa cuatro "
          "para hornear magdalenas para sus amigos todos los días. Vende lo que sobra en el mercado de productores "
          "diariamente a $2 el huevo fresco de pato. ¿Cuánto gana en dólares todos los días en el mercado de "
          "productores?",
}
GOLDEN_PIM_MGSM_0_ZH = (
    "You are provided with a set of parallel mathematical problems in multiple languages. Each problem presents the "
    "same mathematical question, but expressed in different languages. Your task is to comprehend the problem in any "
    "of these languages, reason through the problem in English, and finally, generate a solution in English.\n\n"
    f"Question in Chinese: {MGSM_0['zh']}\n"
    f"Question in German: {MGSM_0['de']}\n"
    f"Question in Russian: {MGSM_0['ru']}\n"
    f"Question in Spanish: {MGSM_0['es']}\n"
    "Answer in English:"
)


def test_pim_golden_text_for_mgsm_row_0() -> None:
    row = parallel_rows(load_examples("mgsm", ["zh", "de", "ru", "es", "en"], limit=1))[0]
    assert build_prompt(row["zh"], "pim", parallel=row, pim_languages=("de", "ru", "es")) == GOLDEN_PIM_MGSM_0_ZH
    # German source: German first, then ru, es and English in German's place
    de = build_prompt(row["de"], "pim", parallel=row, pim_languages=("de", "ru", "es"))
    assert de == (PIM_HEAD + f"\n\nQuestion in German: {MGSM_0['de']}\nQuestion in Russian: {MGSM_0['ru']}"
                  f"\nQuestion in Spanish: {MGSM_0['es']}\nQuestion in English: {EN_GSM8K_0}\nAnswer in English:")


def test_pim_source_only_baseline() -> None:
    """pim_languages=() is the PiM template with the source line only (the inhibition baseline)."""
    assert build_prompt(ZH, "pim", parallel=ROW, pim_languages=()) == (
        PIM_HEAD + f"\n\nQuestion in Chinese: {ZH.question}\nAnswer in English:")
    assert build_prompt(ZH, "pim", pim_languages=()) == build_prompt(ZH, "pim", parallel=ROW, pim_languages=())


def test_pim_six_on_mgsm_translations() -> None:
    ex = load_examples("mgsm", ["en", "de", "ru", "zh", "fr", "es"], limit=2)
    row = parallel_rows(ex)[1]
    p = build_prompt(row["en"], "pim", parallel=row, pim_languages=("de", "ru", "zh", "fr", "es"))
    assert p.count("Question in ") == 6 and p.startswith(PIM_HEAD)
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
        PIM_HEAD + f"\n\nQuestion in English: {q1}\nAnswer in English: {a1}"
        f"\n\nQuestion in English: {EN.question}\nQuestion in German: {DE.question}\nAnswer in English:")
    assert build_prompt(ZH, "pim-native", exemplars=[("问题", "答案是 3。")], parallel=ROW, pim_languages=("de",)) == (
        NATIVE_HEAD.format(n=2) + "\n\nQuestion in Chinese: 问题\nAnswer in Chinese: 答案是 3。"
        f"\n\nQuestion in Chinese: {ZH.question}\nQuestion in German: {DE.question}\nAnswer in Chinese:")


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


def test_inhibition_analysis_baseline_is_the_pim_template_with_the_source_line() -> None:
    """probe-layers -s analysis=pim: both prompts share the template; only the translations differ."""
    from mlreason.probing.config import ProbeConfig
    from mlreason.probing.pim import pim_prompts

    cfg = ProbeConfig.model_validate({"pim": {"languages": ["zh", "de"], "max_examples": 1}})
    languages, prompts = pim_prompts(cfg)
    assert languages == ["zh", "de"]
    assert prompts["zh"]["pim"] == [GOLDEN_PIM_MGSM_0_ZH]
    assert prompts["zh"]["mono"] == [PIM_HEAD + f"\n\nQuestion in Chinese: {MGSM_0['zh']}\nAnswer in English:"]
    assert (prompts["de"]["pim"][0].count("Question in ") == 4
            and "Question in English: Janet’s" in prompts["de"]["pim"][0])
