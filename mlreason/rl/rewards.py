"""RL rewards: pure functions `(completions, **columns) -> list[float]`, combined by the Rewarder.

The built-ins have TRL's reward-function shape, so they mix freely with user functions
(dotted import paths; columns: prompts, answer, language, question, solution, dataset, row):
- `correctness_reward`: the answer equals the gold one (strict: after the answer phrase or in
  \\boxed{}, which is what `format_reward` checks; flexible: the last number);
- `format_reward`: the strict answer can be read at all;
- `language_reward`: the evaluation's LC rule (`mlreason.language.check_consistency`, every
  known language a candidate) AND at least `min_letters` letters of the prompt language's script.
LANG's reward is their product: 1 only if correct AND in the prompt's language AND formatted;
`combine="sum"` weights them instead. Also the Dissect options (relative length reward,
offline-injection slots). Examples run as doctests in tests/test_rl_rewards.py.
"""

from __future__ import annotations

import functools
import importlib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlreason.errors import UserError

RewardFn = Callable[..., list[float]]
BUILTIN = ("correctness", "language", "format")

# Unicode-name prefixes of the letters that count as a language's own script (default: Latin).
# A Han character or Hangul syllable carries about a word, so it counts as two letters.
_SCRIPTS: dict[str, tuple[str, ...]] = {
    "zh": ("CJK UNIFIED",), "ja": ("CJK UNIFIED", "HIRAGANA", "KATAKANA"), "ko": ("HANGUL",),
    "ru": ("CYRILLIC",), "th": ("THAI",), "bn": ("BENGALI",), "te": ("TELUGU",), "ar": ("ARABIC",),
}
_DOUBLE = ("CJK UNIFIED", "HANGUL SYLLABLE")


def script_letters(text: str, language: str) -> int:
    """Letters (and combining vowel signs) of `language`'s script in text; Han / Hangul syllables count 2.

    >>> script_letters("So 3 + 4 = 7.", "en"), script_letters("3 + 4 = 7", "en")
    (2, 0)
    >>> script_letters("所以 3 + 4 = 7。", "zh")
    4
    """
    prefixes = _SCRIPTS.get(language, ("LATIN",))
    count = 0
    for ch in text:
        if unicodedata.category(ch)[0] not in "LM":
            continue
        name = unicodedata.name(ch, "")
        if name.startswith(prefixes):
            count += 2 if name.startswith(_DOUBLE) else 1
    return count


def correctness_reward(completions: list[str], answer: list[str], language: list[str], *, strict: bool = True,
                       **_: Any) -> list[float]:
    """1.0 where the completion's answer equals the gold answer, else 0.0.

    strict reads only the number after the language's answer phrase or in \\boxed{}; flexible
    (strict=False) reads the last number anywhere, which also rewards a wrong stated answer
    followed by the right number:
    >>> texts = ["Die Antwort lautet 12. Dann 15.", "3 + 4 = 7", "So 7. The answer is 7."]
    >>> correctness_reward(texts, answer=["15", "7", "7"], language=["de", "en", "en"])
    [0.0, 0.0, 1.0]
    >>> correctness_reward(texts, answer=["15", "7", "7"], language=["de", "en", "en"], strict=False)
    [1.0, 1.0, 1.0]
    """
    from mlreason.answers import score_answer

    scores = [score_answer(c, a, lang) for c, a, lang in zip(completions, answer, language, strict=True)]
    return [float(s.strict_correct if strict else s.flexible_correct) for s in scores]


def format_reward(completions: list[str], language: list[str], **_: Any) -> list[float]:
    """1.0 where a strict answer can be read (the language's answer phrase + a number, or \\boxed{}).

    >>> format_reward(["So 3 + 4 = 7. The answer is 7.", "3 + 4 = 7", "答案是 7。"], language=["en", "en", "zh"])
    [1.0, 0.0, 1.0]
    """
    from mlreason.answers import extract_strict

    return [float(extract_strict(c, lang) is not None) for c, lang in zip(completions, language, strict=True)]


def language_reward(completions: list[str], language: list[str], *, detector: Any, min_chars: int = 15,
                    min_letters: int = 20, hint: list[str] | None = None, rule: str = "polymath",
                    **_: Any) -> list[float]:
    """1.0 where the completion is in the prompt's language, else 0.0.

    Both must hold: the evaluation's LC rule on the completion (`check_consistency` with
    `detector`, which should know every language: restricted to the training languages it calls
    English "German") and at least `min_letters` letters of the language's script
    (`script_letters`) in the response, so a bare equation, which the LC rule lets through as
    too short to judge, earns nothing. The response is the hint the prompt ends with (column
    `hint`, written in the problem's language) followed by the completion: with most of the
    solution shown, "คำตอบคือ 7" is a consistent ending, not too little text. `rule` is the LC
    rule (mlreason.language: "polymath", the evaluation's default, or "prose").
    >>> from mlreason.language import get_detector
    >>> texts = ["Tom hat 3 Äpfel und kauft 4 dazu, also 3 + 4 = 7. Die Antwort lautet 7.",
    ...          "Tom has 3 apples and buys 4 more, so 3 + 4 = 7. Die Antwort lautet 7.",
    ...          "3 + 4 = 7. 7 * 2 = 14. 14"]
    >>> language_reward(texts, language=["de"] * 3, detector=get_detector("langdetect"))
    [1.0, 0.0, 0.0]
    >>> language_reward(["คำตอบคือ 7"], language=["th"], detector=get_detector("langdetect"),
    ...                 hint=["มานีมีแอปเปิล 3 ลูก ซื้อเพิ่มอีก 4 ลูก ดังนั้น 3 + 4 = 7"])
    [1.0]
    """
    from mlreason.language import check_consistency

    out = []
    for text, lang, shown in zip(completions, language, hint or [""] * len(completions), strict=True):
        ok = (script_letters(shown + text, lang) >= min_letters
              and check_consistency(text, lang, detector, min_chars=min_chars, rule=rule).overall)
        out.append(float(ok))
    return out


def load_reward_function(path: str) -> RewardFn:
    """`pkg.mod:fn` or `pkg.mod.fn` -> the callable; anything that does not import is a UserError."""
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attr:
        raise UserError(f"reward function {path!r} must be a dotted path like mypkg.rewards.my_reward")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"reward function {path!r}: cannot import module {module_name!r} ({e}); "
                        "check the path and that it is on PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"reward function {path!r}: module {module_name!r} has no callable {attr!r}")
    return fn


def combine(components: dict[str, list[float]], weights: dict[str, float], mode: str = "product") -> list[float]:
    """Per-sample total: product of the components with weight > 0, or the weighted sum.

    >>> combine({"correctness": [1.0, 1.0], "language": [1.0, 0.0]}, {"correctness": 1.0, "language": 1.0})
    [1.0, 0.0]
    """
    active = [k for k in components if weights.get(k, 0.0) > 0]
    n = len(next(iter(components.values()))) if components else 0
    totals = []
    for i in range(n):
        if mode == "product":
            value = 1.0
            for k in active:
                value *= components[k][i]
        else:
            value = sum(weights[k] * components[k][i] for k in active)
        totals.append(float(value))
    return totals


def relative_length_reward(rewards: Sequence[float], success: Sequence[bool], lengths: Sequence[int],
                           group_size: int, *, min_accuracy: float = 0.75, scale: float = 500.0) -> list[float]:
    """Dissect: in a group with accuracy >= min_accuracy, a correct response gets
    1 + clip((mean length of the group's correct responses - its length) / scale, -0.5, 1)."""
    out = list(map(float, rewards))
    for start in range(0, len(out), group_size):
        idx = range(start, start + group_size)
        correct = [i for i in idx if success[i]]
        if not correct or len(correct) / group_size < min_accuracy:
            continue
        mean_len = sum(lengths[i] for i in correct) / len(correct)
        for i in correct:
            out[i] = 1.0 + min(max((mean_len - lengths[i]) / scale, -0.5), 1.0)
    return out


def injection_slots(success: Sequence[bool], group_size: int, available: Sequence[int], *,
                    max_accuracy: float = 0.125, count: int | None = None) -> list[tuple[int, int]]:
    """Dissect offline injection: (rollout index, stored-solution index) pairs to replace.

    In each group whose accuracy is <= max_accuracy, the first failed rollouts are replaced by
    the group's stored correct solutions, one each: all `available[g]` of them by default
    (Dissect's setting), at most `count` when given. A copy of the same solution twice would add
    nothing, so a problem with one stored solution gets one slot.
    >>> injection_slots([False] * 4 + [True, False, False, False], 4, available=[2, 1])
    [(0, 0), (1, 1)]
    """
    slots = []
    for g, start in enumerate(range(0, len(success), group_size)):
        idx = range(start, start + group_size)
        if sum(success[i] for i in idx) / group_size > max_accuracy:
            continue
        n = available[g] if count is None else min(count, available[g])
        slots.extend((i, k) for k, i in enumerate([i for i in idx if not success[i]][:n]))
    return slots


@dataclass
class RewardResult:
    totals: list[float]
    components: dict[str, list[float]]
    success: list[bool]  # every active built-in component holds ("earned the full reward")
    weights: dict[str, float] = field(default_factory=dict)


class Rewarder:
    """Scores completions with reward functions: one loop, no per-component branches.

    functions: name -> fn(completions, **columns) -> list[float]; weights: name -> weight
    (product mode uses the components with weight > 0); success holds where every built-in
    component among `functions` is > 0.
    """

    def __init__(
        self, functions: dict[str, RewardFn], weights: dict[str, float], combine_mode: str = "product"
    ) -> None:
        self.functions = dict(functions)
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.functions}
        self.combine_mode = combine_mode
        self.success_keys = [k for k in BUILTIN if k in self.functions]

    def __call__(self, completions: list[str], columns: dict[str, list[Any]]) -> RewardResult:
        comps: dict[str, list[float]] = {}
        for name, fn in self.functions.items():
            values = fn(completions, **columns)
            if len(values) != len(completions):
                raise UserError(f"reward function {name!r} returned {len(values)} values for {len(completions)} "
                                "completions; return one float per completion")
            comps[name] = [float(v) for v in values]
        success = [all(comps[k][i] > 0 for k in self.success_keys) for i in range(len(completions))]
        return RewardResult(combine(comps, self.weights, self.combine_mode), comps, success, self.weights)


def build_rewarder(weights: dict[str, float], *, combine_mode: str = "product", strict: bool = True,
                   detector: Any = None, min_chars: int = 15, min_letters: int = 20, functions: Sequence[str] = (),
                   function_weights: Sequence[float] | None = None) -> Rewarder:
    """The built-ins with weight > 0 (their options bound) plus user functions by import path."""
    builtins: dict[str, RewardFn] = {
        "correctness": functools.partial(correctness_reward, strict=strict),
        "format": format_reward,
        "language": functools.partial(language_reward, detector=detector, min_chars=min_chars,
                                      min_letters=min_letters),
    }
    fns = {k: fn for k, fn in builtins.items() if weights.get(k, 0.0) > 0}
    all_weights = {k: weights[k] for k in fns}
    for path, w in zip(functions, function_weights or [1.0] * len(functions), strict=True):
        name = path.rpartition(":")[2].rpartition(".")[2]
        fns[name], all_weights[name] = load_reward_function(path), w
    return Rewarder(fns, all_weights, combine_mode)
