"""`mlreason evaluate`: manifest -> examples -> prompts -> generator -> completions -> scores -> report.

    mlreason evaluate -s model.name_or_path=artifacts/tiny/qwen2 -s data.datasets=[mgsm]
    mlreason evaluate recipes/evaluate/qwen2.5-7b-mgsm.yaml --backend vllm

All input is checked (manifests, languages, PiM translations, output folder) before the model loads;
results go into a staged folder that replaces the output folder only when the run succeeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from mlreason.config import config_to_yaml
from mlreason.data.manifest import load_examples, load_exemplars, load_manifest, parallel_rows
from mlreason.data.multimodal import choice_prompt
from mlreason.data.prompts import PIM_STYLES, answer_language, build_prompt, pim_line_languages
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.evaluate import report
from mlreason.evaluate.config import EvaluateConfig
from mlreason.evaluate.scoring import ScoringRules, check_rules, verdict
from mlreason.evaluate.scoring import aggregate as aggregate_records
from mlreason.runs import append_metrics, atomic_write_json, atomic_write_text, check_output_free, staged_run


@dataclass
class Item:
    """One question to ask: its example and the rendered prompt."""

    dataset: str
    example: Example
    prompt: str


def _pim_parallel(manifest: Any, cfg: EvaluateConfig, langs: list[str]) -> dict[tuple[str, int], dict[str, Example]]:
    """(language, row) -> {language: Example} for every language the PiM prompts need."""
    missing = [lang for lang in cfg.prompt.pim_languages if lang not in manifest.languages]
    if missing:
        raise UserError(f"PiM languages {missing} are not in dataset {manifest.name} (it has {manifest.languages}); "
                        "set prompt.pim_languages to languages it has")
    lines = [x for lang in langs for x in pim_line_languages(lang, cfg.prompt.pim_languages, manifest.languages)]
    needed = [lang for lang in manifest.languages if lang in {*langs, *lines}]
    rows = parallel_rows(load_examples(manifest, needed, split=cfg.data.split, limit=cfg.data.limit))
    return {(lang, row[lang].row): row for row in rows for lang in langs}


def plan_items(cfg: EvaluateConfig) -> list[Item]:
    """Load every dataset and build every prompt; all data errors surface here, before any model loads."""
    items: list[Item] = []
    for name in cfg.data.datasets:
        manifest = load_manifest(name)
        langs = cfg.data.languages or list(manifest.languages)
        examples = load_examples(manifest, langs, split=cfg.data.split, limit=cfg.data.limit)
        if manifest.is_choice:
            items += _choice_items(manifest, cfg, langs, examples)
            continue
        parallel = _pim_parallel(manifest, cfg, langs) if cfg.prompt.style in PIM_STYLES else {}
        for lang in langs:
            # shots answer in the language the prompt asks for (English for en-cot and pim)
            reply = answer_language(cfg.prompt.style, lang)
            shots = load_exemplars(manifest, lang, answer_language=reply) if cfg.prompt.few_shot else []
            shots = shots[: cfg.prompt.few_shot]
            if cfg.prompt.few_shot and len(shots) < cfg.prompt.few_shot:
                raise UserError(f"dataset {manifest.name} has {len(shots)} exemplars for {lang}, "
                                f"prompt.few_shot={cfg.prompt.few_shot} asked; lower prompt.few_shot")
            for ex in examples[lang]:
                prompt = build_prompt(ex, cfg.prompt.style, exemplars=shots, parallel=parallel.get((lang, ex.row)),
                                      pim_languages=tuple(cfg.prompt.pim_languages))
                items.append(Item(manifest.name, ex, prompt))
    return items


def _choice_items(manifest: Any, cfg: EvaluateConfig, langs: list[str],
                  examples: dict[str, list[Example]]) -> list[Item]:
    """Multiple-choice prompts (mlreason.data.multimodal.choice_prompt): zero-shot, native-cot/en-cot/direct."""
    if cfg.prompt.few_shot:
        raise UserError(f"dataset {manifest.name} is multiple choice and has no exemplars; set prompt.few_shot=0")
    return [Item(manifest.name, ex, choice_prompt(ex, cfg.prompt.style)) for lang in langs for ex in examples[lang]]


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generate(cfg: EvaluateConfig, tokenizer: Any, prompts: list[str], generator: Any = None,
             images: list[Any] | None = None) -> list[list[Any]]:
    """Completions per prompt; an injected `generator` (e.g. a scripted fake) is used as is and left open.

    `images`: one image reference (or None) per prompt; the generator then gets them as `images=`."""
    from mlreason.generation.base import SamplingParams, apply_chat_template, make_generator

    g = cfg.generation
    images = images if images and any(x is not None for x in images) else None
    if cfg.model.chat_template and images is not None:
        from mlreason.models import load_processor

        # a VLM's chat template (with its image part) lives in its processor
        processor = load_processor(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
        prompts = [apply_chat_template(processor, p, image=x is not None) for p, x in zip(prompts, images)]
    elif cfg.model.chat_template:
        prompts = [apply_chat_template(tokenizer, p) for p in prompts]
    owned = generator is None
    if owned:
        generator = make_generator(g.backend, cfg.model.name_or_path, tokenizer=tokenizer, dtype=cfg.model.dtype,
                                   device=_device(cfg.model.device), batch_size=g.batch_size,
                                   trust_remote_code=cfg.model.trust_remote_code, **g.backend_kwargs)
    try:
        sampling = SamplingParams(n=g.k, temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_tokens,
                                  seed=g.seed, stop=tuple(g.stop))
        if images is not None:
            return generator.generate(prompts, sampling, images=images)
        return generator.generate(prompts, sampling)
    finally:
        if owned:
            generator.close()


def scoring_rules(cfg: EvaluateConfig) -> ScoringRules:
    rules = check_rules([cfg.language.rule, *cfg.language.compare_rules])
    return ScoringRules(rules, cfg.language.detector, cfg.language.min_chars, cfg.report.headline)


def score_items(cfg: EvaluateConfig, items: list[Item], completions: list[list[Any]]) -> list[dict[str, Any]]:
    """One record per (question, run) with extraction, correctness and language consistency."""
    from mlreason.answers import ANSWER_PHRASES

    rules = scoring_rules(cfg)
    detectors = rules.detectors()
    records = []
    for item, outs in zip(items, completions, strict=True):
        ex = item.example
        reply = answer_language(cfg.prompt.style, ex.language)  # en-cot and pim answer in English
        # a `direct` prompt ends with the answer phrase, so the reply is only the number: put it back
        prefix = f"{ANSWER_PHRASES.get(reply, '')} " if cfg.prompt.style == "direct" else ""
        for run, comp in enumerate(outs):
            records.append({
                "dataset": item.dataset, "language": ex.language, "row": ex.row, "run": run,
                **({"level": ex.level} if ex.level is not None else {}),
                "prompt": item.prompt if run == 0 else None, "completion": comp.text,
                "finish_reason": comp.finish_reason, "gold": ex.answer, "answer_language": reply,
                "lc_language": reply, "lc_rule": rules.rules[0], **({"answer_prefix": prefix} if prefix else {}),
                **({"options": list(ex.options)} if ex.options is not None else {}),
                **verdict(comp.text, ex.answer, reply, reply, rules, detectors, answer_prefix=prefix,
                          options=ex.options),
            })
    return records


def level_weights(cfg: EvaluateConfig) -> dict[str, dict[str, float]]:
    """{dataset: {level: weight}} for the datasets whose manifests declare levels."""
    manifests = [load_manifest(name) for name in cfg.data.datasets]
    return {m.name: m.weights for m in manifests if m.levels}


def aggregate(cfg: EvaluateConfig, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Records -> {dataset: {per_language, averages, n_questions}} with mean/std over the k runs."""
    return aggregate_records(records, cfg.generation.k, cfg.report.high_resource, cfg.report.low_resource,
                             level_weights(cfg))


def run_evaluate(cfg: EvaluateConfig, console: Console | None = None, generator: Any = None) -> dict[str, Any]:
    """Run the whole evaluation and write results.json, results.csv, completions.jsonl, accuracy.png.

    `generator`: a `Generator` to use instead of building `cfg.generation.backend` (tests inject fakes).
    """
    console = console or Console()
    out_dir = cfg.resolved_output_dir()
    check_output_free(out_dir, cfg.overwrite)
    items = plan_items(cfg)
    from mlreason.models import load_tokenizer  # checks the model path before any output

    tokenizer = load_tokenizer(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
    console.print(f"[bold]evaluate[/] {cfg.model.name_or_path}: {len(items)} questions x {cfg.generation.k} "
                  f"run(s), prompt {cfg.prompt.style}, backend {cfg.generation.backend}")
    with staged_run(out_dir, cfg.overwrite, "evaluate", config_to_yaml(cfg, "evaluate")) as stage:
        completions = generate(cfg, tokenizer, [it.prompt for it in items], generator,
                               images=[it.example.image for it in items])
        records = score_items(cfg, items, completions)
        rules = scoring_rules(cfg)
        results = {"model": cfg.model.name_or_path, "prompt_style": cfg.prompt.style,
                   "backend": cfg.generation.backend, "k": cfg.generation.k,
                   "lc_rules": list(rules.rules), "headline": rules.headline, "level_weights": level_weights(cfg),
                   "datasets": aggregate(cfg, records)}
        atomic_write_text(stage / "completions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        atomic_write_json(stage / "results.json", results)
        report.write_csv(stage / "results.csv", results)
        if cfg.report.plot:
            report.write_plot(stage / "accuracy.png", results)
        for dataset, res in results["datasets"].items():
            for lang, row in res["per_language"].items():
                append_metrics(stage, {"dataset": dataset, "language": lang, **row})
    report.print_tables(results, console)
    console.print(f"results in [bold]{out_dir}[/]")
    results["output_dir"] = str(Path(out_dir))
    return results
