"""Scripted generators: a `Generator` that answers each known prompt with a fixed text, no model.

For end-to-end checks of everything around the model (prompts, extraction, language consistency,
averages, reports), the way lm-evaluation-harness tests with its DummyLM:

    items = plan_items(cfg)                                          # mlreason.evaluate.runner
    perfect = ScriptedGenerator(gold_replies((it.prompt, it.example) for it in items))
    english = ScriptedGenerator(gold_replies(((it.prompt, it.example) for it in items), language="en"))
    run_evaluate(cfg, generator=perfect)     # strict = flexible = LC = LC&Acc = 100 in every language

A gold reply is a worked sentence in the example's language (or `language`), then that language's
answer phrase and the gold number: "Zuerst lesen wir ... Die Antwort lautet 18." The sentence has no
digits and no LaTeX, and is long enough (> 15 letters) that any consistency rule must run the
language detector on it rather than count it consistent for being short.
Tested by ``pytest tests/test_fake_generator.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from mlreason.answers import ANSWER_PHRASES
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.generation.base import Completion, SamplingParams

# "First we read the problem carefully, then we work out the result step by step." per language.
WORKED_SENTENCES: dict[str, str] = {
    "en": "First we read the problem carefully, then we work out the result step by step.",
    "de": "Zuerst lesen wir die Aufgabe sorgfältig, dann berechnen wir das Ergebnis Schritt für Schritt.",
    "fr": "D'abord nous lisons attentivement le problème, puis nous calculons le résultat étape par étape.",
    "es": "Primero leemos el problema con atención y luego calculamos el resultado paso a paso.",
    "ru": "Сначала внимательно читаем задачу, затем шаг за шагом вычисляем результат.",
    "zh": "首先我们仔细阅读题目，然后一步一步地计算结果。",
    "ja": "まず問題を注意深く読み、それから一歩ずつ答えを計算します。",
    "th": "ก่อนอื่นเราอ่านโจทย์อย่างละเอียด จากนั้นเราคำนวณผลลัพธ์ทีละขั้นตอน",
    "sw": "Kwanza tunasoma swali kwa makini, kisha tunahesabu jibu hatua kwa hatua.",
    "bn": "প্রথমে আমরা সমস্যাটি মনোযোগ দিয়ে পড়ি, তারপর ধাপে ধাপে ফলাফল গণনা করি।",
    "te": "మొదట మనం సమస్యను జాగ్రత్తగా చదువుతాము, తరువాత దశలవారీగా ఫలితాన్ని లెక్కిస్తాము.",
}


def gold_reply(example: Example, language: str | None = None) -> str:
    """A correct worked answer to `example` in `language` (default: the example's own language)."""
    lang = language or example.language
    if lang not in WORKED_SENTENCES or lang not in ANSWER_PHRASES:
        raise UserError(f"no scripted reply for language {lang!r}; known: {', '.join(WORKED_SENTENCES)}")
    if example.answer is None:
        raise UserError(f"{example.dataset} row {example.row} ({example.language}) has no gold answer to reply with")
    end = "。" if lang in ("zh", "ja") else "."
    answer = example.answer
    if example.options is not None:   # multiple choice: the gold option's label in the reply's language
        from mlreason.evaluate.choice import LATIN, labels

        answer = labels(lang, len(example.options))[LATIN.index(example.answer)]
    return f"{WORKED_SENTENCES[lang]} {ANSWER_PHRASES[lang]} {answer}{end}"


def gold_replies(pairs: Iterable[tuple[str, Example]], language: str | None = None) -> dict[Any, str]:
    """prompt -> `gold_reply(example, language)`; two equal prompts must have the same gold.

    An example with an image is keyed by (prompt, str(image)): one question asked of several images."""
    replies: dict[Any, str] = {}
    for prompt, example in pairs:
        reply = gold_reply(example, language)
        key = prompt if example.image is None else (prompt, str(example.image))
        if replies.setdefault(key, reply) != reply:
            raise UserError(f"two items share a prompt but not a gold answer ({example.dataset} row {example.row}, "
                            f"{example.language}); a scripted generator cannot answer both")
    return replies


class ScriptedGenerator:
    """Answers each prompt with `replies[prompt]` (with an image: `replies[(prompt, str(image))]`), `sampling.n`
    times; a prompt it was not given is an error.

    The prompts are the ones the generator receives (after any chat template).
    `calls` records every `generate` call's prompts, so a test can check what was asked.
    """

    def __init__(self, replies: Mapping[Any, str]) -> None:
        self.replies = dict(replies)
        self.calls: list[list[str]] = []
        self.images: list[list[Any] | None] = []   # the `images` of every call (None: text only)

    def generate(self, prompts: list[str], sampling: SamplingParams,
                 images: list[Any] | None = None) -> list[list[Completion]]:
        keys = [p if images is None or x is None else (p, str(x)) for p, x in zip(prompts, images or prompts)]
        missing = [k for k in keys if k not in self.replies]
        if missing:
            raise UserError(f"scripted generator has no reply for {len(missing)} prompt(s), "
                            f"e.g. {str(missing[0])[:80]!r}")
        self.calls.append(list(prompts))
        self.images.append(images)
        return [[Completion(self.replies[k], [], "stop") for _ in range(sampling.n)] for k in keys]

    def update_weights(self, model: Any, changed: Collection[str] | None = None) -> None:
        """Nothing to update: the replies do not depend on weights."""

    def close(self) -> None:
        """Nothing to free."""
