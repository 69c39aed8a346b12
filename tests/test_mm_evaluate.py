"""Multimodal multiple-choice evaluation: manifests with images and options, scripted and tiny-VLM runs.

    pytest tests/test_mm_evaluate.py

A scripted generator that names the gold option after a worked sentence in the question's language scores
strict = flexible = LC = 100 on the tiny multimodal world (data/mmworld) in every language; the same replies
in English keep accuracy and score LC 0 off English. Tiny random LLaVA and Gemma 3 models (mlreason.tiny_zoo)
run through `evaluate` with their processors feeding the images: its accuracy is whatever it is, the counts are fixed.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from mlreason.config import load_config
from mlreason.data.manifest import load_examples, load_manifest
from mlreason.data.mmworld import LANGUAGES, N_ITEMS, build_mmworld
from mlreason.data.multimodal import choice_gold, choice_prompt, load_image
from mlreason.errors import UserError
from mlreason.evaluate.config import EvaluateConfig
from mlreason.evaluate.runner import plan_items, run_evaluate
from mlreason.generation.fake import ScriptedGenerator, gold_replies
from mlreason.resources import shipped_dir


def _config(model: Path, out: Path, *extra: str) -> EvaluateConfig:
    return load_config(EvaluateConfig, None, [f"model.name_or_path={model}", f"output_dir={out}",
                                              "data.datasets=[mmworld]", "report.plot=false", *extra])


@pytest.mark.parametrize("language", [None, "en"])
def test_scripted_replies_score_the_mc_world(tiny_models: dict[str, Path], tmp_path: Path, language) -> None:
    cfg = _config(tiny_models["qwen2"], tmp_path / "run")
    items = plan_items(cfg)
    assert len(items) == N_ITEMS * len(LANGUAGES) == 144
    fake = ScriptedGenerator(gold_replies(((it.prompt, it.example) for it in items), language=language))
    results = run_evaluate(cfg, Console(quiet=True), generator=fake)
    # every prompt came with its own image, an existing file
    assert len(fake.images) == 1 and len(fake.images[0]) == 144
    assert all(Path(x).is_file() and x.endswith(f"{it.example.key}.png") for x, it in zip(fake.images[0], items))
    res = results["datasets"]["mmworld"]
    assert res["n_questions"] == {lang: N_ITEMS for lang in LANGUAGES}
    for lang, row in res["per_language"].items():
        lc = 1.0 if language is None or lang == "en" else 0.0
        got = {m: row[m] for m in ("acc_strict", "acc_flexible", "lc", "lc_acc")}
        assert got == {"acc_strict": 1.0, "acc_flexible": 1.0, "lc": lc, "lc_acc": lc}, f"{lang}: {got}"
    records = [json.loads(x) for x in (tmp_path / "run" / "completions.jsonl").read_text("utf-8").splitlines()]
    ru = next(r for r in records if r["language"] == "ru" and r["row"] == 0)
    assert ru["gold"] == "C" and len(ru["options"]) == 4 and ru["strict_pred"] == "C"
    if language is None:
        assert ru["completion"].endswith("Ответ — В.")   # Cyrillic Ve, the third Russian label
        from mlreason.evaluate.rescore import run_score

        rescored = run_score(tmp_path / "run" / "completions.jsonl", ["polymath"], output_dir=tmp_path / "score",
                             console=Console(quiet=True))   # `mlreason score` reads the options back
        per_lang = rescored["datasets"]["mmworld"]["per_language"]
        assert {(r["acc_strict"], r["acc_flexible"], r["lc"]) for r in per_lang.values()} == {(1.0, 1.0, 1.0)}


def test_mc_prompt_carries_the_options_with_the_language_labels(tiny_models: dict[str, Path], tmp_path) -> None:
    ex = load_examples("mmworld", ["ru"], limit=1)["ru"][0]
    assert ex.options == ("2", "3", "4", "5") and ex.answer == "C"
    assert choice_prompt(ex, "native-cot") == ("Задача: Сколько фигур на картинке?\nА. 2\nБ. 3\nВ. 4\nГ. 5\n"
                                               "Ответьте буквой правильного варианта.\nПошаговое решение:")
    assert choice_prompt(ex, "direct").endswith("\nОтвет —")
    with pytest.raises(UserError, match="not for multiple choice"):
        plan_items(_config(tiny_models["qwen2"], tmp_path / "x", "prompt.style=pim"))


def test_choice_gold_reads_letters_labels_and_indices() -> None:
    assert [choice_gold(x, "ru", 4) for x in ("b", "Б", 1, "1", " C ")] == ["B", "B", "B", "B", "C"]
    assert choice_gold("ج", "ar", 4) == "C"
    for bad in ("E", 4, "", None):
        with pytest.raises(UserError, match="names no option"):
            choice_gold(bad, "en", 4)


def _png_b64(colour: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_mmbench_style_tsv_with_base64_images_and_a_to_d_columns(tmp_path: Path) -> None:
    """MMBench/MMMB TSVs: index, question, hint, A-D (empty past the last option), answer letter, base64 image."""
    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\timage\n"
    for lang in ("en", "tr"):
        (tmp_path / f"mm_{lang}.tsv").write_text(
            header + f"0\tIs it red?\t\tyes\tno\t\t\tA\t{_png_b64((255, 0, 0))}\n"
                     f"1\tWhich colour?\tLook closely.\tred\tgreen\tblue\t\tC\t{_png_b64((0, 0, 255))}\n", "utf-8")
    (tmp_path / "m.yaml").write_text(
        "name: mm\nlanguages: [en, tr]\nsplits: {test: {files: 'mm_{lang}.tsv'}}\nformat: tsv\nid_column: index\n"
        "fields: {question: question, answer: answer, hint: hint, image: image, option_columns: [A, B, C, D]}\n"
        "answer_type: choice\n", "utf-8")
    tr = load_examples(load_manifest(str(tmp_path / "m.yaml")), ["tr"])["tr"]
    assert [e.options for e in tr] == [("yes", "no"), ("red", "green", "blue")]
    assert [e.answer for e in tr] == ["A", "C"] and tr[1].question == "Look closely.\nWhich colour?"
    assert load_image(tr[1].image).getpixel((3, 3)) == (0, 0, 255)
    assert choice_prompt(tr[0], "native-cot").startswith("Soru: Is it red?\nA. yes\nB. no\n")


def test_choice_manifest_needs_options(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("name: m\nlanguages: [en]\nsplits: {test: {files: x.jsonl}}\n"
                                     "answer_type: choice\n", "utf-8")
    with pytest.raises(UserError, match="answer_type choice needs fields.options"):
        load_manifest(str(tmp_path / "m.yaml"))


def test_shipped_mmworld_equals_a_regeneration(tmp_path: Path) -> None:
    shipped = shipped_dir("data") / "mmworld"
    build_mmworld(tmp_path)
    for lang in LANGUAGES:
        assert (shipped / f"{lang}.jsonl").read_text("utf-8") == (tmp_path / f"{lang}.jsonl").read_text("utf-8")
    for i in (0, 7, 23):   # pixels, not PNG bytes: zlib versions may compress differently
        a, b = (Image.open(d / "images" / f"mm{i:03d}.png").convert("RGB") for d in (shipped, tmp_path))
        assert a.tobytes() == b.tobytes()
    assert sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file()) < 1_000_000


@pytest.fixture(scope="module")
def tiny_vlms(tiny_tokenizer_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from mlreason.tiny_zoo import build_zoo

    return build_zoo(tmp_path_factory.mktemp("zoo"), tiny_tokenizer_path, ["llava", "gemma3_vlm", "qwen2_vl"])


@pytest.mark.parametrize("arch,chat", [("llava", False), ("llava", True), ("gemma3_vlm", False),
                                       ("gemma3_vlm", True), ("qwen2_vl", False)])
def test_tiny_vlm_evaluates_image_questions(tiny_vlms: dict[str, Path], tmp_path: Path, arch: str, chat: bool,
                                            monkeypatch) -> None:
    from mlreason.generation.hf import HFGenerator

    seen: list[int] = []   # pixel_values rows per batch: the images reached the model
    encoded = HFGenerator._generate_encoded
    monkeypatch.setattr(HFGenerator, "_generate_encoded", lambda self, enc, *a, **k: (
        seen.append(enc["pixel_values"].shape[0]), encoded(self, enc, *a, **k))[1])
    cfg = _config(tiny_vlms[arch], tmp_path / "run", "data.languages=[en, ru, zh]", "data.limit=3",
                  "generation.max_tokens=6", "model.device=cpu", f"model.chat_template={str(chat).lower()}")
    results = run_evaluate(cfg, Console(quiet=True))
    res = results["datasets"]["mmworld"]
    assert res["n_questions"] == {"en": 3, "ru": 3, "zh": 3}
    records = [json.loads(x) for x in (tmp_path / "run" / "completions.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == 9 and all(r["strict_pred"] in (None, "A", "B", "C", "D") for r in records)
    assert all(0.0 <= row["acc_flexible"] <= 1.0 for row in res["per_language"].values())
    assert sum(seen) == (9 * 16 if arch == "qwen2_vl" else 9)   # Qwen2-VL: 16 flattened patches per image
    if arch == "qwen2_vl":   # no torchvision: the image-only processor, 4x4 patches merged 2x2 into 4 image tokens
        from mlreason.data.multimodal import image_placeholder
        from mlreason.models import load_processor

        processor = load_processor(tiny_vlms[arch])
        assert image_placeholder(processor) == "<|vision_start|><|image_pad|><|vision_end|>"
        ids = processor(text=[f"{image_placeholder(processor)}\nQ"], images=[[Image.new("RGB", (64, 64))]])["input_ids"]
        assert ids[0].count(processor.image_token_id) == 4
    if chat:
        assert records[0]["prompt"].startswith("Question:")   # the raw prompt; the template is added at generation


@pytest.mark.parametrize("name,split,files", [("mmmb", "test", "mmmb/mmmb_{lang}.tsv"),
                                              ("mmbench", "dev", "mmbench/mmbench_dev_{lang}.tsv")])
def test_parrot_manifests_load_through_the_schema(name: str, split: str, files: str) -> None:
    m = load_manifest(name)
    assert m.is_choice and m.languages == ["en", "zh", "pt", "ar", "tr", "ru"] and m.split_names == [split]
    assert m.fields.option_columns == ["A", "B", "C", "D"] and m.fields.image == "image" and m.id_column == "index"
    assert m.data_path(split, "zh") == (shipped_dir("data") / files.format(lang="cn")).resolve()
    assert "CC BY-NC-SA 4.0" in m.license and "arXiv:2406.02539" in m.citation and "AIDC-AI/Parrot-dataset" in m.obtain
    with pytest.raises(UserError, match="huggingface-cli download AIDC-AI/Parrot-dataset"):
        load_examples(m, ["en"], source="local")   # not shipped: the error says how to get it
