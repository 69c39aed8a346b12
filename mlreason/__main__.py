"""`python -m mlreason ...` runs the `mlreason` command (useful where the console script is not on PATH)."""

if __name__ == "__main__":
    from mlreason.cli.main import app

    app(prog_name="mlreason")
