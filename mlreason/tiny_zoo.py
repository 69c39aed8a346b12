"""Tiny random-init models of every decoder family mlreason supports, text and vision-language, built offline.

    from mlreason.tiny_zoo import ZOO, build_zoo
    paths = build_zoo("artifacts/zoo", "artifacts/tiny/tokenizer", ["llava", "mixtral"])   # {arch: folder}

Each model shares the tiny tokenizer (mlreason.tiny), has 2 decoder layers of width 64 (head_dim 32),
is seeded and saved as safetensors, so every command loads it through `mlreason.models.load_model`
exactly as a real checkpoint. VLMs get a tiny vision tower; their image token ids lie past the
tokenizer's vocabulary, so text never turns into image placeholders. tests/test_arch_matrix.py runs
every command on every model here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mlreason.errors import UserError

HIDDEN, INTER, LAYERS, HEADS = 64, 128, 2, 2
VLMS = ("gemma3_vlm", "qwen2_vl", "llava")


def _text(ids: dict[str, int], vocab: int, **extra: Any) -> dict[str, Any]:
    """Llama-style text config fields: 2 layers, 2 heads of 32, one kv head, the tokenizer's special ids."""
    return dict(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, num_key_value_heads=1, max_position_embeddings=512,
                initializer_range=0.1, bos_token_id=None, eos_token_id=ids["eos"], pad_token_id=ids["pad"], **extra)


def _vision() -> dict[str, Any]:
    """A 2-layer vision tower on 32x32 images in patches of 8."""
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                patch_size=8)


def _configs(ids: dict[str, int], vocab: int) -> dict[str, Callable[[], Any]]:
    import transformers as T

    t = lambda **kw: _text(ids, vocab, **kw)  # noqa: E731 - a short alias keeps the table readable
    img = {"image_token_id": vocab - 1}
    return {
        "llama": lambda: T.LlamaConfig(**t()),
        "qwen2": lambda: T.Qwen2Config(**t()),
        "qwen3": lambda: T.Qwen3Config(**t(head_dim=32)),
        "gemma2": lambda: T.Gemma2Config(**t(head_dim=32)),
        "gemma3_text": lambda: T.Gemma3TextConfig(**t(head_dim=32)),
        "olmo2": lambda: T.Olmo2Config(**t()),
        "phi3": lambda: T.Phi3Config(**{k: v for k, v in t().items() if k != "num_key_value_heads"},
                                     num_key_value_heads=HEADS),
        "mixtral": lambda: T.MixtralConfig(**t(num_local_experts=4, num_experts_per_tok=2)),
        "qwen2_moe": lambda: T.Qwen2MoeConfig(**t(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                                  shared_expert_intermediate_size=64)),
        "gpt_neox": lambda: T.GPTNeoXConfig(**{k: v for k, v in t().items() if k != "num_key_value_heads"}),
        "gpt2": lambda: T.GPT2Config(vocab_size=vocab, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=512,
                                     initializer_range=0.1, bos_token_id=ids["eos"], eos_token_id=ids["eos"],
                                     pad_token_id=ids["pad"]),
        "gemma3_vlm": lambda: T.Gemma3Config(text_config=t(head_dim=32), vision_config=_vision(),
                                             mm_tokens_per_image=4, boi_token_id=vocab - 2, eoi_token_id=vocab - 3,
                                             **img),
        "qwen2_vl": lambda: T.Qwen2VLConfig(
            text_config=t(model_type="qwen2_vl_text", rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]}),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=HIDDEN, num_heads=2, mlp_ratio=2, patch_size=14,
                               spatial_merge_size=2),
            video_token_id=vocab - 2, vision_start_token_id=vocab - 3, vision_end_token_id=vocab - 4, **img),
        "llava": lambda: T.LlavaConfig(text_config={**t(), "model_type": "llama"},
                                       vision_config={**_vision(), "model_type": "clip_vision_model"},
                                       projector_hidden_act="gelu", **img),
    }


ZOO: tuple[str, ...] = ("llama", "qwen2", "qwen3", "gemma2", "gemma3_text", "gemma3_vlm", "qwen2_vl", "llava",
                        "mixtral", "qwen2_moe", "gpt_neox", "gpt2", "olmo2", "phi3")
EXTRA_TOKENS = 8   # vocabulary rows past the tokenizer's, for VLM placeholder ids
# the tiny tokenizer's ChatML, with content parts: an image part becomes the processor's placeholder
# ("<image>\n" for LLaVA, "<start_of_image>" for Gemma 3), which the processor expands
def vlm_chat_template(placeholder: str) -> str:
    return ("{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' }}"
            "{%- if message['content'] is string %}{{- message['content'] }}{%- else %}"
            "{%- for part in message['content'] %}"
            "{%- if part['type'] == 'image' %}{{- '" + placeholder + "' }}{%- else %}{{- part['text'] }}{%- endif %}"
            "{%- endfor %}{%- endif %}{{- '<|im_end|>\\n' }}{%- endfor %}"
            "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def build_zoo(out_dir: str | Path, tokenizer_dir: str | Path, archs: Sequence[str] = ZOO,
              seed: int = 0) -> dict[str, Path]:
    """Save one tiny model per arch (with the tokenizer) under out_dir/<arch>; returns {arch: folder}."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer, GenerationConfig

    unknown = [a for a in archs if a not in ZOO]
    if unknown:
        raise UserError(f"unknown zoo architecture(s) {', '.join(unknown)}; choose from {', '.join(ZOO)}")
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids = {"eos": tok.convert_tokens_to_ids("<|im_end|>"), "pad": tok.convert_tokens_to_ids("<|endoftext|>")}
    vocab = len(tok) + EXTRA_TOKENS
    configs = _configs(ids, vocab)
    out: dict[str, Path] = {}
    for arch in archs:
        torch.manual_seed(seed)
        auto = AutoModelForImageTextToText if arch in VLMS else AutoModelForCausalLM
        model = auto.from_config(configs[arch](), dtype=torch.float32)
        model.generation_config = GenerationConfig(eos_token_id=[ids["eos"], ids["pad"]], pad_token_id=ids["pad"],
                                                   bos_token_id=None, do_sample=False)
        out[arch] = Path(out_dir) / arch
        model.save_pretrained(out[arch], safe_serialization=True)
        tok.save_pretrained(out[arch])
        if arch in PROCESSORS:
            PROCESSORS[arch](tokenizer_dir, len(tok)).save_pretrained(out[arch])
    return out


def llava_processor(tokenizer_dir: str | Path, n_text: int) -> Any:
    """The tiny LLaVA's processor: the tokenizer with "<image>" at the config's image_token_id (the last of the
    EXTRA_TOKENS rows, the ones before it padded with unused specials), and a CLIP image processor that
    resizes to 32x32: 16 patches of 8, the CLS feature dropped ("default" strategy), so 16 image tokens."""
    from transformers import AutoTokenizer, LlavaProcessor

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    fillers = [f"<|zoo_extra_{i}|>" for i in range(EXTRA_TOKENS - 1)]
    tok.add_special_tokens({"additional_special_tokens": [*fillers, "<image>"]})
    if tok.convert_tokens_to_ids("<image>") != n_text + EXTRA_TOKENS - 1:
        raise UserError(f"tiny LLaVA tokenizer: <image> got id {tok.convert_tokens_to_ids('<image>')}, "
                        f"expected {n_text + EXTRA_TOKENS - 1}")
    size = _vision()["image_size"]
    images = ImageProcessor(size={"height": size, "width": size}, do_center_crop=False)
    return LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=_vision()["patch_size"],
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=vlm_chat_template("<image>\\n"))


def gemma3_processor(tokenizer_dir: str | Path, n_text: int) -> Any:
    """The tiny Gemma 3's processor: <end_of_image>, <start_of_image>, <image_soft_token> at the config's
    eoi/boi/image ids (the last three EXTRA_TOKENS rows), a SigLIP-style image processor at 32x32 and
    4 soft tokens per image (mm_tokens_per_image)."""
    from transformers import AutoTokenizer, Gemma3Processor

    try:
        from transformers import Gemma3ImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:
        from transformers import Gemma3ImageProcessor as ImageProcessor
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    names = {"eoi_token": "<end_of_image>", "boi_token": "<start_of_image>", "image_token": "<image_soft_token>"}
    fillers = [f"<|zoo_extra_{i}|>" for i in range(EXTRA_TOKENS - 3)]
    tok.add_special_tokens({"additional_special_tokens": [*fillers, *names.values()]})
    tok._set_model_specific_special_tokens(special_tokens=names)   # boi_token_id etc., as Gemma's tokenizer has
    if tok.convert_tokens_to_ids("<image_soft_token>") != n_text + EXTRA_TOKENS - 1:
        raise UserError("tiny Gemma 3 tokenizer: <image_soft_token> is not at the config's image_token_id")
    size = _vision()["image_size"]
    return Gemma3Processor(image_processor=ImageProcessor(size={"height": size, "width": size}), tokenizer=tok,
                           image_seq_length=4, chat_template=vlm_chat_template("<start_of_image>"))


def qwen2_vl_processor(tokenizer_dir: str | Path, n_text: int) -> Any:
    """The tiny Qwen2-VL's processor, images only (mlreason.models.image_only_processor_class: transformers'
    Qwen2-VL processor wants a video processor, which needs torchvision): <|vision_end|>, <|vision_start|>,
    <|video_pad|>, <|image_pad|> at the config's ids (the last four EXTRA_TOKENS rows), and a PIL image
    processor that resizes every image to 56x56: 4x4 patches of 14, merged 2x2, so 4 image tokens."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

    from mlreason.models import image_only_processor_class

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    names = ["<|vision_end|>", "<|vision_start|>", "<|video_pad|>", "<|image_pad|>"]
    fillers = [f"<|zoo_extra_{i}|>" for i in range(EXTRA_TOKENS - len(names))]
    tok.add_special_tokens({"additional_special_tokens": [*fillers, *names]})
    if tok.convert_tokens_to_ids("<|image_pad|>") != n_text + EXTRA_TOKENS - 1:
        raise UserError("tiny Qwen2-VL tokenizer: <|image_pad|> is not at the config's image_token_id")
    side = 56
    images = Qwen2VLImageProcessorPil(min_pixels=side * side, max_pixels=side * side, patch_size=14, merge_size=2,
                                      temporal_patch_size=2)
    return image_only_processor_class("qwen2_vl")(
        image_processor=images, tokenizer=tok,
        chat_template=vlm_chat_template("<|vision_start|><|image_pad|><|vision_end|>"))


# VLMs saved with a processor (image questions through evaluate and finetune)
PROCESSORS: dict[str, Callable[[str | Path, int], Any]] = {"llava": llava_processor, "gemma3_vlm": gemma3_processor,
                                                          "qwen2_vl": qwen2_vl_processor}
