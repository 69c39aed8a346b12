"""Multiple-choice and image fields of a manifest: gold labels, image references, and the MC prompt.

    from mlreason.data.multimodal import choice_gold, choice_prompt, load_image, resolve_image
    choice_gold("Б", "ru", 4)                     # "B": golds are stored as the Latin letter of the option
    choice_gold(2, "en", 4)                       # "C": an integer gold is a 0-based option index
    ref = resolve_image("images/mm000.png", Path("data/mmworld"))   # absolute path (str)
    load_image(ref)                               # PIL RGB image (path, bytes, base64 text, {"bytes": ...})
    choice_prompt(example, "native-cot")          # question, "A. ..." block, the language's instruction

A manifest with `answer_type: choice` names its options (`fields.options`: one list column, or
`fields.option_columns`: one column per option, as MMBench's A/B/C/D) and may name an image column
(`fields.image`). Images stay references until generation: a path relative to the data file's folder
(made absolute here), raw bytes, base64 text (MMBench/MMMB TSVs), or what `datasets` gives (a PIL
image or {"bytes", "path"}). Tested by tests/test_mm_evaluate.py.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from mlreason.answers import ANSWER_PHRASES
from mlreason.data.prompts import PREFIXES, labelled
from mlreason.data.types import Example
from mlreason.errors import UserError

CHOICE_STYLES = ("native-cot", "en-cot", "direct")
# "Answer with the letter of the correct option." per language (fallback: English)
INSTRUCTIONS: dict[str, str] = {
    "en": "Answer with the letter of the correct option.",
    "de": "Antworte mit dem Buchstaben der richtigen Option.",
    "fr": "Répondez par la lettre de la bonne option.",
    "es": "Responde con la letra de la opción correcta.",
    "it": "Rispondi con la lettera dell'opzione corretta.",
    "pt": "Responda com a letra da opção correta.",
    "ru": "Ответьте буквой правильного варианта.",
    "zh": "请用正确选项的字母作答。",
    "ja": "正しい選択肢の記号で答えてください。",
    "ko": "정답 선택지의 글자로 답하세요.",
    "sw": "Jibu kwa herufi ya chaguo sahihi.",
    "ar": "أجب بحرف الخيار الصحيح.",
    "tr": "Doğru seçeneğin harfiyle cevap verin.",
    "th": "ตอบด้วยตัวอักษรของตัวเลือกที่ถูกต้อง",
}
# question prefixes for languages the math prompts do not cover
EXTRA_PREFIXES: dict[str, tuple[str, str]] = {"tr": ("Soru:", "Adım adım cevap:")}


def choice_gold(value: Any, language: str, n: int) -> str:
    """The gold option as a Latin letter A-D: from a letter (Latin or the language's label) or a 0-based index."""
    from mlreason.evaluate.choice import LATIN, labels

    text = str(value).strip() if value is not None else ""
    if isinstance(value, int) or text.isdigit():
        index = int(text)
    else:
        letters = {**{x: i for i, x in enumerate(LATIN)}, **{x: i for i, x in enumerate(labels(language, 4))}}
        index = letters.get(text.upper() if text.isascii() else text, -1)
    if not 0 <= index < n:
        raise UserError(f"gold {value!r} names no option of {n} (give A-{LATIN[n - 1]}, the language's label, "
                        f"or a 0-based index)")
    return LATIN[index]


def row_options(row: dict[str, Any], option_field: str | None, option_columns: list[str] | None) -> list[str]:
    """The row's option texts; empty cells at the end (a 2- or 3-option question in A-D columns) are dropped."""
    if option_field is not None:
        value = row.get(option_field)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"fields.options {option_field!r} must hold a list of option texts, got "
                            f"{type(value).__name__}")
        options = [str(x) for x in value]
    else:
        options = ["" if _missing(row.get(c)) else str(row.get(c)).strip() for c in option_columns or []]
        while options and not options[-1]:
            options.pop()
    if not 2 <= len(options) <= 4 or not all(options):
        raise UserError(f"a multiple-choice row needs 2-4 non-empty options, got {options!r}")
    return options


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "nan")


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def resolve_image(value: Any, base: Path | None) -> Any:
    """A reference `load_image` reads: relative paths become absolute (against `base`); others pass as they are."""
    if _missing(value):
        raise UserError("a row has an empty image field; every row of an image manifest needs an image")
    if isinstance(value, str) and base is not None and len(value) < 1024:
        path = (base / value).resolve()
        if path.is_file():
            return str(path)
        if not _is_base64(value):   # not base64 image data either
            raise UserError(f"image {value} not found (looked at {path}); image paths are relative to the data file")
    return value


def load_image(ref: Any) -> Any:
    """A PIL RGB image from a path, bytes, base64 text, a PIL image, or a datasets {"bytes", "path"} dict."""
    from PIL import Image

    if isinstance(ref, Image.Image):
        return ref.convert("RGB")
    if isinstance(ref, dict):
        ref = ref.get("bytes") or ref.get("path")
    if isinstance(ref, str) and Path(ref).is_file():
        return Image.open(ref).convert("RGB")
    if isinstance(ref, str):
        try:
            ref = base64.b64decode(ref, validate=True)
        except (binascii.Error, ValueError):
            raise UserError(f"image {ref[:60]!r} is neither a file nor base64 data") from None
    if isinstance(ref, (bytes, bytearray)):
        try:
            return Image.open(io.BytesIO(ref)).convert("RGB")
        except Exception as e:  # noqa: BLE001 - PIL raises several types for bad data
            raise UserError(f"image bytes could not be decoded ({type(e).__name__}); check the image column") from e
    raise UserError(f"cannot read an image from a {type(ref).__name__}; give a path, bytes or base64 text")


def image_placeholder(processor: Any) -> str:
    """The text a processor expands into a prompt's image tokens: Gemma 3's "<start_of_image>", Qwen2-VL's
    "<|vision_start|><|image_pad|><|vision_end|>", else its image token (LLaVA's "<image>")."""
    start, end = getattr(processor, "vision_start_token", None), getattr(processor, "vision_end_token", None)
    if start and end and getattr(processor, "image_token", None):
        return f"{start}{processor.image_token}{end}"
    return getattr(processor, "boi_token", None) or getattr(processor, "image_token", None) or "<image>"


def choice_prompt(example: Example, style: str) -> str:
    """Question, the options with the language's labels, the instruction, then the style's answer slot."""
    from mlreason.evaluate.choice import option_block

    if style not in CHOICE_STYLES:
        raise UserError(f"prompt style {style!r} is not for multiple choice; use one of {', '.join(CHOICE_STYLES)}")
    lang = example.language
    q_prefix, step_prefix = PREFIXES.get(lang) or EXTRA_PREFIXES.get(lang) or PREFIXES["en"]
    head = "\n".join([labelled(q_prefix, example.question), option_block(list(example.options or ()), lang),
                      INSTRUCTIONS.get(lang, INSTRUCTIONS["en"])])
    if style == "native-cot":
        return f"{head}\n{step_prefix}"
    if style == "en-cot":
        return f"{head}\n{PREFIXES['en'][1]}"
    return f"{head}\n{ANSWER_PHRASES.get(lang, ANSWER_PHRASES['en'])}"
