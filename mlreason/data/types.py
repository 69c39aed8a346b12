"""The one record every dataset is loaded into.

`Example` is a single problem in a single language. `row` numbers the dataset's problems (items):
row `i` is the same problem in every language (by position in MGSM/MSVAMP, by the manifest's
`id_column` in long-format data), so it doubles as the cross-language key.

    from mlreason.data.types import Example
    ex = Example("mgsm", 0, "en", "Janet's ducks ...", "18")
    ex.id  # "mgsm:0"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    """One problem in one language; `answer` is the gold as written in the data ("18", "8.0", "$\\frac{1}{2}$")."""

    dataset: str
    row: int
    language: str
    question: str
    answer: str | None
    solution: str | None = None
    level: str | None = None  # difficulty level when the manifest declares levels (PolyMath)
    key: str | None = None    # the id_column value when the manifest has one
    options: tuple[str, ...] | None = None  # multiple choice: the option texts (answer is then a Latin letter A-D)
    image: Any = None         # an image reference (mlreason.data.multimodal.load_image reads it), or None

    @property
    def id(self) -> str:
        """Language-independent id: the same for row `i` in every language."""
        return f"{self.dataset}:{self.row}"
