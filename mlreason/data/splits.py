"""Split hygiene: training never reads an evaluation split, and never sees a question it is scored on.

    check_training_split("msvamp", None, allow=False, key="data.sources[0]")   # UserError: MSVAMP is a test set
    overlap = question_overlap(train_questions, eval_questions)                  # normalised texts in both

MGSM's 250 problems and MSVAMP's 1000 exist only as test splits; training on them and then scoring
them measures memorisation. `finetune` and `rl-train` refuse a `test` split unless the source sets
`allow_test_split: true`; `mlreason recipes validate` and `make pipeline` compare a training recipe's
questions with its paired evaluation recipe's by `normalise_question`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from mlreason.errors import UserError

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def is_test_split(name: str) -> bool:
    """test, test_en, test-hard, ...: splits a benchmark is scored on."""
    return re.match(r"^test(\b|_|-|$)", name.lower()) is not None


def check_training_split(dataset: str, split: str | None, *, allow: bool, key: str) -> str:
    """The resolved split name of a training source; UserError when it is a test split and not allowed."""
    from mlreason.data.manifest import load_manifest

    manifest = load_manifest(dataset)
    name = manifest.resolve_split(split)
    if is_test_split(name) and not allow:
        others = [s for s in manifest.split_names if not is_test_split(s)]
        fix = f"use split {others[0]!r}" if others else "train on a training set (e.g. mgsm8kinstruct-qt)"
        raise UserError(f"{key} trains on {manifest.name}'s {name!r} split, an evaluation set: {fix}, or set "
                        f"{key}.allow_test_split=true if you mean it")
    return name


def normalise_question(text: str) -> str:
    """NFKC, case-folded, punctuation and spacing removed: "Julia played tag ." == "julia played tag"."""
    return " ".join(_NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def question_overlap(train: Iterable[str], evaluation: Iterable[str]) -> list[str]:
    """Normalised questions present in both (sorted); empty strings never count."""
    seen = {normalise_question(q) for q in train}
    return sorted({n for n in (normalise_question(q) for q in evaluation) if n and n in seen})
