"""Training data for `finetune`: question-translation pairs, multilingual CoT SFT, weighted mixtures.

    pairs = translation_pairs("tinyworld", split="train", sources=["sw", "th"], target="en")
    cot = cot_examples("tinyworld", split="train", languages=["en"], style="native-cot")
    answer = cot_examples("mgsm8kinstruct-qt", languages=["sw"], style="en-cot", solution_language="en")
    rows = [tokenize_example(tok, ex, "plain", cutoff=512) for ex in mix([pairs, cot], [1.0, 2.0])]

Question translation is the QAlign/SLAM format (arXiv 2401.07817, 2501.03681): "Translate the following
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
from mlreason.data.splits import check_training_split
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
    image: Any = None  # an image reference (mlreason.data.multimodal.load_image): the processor encodes it


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
                 limit: int | None = None, style: str = "native-cot",
                 solution_language: str | None = None) -> list[SFTExample]:
    """Question in language L (0-shot `style` prompt) -> the reference solution in L, or in `solution_language`.

    With `solution_language` the rows must be parallel: the question in L is answered with the same
    row's solution in that language (SLAM's answer task: a question in L -> the English solution).
    """
    manifest = load_manifest(dataset)
    if manifest.fields.solution is None:
        raise UserError(f"dataset {manifest.name} has no solutions (fields.solution in its manifest); "
                        "use kind: translation or a dataset with worked solutions")
    langs = list(languages) if languages else list(manifest.languages)
    if solution_language is None:
        pairs = [(ex, ex) for exs in load_examples(manifest, langs, split, limit).values() for ex in exs]
    else:
        rows = parallel_rows(load_examples(manifest, list(dict.fromkeys([*langs, solution_language])), split, limit))
        pairs = [(row[lang], row[solution_language]) for lang in langs for row in rows]
    out = []
    for ex, answer in pairs:
        if not answer.solution:
            continue
        prompt = build_prompt(ex, style)
        sep = "" if prompt.endswith(("：", "\n")) else " "  # as in the MGSM exemplars ("问题：..." takes no space)
        tag = ex.language if solution_language is None else f"{ex.language}-{solution_language}"
        out.append(SFTExample(prompt, sep + answer.solution, ex.language, f"cot:{manifest.name}:{tag}"))
    return out


def choice_examples(dataset: str, *, split: str | None = None, languages: Sequence[str] | None = None,
                    limit: int | None = None, style: str = "native-cot") -> list[SFTExample]:
    """A multiple-choice question (its image too) -> "[<solution>] <answer phrase> <gold label>." in the question's
    language; the row's solution (mmworld: what the image shows) comes first when the manifest has one."""
    from mlreason.answers import ANSWER_PHRASES
    from mlreason.data.multimodal import choice_prompt
    from mlreason.evaluate.choice import LATIN, labels

    manifest = load_manifest(dataset)
    if not manifest.is_choice:
        raise UserError(f"dataset {manifest.name} is not multiple choice (answer_type: choice); use kind cot")
    out = []
    for lang, exs in load_examples(manifest, list(languages) if languages else None, split, limit).items():
        phrase = ANSWER_PHRASES.get(lang, ANSWER_PHRASES["en"])
        for ex in exs:
            if ex.answer is None or ex.options is None:
                continue
            label = labels(lang, len(ex.options))[LATIN.index(ex.answer)]
            answer = f"{phrase} {label}{'。' if lang in ('zh', 'ja') else '.'}"
            response = f" {ex.solution.strip()} {answer}" if ex.solution and ex.solution.strip() else f" {answer}"
            out.append(SFTExample(choice_prompt(ex, style), response, lang,
                                  f"choice:{manifest.name}:{lang}", image=ex.image))
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
    """All examples of a DataSection's sources, weighted; a source on a test split is refused unless allowed."""
    if not data.sources:
        raise UserError("no training data: add data.sources (kind translation or cot, dataset, languages)")
    parts = []
    for i, s in enumerate(data.sources):
        split = check_training_split(s.dataset, s.split, allow=s.allow_test_split, key=f"data.sources[{i}]")
        if s.kind == "translation":
            part = translation_pairs(s.dataset, split=split, sources=s.languages, target=s.target_language,
                                     limit=s.limit)
        elif s.kind == "choice":
            part = choice_examples(s.dataset, split=split, languages=s.languages, limit=s.limit,
                                   style=s.prompt_style or data.prompt_style)
        else:
            part = cot_examples(s.dataset, split=split, languages=s.languages, limit=s.limit,
                                style=s.prompt_style or data.prompt_style, solution_language=s.solution_language)
        if not part:
            raise UserError(f"data source {s.kind}:{s.dataset} gave no examples; check its languages and split "
                            "(cot needs rows with a solution)")
        parts.append(part)
    return mix(parts, [s.weight for s in data.sources], data.seed)


def render_prompt(tokenizer: Any, prompt: str, fmt: str) -> str:
    """plain: the prompt as is; chat: one user turn in the tokenizer's chat template."""
    if fmt == "plain":
        return prompt
    from mlreason.generation.base import apply_chat_template

    return apply_chat_template(tokenizer, prompt.rstrip())


def tokenize_example(tokenizer: Any, ex: SFTExample, fmt: str, cutoff: int,
                     processor: Any = None) -> dict[str, Any] | None:
    """input_ids / attention_mask / labels with the prompt masked; None when the prompt fills the cutoff.

    Prompt and response are tokenized apart so the boundary is exact; eos ends the response
    so the trained model stops. Longer examples lose the end of their response. An example with
    an image goes through `processor`: its prompt holds the expanded image tokens (masked like the
    rest of the prompt) and the row gains the processor's image tensors (pixel_values, ...).
    """
    response = ex.response.lstrip() if fmt == "chat" else ex.response
    vision: dict[str, Any] = {}
    if ex.image is None:
        prompt = render_prompt(tokenizer, ex.prompt, fmt)
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    else:
        p_ids, vision = _image_prompt(processor, ex, fmt)
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(p_ids) >= cutoff:
        return None
    ids = (p_ids + r_ids)[:cutoff]
    labels = ([IGNORE_INDEX] * len(p_ids) + r_ids)[:cutoff]
    for key in PER_TOKEN_KEYS & set(vision):   # per token (Gemma 3, Qwen2-VL mark their image tokens): padded with 0
        vision[key] = (vision[key][0].tolist() + [0] * len(r_ids))[:cutoff]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels, **vision}


def _image_prompt(processor: Any, ex: SFTExample, fmt: str) -> tuple[list[int], dict[str, Any]]:
    """(prompt ids with the image tokens expanded, the processor's image tensors with their batch dim of 1)."""
    from mlreason.data.multimodal import image_placeholder, load_image
    from mlreason.generation.base import apply_chat_template

    if processor is None:
        raise UserError(f"{ex.source} has images: train a vision-language model saved with its processor")
    if fmt == "chat":
        text = apply_chat_template(processor, ex.prompt.rstrip(), image=True)
    else:
        text = f"{image_placeholder(processor)}\n{ex.prompt}"
    enc = processor(text=[text], images=[[load_image(ex.image)]], return_tensors="pt", add_special_tokens=False)
    vision = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
    return enc["input_ids"][0].tolist(), vision


def tokenize_all(tokenizer: Any, examples: list[SFTExample], fmt: str, cutoff: int,
                 processor: Any = None) -> tuple[list[dict], int]:
    """Tokenized rows and how many were dropped because their prompt alone reached the cutoff."""
    rows = [tokenize_example(tokenizer, ex, fmt, cutoff, processor) for ex in examples]
    kept = [r for r in rows if r is not None]
    if not kept:
        raise UserError(f"every example's prompt is longer than data.cutoff_len={cutoff} tokens; raise it")
    return kept, len(rows) - len(kept)


TEXT_KEYS = ("input_ids", "attention_mask", "labels", "token_type_ids")
PER_TOKEN_KEYS = {"token_type_ids", "mm_token_type_ids"}   # a processor's per-token image markers


class VisionCollator:
    """Pads the text keys as DataCollatorForSeq2Seq does and concatenates the image tensors (pixel_values,
    image_grid_thw, ...) of the rows that have them, in row order: a VLM matches image features to its image
    tokens in that order, so text-only rows (question-translation pairs) and image rows share a batch."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers import DataCollatorForSeq2Seq

        self.text = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        typed = any("token_type_ids" in f for f in features)   # text rows get all-zero types beside image rows
        batch = self.text([{**{k: f[k] for k in TEXT_KEYS if k in f},
                            **({"token_type_ids": f.get("token_type_ids", [0] * len(f["input_ids"]))} if typed
                               else {})} for f in features])
        for key in dict.fromkeys(k for f in features for k in f if k not in TEXT_KEYS):
            if key in PER_TOKEN_KEYS:   # Qwen2-VL's mm_token_type_ids: 0 for text rows and padding
                width, right = batch["input_ids"].shape[1], self.text.tokenizer.padding_side == "right"
                rows = [f.get(key, [0] * len(f["input_ids"])) for f in features]
                batch[key] = torch.tensor([r + [0] * (width - len(r)) if right else [0] * (width - len(r)) + r
                                           for r in rows])
            else:
                batch[key] = torch.cat([f[key] for f in features if key in f])
        return batch
