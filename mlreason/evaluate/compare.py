"""Compare evaluation runs side by side (e.g. the demo's stages): one table and one PNG.

    mlreason compare runs/eval-base runs/eval-slam runs/eval-rl --labels base,slam,rl -o compare/

Reads each run's results.json; rows are languages (+ AVG/HRL/LRL), columns are metric x run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from mlreason.errors import UserError
from mlreason.runs import atomic_write_json

METRICS = [("acc_flexible", "Acc"), ("lc", "LC"), ("lc_acc", "LC&Acc")]


def load_results(run: Path) -> dict[str, Any]:
    path = run / "results.json" if run.is_dir() else run
    if not path.is_file():
        raise UserError(f"no results.json in {run}; pass folders written by `mlreason evaluate`")
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({str(e).splitlines()[0]}): the file is corrupt or cut off; "
                        "rerun `mlreason evaluate` for that run") from None
    datasets = res.get("datasets") if isinstance(res, dict) else None
    if not isinstance(datasets, dict) or not all(
            isinstance(d, dict) and isinstance(d.get("per_language"), dict) and isinstance(d.get("averages"), dict)
            for d in datasets.values()):
        raise UserError(f"{path} lacks the datasets -> per_language/averages tables `mlreason evaluate` writes; "
                        "pass a results.json of an evaluation run")
    return res


def collect(
    runs: list[Path], labels: list[str], dataset: str | None
) -> tuple[str, dict[str, dict[str, dict[str, float]]]]:
    """-> (dataset, {label: {language_or_group: metrics}}) for the dataset all runs share."""
    if len(labels) != len(runs):
        raise UserError(f"{len(labels)} labels for {len(runs)} runs; give one label per run")
    results = [load_results(r) for r in runs]
    shared = set.intersection(*(set(r["datasets"]) for r in results))
    if not shared:
        raise UserError("the runs share no dataset; compare runs of the same benchmark")
    if dataset is None:
        dataset = sorted(shared)[0]
    elif dataset not in shared:
        raise UserError(f"dataset {dataset!r} is not in every run (shared: {sorted(shared)})")
    table = {}
    for label, res in zip(labels, results):
        d = res["datasets"][dataset]
        table[label] = {**d["per_language"], **d["averages"]}
    return dataset, table


def comparison_table(dataset: str, data: dict[str, dict[str, dict[str, float]]]) -> Table:
    labels = list(data)
    rows = list(dict.fromkeys(k for per in data.values() for k in per))
    t = Table(title=f"{dataset}: accuracy / language consistency / LC&Acc (%) by stage")
    t.add_column("lang", style="bold")
    for _key, name in METRICS:
        for label in labels:
            t.add_column(f"{name}\n{label}", justify="right")
    for row in rows:
        cells = []
        for key, _ in METRICS:
            for label in labels:
                v = data[label].get(row, {}).get(key)
                cells.append("-" if v is None else f"{100 * v:.1f}")
        t.add_row(row, *cells)
    return t


def comparison_plot(path: Path, dataset: str, data: dict[str, dict[str, dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(data)
    langs = [k for k in dict.fromkeys(k for per in data.values() for k in per)]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.5 * len(METRICS), 3.6), sharey=True)
    width = 0.8 / len(labels)
    for ax, (key, name) in zip(axes, METRICS):
        for i, label in enumerate(labels):
            vals = [100 * data[label].get(lang, {}).get(key, 0.0) for lang in langs]
            ax.bar([x + (i - (len(labels) - 1) / 2) * width for x in range(len(langs))], vals, width, label=label)
        ax.set_xticks(range(len(langs)), langs, rotation=45, fontsize=8)
        ax.set_title(name)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel(f"{dataset} (%)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(out: Path, dataset: str, data: dict[str, dict[str, dict[str, float]]]) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file; pass a folder for comparison.json and comparison.png")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "comparison.json", {"dataset": dataset, "runs": data})
    comparison_plot(out / "comparison.png", dataset, data)
