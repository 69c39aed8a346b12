"""Finetuning a VLM on image+text examples: the processor builds pixel_values, labels cover only the answer,
question-translation pairs stay text-only in the same batches, and no vision-tower or projector weight moves.

    pytest tests/test_mm_finetune.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mlreason.arch_matrix import LAYER, check_weights
from mlreason.config import build_config
from mlreason.data.multimodal import image_placeholder
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.data import IGNORE_INDEX, VisionCollator, build_examples, tokenize_all
from mlreason.finetune.train import run_finetune
from mlreason.models import load_processor, load_tokenizer

N_IMAGE_TOKENS = 16   # the tiny LLaVA: 32x32 images in patches of 8, CLS dropped
DATA = {"sources": [
    {"kind": "choice", "dataset": "mmworld", "languages": ["en", "ru"], "limit": 2, "allow_test_split": True},
    {"kind": "translation", "dataset": "mmworld", "languages": ["ru"], "limit": 2, "allow_test_split": True}],
    "cutoff_len": 160}


@pytest.fixture(scope="module")
def tiny_vlms(tiny_tokenizer_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from mlreason.tiny_zoo import build_zoo

    return build_zoo(tmp_path_factory.mktemp("zoo"), tiny_tokenizer_path, ["llava", "gemma3_vlm", "qwen2_vl"])


@pytest.fixture(scope="module")
def tiny_llava(tiny_vlms: dict[str, Path]) -> Path:
    return tiny_vlms["llava"]


def _config(model: Path, out: Path, mode: str) -> FinetuneConfig:
    return build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model), "dtype": "float32"},
        "method": {"mode": mode, "layers": [LAYER], "lora": {"r": 4, "alpha": 8}}, "data": DATA,
        "train": {"learning_rate": 1e-2, "max_steps": 1, "batch_size": 6, "save_steps": 100, "progress": False},
        "output_dir": str(out)})


def test_image_rows_mask_the_prompt_and_batch_with_text_rows(tiny_llava: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_llava, tmp_path / "x", "plast")
    examples = build_examples(cfg.data)
    assert sorted(ex.source for ex in examples) == ["choice:mmworld:en"] * 2 + ["choice:mmworld:ru"] * 2 + [
        "translation:mmworld:ru-en"] * 2
    ru = next(ex for ex in examples if ex.source == "choice:mmworld:ru")
    # what mm000 shows, then its gold: the third option
    assert ru.response == " Я вижу 4 круга, их цвет — жёлтый. Ответ — В." and ru.image.endswith("mm000.png")
    tok = load_tokenizer(tiny_llava, padding_side="right")
    rows, dropped = tokenize_all(tok, examples, "plain", 160, load_processor(tiny_llava))
    assert dropped == 0 and len(rows) == 6
    image_id = tok.convert_tokens_to_ids("<image>")
    for ex, row in zip(examples, rows):
        answer = tok(ex.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert [x for x in row["labels"] if x != IGNORE_INDEX] == answer   # labels only on the answer (+ eos)
        n_image = row["input_ids"].count(image_id)
        if ex.image is None:
            assert n_image == 0 and "pixel_values" not in row
        else:
            assert n_image == N_IMAGE_TOKENS and tuple(row["pixel_values"].shape) == (1, 3, 32, 32)
    batch = VisionCollator(tok)(rows)
    assert tuple(batch["pixel_values"].shape) == (4, 3, 32, 32)
    assert int((batch["input_ids"] == image_id).sum()) == 4 * N_IMAGE_TOKENS
    assert batch["input_ids"].shape == batch["labels"].shape


@pytest.mark.parametrize("arch,mode", [("llava", "plast"), ("llava", "slam"), ("llava", "lora"), ("llava", "full"),
                                       ("gemma3_vlm", "plast"), ("gemma3_vlm", "full"), ("qwen2_vl", "plast")])
def test_every_mode_trains_the_language_model_only(tiny_vlms: dict[str, Path], tmp_path: Path, arch: str,
                                                   mode: str) -> None:
    run = run_finetune(_config(tiny_vlms[arch], tmp_path / mode, mode))
    counts = check_weights(tiny_vlms[arch], run / "model", mode)   # raises if a vision/projector tensor moved
    assert counts["changed"] > 0 and counts["vision"] > 0
    # the processor travels with the model
    placeholder = {"llava": "<image>", "gemma3_vlm": "<start_of_image>",
                   "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>"}[arch]
    assert image_placeholder(load_processor(run / "model")) == placeholder
    summary = json.loads((run / "summary.json").read_text())
    assert summary["examples"] == 6 and summary["global_step"] == 1 and torch.isfinite(
        torch.tensor(summary["train_loss"]))


def test_demo_vlm_builds_a_loadable_llava_and_a_training_world(tmp_path: Path) -> None:
    from mlreason.data.manifest import load_examples
    from mlreason.data.mmworld import LANGUAGES
    from mlreason.demo_vlm import TRAIN_ITEMS, build_model, train_world
    from mlreason.models import load_model

    world = train_world(tmp_path)
    rows = load_examples(str(world), split="train")
    assert {lang: len(r) for lang, r in rows.items()} == {lang: TRAIN_ITEMS for lang in LANGUAGES}
    assert all(ex.image and Path(ex.image).is_file() for ex in rows["sw"])
    model = load_model(build_model(tmp_path), dtype="float32")
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert model.config.text_config.num_hidden_layers == 4
    processor = load_processor(tmp_path / "model")
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_id


def test_probe_on_an_image_text_corpus_feeds_the_images_and_counts_their_tokens(tiny_llava: Path, tmp_path: Path,
                                                                                monkeypatch) -> None:
    """probe-layers with data.corpus image+text: each mmworld question with its image; the vision tower sees
    every image, the language model's MLPs count every real position, 16 image tokens per document included."""
    from rich.console import Console

    from mlreason.data.manifest import load_examples
    from mlreason.errors import UserError
    from mlreason.probing import runner
    from mlreason.probing.config import ProbeConfig

    images: list[int] = []   # pixel_values rows through the vision tower
    load = runner.load_probe_model

    def hooked(cfg):
        model, tok = load(cfg)
        model.model.vision_tower.register_forward_pre_hook(lambda m, args, kw: images.append(
            (args[0] if args else kw["pixel_values"]).shape[0]), with_kwargs=True)
        return model, tok
    monkeypatch.setattr(runner, "load_probe_model", hooked)

    def probe(out: str, **data):
        cfg = build_config(ProbeConfig, {"model": {"name_or_path": str(tiny_llava)}, "output_dir": str(tmp_path / out),
                                         "data": {"manifests": ["mmworld"], "languages": ["en", "ru"],
                                                  "corpus": "image+text", **data},
                                         "selection": {"strategy": "plast", "n_layers": 1}, "batch_size": 2})
        return json.loads((runner.run_probe(cfg, Console(quiet=True)) / "probe.json").read_text())

    report = probe("full", max_examples=3)
    tok = load_tokenizer(tiny_llava)
    questions = {lang: [ex.question for ex in exs] for lang, exs in load_examples("mmworld", ["en", "ru"],
                                                                                  limit=3).items()}
    # "<image>" is one token of the text; the processor expands it to N_IMAGE_TOKENS
    expected = {lang: sum(len(tok(f"<image>\n{q}")["input_ids"]) - 1 + N_IMAGE_TOKENS for q in qs)
                for lang, qs in questions.items()}
    assert report["data"]["tokens"] == expected and report["data"]["corpus"] == "image+text"
    assert report["data"]["image_tokens"] == {"en": 3 * N_IMAGE_TOKENS, "ru": 3 * N_IMAGE_TOKENS}
    assert report["data"]["documents"] == {"en": 3, "ru": 3} and sum(images) == 6
    assert report["probed"]["language_model"] == "model.language_model"   # the vision tower is never hooked
    # max_tokens counts only up to the limit; the last document keeps its image whole and is masked after it
    assert probe("cut", max_tokens=40)["data"]["tokens"] == {"en": 40, "ru": 40}
    with pytest.raises(UserError, match="needs manifests with an image field; mgsm"):
        probe("text", manifests=["mgsm"])
