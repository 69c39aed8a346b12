"""One shape for every command: `mlreason.<command>.run(cfg, *, console=None, ...) -> Path` (the run folder).

Each command's config derives from `config.RunSection` (output_dir, overwrite, resume) and its model
section from `config.ModelSection`; the CLI only maps options to those keys and calls `run`. Where a
command generates (evaluate, rl-train), `run` takes a `generator` in place of the configured backend:
checked here end to end with scripted generators that answer every question correctly, so the numbers
are known (accuracy 1.0, reward 1.0 for every rollout).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from rich.console import Console

import mlreason.evaluate
import mlreason.finetune
import mlreason.probing
import mlreason.rl
from mlreason.config import ConfigError, ModelSection, RunSection, load_config
from mlreason.generation.base import Completion
from mlreason.generation.fake import gold_reply
from tests.test_rl_train import metrics, tiny_cfg, write_world

COMMANDS = {mlreason.evaluate: "EvaluateConfig", mlreason.probing: "ProbeConfig",
            mlreason.finetune: "FinetuneConfig", mlreason.rl: "RLConfig"}


@pytest.mark.parametrize("package", list(COMMANDS), ids=lambda p: p.__name__)
def test_every_command_exports_the_same_run(package) -> None:
    config_cls = getattr(package, COMMANDS[package])
    sig = inspect.signature(package.run)
    first, *rest = sig.parameters.values()
    assert first.name == "cfg" and first.annotation == COMMANDS[package]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None for p in rest)
    assert "console" in sig.parameters and sig.return_annotation == "Path"
    assert issubclass(config_cls, RunSection)
    assert issubclass(config_cls.model_fields["model"].annotation, ModelSection)
    cfg = config_cls()
    assert cfg.output_dir is None and cfg.overwrite is False and cfg.resume is False
    assert isinstance(cfg.resolved_output_dir(), Path)
    assert load_config(config_cls, None, ["output_dir=x/y"]).resolved_output_dir() == Path("x/y")


@pytest.mark.parametrize("config_cls", [mlreason.evaluate.EvaluateConfig, mlreason.probing.ProbeConfig])
def test_commands_without_checkpoints_refuse_resume(config_cls) -> None:
    with pytest.raises(ConfigError, match="writes no checkpoints"):
        load_config(config_cls, None, ["resume=true"])


def test_evaluate_run_with_an_injected_generator(tiny_models, tmp_path) -> None:
    from mlreason.evaluate.runner import plan_items
    from mlreason.generation.fake import ScriptedGenerator, gold_replies

    cfg = load_config(mlreason.evaluate.EvaluateConfig, None, [
        f"model.name_or_path={tiny_models['qwen2']}", f"output_dir={tmp_path / 'eval'}", "data.datasets=[mgsm]",
        "data.languages=[en, de]", "data.limit=3", "report.plot=false"])
    gen = ScriptedGenerator(gold_replies((it.prompt, it.example) for it in plan_items(cfg)))
    out = mlreason.evaluate.run(cfg, console=Console(quiet=True), generator=gen)
    assert out == tmp_path / "eval" and len(gen.calls) == 1 and len(gen.calls[0]) == 6
    per_language = json.loads((out / "results.json").read_text())["datasets"]["mgsm"]["per_language"]
    assert {lang: v["acc_strict"] for lang, v in per_language.items()} == {"en": 1.0, "de": 1.0}


class GoldRollouts:
    """A rollout generator that answers each prompt with the gold worked answer of the question it holds."""

    def __init__(self, examples, tokenizer) -> None:
        self.examples, self.tokenizer, self.prompts, self.synced = examples, tokenizer, 0, 0

    def generate(self, prompts, sampling):
        out = []
        for prompt in prompts:
            (ex,) = [e for e in self.examples if e.question in prompt]
            text = gold_reply(ex)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]
            out.append([Completion(text, ids, "stop") for _ in range(sampling.n)])
        self.prompts += len(prompts)
        return out

    def update_weights(self, model) -> None:  # the older signature, without `changed`: still accepted
        self.synced += 1

    def close(self) -> None:
        pass


def test_rl_run_with_an_injected_generator(tiny_models, tmp_path) -> None:
    from transformers import AutoTokenizer

    from mlreason.data.manifest import load_examples

    (tmp_path / "world").mkdir()
    manifest = write_world(tmp_path / "world")
    examples = [e for exs in load_examples(str(manifest), ["en", "zh"], "train").values() for e in exs]
    cfg = tiny_cfg(tiny_models["qwen2"], manifest, tmp_path / "rl", "train.steps=1", "hints.enabled=false",
                   "eval.every=0", "logging.save_every=0")
    gen = GoldRollouts(examples, AutoTokenizer.from_pretrained(tiny_models["qwen2"]))
    out = mlreason.rl.run(cfg, generator=gen)
    assert out == tmp_path / "rl" and (out / "model" / "config.json").is_file()
    (step,) = metrics(out)
    # 4 prompts a step, each once for its group of 4: every rollout is correct and well formed
    assert gen.prompts == 4 and step["reward/success"] == 1.0 and step["reward/mean"] == 1.0
    assert gen.synced == 1  # synced once, after the step's optimizer update
