"""`mlreason evaluate` end to end on a tiny model, and its bad-input behaviour (exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.config import load_config
from mlreason.evaluate.config import EvaluateConfig
from mlreason.evaluate.runner import aggregate, plan_items

runner = CliRunner()


def _eval(args: list[str]):  # noqa: ANN202
    return runner.invoke(app, ["evaluate", *args])


def test_evaluate_tiny_model_writes_every_output(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _eval(["-m", str(tiny_models["qwen2"]), "-d", "mgsm", "-l", "en,th,zh", "--limit", "3", "-o", str(out),
                 "-s", "generation.max_tokens=8", "-s", "model.dtype=float32"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.png", "completions.jsonl", "config.yaml", "metrics.jsonl", "results.csv", "results.json", "run_info.json"]
    results = json.loads((out / "results.json").read_text())
    mgsm = results["datasets"]["mgsm"]
    assert mgsm["n_questions"] == {"en": 3, "th": 3, "zh": 3}
    records = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(records) == 9 and [r["row"] for r in records[:3]] == [0, 1, 2]
    assert records[0]["gold"] == "18" and records[3]["language"] == "th"
    # the per-language numbers are the means of the per-record flags
    for lang in ("en", "th", "zh"):
        rs = [r for r in records if r["language"] == lang]
        assert mgsm["per_language"][lang]["acc_flexible"] == pytest.approx(sum(r["flexible_correct"] for r in rs) / 3)
        assert mgsm["per_language"][lang]["lc"] == pytest.approx(sum(r["lc"] for r in rs) / 3)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["language"] for r in rows] == ["en", "th", "zh", "AVG", "HRL", "LRL"]
    assert "Acc strict" in res.output and "LC&Acc" in res.output


def test_pim_prompts_carry_translations(tmp_path: Path) -> None:
    cfg = load_config(EvaluateConfig, None, ["data.datasets=[mgsm]", "data.languages=[sw]", "data.limit=2",
                                             "prompt.style=pim", "prompt.pim_languages=[de, zh]"])
    items = plan_items(cfg)
    assert len(items) == 2
    p = items[0].prompt
    assert p.index("Question in Swahili:") < p.index("Question in German:") < p.index("Question in Chinese:")
    assert "Janet" in p and p.rstrip().endswith("Answer in Swahili:")


def test_aggregate_k_runs_by_hand() -> None:
    cfg = load_config(EvaluateConfig, None, ["generation.k=2", "generation.temperature=0.7"])
    rec = lambda row, run, ok: {"dataset": "d", "language": "en", "row": row, "run": run, "strict_correct": ok,  # noqa: E731
                                "flexible_correct": ok, "lc": True, "lc_acc": ok}
    # row 0: right, right; row 1: wrong, right -> run means 0.5 and 1.0
    out = aggregate(cfg, [rec(0, 0, True), rec(0, 1, True), rec(1, 0, False), rec(1, 1, True)])
    en = out["d"]["per_language"]["en"]
    assert en["acc_flexible"] == pytest.approx(0.75) and en["acc_flexible_std"] == pytest.approx(0.25)
    assert en["acc_flexible_pass@2"] == pytest.approx(1.0) and en["lc"] == pytest.approx(1.0)


@pytest.mark.parametrize("args, message", [
    (["-d", "nosuchset"], "nosuchset"),
    (["-l", "en,xx"], "xx"),
    (["-m", "/no/such/model", "-l", "en", "--limit", "1"], "/no/such/model"),
    (["--k", "0"], "generation.k"),
    (["-p", "pim", "-s", "prompt.pim_languages=[it]"], "it"),
    (["-b", "tpu"], "generation.backend"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _eval([*args, "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert res.output.strip().startswith("error:")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_earlier_results_are_kept(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}')
    res = _eval(["-m", str(tiny_models["qwen2"]), "-l", "en", "--limit", "1", "-o", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (out / "results.json").read_text() == '{"old": true}'
