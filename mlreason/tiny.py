"""Tiny offline models: a Qwen-style byte-level BPE tokenizer + random-init models of real architectures.

    mlreason build-tiny --out artifacts/tiny --archs qwen2,llama --hidden-size 256 --layers 4
    python -c "from mlreason.tiny import build_tiny_models; print(build_tiny_models('artifacts/tiny'))"

The tokenizer is trained on the multilingual text shipped under the repo's data/ folder with
Qwen2's own normaliser and pre-tokenizer (so `AutoTokenizer` rebuilds the same pipeline on
load; digits are split one by one) and carries a ChatML template. Every model shares it, has
head_dim 64 (what vLLM's CPU attention supports), is seeded, and is saved as safetensors so
tests load it through the same `from_pretrained` path as a real run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from mlreason.errors import UserError
from mlreason.resources import shipped_dir

ARCHS = ("qwen2", "llama", "gemma", "mistral", "phi3")
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
HEAD_DIM = 64
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
CORPUS_SUFFIXES = (".tsv", ".json", ".jsonl")
MAX_CORPUS_CHARS = 30_000_000  # bounds tokenizer training time once big generated corpora appear
# Architectures that tie input and output embeddings in their small released sizes.
TIED = {"qwen2": True, "llama": False, "gemma": True, "mistral": False, "phi3": False}


def default_corpus_files() -> list[Path]:
    """All text files of the shipped data (mlreason.resources), sorted for determinism; the multimodal world
    (data/mmworld) is left out, so shipping it did not change the text demo's tokenizer."""
    root = shipped_dir("data")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in CORPUS_SUFFIXES
                   and p.relative_to(root).parts[0] != "mmworld")
    if not files:
        raise UserError(f"no corpus files (*.tsv, *.json, *.jsonl) under {root}; pass corpus_files=[...]")
    return files


def _strings(obj: object) -> Iterator[str]:
    """Every string value inside a parsed JSON object, depth first."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def read_corpus(files: Sequence[str | Path]) -> list[str]:
    """Text lines from TSV/plain files and string values from JSON / JSON-lines files."""
    texts: list[str] = []
    total = 0
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise UserError(f"corpus file {path} does not exist; pass existing text/TSV/JSON files")
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"corpus file {path} is not UTF-8 text (byte {e.start}: {e.reason}); "
                            "convert it with iconv -t UTF-8") from None
        if path.suffix in (".json", ".jsonl"):
            try:
                new = list(_strings(json.loads(raw)))
            except json.JSONDecodeError:  # JSON lines (some ".json" files are really JSONL)
                new = [s for line in raw.splitlines() if line.strip() for s in _strings(json.loads(line))]
        else:
            new = [line for line in raw.splitlines() if line.strip()]
        texts.extend(new)
        total += sum(len(t) for t in new)
        if total > MAX_CORPUS_CHARS:
            break
    if not texts:
        raise UserError("the tokenizer corpus is empty; pass corpus files that contain text")
    return texts


def train_tokenizer(texts: Sequence[str], vocab_size: int = 4096):
    """Train a byte-level BPE with Qwen2's normaliser/pre-tokenizer; returns a transformers Qwen2Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    if vocab_size < 300:
        raise UserError(f"vocab_size {vocab_size} is too small; use at least 300 (256 bytes + specials + merges)")
    bpe = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    # Like Qwen2.5-Instruct: <|im_end|> ends a turn (eos), <|endoftext|> pads.
    return Qwen2Tokenizer(
        vocab=state["vocab"],
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML_TEMPLATE,
        model_max_length=2048,
    )


def model_config(arch: str, vocab_size: int, *, hidden_size: int, num_layers: int, intermediate_size: int,
                 special_ids: dict[str, int], max_position_embeddings: int = 2048, init_std: float = 0.1):
    """A transformers config for `arch` with head_dim 64 and the tiny tokenizer's special ids."""
    from transformers import GemmaConfig, LlamaConfig, MistralConfig, Phi3Config, Qwen2Config

    classes = {"qwen2": Qwen2Config, "llama": LlamaConfig, "gemma": GemmaConfig,
               "mistral": MistralConfig, "phi3": Phi3Config}
    if arch not in classes:
        raise UserError(f"unknown tiny architecture {arch!r}; choose from {', '.join(ARCHS)}")
    if hidden_size % HEAD_DIM:
        raise UserError(f"hidden_size {hidden_size} must be a multiple of {HEAD_DIM} (vLLM on CPU needs head_dim 64)")
    heads = hidden_size // HEAD_DIM
    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),  # grouped-query attention, as in the real models
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=TIED[arch],
        initializer_range=init_std,
        bos_token_id=None,
        eos_token_id=special_ids["<|im_end|>"],
        pad_token_id=special_ids["<|endoftext|>"],
    )
    if arch != "phi3":  # Phi-3 derives head_dim from hidden_size / heads and rejects the key
        kwargs["head_dim"] = HEAD_DIM
    if arch == "mistral":
        kwargs["sliding_window"] = None  # shorter than any prompt anyway; keeps vLLM on full attention
    return classes[arch](**kwargs)


def build_tiny_models(
    out_dir: str | Path,
    archs: Sequence[str] = ARCHS,
    *,
    hidden_size: int = 128,
    num_layers: int = 4,
    intermediate_size: int = 256,
    seed: int = 0,
    corpus_files: Sequence[str | Path] | None = None,
    vocab_size: int = 4096,
    init_std: float = 0.1,
) -> dict[str, Path]:
    """Train the tokenizer into out_dir/tokenizer and save one model per arch to out_dir/<arch>.

    init_std 0.1 (not transformers' 0.02): at 0.02 a tiny model with tied embeddings mostly
    repeats its last input token, so greedy outputs would hardly depend on the weights.
    """
    from transformers import AutoModelForCausalLM, GenerationConfig

    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        raise UserError(f"unknown tiny architecture(s) {', '.join(unknown)}; choose from {', '.join(ARCHS)}")
    out = Path(out_dir)
    tokenizer = train_tokenizer(read_corpus(corpus_files or default_corpus_files()), vocab_size)
    tokenizer.save_pretrained(out / "tokenizer")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    paths: dict[str, Path] = {}
    for arch in archs:
        config = model_config(arch, len(tokenizer), hidden_size=hidden_size, num_layers=num_layers,
                              intermediate_size=intermediate_size, special_ids=ids, init_std=init_std)
        torch.manual_seed(seed)  # same seed per arch: each folder is reproducible on its own
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.generation_config = GenerationConfig(
            eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"],
            bos_token_id=None, do_sample=False,
        )
        paths[arch] = out / arch
        model.save_pretrained(paths[arch], safe_serialization=True)
        tokenizer.save_pretrained(paths[arch])
    return paths


def tokenizer_path(models: dict[str, Path]) -> Path:
    """The shared tokenizer folder next to the model folders built by build_tiny_models."""
    return next(iter(models.values())).parent / "tokenizer"
