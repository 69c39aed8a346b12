"""`mlreason make-world`: write the tiny multilingual reasoning world (train/test/mixed JSON lines + manifest).

    mlreason make-world --out data/tinyworld --seed 0
    mlreason make-world --out /tmp/w --manifest /tmp/w/tinyworld.yaml --train-size 500 --languages en,th
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, console, guarded


def make_world(
    out: Path = typer.Option(Path("data/tinyworld"), "--out", "-o", help="Folder for {train,test}_{lang}.jsonl."),
    manifest: Path = typer.Option(Path("data_manifests/tinyworld.yaml"), "--manifest", help="Manifest YAML to write."),
    seed: int = typer.Option(0, "--seed", help="Generator seed: the same seed gives the same world."),
    train_size: int = typer.Option(2500, "--train-size", help="Problems in the train split (per language)."),
    test_size: int = typer.Option(200, "--test-size", help="Problems in the test split (per language)."),
    mixed_size: int = typer.Option(500, "--mixed-size",
                                   help="Problems in the mixed split (th/sw questions, English solutions; 0 = none)."),
    languages: str = typer.Option("en,de,zh,ru,th,sw", "--languages", help="Comma-separated languages."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing world at --out/--manifest."),
    debug: bool = DEBUG_OPT,
) -> None:
    """Generate the tiny world: parallel arithmetic word problems with worked solutions in 6 languages."""

    def go() -> None:
        from mlreason.data.tinyworld import write_world
        from mlreason.errors import UserError

        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file; pass a folder for the world's JSON lines files")
        if manifest.is_dir():
            raise UserError(f"--manifest {manifest} is a folder; pass the path of the manifest .yaml to write")
        langs = [x.strip() for x in languages.split(",") if x.strip()]
        paths = write_world(out, manifest, seed=seed, train_size=train_size, test_size=test_size,
                            mixed_size=mixed_size, languages=langs, overwrite=overwrite)
        n_files = len(paths) - 1
        console.print(f"wrote {n_files} files under {out} ({train_size} train + {test_size} test rows per language)")
        console.print(f"manifest {paths['manifest']}")

    guarded(go, debug)
