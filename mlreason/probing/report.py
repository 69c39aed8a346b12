"""probe-layers outputs: probe.json, heatmap.png (layers x languages), layer_scores.png, rich tables.

`finetune --layers-from runs/probe-X/probe.json` reads the keys "model", "num_layers" and
"chosen_layers"; the rest is for people and plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table


def heatmap_png(path: Path, counts: torch.Tensor, languages: list[str], chosen: list[int], title: str) -> None:
    """Counts [L, K] as a layers (rows, layer 0 at the bottom) x languages image; chosen layers marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layers, n_lang = counts.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * n_lang, 1.4 + 0.32 * n_layers), dpi=120)
    im = ax.imshow(counts.numpy(), aspect="auto", origin="lower", cmap="viridis")
    ax.set_xticks(range(n_lang), languages)
    ax.set_yticks(range(n_layers), [f"{l}{' *' if l in chosen else ''}" for l in range(n_layers)],
                  fontsize=max(5, min(9, 240 // max(n_layers, 1))))
    ax.set_xlabel("language")
    ax.set_ylabel("layer (* = chosen)")
    if n_layers * n_lang <= 400:  # numbers stay legible up to ~32 layers x 12 languages
        peak = max(int(counts.max()), 1)
        for l in range(n_layers):
            for k in range(n_lang):
                v = int(counts[l, k])
                ax.text(k, l, str(v), ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * peak else "white")
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(im, ax=ax, label="language-specific neurons", ticks=MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def scores_png(path: Path, score: torch.Tensor, chosen: list[int], score_name: str, title: str) -> None:
    """Bar chart of the per-layer score the selection ranked by; chosen layers highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layers = score.numel()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.28 * n_layers + 1.5), 3.2), dpi=120)
    colors = ["tab:orange" if l in chosen else "tab:gray" for l in range(n_layers)]
    ax.bar(range(n_layers), score.double().numpy(), color=colors)
    ax.set_xlabel("layer (orange = chosen)")
    ax.set_ylabel(f"{score_name} score")
    ax.set_xticks(range(n_layers))
    ax.tick_params(axis="x", labelsize=max(5, min(9, 240 // max(n_layers, 1))))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def layer_table(counts: torch.Tensor, languages: list[str], scores: torch.Tensor, score_name: str,
                chosen: list[int]) -> Table:
    table = Table(title="Language-specific neurons per layer (* = chosen)", show_lines=False)
    table.add_column("layer", justify="right")
    for lang in languages:
        table.add_column(lang, justify="right")
    table.add_column(score_name, justify="right", no_wrap=True, min_width=6)
    table.add_column("*", justify="center", no_wrap=True)
    for l in range(counts.shape[0]):
        table.add_row(str(l), *(str(int(v)) for v in counts[l]), f"{float(scores[l]):.3g}",
                      "*" if l in chosen else "", style="bold" if l in chosen else None)
    table.add_row("total", *(str(int(v)) for v in counts.sum(dim=0)), "", "", end_section=True)
    return table


def shares_table(shares: dict[str, dict[str, float]], chosen: list[int]) -> Table:
    table = Table(title=f"Trainable parameters when fine-tuning layers {chosen}")
    table.add_column("finetune mode")
    table.add_column("parameters", justify="right")
    table.add_column("share", justify="right")
    for mode, row in shares.items():
        if row["params"] is None:  # the architecture cannot train this mode (e.g. slam on a fused MLP)
            table.add_row(mode, "n/a", "n/a")
        else:
            table.add_row(mode, f"{int(row['params']):,}", f"{100 * row['share']:.2f}%")
    return table


def print_report(console: Console, report: dict[str, Any], counts: torch.Tensor, score: torch.Tensor) -> None:
    chosen = report["chosen_layers"]
    console.print(layer_table(counts, report["languages"], score, report["selection"]["score"], chosen))
    console.print(shares_table(report["parameter_shares"], report["chosen_layers"]))
