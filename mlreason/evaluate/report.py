"""Evaluation outputs: the rich table, results CSV and the per-language bar plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlreason.runs import atomic_write_text

COLUMNS = [("acc_strict", "Acc strict"), ("acc_flexible", "Acc flex"), ("lc", "LC"), ("lc_acc", "LC&Acc")]
# shown only when some language has them: difficulty-weighted accuracy (levels), LC of thinking and
# answer (completions with </think>), LC under further rules (language.compare_rules)
OPTIONAL = [("acc_flexible_weighted", "Acc weighted"), ("lc_thinking", "LC think"), ("lc_answer", "LC answer")]


def _cell(row: dict[str, float], key: str) -> str:
    if key not in row:
        return "-"
    std = row.get(f"{key}_std")
    return f"{100 * row[key]:.1f}" + (f" ±{100 * std:.1f}" if std else "")


def table_columns(rows: list[dict[str, float]]) -> list[tuple[str, str]]:
    """The (metric, header) columns for these rows: the four always, the optional ones when present."""
    present = {key for row in rows for key in row}
    columns = list(COLUMNS) + [(key, label) for key, label in OPTIONAL if key in present]
    for rule in sorted({key.split("@")[1] for key in present if key.startswith("lc@") and not key.endswith("_std")}):
        columns += [(f"lc@{rule}", f"LC {rule}"), (f"lc_acc@{rule}", f"LC&Acc {rule}")]
    return columns


def results_table(dataset: str, per_lang: dict[str, dict[str, float]], averages: dict[str, dict[str, float]],
                  k: int, title: str = "accuracy and language consistency (%)") -> Table:
    """Languages as rows (then AVG/HRL/LRL), metrics in percent as columns."""
    title = f"{dataset}: {title}" + (f", mean ±std over {k} runs" if k > 1 else "")
    table = Table(title=title)
    table.add_column("lang", style="bold")
    columns = table_columns(list(per_lang.values()))
    for _, label in columns:
        table.add_column(label, justify="right")
    if k > 1:
        table.add_column(f"pass@{k}", justify="right")
    for name, row in [*per_lang.items(), *averages.items()]:
        cells = [_cell(row, key) for key, _ in columns]
        if k > 1:
            p = row.get(f"acc_flexible_pass@{k}")
            cells.append("-" if p is None else f"{100 * p:.1f}")
        table.add_row(name, *cells, end_section=(name == list(per_lang)[-1]))
    return table


def print_tables(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    for dataset, res in results["datasets"].items():
        console.print(results_table(dataset, res["per_language"], res["averages"], results["k"]))


def write_csv(path: Path, results: dict[str, Any]) -> None:
    """One row per dataset x language (and average rows), every metric a column."""
    rows = []
    for dataset, res in results["datasets"].items():
        for lang, row in [*res["per_language"].items(), *res["averages"].items()]:
            rows.append({"dataset": dataset, "language": lang, **row})
    fields = ["dataset", "language"] + sorted({k for r in rows for k in r} - {"dataset", "language"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_plot(path: Path, results: dict[str, Any]) -> None:
    """Grouped bars per language: flexible accuracy, LC and LC&Acc, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = results["datasets"]
    fig_width = max(6, 0.9 * max(len(r["per_language"]) for r in datasets.values()) + 2)
    fig, axes = plt.subplots(len(datasets), 1, figsize=(fig_width, 3.2 * len(datasets)), squeeze=False)
    metrics = [("acc_flexible", "accuracy"), ("lc", "language consistency"), ("lc_acc", "LC&Acc")]
    for ax, (dataset, res) in zip(axes[:, 0], datasets.items()):
        langs = list(res["per_language"])
        width = 0.8 / len(metrics)
        for i, (key, label) in enumerate(metrics):
            vals = [100 * res["per_language"][lang].get(key, 0.0) for lang in langs]
            errs = [100 * res["per_language"][lang].get(f"{key}_std", 0.0) for lang in langs]
            xs = [x + (i - 1) * width for x in range(len(langs))]
            ax.bar(xs, vals, width, yerr=errs if any(errs) else None, label=label)
        ax.set_xticks(range(len(langs)), langs)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(f"{dataset} — {results['model']} ({results['prompt_style']})", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
