"""`mlreason build-tiny`: train the tiny tokenizer and save tiny random-init models for offline runs.

    mlreason build-tiny --out artifacts/tiny                              # all five archs, test size
    mlreason build-tiny --out artifacts/tiny256 --archs qwen2 --hidden-size 256 --intermediate-size 768
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, console, guarded
from mlreason.errors import UserError


def build_tiny(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write tokenizer/ and one folder per arch."),
    archs: str = typer.Option("qwen2,llama,gemma,mistral,phi3", "--archs", help="Comma-separated architectures."),
    hidden_size: int = typer.Option(128, "--hidden-size", help="Hidden size (a multiple of 64)."),
    layers: int = typer.Option(4, "--layers", help="Decoder layers."),
    intermediate_size: int = typer.Option(256, "--intermediate-size", help="MLP width."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="Tokenizer vocabulary size."),
    seed: int = typer.Option(0, "--seed", help="Seed for the random weights."),
    init_std: float = typer.Option(0.1, "--init-std", help="Std of the random weights."),
    corpus: list[Path] | None = typer.Option(None, "--corpus", help="Tokenizer corpus files (default: data/)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out folder."),
    debug: bool = DEBUG_OPT,
) -> None:
    """Build a tiny Qwen-style tokenizer and tiny models (Qwen2, Llama, Gemma, Mistral, Phi-3)."""

    def go() -> None:
        from mlreason.tiny import build_tiny_models

        if out.exists() and any(out.iterdir()) and not overwrite:
            raise UserError(f"output folder {out} is not empty; pass --overwrite or choose another --out")
        names = tuple(a.strip() for a in archs.split(",") if a.strip())
        paths = build_tiny_models(out, names, hidden_size=hidden_size, num_layers=layers,
                                  intermediate_size=intermediate_size, seed=seed,
                                  corpus_files=corpus or None, vocab_size=vocab_size, init_std=init_std)
        for arch, path in paths.items():
            console.print(f"{arch:8s} {path}")
        console.print(f"tokenizer {out / 'tokenizer'}")

    guarded(go, debug)
