"""Prompt building: one `Example` (+ few-shot pairs, + its translations for PiM) -> raw prompt text.

    from mlreason.data.prompts import build_prompt
    build_prompt(ex, "native-cot")   # "Frage: ...\nSchritt-für-Schritt-Antwort:"
    build_prompt(ex, "pim", parallel=rows[i], pim_languages=("de", "ru", "es"))

Styles (PROMPT_STYLES):
- native-cot: MGSM's native format: native question prefix, native step-by-step prefix; the model
  reasons in the question's language and ends with the native answer sentence (exemplars show it).
- en-cot: question in its language with its native prefix, English step-by-step prefix (MGSM EN-CoT).
- direct: native question prefix, then the native answer phrase ("The answer is") to complete.
- boxed: question, then "Please reason step by step, and put your final answer within \\boxed{}."
- pim: Mu et al. 2024 (arXiv 2403.09073): the same question in several languages, each line labelled
  "Question in <Language>:", original first, then "Answer in <Language>:".
Few-shot pairs are rendered in the same style, blocks separated by a blank line. Prompts are raw
text; chat rendering is the caller's job (mlreason.generation.base.apply_chat_template).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlreason.answers import ANSWER_PHRASES
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.language import LANGUAGE_NAMES

PROMPT_STYLES = ("native-cot", "en-cot", "direct", "boxed", "pim")

# (question prefix, step-by-step prefix): the first 11 are taken verbatim from the MGSM exemplars
# (data/mgsm/exemplars.json; tests/test_prompts.py checks they match); the rest are our translations.
PREFIXES: dict[str, tuple[str, str]] = {
    "en": ("Question:", "Step-by-Step Answer:"),
    "de": ("Frage:", "Schritt-für-Schritt-Antwort:"),
    "fr": ("Question :", "Réponse étape par étape :"),
    "es": ("Pregunta:", "Respuesta paso a paso:"),
    "ru": ("Задача:", "Пошаговое решение:"),
    "zh": ("问题：", "逐步解答："),
    "ja": ("問題：", "ステップごとの答え："),
    "th": ("โจทย์:", "คำตอบทีละขั้นตอน:"),
    "sw": ("Swali:", "Jibu la Hatua kwa Hatua:"),
    "bn": ("প্রশ্ন:", "ধাপে ধাপে উত্তর:"),
    "te": ("ప్రశ్న:", "దశలవారీగా సమాధానం:"),
    # not in MGSM: our translations
    "it": ("Domanda:", "Risposta passo dopo passo:"),
    "pt": ("Pergunta:", "Resposta passo a passo:"),
    "ko": ("질문:", "단계별 답변:"),
    "vi": ("Câu hỏi:", "Trả lời từng bước:"),
    "ar": ("السؤال:", "الإجابة خطوة بخطوة:"),
    "id": ("Pertanyaan:", "Jawaban langkah demi langkah:"),
}

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
PIM_INSTRUCTION = (
    "The following questions are the same math problem written in {n} languages. "
    "Use all of them to understand the problem, then solve it step by step."
)

def labelled(prefix: str, text: str) -> str:
    """"Question:" + "x" -> "Question: x"; a full-width colon takes no space ("问题：x"), as in MGSM."""
    if not text:
        return prefix
    return f"{prefix}{text}" if prefix.endswith("：") else f"{prefix} {text}"


def _prefixes(language: str) -> tuple[str, str]:
    if language not in PREFIXES:
        raise UserError(f"no prompt prefixes for language {language!r}; known: {', '.join(PREFIXES)}")
    return PREFIXES[language]


def _language_name(language: str) -> str:
    if language not in LANGUAGE_NAMES:
        raise UserError(f"no language name for {language!r}; known: {', '.join(LANGUAGE_NAMES)}")
    return LANGUAGE_NAMES[language]


def _final_number(text: str) -> str | None:
    """Last number in a worked answer ("... The answer is 1,200." -> "1200"), for direct/boxed shots."""
    nums = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return nums[-1].replace(",", "") if nums else None


def _block(style: str, language: str, question: str, answer: str | None) -> str:
    """One question (+ its answer for a shot) in `style`; answer None leaves the slot open."""
    q_prefix, step_prefix = _prefixes(language)
    head = labelled(q_prefix, question)
    if style == "native-cot":
        return f"{head}\n{labelled(step_prefix, answer or '')}"
    if style == "en-cot":
        return f"{head}\n{labelled(PREFIXES['en'][1], answer or '')}"
    if style == "direct":
        phrase = ANSWER_PHRASES.get(language, ANSWER_PHRASES["en"])
        if answer is None:
            return f"{head}\n{phrase}"
        return f"{head}\n{phrase} {_final_number(answer) or answer}"
    if style == "boxed":
        body = f"{head}\n{BOXED_INSTRUCTION}"
        if answer is None:
            return body
        n = _final_number(answer)
        return f"{body}\n{answer}" + (f" \\boxed{{{n}}}" if n is not None else "")
    raise AssertionError(style)


def _pim(example: Example, exemplars: Sequence[tuple[str, str]], parallel: dict[str, Example] | None,
         pim_languages: Sequence[str]) -> str:
    if parallel is None:
        raise UserError("prompt style pim needs the parallel row (translations); load a parallel dataset")
    langs = [example.language] + [lang for lang in pim_languages if lang != example.language]
    missing = [lang for lang in langs[1:] if lang not in parallel]
    if missing:
        raise UserError(
            f"pim: no translation in {', '.join(missing)} for {example.id}; load those languages too "
            f"(have: {', '.join(parallel)})"
        )
    answer_line = f"Answer in {_language_name(example.language)}:"
    shots = [
        f"Question in {_language_name(example.language)}: {q}\n{answer_line} {a}" for q, a in exemplars
    ]
    lines = []
    for lang in langs:
        text = example.question if lang == example.language else parallel[lang].question
        lines.append(f"Question in {_language_name(lang)}: {text}")
    lines.append(answer_line)
    return "\n\n".join([PIM_INSTRUCTION.format(n=len(langs)), *shots, "\n".join(lines)])


def build_prompt(
    example: Example,
    style: str,
    *,
    exemplars: Sequence[tuple[str, str]] = (),
    parallel: dict[str, Example] | None = None,
    pim_languages: Sequence[str] = ("de", "ru", "es"),
) -> str:
    """The raw prompt for `example` in `style`, with `exemplars` (question, worked answer) as shots."""
    if style not in PROMPT_STYLES:
        raise UserError(f"unknown prompt style {style!r}; use one of {', '.join(PROMPT_STYLES)}")
    if style == "pim":
        return _pim(example, exemplars, parallel, pim_languages)
    blocks = [_block(style, example.language, q, a) for q, a in exemplars]
    blocks.append(_block(style, example.language, example.question, None))
    return "\n\n".join(blocks)
