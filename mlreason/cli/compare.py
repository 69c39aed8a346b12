"""`mlreason compare RUN...`: evaluation runs side by side (table + comparison.png)."""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, console, guarded


def compare(
    runs: list[Path] = typer.Argument(..., help="Folders written by `mlreason evaluate`."),
    labels: str | None = typer.Option(
        None, "--labels", help="Comma-separated names, one per run (default: folder names)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Which dataset to compare (default: the first shared)."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Write comparison.json and comparison.png here."),
    debug: bool = DEBUG_OPT,
) -> None:
    """Compare evaluation runs side by side: per-language accuracy and language consistency."""
    from mlreason.evaluate.compare import collect, comparison_table, write_comparison

    def go() -> None:
        names = [s.strip() for s in labels.split(",")] if labels else [r.name for r in runs]
        name, data = collect(runs, names, dataset)
        console.print(comparison_table(name, data))
        if output_dir is not None:
            write_comparison(output_dir, name, data)
            console.print(f"wrote {output_dir / 'comparison.png'}")

    guarded(go, debug)
