"""LANG hint guidance: solution segments, decay schedules and the language-adaptive switch.

A training problem's reference solution (in the problem's own language) is cut into segments;
at step t the first floor(p_t * S) of them are shown as a hint. The switch withdraws hints
for good from a resource group once its EMA of a per-prompt success signal reaches tau
(default signal: at least one rollout of the prompt earned the full reward; docs/rl.md says why).
Pure, small, checkpointable; tested in tests/test_rl_hints.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlreason.errors import UserError

SCHEDULES = ("cosine", "linear", "exponential", "step", "constant")
SIGNALS = ("any-success", "mean-success", "mixed")

# The paper's resource groups (LANG, section 3); users may pass their own.
DEFAULT_GROUPS: dict[str, list[str]] = {
    "high": ["en", "de", "fr", "es", "pt", "it"],
    "mid": ["ja", "zh", "ru", "ko", "vi"],
    "low": ["ar", "bn", "th", "sw", "te", "id"],
}

# A sentence ends at . ! ? followed by whitespace (so "8.0" stays whole), or at CJK / Indic full
# stops, which need no space after them. Thai writes no sentence punctuation: a space between two
# Thai letters separates clauses (a space next to a number separates words: "กล่อง 6 ใบ").
# The whitespace stays with the segment before it.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？।])\s*|(?<=[\u0e01-\u0e5b])[ \t]+(?=[\u0e01-\u0e5b])")


def segment_solution(solution: str) -> list[str]:
    """Cut a solution into steps: lines first, then sentences; "".join(segments) == solution."""
    segments: list[str] = []
    for line in solution.splitlines(keepends=True):
        pieces = [m for m in _split_keep(line) if m]
        segments.extend(pieces)
    # Whitespace-only pieces carry no content: fold them into the segment before.
    merged: list[str] = []
    for piece in segments:
        if merged and not piece.strip():
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _split_keep(line: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(line):
        if m.end() == start or m.end() >= len(line):
            continue
        out.append(line[start:m.end()])
        start = m.end()
    out.append(line[start:])
    return out


def hint_fraction(step: int, total_steps: int, schedule: str = "cosine", *, p_max: float = 1.0,
                  exp_rate: float = 5.0, step_at: float = 0.5, constant: float = 1.0) -> float:
    """p_t in [0, p_max]: the share of solution segments shown at training step t (0-based).

    cosine: 0.5 (1 + cos(pi t/T)); linear: 1 - t/T; exponential: exp(-exp_rate t/T);
    step: 1 before step_at*T, then 0; constant: `constant` at every step.
    """
    if schedule not in SCHEDULES:
        raise UserError(f"unknown hint schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    x = min(max(step / max(total_steps, 1), 0.0), 1.0)
    if schedule == "cosine":
        p = 0.5 * (1.0 + math.cos(math.pi * x))
    elif schedule == "linear":
        p = 1.0 - x
    elif schedule == "exponential":
        p = math.exp(-exp_rate * x)
    elif schedule == "step":
        p = 1.0 if x < step_at else 0.0
    else:
        p = constant
    return p_max * p


def num_hint_segments(p: float, num_segments: int) -> int:
    """floor(p * S), guarded against float error (0.7 * 10 = 6.999...)."""
    return max(0, min(num_segments, math.floor(p * num_segments + 1e-9)))


def hint_text(solution: str, p: float, max_segments: int | None = None) -> str:
    """The first floor(p * S) segments of the solution, verbatim (a prefix of it); "" when p = 0.

    max_segments caps S (e.g. to leave the final answer sentence out of every hint). Trailing
    whitespace is dropped: a prompt ending in a bare space or newline token is out of distribution
    (BPE attaches the space to the next word), and the tiny world model then wrote garbage.
    """
    segments = segment_solution(solution)
    usable = segments if max_segments is None else segments[:max_segments]
    return "".join(usable[: num_hint_segments(p, len(usable))]).rstrip()


def group_of(groups: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """language -> group name; a language listed in two groups is an error."""
    out: dict[str, str] = {}
    for name, langs in groups.items():
        for lang in langs:
            if lang in out:
                raise UserError(f"language {lang!r} is in hint groups {out[lang]!r} and {name!r}; list it once")
            out[lang] = name
    return out


def switch_signal(success: Sequence[bool], advantages: Sequence[float], group_size: int,
                  signal: str = "any-success") -> list[float]:
    """Per prompt (one group of `group_size` rollouts each) its value in [0, 1] for the switch.

    any-success: 1 if at least one rollout earned the full reward (LANG's "solved": an
      all-correct group counts, as it should; a mastered language loses its hints);
    mean-success: the share of rollouts that earned it;
    mixed: 1 if any advantage is > 0 (the group has both outcomes). With 0/1 rewards an
      all-correct group has advantages 0 and counts as a failure, so this tracks "share of
      mixed groups", not mastery; kept for comparison with earlier runs.
    >>> success = [True, True, False, False, True, True]
    >>> switch_signal(success, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 2)
    [1.0, 0.0, 1.0]
    >>> switch_signal(success, [0.7, -0.7, 0.0, 0.0, 0.0, 0.0], 2, "mixed")
    [1.0, 0.0, 0.0]
    """
    if signal not in SIGNALS:
        raise UserError(f"unknown switch signal {signal!r}; choose one of {', '.join(SIGNALS)}")
    out = []
    for start in range(0, len(success), group_size):
        group = range(start, start + group_size)
        if signal == "any-success":
            out.append(float(any(success[i] for i in group)))
        elif signal == "mean-success":
            out.append(sum(float(success[i]) for i in group) / group_size)
        else:
            out.append(float(any(advantages[i] > 0 for i in group)))
    return out


@dataclass
class LanguageSwitch:
    """Per resource group: EMA of u(t) and a permanent "hints withdrawn" flag.

    u(t) = mean over the group's prompts at step t of their `switch_signal` value;
    ema <- alpha * ema + (1 - alpha) * u; once ema >= tau the group's hints stop.
    A group with no prompts in a step keeps its EMA.
    """

    groups: dict[str, list[str]]
    alpha: float = 0.9
    tau: float = 0.5
    enabled: bool = True
    ema: dict[str, float] = field(default_factory=dict)
    withdrawn: dict[str, int | None] = field(default_factory=dict)  # group -> step it fired

    def __post_init__(self) -> None:
        self._lang_group = group_of(self.groups)
        for g in self.groups:
            self.ema.setdefault(g, 0.0)
            self.withdrawn.setdefault(g, None)

    def check_languages(self, languages: Iterable[str]) -> None:
        missing = sorted(set(languages) - set(self._lang_group))
        if missing:
            raise UserError(f"training languages {', '.join(missing)} are in no hint group; "
                            f"add them to hints.groups (groups: {', '.join(self.groups)})")

    def hints_on(self, language: str) -> bool:
        if not self.enabled:
            return True
        return self.withdrawn[self._lang_group[language]] is None

    def update(self, step: int, languages: Sequence[str], signal: Sequence[float]) -> dict[str, float]:
        """One entry per prompt: its language and its `switch_signal` value; returns u(t) per group seen."""
        sums: dict[str, list[float]] = {}
        for lang, value in zip(languages, signal, strict=True):
            c = sums.setdefault(self._lang_group[lang], [0.0, 0.0])
            c[0] += float(value)
            c[1] += 1.0
        u = {g: total / n for g, (total, n) in sums.items()}
        for g, value in u.items():
            self.ema[g] = self.alpha * self.ema[g] + (1.0 - self.alpha) * value
            if self.enabled and self.withdrawn[g] is None and self.ema[g] >= self.tau:
                self.withdrawn[g] = step
        return u

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for g in self.groups:
            out[f"switch/{g}/ema"] = self.ema[g]
            out[f"switch/{g}/hints_on"] = float(self.withdrawn[g] is None)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"ema": dict(self.ema), "withdrawn": dict(self.withdrawn)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ema.update(state["ema"])
        self.withdrawn.update(state["withdrawn"])
