"""Every command on every supported architecture: tiny random-init models (mlreason.tiny_zoo), one cell each.

    python -m mlreason.arch_matrix                       # prints the architecture x command table (make arch-matrix)
    python -m mlreason.arch_matrix --archs llava,gpt2 --commands slam,lora

A cell passes when the command ran and its checks held, or is refused with the documented one-line
UserError (REFUSALS); anything else is a failure. Checks, from the saved weights before and after:
a training mode changed at least one tensor and only tensors it may train (slam: the chosen layers'
up/down; plast/lora: the chosen layers; full/rl: the language model), and no VLM vision tensor
changed. tests/test_arch_matrix.py runs these cells.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mlreason.errors import UserError

COMMANDS = ("evaluate", "lape", "plnd", "slam", "plast", "lora", "full", "rl")
LAYER = 1   # the chosen layer for slam/plast/lora (the zoo's models have 2)
_MOE_SLAM = "fuses each expert's gate and up projections in one parameter"
REFUSALS: dict[tuple[str, str], str] = {   # (arch, command) -> the text of its one-line refusal
    ("phi3", "slam"): "fuses gate_up_proj (gate and up in one matrix): use mode plast or lora",
    ("mixtral", "slam"): _MOE_SLAM, ("qwen2_moe", "slam"): _MOE_SLAM,
}
DATA = {"sources": [{"kind": "translation", "dataset": "tinyworld", "split": "train", "limit": 2,
                     "languages": ["de", "zh"]}], "cutoff_len": 160}


def _parameters(model_dir: Path) -> tuple[dict[str, torch.Tensor], str, list[str], tuple[str, ...]]:
    """(parameters by module name, decoder stack prefix, vision parameter names, slam modules) of a saved model.

    Compared by module name after loading, not by checkpoint key: transformers saves some VLMs
    (LLaVA) under legacy key names.
    """
    from mlreason.layers import arch_of, decoder_layers, vision_parameters
    from mlreason.models import load_model

    model = load_model(model_dir, dtype="float32")
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    return params, decoder_layers(model)[0], vision_parameters(model), arch_of(model).slam


def check_weights(model_dir: Path, trained_dir: Path, command: str) -> dict[str, int]:
    """Raise AssertionError unless `command` changed only what it may; returns {changed, vision} counts."""
    before, prefix, vision, slam = _parameters(model_dir)
    after = _parameters(trained_dir)[0]
    assert before.keys() == after.keys(), f"parameters differ: {sorted(before.keys() ^ after.keys())[:4]}"
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed, f"{command} changed no tensor"
    moved_vision = changed & set(vision)
    assert not moved_vision, f"{command} changed vision tensors {sorted(moved_vision)[:3]}"
    layer = f"{prefix}.{LAYER}."
    allowed: Callable[[str], bool] = {
        "slam": lambda n: n.startswith(tuple(f"{layer}{m}." for m in slam)),
        "plast": lambda n: n.startswith(layer),
        "lora": lambda n: n.startswith(layer),
    }.get(command, lambda n: n not in vision)
    stray = sorted(n for n in changed if not allowed(n))
    assert not stray, f"{command} changed tensors outside its scope: {stray[:3]}"
    return {"changed": len(changed), "vision": len(vision)}


def _finetune(model_dir: Path, out: Path, mode: str) -> str:
    from mlreason.config import build_config
    from mlreason.finetune.config import FinetuneConfig
    from mlreason.finetune.train import run_finetune

    cfg = build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model_dir), "dtype": "float32"},
        "method": {"mode": mode, "layers": [LAYER], "lora": {"r": 4, "alpha": 8}}, "data": DATA,
        # Adam moves every tensor with a gradient by ~lr in its first step: one step shows what trains
        "train": {"learning_rate": 1e-2, "max_steps": 1, "batch_size": 2, "save_steps": 100, "progress": False},
        "output_dir": str(out)})
    run = run_finetune(cfg)
    counts = check_weights(model_dir, run / "model", mode)
    return f"pass ({counts['changed']} tensors changed, {counts['vision']} vision tensors unchanged)"


def _probe(model_dir: Path, out: Path, method: str) -> str:
    from mlreason.layers import decoder_layers
    from mlreason.models import load_model
    from mlreason.probing.config import ProbeConfig
    from mlreason.probing.runner import run_probe

    cfg = ProbeConfig.model_validate({
        "model": {"name_or_path": str(model_dir), "dtype": "float32", "device": "cpu"}, "method": method,
        "data": {"manifests": ["mgsm"], "languages": ["en", "de", "zh"], "max_examples": 2},
        "selection": {"n_layers": 1}, "batch_size": 2, "output_dir": str(out)})
    run_probe(cfg)
    report = json.loads((out / "probe.json").read_text(encoding="utf-8"))
    stack = decoder_layers(load_model(model_dir, dtype="float32"))[0]
    assert report["probed"]["stack"] == stack, (report["probed"], stack)
    assert len(report["chosen_layers"]) == 1 and report["num_layers"] == 2
    return f"pass (probed {stack}, {report['probed']['neurons_per_layer']} neurons/layer)"


def _evaluate(model_dir: Path, out: Path) -> str:
    from mlreason.config import build_config
    from mlreason.evaluate.config import EvaluateConfig
    from mlreason.evaluate.runner import run_evaluate

    cfg = build_config(EvaluateConfig, {
        "model": {"name_or_path": str(model_dir), "dtype": "float32", "device": "cpu"},
        "data": {"datasets": ["mgsm"], "languages": ["en", "zh"], "limit": 2},
        "generation": {"backend": "hf", "max_tokens": 6, "batch_size": 4}, "report": {"plot": False},
        "output_dir": str(out)})
    run_evaluate(cfg)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["datasets"]["mgsm"]["n_questions"] == {"en": 2, "zh": 2}
    return "pass (4 answers)"


def _rl(model_dir: Path, out: Path) -> str:
    from mlreason.config import build_config
    from mlreason.rl import trainer
    from mlreason.rl.config import RLConfig

    cfg = build_config(RLConfig, {
        "model": {"name_or_path": str(model_dir), "dtype": "float32"},
        "data": {"manifest": "tinyworld", "languages": ["en", "de"], "limit": 2},
        "train": {"steps": 1, "batch_size": 2, "mini_batch_size": 2, "micro_batch_size": 2},
        "grpo": {"group_size": 2, "max_completion_tokens": 6}, "optim": {"learning_rate": 1e-2},
        "reward": {"language": 0, "correctness": 0, "format": 0, "combine": "sum",
                   "functions": ["mlreason.arch_matrix.variety"]},
        "logging": {"progress": False}, "eval": {"at_start": False}, "output_dir": str(out)})
    trainer.train(cfg)
    counts = check_weights(model_dir, out / "model", "rl")
    return f"pass ({counts['changed']} tensors changed, {counts['vision']} vision tensors unchanged)"


def variety(completions: list[str], **columns: Any) -> list[float]:
    """A dense reward (distinct characters / 10) so a random tiny model's GRPO groups differ and weights move."""
    return [len(set(t)) / 10 for t in completions]


def run_cell(arch: str, command: str, model_dir: Path, out: Path) -> str:
    """'pass (...)' or 'refused: <the one-line message>'; raises on anything else."""
    try:
        if command in ("slam", "plast", "lora", "full"):
            return _finetune(model_dir, out, command)
        if command in ("lape", "plnd"):
            return _probe(model_dir, out, command)
        return _evaluate(model_dir, out) if command == "evaluate" else _rl(model_dir, out)
    except UserError as e:
        message = str(e)
        expected = REFUSALS.get((arch, command))
        if expected is None or expected not in message or "\n" in message:
            raise
        return f"refused: {message}"


def main(argv: list[str] | None = None) -> None:
    import tempfile

    from mlreason.tiny import build_tiny_models, tokenizer_path
    from mlreason.tiny_zoo import ZOO, build_zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(ZOO))
    parser.add_argument("--commands", default=",".join(COMMANDS))
    args = parser.parse_args(argv)
    archs, commands = args.archs.split(","), args.commands.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        zoo = build_zoo(root / "zoo", tokenizer_path(build_tiny_models(root / "tiny", ["qwen2"])), archs)
        print("| arch | " + " | ".join(commands) + " |\n" + "|---" * (len(commands) + 1) + "|")
        for arch in archs:
            cells = []
            for command in commands:
                try:
                    result = run_cell(arch, command, zoo[arch], root / "runs" / arch / command)
                except Exception as e:  # noqa: BLE001 - the table reports any failure in its cell
                    result = f"FAIL {type(e).__name__}: {str(e).splitlines()[0][:80]}"
                cells.append("pass" if result.startswith("pass") else result.replace("|", "/"))
            print(f"| {arch} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
