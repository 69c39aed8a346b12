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
- pim: Mu et al., EMNLP 2024 (arXiv 2403.09073), as in the authors' released GSM8K prompt files
  (gpt_translated_data/GSM8K/PMI_Prompt/0shot-prompt_pmi3.jsonl): their instruction (the problems are
  the same question in several languages; reason and answer in English), a blank line, then
  "Question in <Language>: ..." lines, the original first and then exactly N = len(pim_languages)
  translations, then "Answer in English:". When the source language is itself a PiM language, the
  next of English and then the dataset's other languages fills its place. The answers are in English,
  so evaluation checks them (answer phrase and LC) as English.
- pim-native: mlreason's earlier variant: the same lines, a paraphrased instruction and
  "Answer in <source language>:"; answers are checked in the source language.
`pim_languages=()` renders the PiM template with the source line only (the inhibition baseline of
`probe-layers -s analysis=pim`). The authors' few-shot PiM files are not in their public repository;
mlreason renders a PiM shot as "Question in <Source>: q" + "Answer in English: a" (pim-native: in the
source language). Other styles render shots in their own format, blocks separated by a blank line.
Prompts are raw text; chat rendering is the caller's job (mlreason.generation.base.apply_chat_template).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlreason.answers import ANSWER_PHRASES, final_answer
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.language import LANGUAGE_NAMES

PROMPT_STYLES = ("native-cot", "en-cot", "direct", "boxed", "pim", "pim-native")
PIM_STYLES = ("pim", "pim-native")

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
    "ms": ("Soalan:", "Jawapan langkah demi langkah:"),
}

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# Verbatim from the authors' released prompt files (see the module docstring).
PIM_INSTRUCTION = (
    "You are provided with a set of parallel mathematical problems in multiple languages. Each problem presents "
    "the same mathematical question, but expressed in different languages. Your task is to comprehend the problem "
    "in any of these languages, reason through the problem in English, and finally, generate a solution in English."
)
PIM_NATIVE_INSTRUCTION = (
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
        return f"{head}\n{phrase} {final_answer(answer, language) or answer}"
    if style == "boxed":
        body = f"{head}\n{BOXED_INSTRUCTION}"
        if answer is None:
            return body
        n = final_answer(answer, language)
        return f"{body}\n{answer}" + (f" \\boxed{{{n}}}" if n is not None else "")
    raise AssertionError(style)


def pim_line_languages(source: str, pim_languages: Sequence[str], available: Sequence[str]) -> list[str]:
    """The N = len(pim_languages) translation languages shown after the `source` line: the PiM languages
    other than the source, then English, then `available` in order, until there are N."""
    wanted = len(pim_languages)
    chosen = [lang for lang in dict.fromkeys(pim_languages) if lang != source]
    for lang in ["en", *available]:
        if len(chosen) >= wanted:
            break
        if lang != source and lang not in chosen and lang in available:
            chosen.append(lang)
    if len(chosen) < wanted:
        raise UserError(f"PiM needs {wanted} translations of a {source} problem but only {len(chosen)} other "
                        f"languages are available ({', '.join(available)}); use fewer prompt.pim_languages")
    return chosen[:wanted]


def _pim(example: Example, exemplars: Sequence[tuple[str, str]], parallel: dict[str, Example] | None,
         pim_languages: Sequence[str], native: bool) -> str:
    if parallel is None and pim_languages:
        raise UserError("prompt style pim needs the parallel row (translations); load a parallel dataset")
    row = parallel or {}
    missing = [lang for lang in pim_languages if lang not in row and lang != example.language]
    if missing:
        raise UserError(
            f"pim: no translation in {', '.join(missing)} for {example.id}; load those languages too "
            f"(have: {', '.join(row)})"
        )
    others = pim_line_languages(example.language, pim_languages, list(row))
    answer_line = f"Answer in {_language_name(example.language if native else 'en')}:"
    source_label = f"Question in {_language_name(example.language)}:"
    shots = [f"{source_label} {q}\n{answer_line} {a}" for q, a in exemplars]
    lines = [f"{source_label} {example.question}"]
    lines += [f"Question in {_language_name(lang)}: {row[lang].question}" for lang in others]
    lines.append(answer_line)
    instruction = PIM_NATIVE_INSTRUCTION.format(n=len(others) + 1) if native else PIM_INSTRUCTION
    return "\n\n".join([instruction, *shots, "\n".join(lines)])


def answer_language(style: str, language: str) -> str:
    """The language a prompt of `style` asks the answer in; evaluation checks the answer phrase and
    language consistency in it (en-cot and pim ask for English)."""
    return "en" if style in ("en-cot", "pim") else language


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
    if style in PIM_STYLES:
        return _pim(example, exemplars, parallel, pim_languages, native=style == "pim-native")
    blocks = [_block(style, example.language, q, a) for q, a in exemplars]
    blocks.append(_block(style, example.language, example.question, None))
    return "\n\n".join(blocks)
