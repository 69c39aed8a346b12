"""The tiny multimodal world: a fixed item count, parallel languages, and answers re-read from the pixels.

    pytest tests/test_mmworld.py
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from PIL import Image

from mlreason.data.mmworld import COLOURS, LANGUAGES, N_ITEMS, NAMES, SIZE, build_mmworld, item_parameters
from mlreason.evaluate.choice import extract_choice, labels
from mlreason.language import check_consistency, get_detector


def _read_pixels(path: Path) -> tuple[int, str]:
    """(shapes drawn, their colour) from the image alone: a quadrant holds a shape iff it has a coloured pixel."""
    image = Image.open(path).convert("RGB")
    pixels = image.load()
    colours = {}
    for q in range(4):
        x0, y0 = 32 * (q % 2), 32 * (q // 2)
        found = [pixels[x, y] for x in range(x0, x0 + 32) for y in range(y0, y0 + 32)
                 if pixels[x, y] != (255, 255, 255)]
        if found:
            colours[q] = max(set(found), key=found.count)
    names = {rgb: name for name, rgb in COLOURS.items()}
    assert len({colours[q] for q in colours}) == 1, "one colour per image"
    assert sorted(colours) == list(range(len(colours))), "shapes fill the quadrants in order"
    return len(colours), names[next(iter(colours.values()))]


def test_world_has_fixed_items_and_answers_that_match_the_pixels(tmp_path: Path) -> None:
    rows = build_mmworld(tmp_path)
    assert set(rows) == set(LANGUAGES) and len(LANGUAGES) == 6
    assert all(len(r) == N_ITEMS == 24 for r in rows.values())
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [f"mm{i:03d}.png" for i in range(24)]
    kinds = [r["kind"] for r in rows["en"]]
    assert kinds.count("count") == kinds.count("colour") == 12
    for en in rows["en"]:
        count, colour = _read_pixels(tmp_path / en["image"])
        truth = str(count) if en["kind"] == "count" else colour
        assert en["options"][en["answer_index"]] == truth, en
        assert Image.open(tmp_path / en["image"]).size == (SIZE, SIZE)
    for lang in LANGUAGES:   # parallel: same ids, images and answer positions; labels and words per language
        on_disk = [json.loads(x) for x in (tmp_path / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert on_disk == rows[lang]
        for en, row in zip(rows["en"], rows[lang]):
            assert (row["id"], row["image"], row["answer_index"]) == (en["id"], en["image"], en["answer_index"])
            assert row["answer"] == labels(lang)[row["answer_index"]]
            if row["kind"] == "colour":
                assert row["options"] == [NAMES[lang][c] for c in item_parameters()[int(row["id"][2:])]["options"]]


def test_world_is_seeded_and_its_answer_key_is_extractable(tmp_path: Path) -> None:
    assert item_parameters(seed=0) == item_parameters(seed=0) != item_parameters(seed=1)
    ru = build_mmworld(tmp_path)["ru"][1]
    reply = f"Ответ — {ru['answer']}."
    assert extract_choice(reply, "ru", ru["options"]).strict == ru["answer_index"]


def test_trained_replies_state_what_is_seen_and_are_language_consistent() -> None:
    """kind: choice targets on the shipped world: the description, then the gold label; LC (polymath rule,
    langdetect) holds for every one in all six languages, and strict extraction finds the gold."""
    from mlreason.data.mmworld import describe
    from mlreason.finetune.data import choice_examples
    detector = get_detector("langdetect")
    items = item_parameters()
    examples = choice_examples("mmworld")
    assert len(examples) == N_ITEMS * len(LANGUAGES)
    for ex in examples:
        item = items[int(ex.image.rsplit("mm", 1)[1][:3])]
        assert ex.response.startswith(" " + describe(item["count"], item["colour"], item["shape"], ex.language))
        assert check_consistency(ex.response, ex.language, detector).overall, ex.response
        options = [str(o) if item["kind"] == "count" else NAMES[ex.language][o] for o in item["options"]]
        assert extract_choice(ex.response, ex.language, options).strict == item["answer_index"], ex.response
    de = [ex.response for ex in examples if ex.language == "de"][0]
    assert de == " Ich sehe 4 Kreise. Die Farbe ist gelb. Die Antwort lautet C."
    assert not check_consistency(" Die Antwort lautet C.", "de", detector).overall   # langdetect: Afrikaans


@pytest.mark.slow
def test_every_description_and_answer_is_language_consistent() -> None:
    """All 4 counts x 4 colours x 3 shapes x 4 labels in each language (any seed's world), ~7 s of langdetect."""
    from mlreason.answers import ANSWER_PHRASES
    from mlreason.data.mmworld import SHAPES, describe

    detector = get_detector("langdetect")
    for lang in LANGUAGES:
        end = "。" if lang == "zh" else "."
        bad = [text for n, c, s, label in itertools.product(range(1, 5), COLOURS, SHAPES, labels(lang))
               if not check_consistency(text := f" {describe(n, c, s, lang)} {ANSWER_PHRASES[lang]} {label}{end}",
                                        lang, detector).overall]
        assert bad == [], f"{lang}: {bad[:3]}"
