"""Every command on bad input: exit 2, exactly one `error:` line on stderr naming the thing, no new files.

A table of cases across evaluate, probe-layers, finetune, rl-train, build-tiny, make-world, compare and
score, run in-process through typer's CliRunner. Each case gets its own output path inside a shared
workspace; the whole workspace is listed before and after, so a stub folder, staging folder, lock file or
half-written file left behind fails the case.

    pytest tests/test_bad_input_table.py
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.runs import RunClaim

QT = "data.sources=[{kind: translation, dataset: tinyworld, split: train, limit: 2, languages: [sw]}]"


@pytest.fixture(scope="module")
def ws(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The workspace: the tiny model, broken copies of it, bad data/recipe/probe files, a finished eval run."""
    root = tmp_path_factory.mktemp("ws")
    m = Path(tiny_models["qwen2"])
    w: dict[str, Path] = {"root": root, "model": m, "file": root / "a_file.txt"}
    w["file"].write_text("not a folder\n")
    for name, cut in (("truncated", 1000), ("garbage", None)):
        bad = root / f"model_{name}"
        shutil.copytree(m, bad)
        blob = (bad / "model.safetensors").read_bytes()
        (bad / "model.safetensors").write_bytes(blob[:cut] if cut else b"\x00\x01garbage" * 50)
        w[name] = bad
    w["empty_model"] = root / "empty_model"
    w["empty_model"].mkdir()
    # a data set: a JSONL in latin-1, one with duplicated ids, their manifests
    (root / "data").mkdir()
    (root / "data" / "test_en.jsonl").write_bytes('{"id": "1", "question": "caf\u00e9?", "answer": "1"}\n'
                                                  .encode("latin-1"))
    rows = [{"id": "7", "question": f"{i} + 1?", "answer": str(i + 1), "solution": f"{i} + 1 = {i + 1}."}
            for i in range(3)]
    (root / "data" / "train_en.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, split in (("latin1", "test"), ("dupes", "train")):
        (root / f"{name}.yaml").write_text(
            f"name: {name}\nlanguages: [en]\ndefault_split: {split}\nformat: jsonl\nid_column: id\n"
            f"splits:\n  {split}:\n    files: 'data/{split}_{{lang}}.jsonl'\n"
            "fields: {question: question, answer: answer, solution: solution}\nanswer_type: number\n")
        w[name] = root / f"{name}.yaml"
    recipes = {"python_tag": "command: evaluate\nmodel: !!python/object/apply:os.system [echo hi]\n",
               "not_yaml": "command: evaluate\nmodel: [unclosed\n", "wrong_command": "command: finetune\n",
               "not_mapping": "- a\n- b\n"}
    for name, text in recipes.items():
        (root / f"{name}.yaml").write_text(text)
        w[name] = root / f"{name}.yaml"
    probes = {"probe_int": "7", "probe_four": '{"num_layers": "four", "chosen_layers": [0]}',
              "probe_null": '{"num_layers": 4, "chosen_layers": null}', "probe_text": "{not json",
              "probe_ok": '{"num_layers": 4, "chosen_layers": [0, 1]}'}
    for name, text in probes.items():
        (root / f"{name}.json").write_text(text)
        w[name] = root / f"{name}.json"
    w["non_utf8"] = root / "non_utf8.txt"
    w["non_utf8"].write_bytes(b"\xff\xfe caf\xe9\n")
    # evaluation runs for compare/score: one good (written by the real command), one corrupt, one key-less
    good = root / "eval_good"
    res = CliRunner().invoke(app, ["evaluate", "-m", str(m), "-d", "mgsm", "-l", "en", "--limit", "2", "-o",
                                   str(good), "-s", "generation.max_tokens=4", "-s", "report.plot=false"])
    assert res.exit_code == 0, res.output
    w["eval_good"] = good
    for name, text in (("eval_corrupt", '{"datasets": {'), ("eval_keyless", "{}")):
        shutil.copytree(good, root / name)
        (root / name / "results.json").write_text(text)
        w[name] = root / name
    (root / "completions_bad.jsonl").write_text('{"question": "x"\n')
    w["completions_bad"] = root / "completions_bad.jsonl"
    (root / "holds_results").mkdir()
    (root / "holds_results" / "results.json").write_text("{}")
    w["holds_results"] = root / "holds_results"
    return w


def _o(w: dict[str, Path], case: str) -> str:
    return str(w["root"] / "out" / case)


W = dict[str, Path]
# (id, argv builder, fragment the error line must contain)
CASES: list[tuple[str, Callable[[W, str], list[str]], str]] = []


def case(cid: str, fragment: str) -> Callable:
    def deco(fn: Callable[[W, str], list[str]]) -> Callable:
        CASES.append((cid, fn, fragment))
        return fn
    return deco


def _ev(w: W, o: str, *extra: str) -> list[str]:
    return ["evaluate", "-m", str(w["model"]), "-d", "mgsm", "-l", "en", "--limit", "2", "-o", o, *extra]


def _pr(w: W, o: str, *extra: str) -> list[str]:
    return ["probe-layers", "-m", str(w["model"]), "--languages", "en,de", "--max-examples", "2", "-o", o, *extra]


def _ft(w: W, o: str, *extra: str) -> list[str]:
    return ["finetune", "-m", str(w["model"]), "-o", o, "-s", QT, *extra]


def _rl(w: W, o: str, *extra: str) -> list[str]:
    return ["rl-train", "-m", str(w["model"]), "-d", "tinyworld", "-l", "en", "-o", o, "-s", "data.limit=4",
            "--steps", "1", *extra]


def _add(prefix: str, build: Callable, table: list[tuple[str, Callable[[W], list[str]], str]]) -> None:
    for cid, extra, fragment in table:
        CASES.append((f"{prefix}-{cid}", lambda w, o, extra=extra, build=build: build(w, o, *extra(w)), fragment))


_add("evaluate", _ev, [
    ("no-model", lambda w: ["-m", "/nonexistent/model"], "/nonexistent/model"),
    ("empty-model", lambda w: ["-m", str(w["empty_model"])], "empty_model"),
    ("model-is-file", lambda w: ["-m", str(w["file"])], "a_file.txt"),
    ("truncated-safetensors", lambda w: ["-m", str(w["truncated"])], "model.safetensors"),
    ("garbage-safetensors", lambda w: ["-m", str(w["garbage"])], "model.safetensors"),
    ("unknown-dataset", lambda w: ["-d", "nosuchset"], "nosuchset"),
    ("unknown-language", lambda w: ["-l", "xx"], "xx"),
    ("bad-prompt", lambda w: ["-p", "nosuchstyle"], "nosuchstyle"),
    ("bad-backend", lambda w: ["-b", "nosuchbackend"], "nosuchbackend"),
    ("k-without-temperature", lambda w: ["--k", "3"], "temperature"),
    ("limit-zero", lambda w: ["--limit", "0"], "limit"),
    ("unknown-key", lambda w: ["-s", "generation.nosuchkey=1"], "nosuchkey"),
    ("bad-value", lambda w: ["-s", "generation.max_tokens=many"], "max_tokens"),
    ("non-utf8-data", lambda w: ["-d", str(w["latin1"])], "test_en.jsonl"),
    ("out-is-file", lambda w: ["-o", str(w["file"])], "a_file.txt"),
    ("out-under-file", lambda w: ["-o", str(w["file"] / "sub")], "a_file.txt"),
    ("out-holds-results", lambda w: ["-o", str(w["holds_results"])], "already holds results"),
])
for _name, _frag in (("python_tag", "refused"), ("not_yaml", "not_yaml.yaml"), ("wrong_command", "finetune"),
                     ("not_mapping", "not_mapping.yaml")):
    CASES.append((f"evaluate-recipe-{_name}", lambda w, o, n=_name: ["evaluate", str(w[n]), "-o", o], _frag))
CASES.append(("evaluate-recipe-missing", lambda w, o: ["evaluate", str(w["root"] / "nope.yaml"), "-o", o],
              "nope.yaml"))

_add("probe", _pr, [
    ("no-model", lambda w: ["-m", "/nonexistent/model"], "/nonexistent/model"),
    ("truncated-safetensors", lambda w: ["-m", str(w["truncated"])], "model.safetensors"),
    ("bad-method", lambda w: ["--method", "nosuchmethod"], "nosuchmethod"),
    ("unknown-language", lambda w: ["--languages", "en,xx"], "xx"),
    ("n-layers-zero", lambda w: ["--n-layers", "0"], "n_layers"),
    ("n-layers-too-many", lambda w: ["--n-layers", "9"], "9"),
    ("max-examples-zero", lambda w: ["--max-examples", "0"], "max_examples"),
    ("batch-size-zero", lambda w: ["--batch-size", "0"], "batch_size"),
    ("bad-dtype", lambda w: ["--dtype", "float7"], "float7"),
    ("out-is-file", lambda w: ["-o", str(w["file"])], "a_file.txt"),
    ("out-holds-results", lambda w: ["-o", str(w["holds_results"])], "already holds results"),
    ("unknown-key", lambda w: ["-s", "nosuchkey=1"], "nosuchkey"),
])

_add("finetune", _ft, [
    ("no-model", lambda w: ["-m", "/nonexistent/model", "--mode", "slam", "--layers", "0"], "/nonexistent/model"),
    ("truncated-safetensors", lambda w: ["-m", str(w["truncated"]), "--mode", "slam", "--layers", "0"],
     "model.safetensors"),
    ("layers-out-of-range", lambda w: ["--mode", "slam", "--layers", "9"], "out of range"),
    ("layers-from-missing", lambda w: ["--mode", "slam", "--layers-from", str(w["root"] / "missing.json")],
     "missing.json"),
    ("layers-and-layers-from", lambda w: ["--mode", "slam", "--layers", "0", "--layers-from",
                                          str(w["root"] / "missing.json")], "layers-from"),
    ("full-with-layers-from", lambda w: ["--mode", "full", "--layers-from", str(w["probe_ok"])], "full"),
    ("probe-int", lambda w: ["--mode", "slam", "--layers-from", str(w["probe_int"])], "probe_int.json"),
    ("probe-num-layers-text", lambda w: ["--mode", "slam", "--layers-from", str(w["probe_four"])],
     "probe_four.json"),
    ("probe-chosen-null", lambda w: ["--mode", "slam", "--layers-from", str(w["probe_null"])], "probe_null.json"),
    ("probe-not-json", lambda w: ["--mode", "slam", "--layers-from", str(w["probe_text"])], "probe_text.json"),
    ("max-steps-negative", lambda w: ["--mode", "slam", "--layers", "0", "-s", "train.max_steps=-7"], "max_steps"),
    ("lr-negative", lambda w: ["--mode", "slam", "--layers", "0", "-s", "train.learning_rate=-1"], "learning_rate"),
    ("no-sources", lambda w: ["--mode", "slam", "--layers", "0", "-s", "data.sources=[]"], "no training data"),
    ("resume-nothing", lambda w: ["--mode", "slam", "--layers", "0", "--resume"], "cannot resume"),
    ("out-is-file", lambda w: ["--mode", "slam", "--layers", "0", "-o", str(w["file"])], "a_file.txt"),
    ("out-holds-results", lambda w: ["--mode", "slam", "--layers", "0", "-o", str(w["holds_results"])],
     "already holds results"),
    ("bad-mode", lambda w: ["--mode", "sft"], "method.mode"),
    ("duplicate-ids", lambda w: ["--mode", "slam", "--layers", "0", "-s",
                                 f"data.sources=[{{kind: cot, dataset: {w['dupes']}, split: train}}]"], "repeats"),
])

_add("rl", _rl, [
    ("no-model", lambda w: ["-m", "/nonexistent/model"], "/nonexistent/model"),
    ("truncated-safetensors", lambda w: ["-m", str(w["truncated"])], "model.safetensors"),
    ("unknown-manifest", lambda w: ["-d", "nosuchset"], "nosuchset"),
    ("unknown-language", lambda w: ["-l", "xx"], "xx"),
    ("bad-backend", lambda w: ["-b", "nosuchbackend"], "nosuchbackend"),
    ("bad-reward-import", lambda w: ["-s", "reward.functions=[nosuchmodule_xyz:fn]"], "nosuchmodule_xyz"),
    ("steps-zero", lambda w: ["--steps", "0"], "steps"),
    ("mini-batch-not-dividing", lambda w: ["-s", "train.batch_size=12", "-s", "train.mini_batch_size=5"],
     "mini_batch_size"),
    ("unknown-group-language", lambda w: ["-s", "hints.switch.groups={high: [en, xx]}"], "xx"),
    ("resume-nothing", lambda w: ["--resume"], "cannot resume"),
    ("out-is-file", lambda w: ["-o", str(w["file"])], "a_file.txt"),
    ("out-holds-results", lambda w: ["-o", str(w["holds_results"])], "already holds results"),
    ("test-split", lambda w: ["-s", "data.split=test"], "test"),
])


def _bt(w: W, o: str, *extra: str) -> list[str]:
    return ["build-tiny", "--out", o, "--archs", "qwen2", *extra]


_add("build-tiny", _bt, [
    ("layers-zero", lambda w: ["--layers", "0"], "layers"),
    ("hidden-size", lambda w: ["--hidden-size", "100"], "hidden"),
    ("unknown-arch", lambda w: ["--archs", "nosucharch"], "nosucharch"),
    ("out-is-file", lambda w: ["--out", str(w["file"])], "a_file.txt"),
    ("out-not-empty", lambda w: ["--out", str(w["holds_results"])], "holds_results"),
    ("corpus-missing", lambda w: ["--corpus", str(w["root"] / "nocorpus.txt")], "nocorpus.txt"),
    ("corpus-not-utf8", lambda w: ["--corpus", str(w["non_utf8"])], "non_utf8.txt"),
    ("vocab-zero", lambda w: ["--vocab-size", "0"], "vocab"),
])


def _mw(w: W, o: str, *extra: str) -> list[str]:
    return ["make-world", "--out", o, "--manifest", o + ".yaml", "--train-size", "2", "--test-size", "2", *extra]


_add("make-world", _mw, [
    ("out-is-file", lambda w: ["--out", str(w["file"])], "a_file.txt"),
    ("manifest-is-folder", lambda w: ["--manifest", str(w["holds_results"])], "holds_results"),
    ("unknown-language", lambda w: ["--languages", "en,xx"], "xx"),
    ("train-size-zero", lambda w: ["--train-size", "0"], "train_size"),
    ("mixed-negative", lambda w: ["--mixed-size", "-1"], "mixed_size"),
])

CASES += [
    ("compare-missing-run", lambda w, o: ["compare", str(w["root"] / "norun"), "-o", o], "norun"),
    ("compare-corrupt-results", lambda w, o: ["compare", str(w["eval_good"]), str(w["eval_corrupt"]), "-o", o],
     "eval_corrupt"),
    ("compare-keyless-results", lambda w, o: ["compare", str(w["eval_good"]), str(w["eval_keyless"]), "-o", o],
     "eval_keyless"),
    ("compare-out-is-file", lambda w, o: ["compare", str(w["eval_good"]), "-o", str(w["file"])], "a_file.txt"),
    ("compare-labels-count", lambda w, o: ["compare", str(w["eval_good"]), "--labels", "a,b", "-o", o], "labels"),
    ("compare-unknown-dataset", lambda w, o: ["compare", str(w["eval_good"]), "--dataset", "nosuchset", "-o", o],
     "nosuchset"),
    ("score-missing", lambda w, o: ["score", str(w["root"] / "noeval"), "-o", o], "noeval"),
    ("score-bad-rule", lambda w, o: ["score", str(w["eval_good"]), "-r", "nosuchrule", "-o", o], "nosuchrule"),
    ("score-bad-jsonl", lambda w, o: ["score", str(w["completions_bad"]), "-o", o], "completions_bad.jsonl"),
    ("score-out-is-file", lambda w, o: ["score", str(w["eval_good"]), "-o", str(w["file"])], "a_file.txt"),
    ("score-corrupt-results", lambda w, o: ["score", str(w["eval_corrupt"]), "-o", o], "eval_corrupt"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("cid", "argv", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_one_line_nothing_left(ws, cid, argv, fragment, monkeypatch):
    monkeypatch.chdir(ws["root"])  # a relative default output (make-world's data/...) stays in the workspace
    before = _tree(ws["root"])
    res = CliRunner().invoke(app, argv(ws, _o(ws, cid)))
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.exit_code == 2, f"exit {res.exit_code}: {res.stderr or res.output}"
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert fragment in lines[0], lines[0]
    assert _tree(ws["root"]) == before, sorted(_tree(ws["root"]) ^ before)


def test_table_is_large_enough():
    assert len(CASES) >= 60


def test_run_in_use_is_refused(ws):
    out = ws["root"] / "out" / "busy"
    with RunClaim(out, overwrite=False, command="evaluate", config_yaml="", staged=True) as claim:
        claim.acquire()
        res = CliRunner().invoke(app, _ev(ws, str(out)))
        assert res.exit_code == 2 and f"in use by pid {os.getpid()}" in res.stderr, res.stderr
        assert not out.exists() and len(list(out.parent.glob(".busy.staging-*"))) == 1  # only the holder's
    shutil.rmtree(out)
