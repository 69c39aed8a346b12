"""LANG hints: segments, schedules at chosen steps, the adaptive switch firing step."""

import math

import pytest

from mlreason.errors import UserError
from mlreason.rl.hints import (
    LanguageSwitch,
    hint_fraction,
    hint_text,
    num_hint_segments,
    segment_solution,
    switch_signal,
)

ZH = "小明有3个苹果。他又买了4个。3+4=7。答案是 7。"
EN = "Tom has 3 apples. He buys 4.5 more!\nSo 3 + 4.5 = 7.5.\nThe answer is 7.5."


def test_segments_cut_at_boundaries():
    assert segment_solution(ZH) == ["小明有3个苹果。", "他又买了4个。", "3+4=7。", "答案是 7。"]
    assert segment_solution(EN) == ["Tom has 3 apples. ", "He buys 4.5 more!\n", "So 3 + 4.5 = 7.5.\n",
                                    "The answer is 7.5."]  # 4.5 / 7.5 are not sentence ends
    # Thai has no sentence punctuation: a space between Thai letters ends a clause, one beside a number does not
    assert segment_solution("มีกล่อง 6 ใบ กล่องละ 4 ลูก ดังนั้น 6 * 4 = 24 คำตอบคือ 24") == [
        "มีกล่อง 6 ใบ ", "กล่องละ 4 ลูก ", "ดังนั้น 6 * 4 = 24 คำตอบคือ 24"]
    for s in (ZH, EN, "a\n\nb", "x"):
        assert "".join(segment_solution(s)) == s


def test_hint_text_prefix_and_zero():
    assert hint_text(ZH, 0.0) == ""
    assert hint_text(ZH, 0.5) == "小明有3个苹果。他又买了4个。"
    assert hint_text(ZH, 0.74) == "小明有3个苹果。他又买了4个。"  # floor(0.74*4) = 2
    assert hint_text(ZH, 1.0) == ZH
    assert hint_text(ZH, 1.0, max_segments=3) == "小明有3个苹果。他又买了4个。3+4=7。"
    assert num_hint_segments(0.7, 10) == 7  # 0.7*10 = 6.999.. in floats


def test_schedules_at_chosen_steps():
    assert hint_fraction(0, 100) == 1.0
    assert hint_fraction(50, 100) == pytest.approx(0.5)
    assert hint_fraction(25, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # 0.85355
    assert hint_fraction(100, 100) == pytest.approx(0.0)
    assert hint_fraction(150, 100) == pytest.approx(0.0)  # past the horizon: no hints
    assert hint_fraction(30, 100, "linear") == pytest.approx(0.7)
    assert hint_fraction(50, 100, "exponential", exp_rate=2.0) == pytest.approx(math.exp(-1))
    assert hint_fraction(49, 100, "step") == 1.0 and hint_fraction(50, 100, "step") == 0.0
    assert hint_fraction(99, 100, "constant", constant=0.3) == 0.3
    assert hint_fraction(0, 100, p_max=0.8) == pytest.approx(0.8)
    with pytest.raises(UserError, match="unknown hint schedule 'sigmoid'"):
        hint_fraction(0, 10, "sigmoid")


def test_switch_signal_counts_all_correct_groups_as_success():
    # 3 prompts x 4 rollouts with 0/1 rewards: all correct, mixed, all wrong
    success = [True] * 4 + [True, False, False, False] + [False] * 4
    adv = [0.0] * 4 + [1.5, -0.5, -0.5, -0.5] + [0.0] * 4  # an all-correct group has advantages 0
    assert switch_signal(success, adv, 4) == [1.0, 1.0, 0.0]  # default: any rollout earned the full reward
    assert switch_signal(success, adv, 4, "mean-success") == [1.0, 0.25, 0.0]
    assert switch_signal(success, adv, 4, "mixed") == [0.0, 1.0, 0.0]  # the old rule: mastery counts as failure
    with pytest.raises(UserError, match="unknown switch signal 'best'"):
        switch_signal(success, adv, 4, "best")


def test_mastered_group_loses_hints_only_under_the_default_signal():
    # every en prompt is solved by all 8 rollouts at every step: advantages are all 0
    success, adv = [True] * 8, [0.0] * 8
    fired = {}
    for signal in ("any-success", "mixed"):
        sw = LanguageSwitch({"high": ["en"]}, alpha=0.9, tau=0.5)
        for step in range(30):
            sw.update(step, ["en"], switch_signal(success, adv, 8, signal))
        fired[signal] = sw.withdrawn["high"]
    # ema_k = 1 - 0.9^k: k=6 -> 0.4686, k=7 -> 0.5217, so the 7th update (step 6) fires
    assert fired == {"any-success": 6, "mixed": None}


def test_switch_fires_when_ema_crosses_tau():
    sw = LanguageSwitch({"high": ["en"], "low": ["sw", "th"]}, alpha=0.9, tau=0.5)
    fired_at = None
    for step in range(12):
        # every English prompt succeeds; a quarter of the low-group prompts do (mean-success values)
        u = sw.update(step, ["en", "en", "sw", "th", "sw", "th"], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
        assert u == {"high": 1.0, "low": 0.25}  # u(t) per group, logged as switch/<group>/signal
        if fired_at is None and not sw.hints_on("en"):
            fired_at = step
        if step == 0:
            assert sw.ema == pytest.approx({"high": 0.1, "low": 0.1 * 0.25})
    assert fired_at == 6
    assert sw.withdrawn["high"] == 6
    assert sw.hints_on("sw") and sw.ema["low"] == pytest.approx(0.25 * (1 - 0.9 ** 12))
    for step in range(12, 30):  # withdrawal is permanent even when the EMA falls back
        assert sw.update(step, ["en"], [0.0]) == {"high": 0.0}  # a group without prompts keeps its EMA
    assert sw.ema["high"] < 0.5 and not sw.hints_on("en")
    assert sw.ema["low"] == pytest.approx(0.25 * (1 - 0.9 ** 12))
    restored = LanguageSwitch({"high": ["en"], "low": ["sw", "th"]})
    restored.load_state_dict(sw.state_dict())
    assert restored.metrics() == sw.metrics()


def test_switch_bad_groups():
    with pytest.raises(UserError, match="in no hint group"):
        LanguageSwitch({"high": ["en"]}).check_languages(["en", "sw"])
    with pytest.raises(UserError, match="list it once"):
        LanguageSwitch({"a": ["en"], "b": ["en"]})
    off = LanguageSwitch({"high": ["en"]}, enabled=False)
    for step in range(20):
        off.update(step, ["en"], [1.0])
    assert off.hints_on("en") and off.ema["high"] > 0.5
