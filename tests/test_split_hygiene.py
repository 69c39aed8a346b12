"""No training on evaluation data: test splits are refused, train/eval question overlap is refused, and the
MGSM8KInstruct converter gives the LANG recipes same-language solutions.

    pytest tests/test_split_hygiene.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.config import ConfigError
from mlreason.data.manifest import load_examples, load_manifest
from mlreason.data.mgsm8kinstruct import LANGUAGES, convert_full, parse_parallel_row
from mlreason.data.splits import check_training_split, normalise_question, question_overlap
from mlreason.errors import UserError
from mlreason.recipes import check_recipe, list_recipes

ROOT = Path(__file__).resolve().parent.parent
EVAL_7B = ROOT / "recipes/evaluate/qwen2.5-7b-mgsm-msvamp.yaml"
PROMPT = ("Below is an instruction that describes a task. Write a response that appropriately completes the request "
          "in {lang}. Please answer in {lang}.\n\n### Instruction:\n{q}\n\n### Response:")


def test_normalised_questions_match_across_case_spacing_and_punctuation():
    assert normalise_question("Julia played tag with 18 kids on Monday.") == "julia played tag with 18 kids on monday"
    assert normalise_question("julia played tag with 18 kids on monday .") == "julia played tag with 18 kids on monday"
    assert normalise_question("小明有３个苹果。") == "小明有3个苹果"           # NFKC: full-width digit
    assert question_overlap(["A b?", "c"], ["a  B", "d", ""]) == ["a b"]


def test_training_on_a_test_split_is_refused_unless_allowed():
    with pytest.raises(UserError, match=r"data.sources\[0\] trains on msvamp's 'test' split, an evaluation set"):
        check_training_split("msvamp", None, allow=False, key="data.sources[0]")
    assert check_training_split("msvamp", None, allow=True, key="x") == "test"
    with pytest.raises(UserError, match="use split 'train'"):
        check_training_split("tinyworld", "test", allow=False, key="data")
    assert check_training_split("mgsm8kinstruct-qt", None, allow=False, key="x") == "train"


def _recipe(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_a_recipe_training_on_its_evaluation_questions_is_refused(tmp_path):
    msvamp = _recipe(tmp_path, "msvamp.yaml", "# t\ncommand: finetune\ndata:\n  sources:\n"
                     "    - {kind: translation, dataset: msvamp, languages: [de], limit: 5, allow_test_split: true}\n")
    with pytest.raises(ConfigError, match=r"10 training question\(s\) also appear in its evaluation recipe"):
        check_recipe(msvamp, EVAL_7B)
    rl = _recipe(tmp_path, "rl.yaml", f"command: rl-train\nevaluated_with: {EVAL_7B}\n"
                 "data: {manifest: mgsm, split: test, limit: 3, languages: [en]}\n")
    with pytest.raises(UserError, match="trains on mgsm's 'test' split"):
        check_recipe(rl)
    rl.write_text(rl.read_text().replace("limit: 3,", "limit: 3, allow_test_split: true,"))
    with pytest.raises(ConfigError, match=r"3 training question\(s\) also appear"):
        check_recipe(rl)
    res = CliRunner().invoke(app, ["recipes", "validate", str(msvamp), "--eval", str(EVAL_7B)])
    assert res.exit_code == 2 and "also appear in its evaluation recipe" in " ".join(res.output.split())


@pytest.mark.slow   # reads every shipped training set (~10 s)
def test_shipped_finetune_recipes_are_paired_and_overlap_free():
    for info in list_recipes(ROOT / "recipes"):
        if info.command == "finetune" and "qwen" in info.path.name:
            notes = check_recipe(info.path, strict=True)
            assert len(notes) == 1 and notes[0].startswith("no overlap with recipes/evaluate/"), (info.path, notes)


def parallel_records(n: int = 6) -> list[dict]:
    """MGSM8KInstruct_Parallel's layout (prompt / chosen / rejected), n problems x 10 languages, + 1 unreadable."""
    rows = []
    for name in LANGUAGES:
        for i in range(n):
            q = f"[{name}] Tom has {i} apples and buys 2 more. How many?"
            rows.append({"prompt": PROMPT.format(lang=name, q=q), "rejected": "",
                         "chosen": f"[{name}] {i} + 2 = <<{i}+2={i + 2}>>{i + 2}.\n#### {i + 2}"})
    rows.append({"prompt": "no language here", "chosen": "#### 1"})
    return rows


def test_parse_and_convert_mgsm8kinstruct(tmp_path, monkeypatch):
    lang, row = parse_parallel_row(parallel_records()[len(LANGUAGES) * 6 - 1])
    assert lang == "bn" and row["answer"] == "7" and row["question"].startswith("[Bengali] Tom has 5")
    assert row["solution"] == "[Bengali] 5 + 2 = 7. উত্তর হল 7."
    monkeypatch.chdir(tmp_path)
    counts = convert_full(parallel_records(), Path("data/mgsm8kinstruct"), Path("data_manifests"))
    assert counts == {**{code: 6 for code in LANGUAGES.values()}, "skipped": 1}
    manifest = load_manifest("mgsm8kinstruct")     # ./data_manifests wins over the shipped manifest
    assert manifest.base_dir == (tmp_path / "data_manifests").resolve() and not manifest.obtain
    zh = load_examples(manifest, ["zh"])["zh"]
    assert zh[2].solution == "[Chinese] 2 + 2 = 4.答案是 4。" and zh[2].answer == "4"   # no space before zh text


def test_lang_recipes_check_out_once_mgsm8kinstruct_is_converted(tmp_path, monkeypatch):
    """Offline the check says why it could not run; with the converted files it runs and finds no overlap."""
    lang = ROOT / "recipes/rl/qwen2.5-1.5b-lang.yaml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    assert "not checked: training data not present" in check_recipe(lang)[0]
    with pytest.raises(ConfigError, match="training data not found"):
        check_recipe(lang, strict=True)
    convert_full(parallel_records(), Path("data/mgsm8kinstruct"), Path("data_manifests"))
    assert check_recipe(lang, strict=True) == [
        "no overlap with recipes/evaluate/qwen2.5-1.5b-mgsm-msvamp.yaml (60 training questions)"]
    from mlreason.config import load_config
    from mlreason.rl.config import RLConfig
    from mlreason.rl.trainer import load_problems

    problems, _ = load_problems(load_config(RLConfig, lang, ["data.limit=2"]))
    assert len(problems) == 20 and all(ex.solution and ex.solution.startswith("[") for ex in problems)
    assert json.loads(json.dumps(sorted({ex.language for ex in problems}))) == sorted(LANGUAGES.values())
