"""`mlreason score`: re-scoring a run folder or any JSONL without a model, under either LC rule.

Run: pytest tests/test_score.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app

runner = CliRunner()
LINES = [  # (language, completion, gold): polymath and prose disagree on line 1
    ("de", "Janet hat 16 Eier und verkauft die restlichen neun für je zwei Dollar. Die Antwort lautet 18.", "18"),
    ("de", "16 - 3 - 4 = 9, 9 * 2 = 18. The answer is 18.", "18"),
    ("zh", "她每天卖掉剩下的鸭蛋，赚 18 美元。答案是 18。", "18"),
    ("zh", "<think>She has nine eggs left and sells each one for two dollars.</think>答案是 17。", "18"),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_score_any_jsonl_under_both_rules(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "outs.jsonl", [{"language": la, "completion": c, "gold": g} for la, c, g in LINES])
    res = runner.invoke(app, ["score", str(src), "--rule", "polymath", "--rule", "prose"], terminal_width=200)
    assert res.exit_code == 0, res.output
    out = tmp_path / "outs-rescored"
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert [v["lc"] for v in verdicts] == [True, False, True, False]
    assert [v["lc@prose"] for v in verdicts] == [True, True, True, False]
    assert [v["lc_thinking"] for v in verdicts] == [None, None, None, False]
    assert [v["strict_correct"] for v in verdicts] == [True, False, True, False]
    assert [v["flexible_correct"] for v in verdicts] == [True, True, True, False]
    per = json.loads((out / "results.json").read_text())["datasets"]["outs"]["per_language"]
    assert (per["de"]["lc"], per["de"]["lc@prose"], per["de"]["acc_strict"]) == (0.5, 1.0, 0.5)
    assert (per["zh"]["lc_thinking"], per["zh"]["lc_answer"], per["zh"]["lc"]) == (0.5, 1.0, 0.5)
    assert "LC prose" in res.output and "LC think" in res.output and "_std" not in res.output
    assert (out / "results.csv").read_text().startswith("dataset,language,")


@pytest.mark.parametrize("content, message", [
    ('{"language": "de", "gold": "1"}\n', "record 1 has no completion"),
    ('{"language": "de", "completion": "x", "gold": "1"}\nnot json\n', "line 2 is not valid JSON"),
    ("\n", "holds no completions"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(content, encoding="utf-8")
    res = runner.invoke(app, ["score", str(src)])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]
    res = runner.invoke(app, ["score", str(src), "--rule", "loose"])
    assert res.exit_code == 2 and "unknown language-consistency rule loose" in res.output


def test_rescoring_an_evaluate_run_reproduces_its_results(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """Same rules, same numbers: evaluate's table equals `score` of its completions.jsonl; PiM is checked as English."""
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "-m", str(tiny_models["qwen2"]), "-d", "mgsm", "-l", "en,de", "--limit", "2",
                              "-p", "pim", "-o", str(run), "-s", "generation.max_tokens=8",
                              "-s", "model.dtype=float32"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["score", str(run)])
    assert res.exit_code == 0, res.output
    before = json.loads((run / "results.json").read_text())["datasets"]["mgsm"]
    after = json.loads((run / "rescored" / "results.json").read_text())["datasets"]["mgsm"]
    assert after["per_language"] == before["per_language"] and after["n_questions"] == {"en": 2, "de": 2}
    verdicts = [json.loads(x) for x in (run / "rescored" / "verdicts.jsonl").read_text().splitlines()]
    assert {v["lc_language"] for v in verdicts} == {"en"} and len(verdicts) == 4
    res = runner.invoke(app, ["score", str(run)])
    assert res.exit_code == 2 and "--overwrite" in res.output   # an earlier re-scoring is kept
