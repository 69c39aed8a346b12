"""`mlreason score`: re-score saved completions (a run folder or any JSONL) under the current rules, no model."""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, console, guarded


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def score(
    path: Path = typer.Argument(..., help="A folder written by `mlreason evaluate`, or a JSONL of "
                                          "{language, completion, gold} lines.", show_default=False),
    rule: list[str] = typer.Option(["polymath"], "--rule", "-r",
                                   help="LC rule (polymath | prose); repeat to report several side by side, "
                                        "the first is the headline."),
    detector: str | None = typer.Option(None, "--detector", help="Language detector; default: each rule's own."),
    min_chars: int = typer.Option(15, "--min-chars", help="At most this many characters left = consistent."),
    headline: str = typer.Option("flexible", "--headline", help="Extraction LC&Acc uses: flexible | strict."),
    answer_language: str | None = typer.Option(None, "--answer-language",
                                               help="Check every answer in this language (e.g. en for PiM outputs)."),
    levels: str | None = typer.Option(None, "--levels",
                                      help="Comma-separated difficulty levels, easiest first: adds PolyMath's "
                                           "weighted accuracy (weights 1, 2, 4, ...)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o",
                                           help="Default: <run>/rescored, or <file>-rescored next to a JSONL."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier re-scoring in output-dir."),
    debug: bool = DEBUG_OPT,
) -> None:
    """Re-score completions under the current answer and language-consistency rules, without a model."""
    def go() -> None:
        from mlreason.evaluate.rescore import run_score

        run_score(path, rule, detector=detector, min_chars=min_chars, headline=headline, output_dir=output_dir,
                  overwrite=overwrite, answer_language=answer_language, levels=_split(levels), console=console)

    guarded(go, debug)
