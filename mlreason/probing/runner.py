"""`probe-layers` end to end: load, count activations, score neurons, choose layers, write the report.

    from mlreason.probing.config import ProbeConfig
    from mlreason.probing.runner import run_probe
    out_dir = run_probe(ProbeConfig(model={"name_or_path": "runs/tiny/qwen2"}, data={"manifests": ["mgsm"]}))

Everything the user can get wrong (method, n_layers, languages without text, a model without a
gated MLP) is checked before the results folder is staged; a failed run writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mlreason.config import config_to_yaml
from mlreason.errors import UserError
from mlreason.layers import LoraSection, lora_targets, mode_counts
from mlreason.probing import scoring
from mlreason.probing.config import ProbeConfig
from mlreason.probing.corpus import load_image_texts, load_texts
from mlreason.probing.report import heatmap_png, print_report, scores_png
from mlreason.probing.selection import DEFAULT_CANDIDATES, layer_scores, select_layers
from mlreason.probing.sites import gated_mlps, probed_submodule
from mlreason.probing.stats import ProbeStats, collect_stats, load_probe_model
from mlreason.runs import append_metrics, atomic_write_json, staged_run


def check_selection(cfg: ProbeConfig, num_layers: int, languages: list[str]) -> None:
    """Fail before the forward passes on selections that cannot be made on this model."""
    dry = torch.zeros(num_layers, len(languages), dtype=torch.int64)
    sel = cfg.selection
    select_layers(layer_scores(dry, dry, None), sel.strategy, sel.n_layers, score=sel.score,
                  shallow_fraction=sel.shallow_fraction, candidates=sel.candidates)


def share_lora(cfg: ProbeConfig) -> LoraSection:
    """The LoRA settings the reported lora share assumes: finetune's defaults unless shares.* says otherwise."""
    lora = LoraSection()
    return lora.model_copy(update={"r": cfg.shares.lora_rank or lora.r, "targets": cfg.shares.lora_targets})


def collect_with_progress(cfg: ProbeConfig, model: Any, tokenizer: Any, texts: dict, console: Console,
                          processor: Any = None) -> ProbeStats:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed} tokens"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def tick(lang: str, n: int) -> None:
            if lang not in tasks:
                tasks[lang] = progress.add_task(f"counting {lang}", total=cfg.data.max_tokens)
            progress.advance(tasks[lang], n)

        return collect_stats(model, tokenizer, texts, batch_size=cfg.batch_size, max_seq_len=cfg.data.max_seq_len,
                             max_examples=cfg.data.max_examples, max_tokens=cfg.data.max_tokens,
                             plnd_top_k=cfg.plnd.top_k if cfg.method == "plnd" else None, progress=tick,
                             processor=processor)


def score_neurons(cfg: ProbeConfig, stats: ProbeStats) -> tuple[torch.Tensor, dict[str, Any]]:
    """member [L, I, K] and method details for the report."""
    if cfg.method == "lape":
        res = scoring.lape(scoring.activation_probability(stats.over, stats.ntokens),
                           cfg.lape.percentile, cfg.lape.selection_ratio)
        return res.member, {"tau": res.tau, "n_selected": res.n_selected}
    member = scoring.plnd(stats.topk_count, stats.n_docs, cfg.plnd.min_doc_fraction)
    return member, {"n_selected": int(member.any(dim=-1).sum())}


def build_report(cfg: ProbeConfig, model: Any, stats: ProbeStats, member: torch.Tensor,
                 details: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """The probe.json content, the counts [L, K] and the score [L] the selection ranked by."""
    langs = stats.languages
    sel = cfg.selection
    ref = langs.index(sel.reference_language) if sel.reference_language in langs else None
    counts = scoring.counts_per_layer(member)
    overlap = scoring.overlap_per_layer(member, ref) if ref is not None else torch.zeros_like(counts)
    scores = layer_scores(counts, overlap, ref)
    chosen, score_name, pool = select_layers(scores, sel.strategy, sel.n_layers, score=sel.score,
                                             shallow_fraction=sel.shallow_fraction, candidates=sel.candidates)
    lora = share_lora(cfg)
    report = {
        "model": cfg.model.name_or_path,
        "architecture": type(model).__name__,
        "num_layers": counts.shape[0],
        "intermediate_size": member.shape[1],
        "probed": probed_submodule(model),   # the language model's MLPs only (a VLM's vision tower is never hooked)
        "method": cfg.method,
        "options": {"lape": cfg.lape.model_dump(), "plnd": cfg.plnd.model_dump(), "selection": sel.model_dump()},
        "data": {**cfg.data.model_dump(), "tokens": dict(zip(langs, stats.ntokens.tolist())),
                 "documents": dict(zip(langs, stats.n_docs.tolist())),
                 # image+text: how many of `tokens` were image tokens
                 **({"image_tokens": dict(zip(langs, stats.image_tokens.tolist()))}
                    if stats.image_tokens is not None else {})},
        "languages": langs,
        "method_details": details,
        "counts": {lang: counts[:, k].tolist() for k, lang in enumerate(langs)},
        "overlap_with_reference": ({lang: overlap[:, k].tolist() for k, lang in enumerate(langs)}
                                   if ref is not None else None),
        "layer_scores": {name: s.tolist() for name, s in scores.items()},
        "selection": {"strategy": sel.strategy, "score": score_name, "n_layers": len(chosen),
                      "candidates": sel.candidates or DEFAULT_CANDIDATES[sel.strategy],
                      "candidate_layers": list(range(pool))},
        "chosen_layers": chosen,
        # counted by marking trainable, as finetune does, on a meta-device twin (mlreason.layers.mode_counts)
        "parameter_shares": mode_counts(model, chosen, lora),
        "lora_assumed": {"r": lora.r, "targets": lora_targets(model, lora)},
        "neurons": scoring.neuron_indices(member, langs),
    }
    return report, counts, scores[score_name]


def write_outputs(stage: Path, report: dict[str, Any], stats: ProbeStats, counts: torch.Tensor,
                  score: torch.Tensor) -> None:
    from safetensors.torch import save_file

    atomic_write_json(stage / "probe.json", report)
    tensors = {"over": stats.over, "ntokens": stats.ntokens, "n_docs": stats.n_docs}
    if stats.topk_count is not None:
        tensors["topk_count"] = stats.topk_count
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(stage / "stats.safetensors"),
              metadata={"languages": ",".join(stats.languages)})
    name = Path(report["model"].rstrip("/")).name
    heatmap_png(stage / "heatmap.png", counts, report["languages"], report["chosen_layers"],
                f"{name}: {report['method'].upper()} neurons per layer")
    scores_png(stage / "layer_scores.png", score, report["chosen_layers"], report["selection"]["score"],
               f"{name}: layer scores ({report['selection']['strategy']})")
    append_metrics(stage, {"chosen_layers": report["chosen_layers"], "tokens": report["data"]["tokens"],
                           **{f"share_{m}": v["share"] for m, v in report["parameter_shares"].items()
                              if v["share"] is not None}})


def run_probe(cfg: ProbeConfig, console: Console | None = None) -> Path:
    """Probe language-specific neurons and layers; returns the results folder."""
    console = console or Console()
    if cfg.analysis == "pim":
        from mlreason.probing.pim import run_pim

        return run_pim(cfg, console)
    images = cfg.data.corpus == "image+text"
    texts = load_image_texts(cfg.data) if images else load_texts(cfg.data)
    out = cfg.resolved_output_dir()
    # staged: the output folder is checked first, and any failure below leaves nothing behind
    with staged_run(out, cfg.overwrite, "probe-layers", config_to_yaml(cfg, "probe-layers")) as stage:
        model, tokenizer = load_probe_model(cfg)
        processor = None
        if images:   # the VLM's processor encodes (question, image); hooks stay on the language model's MLPs
            from mlreason.models import load_processor

            processor = load_processor(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
        check_selection(cfg, len(gated_mlps(model)), list(texts))
        stats = collect_with_progress(cfg, model, tokenizer, texts, console, processor)
        empty = [lang for lang, n in zip(stats.languages, stats.ntokens.tolist()) if n == 0]
        if empty:
            raise UserError(f"language(s) {', '.join(empty)} produced no tokens; check their text")
        member, details = score_neurons(cfg, stats)
        report, counts, score = build_report(cfg, model, stats, member, details)
        write_outputs(stage, report, stats, counts, score)
    print_report(console, report, counts, score)
    flat = [l for l in report["chosen_layers"] if float(score[l]) == 0.0]
    if flat:  # ties at zero are broken by layer index: say so rather than imply a finding
        console.print(f"[yellow]note:[/] chosen layer(s) {flat} score 0 (no language-specific signal); "
                      "they fill n_layers by lowest index")
    console.print(f"wrote {out}/probe.json, heatmap.png, layer_scores.png")
    return out
