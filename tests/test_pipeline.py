"""`make pipeline`: every stage command resolves its config (run with --dry-run) for both model sizes."""

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlreason.cli.main import app

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("model, size", [pytest.param("Qwen/Qwen2.5-7B-Instruct", "7b", marks=pytest.mark.slow),
                                         ("Qwen/Qwen2.5-1.5B-Instruct", "1.5b")])
def test_pipeline_stages_resolve(model: str, size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = subprocess.run(["make", "-n", "pipeline", f"MODEL={model}", f"SIZE={size}", "MLR_PATH=mlreason"],
                         capture_output=True, text=True, check=True).stdout
    stages = [shlex.split(line) for line in out.splitlines() if "mlreason" in line]
    commands = [argv[argv.index("mlreason") + 1] for argv in stages]
    assert commands == ["recipes", "evaluate", "probe-layers", "finetune", "evaluate", "rl-train", "evaluate",
                        "compare"]
    for argv in stages:
        args = argv[argv.index("mlreason") + 1:]
        if args[0] == "recipes":   # the data check comes first: strict, so it needs MGSM8KInstruct converted
            assert args[-1] == "--strict"
            assert args[args.index("--eval") + 1].endswith(f"qwen2.5-{size}-mgsm-msvamp.yaml")
            res = CliRunner().invoke(app, args)
            text = " ".join(res.output.split())
            assert res.exit_code == 2 and "no overlap with" in text and "mlreason.data.mgsm8kinstruct full" in text
            continue
        if args[0] == "compare":
            continue
        res = CliRunner().invoke(app, [*args, "--dry-run"])
        assert res.exit_code == 0, (args, res.output)
        resolved = yaml.safe_load(res.output)
        assert resolved["command"] == args[0]
        assert resolved["model"]["name_or_path"] == args[args.index("-m") + 1]
        assert str(resolved["output_dir"]).startswith(f"runs/pipeline/{model.split('/')[1]}/")
