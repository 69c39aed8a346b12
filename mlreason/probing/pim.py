"""Does PiM inhibit neurons? The share of act <= 0 per generated token per layer, source-only vs PiM.

    mlreason probe-layers recipes/probe/tiny-mgsm.yaml -s analysis=pim -s pim.max_examples=8

For each language and parallel row, two prompts in the same PiM template (mlreason.data.prompts "pim"),
the source line only (the baseline) and the source plus its pim.pim_languages translations, are
answered greedily; the answer is then replayed in one forward pass and the hooks count, at every
position that produced a generated token (the last prompt token and every generated token but the
last), how many neurons have act(gate(x)) <= 0. Mu et al. (EMNLP 2024, arXiv 2403.09073)
report the share rises under PiM. Output: pim.json, pim.png and a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from mlreason.config import config_to_yaml
from mlreason.errors import UserError
from mlreason.probing.config import ProbeConfig
from mlreason.probing.sites import gated_mlps
from mlreason.probing.stats import ActivationRecorder, decoder_forward, load_probe_model, run_batch
from mlreason.runs import atomic_write_json, staged_run


def pim_prompts(cfg: ProbeConfig) -> tuple[list[str], dict[str, dict[str, list[str]]]]:
    """Languages and their prompts: {lang: {"mono": [...], "pim": [...]}} over parallel rows."""
    from mlreason.data.manifest import load_examples, load_manifest, parallel_rows
    from mlreason.data.prompts import build_prompt, pim_line_languages

    manifest = load_manifest(cfg.pim.manifest)
    languages = cfg.pim.languages or cfg.data.languages or list(manifest.languages)
    missing = [x for x in [*languages, *cfg.pim.pim_languages] if x not in manifest.languages]
    if missing:
        raise UserError(f"manifest {manifest.name} has no {', '.join(missing)} for the PiM analysis; "
                        f"its languages: {', '.join(manifest.languages)}")
    # a source that is itself a PiM language gets English (or the next language) in its place
    lines = [x for lang in languages for x in pim_line_languages(lang, cfg.pim.pim_languages, manifest.languages)]
    needed = list(dict.fromkeys([*languages, *lines]))
    rows = parallel_rows(load_examples(manifest, languages=needed, split=cfg.data.split, limit=cfg.pim.max_examples))
    # the baseline is the PiM template with the source line only: the difference is the parallel input alone
    prompts = {lang: {"mono": [build_prompt(r[lang], "pim", parallel=r, pim_languages=()) for r in rows],
                      "pim": [build_prompt(r[lang], "pim", parallel=r, pim_languages=cfg.pim.pim_languages)
                              for r in rows]} for lang in languages}
    return languages, prompts


@torch.no_grad()
def generate_ids(model: Any, tokenizer: Any, prompts: list[str],
                 max_new_tokens: int) -> list[tuple[list[int], list[int]]]:
    """Greedy answers: (prompt ids, generated ids up to and including the first end token) per prompt."""
    device = next(model.parameters()).device
    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    eos = model.generation_config.eos_token_id
    stops = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    result = []
    for row in range(len(prompts)):
        prompt = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        gen = out[row, width:].tolist()
        cut = next((i + 1 for i, t in enumerate(gen) if t in stops), len(gen))
        result.append((prompt, gen[:cut]))
    return result


def replay_batch(pairs: list[tuple[list[int], list[int]]],
                 pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded prompt + answer[:-1]: (ids [B, T], attention [B, T], producing positions [B, T])."""
    seqs = [p + g[:-1] for p, g in pairs]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.bool)
    count = torch.zeros_like(attn)
    for row, ((prompt, gen), seq) in enumerate(zip(pairs, seqs)):
        ids[row, : len(seq)] = torch.tensor(seq)
        attn[row, : len(seq)] = True
        count[row, len(prompt) - 1 : len(seq)] = bool(gen)   # one position per generated token
    return ids, attn, count


def inhibited_share(model: Any, tokenizer: Any, prompts: list[str], cfg: ProbeConfig) -> tuple[list[float], int]:
    """Per layer: share of (generated token, neuron) pairs with act <= 0; and the token count."""
    gated = gated_mlps(model)
    body = decoder_forward(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    over = torch.zeros(len(gated), dtype=torch.float64)
    ntokens = 0
    for start in range(0, len(prompts), cfg.batch_size):
        pairs = generate_ids(model, tokenizer, prompts[start : start + cfg.batch_size], cfg.pim.max_new_tokens)
        ids, attn, count = replay_batch(pairs, pad_id)
        with ActivationRecorder(gated) as rec:
            rec.set_mask(count)
            run_batch(body, ids, attn)
            o, _, n, _ = rec.take()
        over += o.sum(dim=1).double()
        ntokens += n
    width = gated[0].width
    return (1.0 - over / max(ntokens * width, 1)).tolist(), ntokens


def _mean(per_lang: dict[str, list[float]], tokens: dict[str, int]) -> list[float]:
    total = sum(tokens.values()) or 1
    layers = len(next(iter(per_lang.values())))
    return [sum(per_lang[x][l] * tokens[x] for x in per_lang) / total for l in range(layers)]


def pim_png(path: Path, mono: list[float], pim: list[float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.25 * len(mono) + 2), 3.2), dpi=120)
    ax.plot(range(len(mono)), [100 * v for v in mono], marker="o", label="source only (PiM template)")
    ax.plot(range(len(pim)), [100 * v for v in pim], marker="s", label="PiM")
    ax.set_xlabel("layer")
    ax.set_ylabel("% neurons with act <= 0\nper generated token")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def pim_table(mono: list[float], pim: list[float]) -> Table:
    table = Table(title="Inhibited neurons (act <= 0) per generated token")
    for name in ("layer", "source only", "PiM", "PiM - source"):
        table.add_column(name, justify="right")
    for l, (a, b) in enumerate(zip(mono, pim)):
        table.add_row(str(l), f"{100 * a:.2f}%", f"{100 * b:.2f}%", f"{100 * (b - a):+.2f}")
    return table


def run_pim(cfg: ProbeConfig, console: Console) -> Path:
    """The PiM inhibition analysis; writes pim.json and pim.png into the results folder."""
    from mlreason.generation.base import apply_chat_template

    languages, prompts = pim_prompts(cfg)
    out = cfg.resolved_output_dir()
    with staged_run(out, cfg.overwrite, "probe-layers", config_to_yaml(cfg, "probe-layers")) as stage:
        model, tokenizer = load_probe_model(cfg, padding_side="left")
        gated_mlps(model)
        result: dict[str, Any] = {"mono": {}, "pim": {}, "tokens": {"mono": {}, "pim": {}}}
        for lang in languages:
            for kind in ("mono", "pim"):
                texts = prompts[lang][kind]
                if cfg.pim.chat_template:
                    texts = [apply_chat_template(tokenizer, t) for t in texts]
                share, n = inhibited_share(model, tokenizer, texts, cfg)
                result[kind][lang], result["tokens"][kind][lang] = share, n
        mono, pim = _mean(result["mono"], result["tokens"]["mono"]), _mean(result["pim"], result["tokens"]["pim"])
        report = {"model": cfg.model.name_or_path, "analysis": "pim", "languages": languages,
                  "pim_languages": cfg.pim.pim_languages, "num_layers": len(mono), **result,
                  "mean": {"mono": mono, "pim": pim, "delta": [b - a for a, b in zip(mono, pim)]}}
        atomic_write_json(stage / "pim.json", report)
        pim_png(stage / "pim.png", mono, pim, f"{Path(cfg.model.name_or_path.rstrip('/')).name}: PiM vs source only")
    console.print(pim_table(mono, pim))
    console.print(f"wrote {out}/pim.json, pim.png")
    return out
