"""A tiny generated multimodal world: rendered coloured shapes with counting and colour questions, multiple choice.

    from mlreason.data.mmworld import build_mmworld
    rows = build_mmworld("artifacts/mmworld")     # images/000.png ... and en.jsonl, de.jsonl, ... (24 items each)

Item i is a 64x64 white image of `count` (1-4) shapes of one kind and one colour, each centred in its own
32x32 quadrant (so they never overlap). Even items ask how many shapes there are, odd items what colour
they are; four options, the right one placed by the seed. The same items in six languages (parallel,
same ids and options order), labelled with each language's letters (mlreason.evaluate.choice).
Answers follow from the rendering parameters, and tests/test_mmworld.py re-reads them from the pixels.

Each row's `solution` says what the image shows, in the option words ("Ich sehe 3 Kreise. Die Farbe ist
rot."): `kind: choice` training puts it before the answer sentence, so a model states what it sees and
then the letter. It also makes the reply long enough for the LC rule to judge: langdetect reads the bare
"Die Antwort lautet D." as Afrikaans, while every description + answer sentence of every count, colour,
shape and label is consistent under the polymath rule in all six languages (tests/test_mmworld.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "de", "fr", "ru", "zh", "sw")
N_ITEMS = 24
SIZE = 64
COLOURS = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (40, 70, 220), "yellow": (235, 200, 20)}
SHAPES = ("circle", "square", "triangle")
NAMES: dict[str, dict[str, str]] = {   # colour and shape words per language
    "en": {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow"},
    "de": {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb"},
    "fr": {"red": "rouge", "green": "vert", "blue": "bleu", "yellow": "jaune"},
    "ru": {"red": "красный", "green": "зелёный", "blue": "синий", "yellow": "жёлтый"},
    "zh": {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"},
    "sw": {"red": "nyekundu", "green": "kijani", "blue": "buluu", "yellow": "njano"},
}
SHAPE_NAMES: dict[str, dict[str, tuple[str, str]]] = {   # (one, several: 2-4) per language
    "en": {"circle": ("circle", "circles"), "square": ("square", "squares"), "triangle": ("triangle", "triangles")},
    "de": {"circle": ("Kreis", "Kreise"), "square": ("Quadrat", "Quadrate"), "triangle": ("Dreieck", "Dreiecke")},
    "fr": {"circle": ("cercle", "cercles"), "square": ("carré", "carrés"), "triangle": ("triangle", "triangles")},
    "ru": {"circle": ("круг", "круга"), "square": ("квадрат", "квадрата"),
           "triangle": ("треугольник", "треугольника")},
    "zh": {"circle": ("圆形", "圆形"), "square": ("正方形", "正方形"), "triangle": ("三角形", "三角形")},
    "sw": {"circle": ("duara", "duara"), "square": ("mraba", "miraba"), "triangle": ("pembetatu", "pembetatu")},
}
# what the image shows: {n} the count (digits, as the options), {s} the shape word, {c} the colour word,
# {p} Russian's possessive (его / их); wordings chosen so langdetect reads every one as its language
DESCRIPTIONS: dict[str, str] = {
    "en": "I see {n} {s}. The colour is {c}.",
    "de": "Ich sehe {n} {s}. Die Farbe ist {c}.",
    "fr": "Je vois {n} {s}. La couleur est {c}.",
    "ru": "Я вижу {n} {s}, {p} цвет — {c}.",
    "zh": "我看到{n}个{s}，颜色是{c}。",
    "sw": "Kwenye picha kuna {s} {n}. Rangi yake ni {c}.",
}
QUESTIONS: dict[str, tuple[str, str]] = {   # (how many shapes?, what colour are the shapes?)
    "en": ("How many shapes are in the picture?", "What colour are the shapes in the picture?"),
    "de": ("Wie viele Formen sind auf dem Bild?", "Welche Farbe haben die Formen auf dem Bild?"),
    "fr": ("Combien de formes y a-t-il sur l'image ?", "De quelle couleur sont les formes sur l'image ?"),
    "ru": ("Сколько фигур на картинке?", "Какого цвета фигуры на картинке?"),
    "zh": ("图中有几个图形？", "图中的图形是什么颜色？"),
    "sw": ("Kuna maumbo mangapi kwenye picha?", "Maumbo kwenye picha yana rangi gani?"),
}


def item_parameters(seed: int = 0, n_items: int = N_ITEMS) -> list[dict[str, Any]]:
    """What each image shows and which option is right: {id, count, colour, shape, kind, options, answer_index}."""
    rng = random.Random(seed)
    items = []
    for i in range(n_items):
        count, colour, shape = rng.randint(1, 4), rng.choice(list(COLOURS)), rng.choice(SHAPES)
        kind = "count" if i % 2 == 0 else "colour"
        if kind == "count":
            options = sorted(rng.sample([c for c in range(1, 7) if c != count], 3) + [count])
            answer = options.index(count)
        else:
            options = rng.sample(list(COLOURS), 4)
            answer = options.index(colour)
        items.append({"id": f"mm{i:03d}", "count": count, "colour": colour, "shape": shape, "kind": kind,
                      "options": options, "answer_index": answer})
    return items


def describe(count: int, colour: str, shape: str, lang: str) -> str:
    """What an image of `count` `colour` `shape`s shows, in `lang` (a row's `solution`)."""
    return DESCRIPTIONS[lang].format(n=count, s=SHAPE_NAMES[lang][shape][count > 1], c=NAMES[lang][colour],
                                     p="его" if count == 1 else "их")


def render(item: dict[str, Any]) -> Any:
    """A PIL image: item['count'] shapes, one per quadrant (row-major), 20 px wide, centred."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    fill = COLOURS[item["colour"]]
    for q in range(item["count"]):
        cx, cy = 16 + 32 * (q % 2), 16 + 32 * (q // 2)
        box = (cx - 10, cy - 10, cx + 10, cy + 10)
        if item["shape"] == "circle":
            draw.ellipse(box, fill=fill)
        elif item["shape"] == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, cy - 10), (cx - 10, cy + 10), (cx + 10, cy + 10)], fill=fill)
    return image


def _row(item: dict[str, Any], lang: str) -> dict[str, Any]:
    from mlreason.evaluate.choice import labels

    question = QUESTIONS[lang][0 if item["kind"] == "count" else 1]
    options = [str(o) if item["kind"] == "count" else NAMES[lang][o] for o in item["options"]]
    return {"id": item["id"], "image": f"images/{item['id']}.png", "question": question, "options": options,
            "answer": labels(lang)[item["answer_index"]], "answer_index": item["answer_index"], "kind": item["kind"],
            "solution": describe(item["count"], item["colour"], item["shape"], lang)}


def build_mmworld(out_dir: str | Path, seed: int = 0, n_items: int = N_ITEMS) -> dict[str, list[dict[str, Any]]]:
    """Write images/<id>.png and <lang>.jsonl for every language; returns {lang: rows}."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = item_parameters(seed, n_items)
    for item in items:
        render(item).save(out / "images" / f"{item['id']}.png")
    rows = {lang: [_row(item, lang) for item in items] for lang in LANGUAGES}
    for lang, lang_rows in rows.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lang_rows)
        (out / f"{lang}.jsonl").write_text(text, encoding="utf-8")
    return rows
