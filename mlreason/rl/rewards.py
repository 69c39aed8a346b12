"""RL rewards: correctness, language consistency, format, user functions, and their combination.

LANG's reward is the product (1 only if the answer is correct AND the response is in the
prompt's language AND the format is right); `combine="sum"` weights the components instead.
A user reward is a dotted import path to `fn(completions, **columns) -> list[float]` (TRL's
shape; columns: prompts, answer, language, question, dataset, row). Also the Dissect options
(relative length reward, offline-injection choice). Tested in tests/test_rl_rewards.py.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlreason.errors import UserError

RewardFn = Callable[..., list[float]]
BUILTIN = ("correctness", "language", "format")


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
    """Per-sample total: product of the components with weight > 0, or the weighted sum."""
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


def injection_slots(success: Sequence[bool], group_size: int, *, max_accuracy: float = 0.125,
                    count: int = 1) -> list[int]:
    """Dissect offline injection: indices of failed rollouts to replace with a stored correct
    solution, `count` per group whose accuracy is <= max_accuracy (the first failures in order)."""
    slots = []
    for start in range(0, len(success), group_size):
        idx = range(start, start + group_size)
        if sum(success[i] for i in idx) / group_size > max_accuracy:
            continue
        slots.extend([i for i in idx if not success[i]][:count])
    return slots


@dataclass
class RewardResult:
    totals: list[float]
    components: dict[str, list[float]]
    success: list[bool]  # every active built-in component holds
    weights: dict[str, float] = field(default_factory=dict)


class Rewarder:
    """Scores completions with the built-in components and any user functions."""

    def __init__(self, *, weights: dict[str, float], combine_mode: str = "product", answer_match: str = "flexible",
                 detector: Any = None, min_chars: int = 15, functions: Sequence[str] = (),
                 function_weights: Sequence[float] | None = None) -> None:
        self.weights = dict(weights)
        self.combine_mode = combine_mode
        self.answer_match = answer_match
        self.detector = detector
        self.min_chars = min_chars
        self.functions = [(p.rpartition(":")[2].rpartition(".")[2], load_reward_function(p)) for p in functions]
        for (name, _), w in zip(self.functions, function_weights or [1.0] * len(self.functions), strict=True):
            self.weights[name] = w

    def __call__(self, completions: list[str], *, answers: list[str], languages: list[str],
                 columns: dict[str, list[Any]]) -> RewardResult:
        from mlreason.answers import score_answer

        comps: dict[str, list[float]] = {}
        if self.weights.get("correctness", 0) > 0 or self.weights.get("format", 0) > 0:
            scores = [score_answer(c, a, lang) for c, a, lang in zip(completions, answers, languages, strict=True)]
            key = "strict_correct" if self.answer_match == "strict" else "flexible_correct"
            comps["correctness"] = [float(getattr(s, key)) for s in scores]
            comps["format"] = [float(s.strict_pred is not None) for s in scores]
        if self.weights.get("language", 0) > 0:
            comps["language"] = self._language(completions, languages)
        for name, fn in self.functions:
            values = fn(completions, **columns)
            if len(values) != len(completions):
                raise UserError(f"reward function {name!r} returned {len(values)} values for {len(completions)} "
                                "completions; return one float per completion")
            comps[name] = [float(v) for v in values]
        active = [k for k in BUILTIN if self.weights.get(k, 0) > 0 and k in comps]
        success = [all(comps[k][i] > 0 for k in active) for i in range(len(completions))]
        return RewardResult(combine(comps, self.weights, self.combine_mode), comps, success, self.weights)

    def _language(self, completions: list[str], languages: list[str]) -> list[float]:
        from mlreason.language import check_consistency

        return [float(check_consistency(c, lang, self.detector, min_chars=self.min_chars).overall)
                for c, lang in zip(completions, languages, strict=True)]
