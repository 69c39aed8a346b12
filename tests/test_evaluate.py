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
from mlreason.evaluate.runner import aggregate, plan_items, score_items

runner = CliRunner()


def _eval(args: list[str]):  # noqa: ANN202
    return runner.invoke(app, ["evaluate", *args])


def test_evaluate_tiny_model_writes_every_output(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _eval(["-m", str(tiny_models["qwen2"]), "-d", "mgsm", "-l", "en,th,zh", "--limit", "3", "-o", str(out),
                 "-s", "generation.max_tokens=8", "-s", "model.dtype=float32"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.png", "completions.jsonl", "config.yaml", "metrics.jsonl", "results.csv", "results.json",
        "run_info.json"]
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
    cfg = load_config(EvaluateConfig, None, ["data.datasets=[mgsm]", "data.languages=[sw, de]", "data.limit=2",
                                             "prompt.style=pim", "prompt.pim_languages=[de, zh]"])
    items = plan_items(cfg)
    assert len(items) == 4
    p = items[0].prompt
    assert p.index("Question in Swahili:") < p.index("Question in German:") < p.index("Question in Chinese:")
    assert "Janet" in p and p.endswith("\nAnswer in English:") and p.count("Question in ") == 3
    de = items[2].prompt                       # de is a PiM language: English fills its place
    assert [ln.split(":")[0] for ln in de.splitlines() if ln.startswith("Question in")] == [
        "Question in German", "Question in Chinese", "Question in English"]


def _completion(text: str):  # noqa: ANN202
    from mlreason.generation.base import Completion

    return Completion(text, [], "stop")


@pytest.mark.parametrize("style,checked_in", [("pim", "en"), ("pim-native", "de"), ("native-cot", "de")])
def test_pim_answers_are_checked_as_english(style: str, checked_in: str) -> None:
    """An English answer to a German PiM prompt is correct (strict) and consistent; native styles disagree."""
    cfg = load_config(EvaluateConfig, None, ["data.datasets=[mgsm]", "data.languages=[de]", "data.limit=1",
                                             f"prompt.style={style}", "language.compare_rules=[prose]"])
    items = plan_items(cfg)
    english = "She sells the remaining nine eggs for two dollars each, so she earns 18 dollars. The answer is 18."
    (rec,) = score_items(cfg, items, [[_completion(english)]])
    assert rec["answer_language"] == rec["lc_language"] == checked_in
    assert rec["strict_correct"] is (checked_in == "en") and rec["flexible_correct"] is True
    assert rec["lc"] is (checked_in == "en") and rec["lc@prose"] is (checked_in == "en")
    assert rec["lc_rule"] == "polymath" and rec["lc_thinking"] is None


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


def test_thinking_and_answer_lc_reach_the_results() -> None:
    cfg = load_config(EvaluateConfig, None, ["data.datasets=[mgsm]", "data.languages=[de, en]", "data.limit=2"])
    items = plan_items(cfg)
    think_en = ("<think>She has sixteen eggs, eats three and bakes with four of them.</think>Sie verkauft neun Eier "
                "für je zwei Dollar und verdient achtzehn Dollar. Die Antwort lautet 18.")
    texts = {("de", 0): think_en, ("de", 1): "Ein Gewand braucht zwei Ballen blaue und einen Ballen weiße Faser. "
                                          "Die Antwort lautet 3.", ("en", 0): "The answer is 18.",
             ("en", 1): "The answer is 4."}
    records = score_items(cfg, items, [[_completion(texts[(it.example.language, it.example.row)])] for it in items])
    de = aggregate(cfg, records)["mgsm"]["per_language"]["de"]
    # row 0: thinking English (inconsistent), answer German; row 1: no thinking (counts consistent), German
    assert (de["lc_thinking"], de["lc_answer"], de["lc"]) == (0.5, 1.0, 0.5)
    assert de["acc_strict"] == 1.0 and de["lc_acc"] == 0.5
    assert "lc_thinking" not in aggregate(cfg, records)["mgsm"]["per_language"]["en"]   # no </think> in en


def _polymath_benchmark_weighted_acc(acc: dict[str, float]) -> float:
    """PolyMath eval/run_eval.py: sum(2**i * accuracy[level]) / 15 over low, medium, high, top (in %)."""
    return sum((2 ** i) * acc[level] for i, level in enumerate(["low", "medium", "high", "top"])) / 15


def test_difficulty_weighted_accuracy_matches_polymath() -> None:
    from mlreason.evaluate.scoring import aggregate as aggregate_records

    correct = {"low": [1, 1, 1, 0], "medium": [1, 0, 1, 0], "high": [0, 1, 0, 0], "top": [0, 0, 0, 1]}
    records = [{"dataset": "pm", "language": "zh", "row": 4 * i + j, "run": 0, "level": level,
                "strict_correct": bool(ok), "flexible_correct": bool(ok), "lc": True, "lc_acc": bool(ok),
                "lc_answer": True, "lc_thinking": None}
               for i, (level, oks) in enumerate(correct.items()) for j, ok in enumerate(oks)]
    weights = {"low": 1.0, "medium": 2.0, "high": 4.0, "top": 8.0}
    zh = aggregate_records(records, 1, [], [], {"pm": weights})["pm"]["per_language"]["zh"]
    per_level = {"low": 75.0, "medium": 50.0, "high": 25.0, "top": 25.0}
    assert {lv: 100 * zh[f"acc_strict_level_{lv}"] for lv in weights} == per_level
    # (1 * 75 + 2 * 50 + 4 * 25 + 8 * 25) / 15 = 475 / 15
    assert 100 * zh["acc_strict_weighted"] == pytest.approx(_polymath_benchmark_weighted_acc(per_level))
    assert 100 * zh["acc_strict_weighted"] == pytest.approx(475 / 15)
    assert zh["acc_strict"] == pytest.approx(7 / 16)      # the plain mean stays
