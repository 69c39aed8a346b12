"""Training data for `finetune`: question-translation pairs, multilingual CoT SFT, weighted mixtures.

    pairs = translation_pairs("tinyworld", split="train", sources=["sw", "th"], target="en")
    cot = cot_examples("tinyworld", split="train", languages=["en"], style="native-cot")
    rows = [tokenize_example(tok, ex, "plain", cutoff=512) for ex in mix([pairs, cot], [1.0, 2.0])]

Question translation is the QAlign/SLAM format (METHODS.md section 2): "Translate the following
sentences from {Src} to {Tgt}." + the question in Src -> the same question in Tgt (the rows of a
parallel manifest are the same problems). CoT SFT uses `build_prompt(example, "native-cot")`,
0-shot, with the dataset's reference solution as the response, so `mlreason evaluate --prompt
native-cot` sees the training format. Loss is on the response only (prompt labels are -100).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlreason.data.manifest import load_examples, load_manifest, parallel_rows
from mlreason.data.prompts import build_prompt
from mlreason.errors import UserError
from mlreason.language import LANGUAGE_NAMES

IGNORE_INDEX = -100
TRANSLATE_INSTRUCTION = "Translate the following sentences from {src} to {tgt}."


@dataclass(frozen=True)
class SFTExample:
    """A prompt and the response the model learns to produce after it (the separator is in the response)."""

    prompt: str
    response: str
    language: str
    source: str  # "translation:tinyworld:sw-en" / "cot:tinyworld:sw", for counts in the run summary


def translation_prompt(question: str, src: str, tgt: str) -> str:
    """The QAlign/SLAM question-translation prompt."""
    names = LANGUAGE_NAMES
    if src not in names or tgt not in names:
        unknown = src if src not in names else tgt
        raise UserError(f"no language name for {unknown!r}; known: {', '.join(names)}")
    return f"{TRANSLATE_INSTRUCTION.format(src=names[src], tgt=names[tgt])}\n{question}\n"


def translation_pairs(dataset: str, *, split: str | None = None, sources: Sequence[str] | None = None,
                      target: str = "en", limit: int | None = None) -> list[SFTExample]:
    """Question in each source language -> the parallel question in `target`, row by row."""
    manifest = load_manifest(dataset)
    if target not in manifest.languages:
        raise UserError(f"translation target {target!r} is not a language of {manifest.name} "
                        f"({', '.join(manifest.languages)}); set target_language")
    srcs = [lang for lang in (sources or manifest.languages) if lang != target]
    if not srcs:
        raise UserError(f"translation pairs need a source language other than {target}; set languages")
    rows = parallel_rows(load_examples(manifest, [target, *srcs], split=split, limit=limit))
    return [SFTExample(translation_prompt(row[src].question, src, target), row[target].question, src,
                       f"translation:{manifest.name}:{src}-{target}")
            for src in srcs for row in rows]


def cot_examples(dataset: str, *, split: str | None = None, languages: Sequence[str] | None = None,
                 limit: int | None = None, style: str = "native-cot") -> list[SFTExample]:
    """Question in language L (0-shot `style` prompt) -> the reference solution in L."""
    manifest = load_manifest(dataset)
    if manifest.fields.solution is None:
        raise UserError(f"dataset {manifest.name} has no solutions (fields.solution in its manifest); "
                        "use kind: translation or a dataset with worked solutions")
    out = []
    for lang, examples in load_examples(manifest, list(languages) if languages else None, split, limit).items():
        for ex in examples:
            if not ex.solution:
                continue
            prompt = build_prompt(ex, style)
            sep = "" if prompt.endswith(("：", "\n")) else " "  # as in the MGSM exemplars ("问题：..." takes no space)
            out.append(SFTExample(prompt, sep + ex.solution, lang, f"cot:{manifest.name}:{lang}"))
    return out


def weighted(examples: list[SFTExample], weight: float, rng: random.Random) -> list[SFTExample]:
    """Each example floor(weight) times, plus a random (weight mod 1) share of them once more."""
    whole, frac = int(weight), weight - int(weight)
    extra = rng.sample(examples, round(frac * len(examples))) if frac > 0 else []
    return examples * whole + extra


def mix(parts: Sequence[list[SFTExample]], weights: Sequence[float], seed: int = 0) -> list[SFTExample]:
    """Concatenate the weighted parts (the Trainer shuffles); refuses an empty result."""
    rng = random.Random(seed)
    out = [ex for part, w in zip(parts, weights) for ex in weighted(part, w, rng)]
    if not out:
        raise UserError("the training mixture is empty; check data.sources (datasets, languages, limit, weight)")
    return out


def build_examples(data: Any) -> list[SFTExample]:
    """All examples of a DataSection's sources, weighted."""
    if not data.sources:
        raise UserError("no training data: add data.sources (kind translation or cot, dataset, languages)")
    parts = []
    for s in data.sources:
        if s.kind == "translation":
            part = translation_pairs(s.dataset, split=s.split, sources=s.languages, target=s.target_language,
                                     limit=s.limit)
        else:
            part = cot_examples(s.dataset, split=s.split, languages=s.languages, limit=s.limit,
                                style=s.prompt_style or data.prompt_style)
        if not part:
            raise UserError(f"data source {s.kind}:{s.dataset} gave no examples; check its languages and split")
        parts.append(part)
    return mix(parts, [s.weight for s in data.sources], data.seed)


def render_prompt(tokenizer: Any, prompt: str, fmt: str) -> str:
    """plain: the prompt as is; chat: one user turn in the tokenizer's chat template."""
    if fmt == "plain":
        return prompt
    from mlreason.generation.base import apply_chat_template

    return apply_chat_template(tokenizer, prompt.rstrip())


def tokenize_example(tokenizer: Any, ex: SFTExample, fmt: str, cutoff: int) -> dict[str, list[int]] | None:
    """input_ids / attention_mask / labels with the prompt masked; None when the prompt fills the cutoff.

    Prompt and response are tokenized apart so the boundary is exact; eos ends the response
    so the trained model stops. Longer examples lose the end of their response.
    """
    prompt = render_prompt(tokenizer, ex.prompt, fmt)
    response = ex.response.lstrip() if fmt == "chat" else ex.response
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(p_ids) >= cutoff:
        return None
    ids = (p_ids + r_ids)[:cutoff]
    labels = ([IGNORE_INDEX] * len(p_ids) + r_ids)[:cutoff]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def tokenize_all(tokenizer: Any, examples: list[SFTExample], fmt: str, cutoff: int) -> tuple[list[dict], int]:
    """Tokenized rows and how many were dropped because their prompt alone reached the cutoff."""
    rows = [tokenize_example(tokenizer, ex, fmt, cutoff) for ex in examples]
    kept = [r for r in rows if r is not None]
    if not kept:
        raise UserError(f"every example's prompt is longer than data.cutoff_len={cutoff} tokens; raise it")
    return kept, len(rows) - len(kept)
