"""answers.py is the only number parser and comparer: every other module imports its helpers.

Three checks over every module of the package (imported, then its source parsed):
1. no regular expression outside answers.py finds decimal, thousands-grouped, signed or fractional
   numbers in text ("pays 1,234.5 dollars", "-3.25", "3/4", "2 125"); anchored patterns for layer
   names ("layers.3.mlp"), layer ranges ("0-5") and hub ids are not answer parsers and pass;
2. no float()/Fraction()/Decimal() of string surgery (`float(s.replace(",", ""))`) outside answers.py;
3. the modules that check answers hold answers.py's own functions, and call them.

    pytest tests/test_one_number_parser.py
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

import mlreason
from mlreason import answers

# numbers inside prose: a number parser finds them, an anchored id or layer-name pattern does not
SAMPLES = ["she pays 1,234.5 dollars", "it drops to -3.25 today", "eat 3/4 of it", "x = 18.0 kg",
           "Ответ — 2 125.", "Die Antwort lautet 1.234.567,8 Euro."]
# what a number parser's match contains: a separator between digits, or a sign before one
NUMBER_SHAPE = re.compile(r"[0-9][.,/ ][0-9]|-[0-9]")
HELPERS = ("parse_number", "same_answer", "final_answer", "answers_match", "score_answer", "extract_strict",
           "extract_flexible", "normalize_digits", "canonical_answer")


def _modules() -> list[ModuleType]:
    names = [info.name for info in pkgutil.walk_packages(mlreason.__path__, "mlreason.")]
    return [importlib.import_module(name) for name in names if name != "mlreason.answers"]


@pytest.fixture(scope="module")
def modules() -> list[ModuleType]:
    return _modules()


def _parses_numbers(pattern: str) -> bool:
    try:
        compiled = re.compile(pattern)
    except (re.error, FutureWarning):
        return False
    return any(NUMBER_SHAPE.search(m.group(0)) for s in SAMPLES for m in compiled.finditer(s))


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _string_surgery_conversions(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("float", "Fraction", "Decimal") and node.args):
            arg = node.args[0]
            if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in (
                    "replace", "strip", "rstrip", "lstrip", "group", "split", "translate"):
                found.append(ast.unparse(node))
    return found


def test_the_detector_recognises_number_parsers() -> None:
    """The checks find the parsers this issue removed from prompts.py and manifest.py."""
    old_prompts = r"-?\d[\d,]*(?:\.\d+)?"                       # prompts._final_number
    assert _parses_numbers(old_prompts) and _parses_numbers(answers._NUMBER)
    assert not _parses_numbers(r"^(?P<prefix>(?:.*\.)?layers)\.(?P<index>\d+)\.mlp$")   # a layer index
    assert not _parses_numbers(r"^\s*(\d+)\s*-\s*(\d+)\s*$")                            # a layer range "0-5"
    assert not _parses_numbers(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")                      # a hub id
    old_manifest = ast.parse('def _is_number(text):\n    float(text.replace(",", "").replace(" ", ""))\n')
    assert _string_surgery_conversions(old_manifest) == ["float(text.replace(',', '').replace(' ', ''))"]


def test_no_regex_outside_answers_parses_numbers(modules: list[ModuleType]) -> None:
    offenders = []
    for module in modules:
        for node in _string_constants(ast.parse(inspect.getsource(module))):
            if _parses_numbers(node.value):
                offenders.append(f"{module.__name__}:{node.lineno} {node.value[:60]!r}")
    assert offenders == []


def test_no_string_to_number_conversion_outside_answers(modules: list[ModuleType]) -> None:
    offenders = {m.__name__: found for m in modules if (found := _string_surgery_conversions(
        ast.parse(inspect.getsource(m))))}
    assert offenders == {}


def test_modules_hold_the_answers_functions(modules: list[ModuleType]) -> None:
    holders = {}
    for module in modules:
        for name in HELPERS:
            if hasattr(module, name):
                assert getattr(module, name) is getattr(answers, name), f"{module.__name__}.{name} is not answers'"
                holders.setdefault(module.__name__, set()).add(name)
    assert {"parse_number", "same_answer"} <= holders["mlreason.data.manifest"]
    assert "final_answer" in holders["mlreason.data.prompts"]
    assert "score_answer" in holders["mlreason.evaluate.scoring"]


def test_manifests_and_prompts_call_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlreason.data import manifest, prompts
    from mlreason.data.types import Example

    calls: dict[str, int] = {"parse_number": 0, "same_answer": 0, "final_answer": 0}

    def spy(name: str):  # noqa: ANN202
        real = getattr(answers, name)

        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapped

    for module, name in ((manifest, "parse_number"), (manifest, "same_answer"), (prompts, "final_answer")):
        monkeypatch.setattr(module, name, spy(name))
    rows = manifest.parallel_rows(manifest.load_examples("mgsm", ["en", "de"], limit=3))
    shot = ("Ann has 2 pens and gets 1,000 more.", "2 + 1000 = 1002. The answer is 1,002.")
    text = prompts.build_prompt(Example("t", 0, "en", "q", "1"), "direct", exemplars=[shot])
    assert len(rows) == 3 and "The answer is 1002" in text
    assert calls == {"parse_number": 6, "same_answer": 3, "final_answer": 1}
