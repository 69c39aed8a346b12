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
        import yaml

        from mlreason.runs import check_output_free, staged_run
        from mlreason.tiny import ARCHS, SPECIAL_TOKENS, build_tiny_models

        names = tuple(a.strip() for a in archs.split(",") if a.strip())
        _check_sizes(names, ARCHS, hidden_size, layers, intermediate_size, vocab_size, 256 + len(SPECIAL_TOKENS),
                     init_std)
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise UserError(f"output folder {out} is not empty; pass --overwrite or choose another --out")
        check_output_free(out, overwrite)
        options = {"archs": list(names), "hidden_size": hidden_size, "layers": layers, "seed": seed,
                   "intermediate_size": intermediate_size, "vocab_size": vocab_size, "init_std": init_std}
        # staged: a failure (bad corpus, full disk) leaves no half-built tokenizer/ behind
        with staged_run(out, overwrite, "build-tiny", yaml.safe_dump(options, sort_keys=False)) as stage:
            built = build_tiny_models(stage, names, hidden_size=hidden_size, num_layers=layers,
                                      intermediate_size=intermediate_size, seed=seed,
                                      corpus_files=corpus or None, vocab_size=vocab_size, init_std=init_std)
        for arch, path in built.items():
            console.print(f"{arch:8s} {out / path.name}")
        console.print(f"tokenizer {out / 'tokenizer'}")

    guarded(go, debug)


def _check_sizes(names: tuple[str, ...], known: tuple[str, ...], hidden: int, layers: int, inter: int, vocab: int,
                 min_vocab: int, init_std: float) -> None:
    """The sizes build_tiny_models would otherwise fail on half-way (or accept and build a broken model)."""
    unknown = [a for a in names if a not in known]
    if unknown or not names:
        raise UserError(f"unknown tiny architecture(s) {', '.join(unknown) or '(none)'}; choose from "
                        f"{', '.join(known)}")
    if hidden < 64 or hidden % 64:
        raise UserError(f"--hidden-size {hidden} must be a positive multiple of 64 (the head size)")
    for flag, value, low in (("--layers", layers, 1), ("--intermediate-size", inter, 1), ("--vocab-size", vocab,
                                                                                          min_vocab)):
        if value < low:
            raise UserError(f"{flag} {value} must be at least {low}")
    if not init_std > 0:
        raise UserError(f"--init-std {init_std} must be positive")
