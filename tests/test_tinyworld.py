"""The tiny world generator: deterministic per seed, parallel rows, solutions end in the answer sentence.

    pytest tests/test_tinyworld.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.answers import score_answer
from mlreason.cli.main import app
from mlreason.data.manifest import load_examples, load_manifest, parallel_rows
from mlreason.data.tinyworld import (
    WORLD_LANGUAGES,
    Problem,
    generate_problems,
    render,
    ru_form,
    write_world,
)
from mlreason.errors import UserError
from mlreason.language import get_detector, is_consistent

REPO = Path(__file__).resolve().parent.parent


def test_same_seed_same_world_other_seed_other_world():
    assert generate_problems(300, seed=7) == generate_problems(300, seed=7)
    assert generate_problems(300, seed=7) != generate_problems(300, seed=8)
    assert len(set(generate_problems(1000, seed=0))) == 1000  # distinct


@pytest.mark.parametrize(("kind", "numbers", "answer"), [
    ("add", (3, 4), 7), ("sub", (9, 2), 7), ("mul", (3, 4), 12), ("add_sub", (5, 6, 4), 7), ("mul_add", (2, 3, 4), 10),
])
def test_answers_hand_computed(kind, numbers, answer):
    assert Problem(kind, 0, 0, numbers).answer == answer


def test_rendered_rows_state_the_numbers_and_end_with_the_answer_sentence():
    p = Problem("add_sub", 0, 0, (5, 6, 4))
    q, s = render(p, "en")
    assert q == "Anna has 5 apples. Anna buys 6 more and then gives 4 to a friend. How many apples does Anna have now?"
    assert s.endswith("5 + 6 = 11. After giving 4 of them to a friend, Anna has 11 - 4 = 7 left. The answer is 7.")
    assert render(p, "zh")[1].endswith("于是还有11 - 4 = 7个。答案是 7。")
    assert render(p, "th")[1].endswith("คำตอบคือ 7")
    for lang in WORLD_LANGUAGES:
        q, s = render(p, lang)
        assert re.findall(r"\d+", q) == ["5", "6", "4"], lang  # the same operands, in order, in every language
        sc = score_answer(s, "7", lang)
        assert sc.strict_pred == "7" and sc.strict_correct, lang


def test_low_resource_solutions_state_results_without_equations():
    # th/sw solutions are terse (the model must compute in its head); the others write every equation out
    p = Problem("add_sub", 0, 0, (5, 6, 4))
    assert render(p, "sw")[1] == ("Mwanzoni Juma ana matufaha 5. Baada ya kununua, Juma ana 11. "
                                  "Baada ya kutoa 4, Juma ana 7. Jibu ni 7.")
    assert re.findall(r"\d+", render(p, "th")[1]) == ["5", "11", "7", "7"]
    for lang in WORLD_LANGUAGES:
        has_equation = re.search(r"\d+ [-+*] \d+ = \d+", render(p, lang)[1]) is not None
        assert has_equation == (lang not in ("th", "sw")), lang


@pytest.mark.parametrize("n_problems", [200, pytest.param(2700, marks=pytest.mark.slow)])
def test_gold_solutions_are_consistent_under_the_headline_lc_rule(n_problems):
    # PolyMath's rule (langdetect must name exactly the language): the gold solution of every test
    # (first 200) and train (next 2500: slow, 38 s) problem passes in every language, so a model that writes
    # like the data can reach LC 100. Before the wording was chosen for it, over the 2700: zh 65%, ru 88%,
    # de 95%, en 99% (langdetect added ko, bg, tl or id).
    detector = get_detector("langdetect")
    problems = generate_problems(n_problems, seed=0)
    for lang in WORLD_LANGUAGES:
        bad = [s for s in (render(p, lang)[1] for p in problems)
               if not is_consistent(s, lang, detector, rule="polymath")]
        assert bad == [], f"{lang}: {len(bad)} inconsistent gold solutions, e.g. {bad[:1]}"


def test_russian_plural_forms():
    forms = ("яблоко", "яблока", "яблок")
    assert [ru_form(n, forms) for n in (1, 2, 4, 5, 11, 12, 21, 22, 25, 111)] == [
        "яблоко", "яблока", "яблока", "яблок", "яблок", "яблок", "яблоко", "яблока", "яблок", "яблок"]


def test_write_world_is_parallel_and_loadable(tmp_path):
    paths = write_world(tmp_path / "w", tmp_path / "m" / "tw.yaml", seed=3, train_size=40, test_size=10,
                        mixed_size=5, languages=["en", "th", "sw"])
    assert len(paths) == 2 * 3 + 2 + 1  # train/test for 3 languages, mixed for th and sw, the manifest
    m = load_manifest(str(tmp_path / "m" / "tw.yaml"))
    train = load_examples(m, split="train")
    test = load_examples(m, split="test")
    assert {k: len(v) for k, v in train.items()} == {"en": 40, "th": 40, "sw": 40}
    rows = parallel_rows(train)  # raises if any row's answers differ across languages
    assert all(r["th"].solution.endswith(f"คำตอบคือ {r['en'].answer}") for r in rows)
    train_q = {e.question for e in train["en"]}
    assert not train_q & {e.question for e in test["en"]}  # no test problem leaks into train
    mixed = load_examples(m, ["th", "sw"], split="mixed")
    assert {k: len(v) for k, v in mixed.items()} == {"th": 5, "sw": 5}
    problems = generate_problems(55, seed=3)[50:]  # the mixed split: the problems after test and train
    for p, th, sw in zip(problems, mixed["th"], mixed["sw"], strict=True):
        assert th.question == render(p, "th")[0] and sw.question == render(p, "sw")[0]
        assert th.solution == sw.solution == render(p, "en")[1]  # an English solution after a th/sw question
        assert th.answer == str(p.answer)
    assert not {e.question for e in mixed["th"]} & {e.question for e in train["th"] + test["th"]}
    with pytest.raises(UserError, match="already holds a world"):
        write_world(tmp_path / "w", tmp_path / "m" / "tw.yaml", seed=3, train_size=40, test_size=10)


def test_shipped_world_is_seed_0_and_parallel():
    m = load_manifest("tinyworld")
    assert m.languages == list(WORLD_LANGUAGES) and set(m.split_names) == {"train", "test", "mixed"}
    test = load_examples(m, split="test")
    assert len(parallel_rows(test)) == 200
    first = generate_problems(1, seed=0)[0]
    line = json.loads((REPO / "data/tinyworld/test_de.jsonl").read_text(encoding="utf-8").splitlines()[0])
    q, s = render(first, "de")
    assert line == {"question": q, "answer": str(first.answer), "solution": s}
    mixed = load_examples(m, ["th", "sw"], split="mixed")
    assert {k: len(v) for k, v in mixed.items()} == {"th": 500, "sw": 500}
    last = generate_problems(200 + 2500 + 500, seed=0)[-1]
    assert mixed["sw"][-1].solution == render(last, "en")[1]


def test_make_world_cli_and_bad_language(tmp_path):
    runner = CliRunner()
    args = ["make-world", "--out", str(tmp_path / "w"), "--manifest", str(tmp_path / "w.yaml"), "--train-size", "5",
            "--test-size", "2"]
    res = runner.invoke(app, args + ["--languages", "en,xx"])
    assert res.exit_code == 2 and "unknown world language" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "w" / "train_sw.jsonl").read_text(encoding="utf-8").splitlines()) == 5
    assert runner.invoke(app, args).exit_code == 2  # refuses to overwrite
