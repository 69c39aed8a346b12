"""`mlreason data list | show NAME | validate [PATH]`: the dataset manifests and whether they load."""

from __future__ import annotations

import typer
from rich.table import Table

from mlreason.cli.common import DEBUG_OPT, console, fail, guarded

app = typer.Typer(help="Dataset manifests: list them, show one, validate files and parallel alignment.",
                  no_args_is_help=True)
SOURCE_HELP = "Also read the Hugging Face hub copy when the files are not on disk."


@app.command("list")
def list_(debug: bool = DEBUG_OPT) -> None:
    """Every manifest in ./data_manifests and the shipped folder."""
    def go() -> None:
        from mlreason.data.catalog import list_manifests

        table = Table(title="dataset manifests")
        for column in ("name", "languages", "splits", "levels", "on disk", "license"):
            table.add_column(column)
        for row in list_manifests():
            if "error" in row:
                table.add_row(row["name"], f"[red]{row['error']}[/]", "", "", "", "")
                continue
            languages = f"{len(row['languages'])}: {' '.join(row['languages'])}"
            table.add_row(row["name"], languages, " ".join(row["splits"]),
                          " ".join(row["levels"]) or "-", "yes" if row["local"] else "no", row["license"])
        console.print(table)

    guarded(go, debug)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Manifest name or path.", show_default=False),
    split: str | None = typer.Option(None, "--split", help="Only this split."),
    hub: bool = typer.Option(False, "--hub", help=SOURCE_HELP),
    debug: bool = DEBUG_OPT,
) -> None:
    """Languages, counts per split and language, fields, levels and the first rendered prompt."""
    def go() -> None:
        from mlreason.data.catalog import describe

        info = describe(name, split, source="auto" if hub else "local")
        console.print(f"[bold]{info['name']}[/]: {info['description']}", highlight=False)
        for key in ("license", "citation", "homepage", "format", "answer_type", "language_column", "id_column"):
            if info[key]:
                console.print(f"  {key}: {info[key]}", highlight=False)
        console.print(f"  fields: {info['fields']}", highlight=False)
        if info["levels"]:
            console.print(f"  levels (weights): {info['levels']}", highlight=False)
        table = Table(title="rows per split and language")
        table.add_column("split")
        for lang in info["languages"]:
            table.add_column(lang, justify="right")
        for split_name, counts in info["counts"].items():
            if counts is None:
                console.print(f"  split {split_name}: not on disk ({info['sources'][split_name]})", highlight=False)
            else:
                table.add_row(split_name, *[str(counts.get(lang, "-")) for lang in info["languages"]])
        if table.row_count:
            console.print(table)
        if info["first_prompt"] is not None:
            console.print("[bold]first prompt[/] (native-cot):")
            console.print(info["first_prompt"], highlight=False, markup=False)

    guarded(go, debug)


@app.command("validate")
def validate(
    path: str | None = typer.Argument(None, help="Manifest path or name; default: every manifest found.",
                                      show_default=False),
    hub: bool = typer.Option(False, "--hub", help=SOURCE_HELP),
    debug: bool = DEBUG_OPT,
) -> None:
    """Check the schema, every split's rows, parallel alignment (same items and gold answers) and exemplars."""
    def go() -> None:
        from mlreason.data.catalog import validate as check
        from mlreason.data.manifest import available_manifests

        names = [path] if path else available_manifests()
        failed = 0
        for name in names:
            for c in check(name, source="auto" if hub else "local"):
                mark = {"ok": "[green]ok[/]", "fail": "[red]FAIL[/]", "skip": "[yellow]skip[/]"}[c.status]
                console.print(f"{mark} {name} {c.name}: {c.message}", highlight=False, soft_wrap=True)
                failed += c.status == "fail"
        if failed:
            fail(f"{failed} check(s) failed (see above); fix the manifest or the data files")

    guarded(go, debug)
