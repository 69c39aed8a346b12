"""Scoring completions: one verdict per completion and the per-language table, shared by `mlreason
evaluate` (right after generation) and `mlreason score` (re-scoring saved completions), so both apply
exactly the same rules.

    rules = ScoringRules(rules=("polymath", "prose"))          # headline LC rule first
    v = verdict("... The answer is 18.", "18", "en", "en", rules)   # strict/flexible/LC flags
    table = aggregate(records, k=1, high=[...], low=[...])      # {dataset: {per_language, averages, ...}}

A record is {dataset, language, row, run, level?, ...verdict}. LC keys: `lc`, `lc_thinking`,
`lc_answer`, `lc_acc` for the headline rule, `lc@prose`, `lc_acc@prose`, ... for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlreason.answers import AnswerScore, score_answer
from mlreason.evaluate.metrics import add_averages, summarize_language, weighted_accuracy
from mlreason.language import DEFAULT_RULE, RULES, Detector, check_consistency, default_detector, get_detector

ACCURACY = {"acc_strict": "strict_correct", "acc_flexible": "flexible_correct"}


@dataclass(frozen=True)
class ScoringRules:
    rules: tuple[str, ...] = (DEFAULT_RULE,)  # LC rules; the first is the headline `lc`
    detector: str | None = None               # None: each rule's own detector (polymath: langdetect)
    min_chars: int = 15
    headline: str = "flexible"                # which extraction LC&Acc uses

    def suffix(self, rule: str) -> str:
        return "" if rule == self.rules[0] else f"@{rule}"

    def detectors(self) -> dict[str, Detector]:
        """One detector per rule, each considering every language (never only the run's)."""
        return {rule: get_detector(self.detector or default_detector(rule)) for rule in self.rules}


def verdict(completion: str, gold: str | None, answer_language: str, lc_language: str, rules: ScoringRules,
            detectors: dict[str, Detector] | None = None, answer_prefix: str = "",
            options: Sequence[str] | None = None) -> dict[str, Any]:
    """Extraction, correctness and LC (thinking, answer, overall, with accuracy) of one completion.

    With `options` the question is multiple choice: `gold` is a Latin letter and extraction is
    mlreason.evaluate.choice's (preds are Latin letters)."""
    detectors = detectors or rules.detectors()
    if options is not None:
        s = score_choice(answer_prefix + completion, gold, answer_language, list(options))
    else:
        s = score_answer(answer_prefix + completion, gold, answer_language)
    correct = s.flexible_correct if rules.headline == "flexible" else s.strict_correct
    out: dict[str, Any] = {"strict_pred": s.strict_pred, "flexible_pred": s.flexible_pred,
                           "strict_correct": bool(s.strict_correct), "flexible_correct": bool(s.flexible_correct)}
    for rule in rules.rules:
        c = check_consistency(completion, lc_language, detectors[rule], rules.min_chars, rule=rule)
        x = rules.suffix(rule)
        out.update({f"lc_thinking{x}": c.thinking, f"lc_answer{x}": bool(c.answer), f"lc{x}": bool(c.overall),
                    f"lc_acc{x}": bool(c.overall and correct)})
    return out


def score_choice(text: str, gold: str | None, language: str, options: list[str]) -> AnswerScore:
    """Strict and flexible option extraction as Latin letters, each checked against the gold letter."""
    from mlreason.evaluate.choice import LATIN, extract_choice

    found = extract_choice(text, language, options)
    strict, flexible = (None if i is None else LATIN[i] for i in (found.strict, found.flexible))
    return AnswerScore(strict, flexible, gold is not None and strict == gold, gold is not None and flexible == gold)


def _flag(value: Any) -> float:
    # an absent thinking part (None) counts as consistent, as PolyMath's empty thinking_pred does
    return 1.0 if value is None else float(bool(value))


def _metric_keys(records: list[dict[str, Any]]) -> dict[str, str]:
    """metric -> record key: accuracies, then every LC key the records carry; thinking only with </think>."""
    keys = dict(ACCURACY)
    for key in records[0]:
        base = key.split("@")[0]
        if base in ("lc", "lc_acc", "lc_answer") or (
                base == "lc_thinking" and any(r.get(key) is not None for r in records)):
            keys[key] = key
    if not any(r.get("lc_thinking") is not None for r in records):  # no </think>: the answer is the whole text
        keys = {m: k for m, k in keys.items() if not m.startswith("lc_answer")}
    return keys


def _matrices(records: list[dict[str, Any]], keys: dict[str, str], k: int) -> tuple[dict[str, np.ndarray], list]:
    rows = sorted({r["row"] for r in records})
    index = {row: i for i, row in enumerate(rows)}
    mats = {name: np.zeros((len(rows), k)) for name in keys}
    levels: list[Any] = [None] * len(rows)
    for r in records:
        i = index[r["row"]]
        levels[i] = r.get("level")
        for name, key in keys.items():
            mats[name][i, r["run"]] = _flag(r.get(key))
    return mats, levels


def summarize(records: list[dict[str, Any]], k: int, weights: dict[str, float] | None = None) -> dict[str, float]:
    """Metrics of one language: means/std/pass@k, LC per part, per-level and difficulty-weighted accuracy."""
    keys = _metric_keys(records)
    mats, levels = _matrices(records, keys, k)
    out = summarize_language(mats)
    if weights and any(level is not None for level in levels):
        for name in ACCURACY:
            mean, std, per_level = weighted_accuracy(mats[name], levels, weights)
            out[f"{name}_weighted"], out[f"{name}_weighted_std"] = mean, std
            out.update({f"{name}_level_{level}": acc for level, acc in per_level.items()})
    return out


def aggregate(records: list[dict[str, Any]], k: int, high: Sequence[str], low: Sequence[str],
              weights: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Records -> {dataset: {per_language, averages, n_questions}} with mean/std over the k runs."""
    out: dict[str, Any] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        per_lang: dict[str, dict[str, float]] = {}
        counts: dict[str, int] = {}
        for lang in dict.fromkeys(r["language"] for r in records if r["dataset"] == dataset):
            rs = [r for r in records if r["dataset"] == dataset and r["language"] == lang]
            per_lang[lang] = summarize(rs, k, (weights or {}).get(dataset))
            counts[lang] = len({r["row"] for r in rs})
        out[dataset] = {"per_language": per_lang, "averages": add_averages(per_lang, high, low), "n_questions": counts}
    return out


def check_rules(rules: Sequence[str]) -> tuple[str, ...]:
    """Validated, de-duplicated rule names, headline first."""
    from mlreason.errors import UserError

    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        raise UserError(f"unknown language-consistency rule {', '.join(unknown) or '(none)'}; "
                        f"choose from: {', '.join(RULES)}")
    return tuple(dict.fromkeys(rules))
