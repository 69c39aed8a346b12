"""RL rewards: the pure reward functions (and their docstring examples), combination, user functions,
Dissect length reward and injection slots."""

import doctest

import pytest

from mlreason.errors import UserError
from mlreason.rl import rewards
from mlreason.rl.rewards import (
    build_rewarder,
    combine,
    correctness_reward,
    format_reward,
    injection_slots,
    language_reward,
    load_reward_function,
    relative_length_reward,
    script_letters,
)


def length_bonus(completions, **columns):
    """A user reward in TRL's shape; also checks the columns arrive."""
    assert set(columns) >= {"answer", "language"}
    return [0.5 if len(c) < 20 else 0.0 for c in completions]


@pytest.fixture(scope="module")
def detector():
    from mlreason.language import get_detector

    return get_detector("langdetect")  # every known language a candidate, as in the evaluation


def test_docstring_examples_hold():
    result = doctest.testmod(rewards, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0, result


def test_issue_examples_get_the_expected_components(detector):
    # 1. a stated answer that contradicts the last number: strict reads 12 (wrong), flexible would read 15
    stated = "Anna hat 12 Äpfel und kauft 3 dazu. Die Antwort lautet 12. Dann 15."
    # 2. English reasoning ending in the native answer phrase
    english = "Anna has 12 apples and buys 3 more, so 12 + 3 = 15. Die Antwort lautet 15."
    # 3. an equation with no words: too short for the LC rule to judge, so it only fails on letters
    equation = "12 + 3 = 15. 15 * 1 = 15. Die Antwort lautet 15."
    right = "Anna hat 12 Äpfel und kauft 3 dazu, also 12 + 3 = 15. Die Antwort lautet 15."
    texts, cols = [stated, english, equation, right], {"answer": ["15"] * 4, "language": ["de"] * 4}
    r = build_rewarder({"correctness": 1.0, "language": 1.0, "format": 1.0}, strict=True, detector=detector)
    out = r(texts, cols)
    assert out.components["correctness"] == [0.0, 1.0, 1.0, 1.0]
    assert out.components["format"] == [1.0, 1.0, 1.0, 1.0]
    assert out.components["language"] == [1.0, 0.0, 0.0, 1.0]
    assert out.totals == [0.0, 0.0, 0.0, 1.0] and out.success == [False, False, False, True]
    assert correctness_reward([stated], **{k: v[:1] for k, v in cols.items()}, strict=False) == [1.0]
    assert script_letters(equation, "de") == 16  # "Die Antwort lautet": below the default minimum of 20
    # under the prose rule the equation passes LC (<= 15 characters of prose once digits and operators go), so
    # only the letter minimum stops it; PolyMath's rule strips $...$ only and judges the whole line
    assert language_reward([equation], language=["de"], detector=detector, min_letters=0, rule="prose") == [1.0]
    assert language_reward([equation], language=["de"], detector=detector, rule="prose") == [0.0]


def test_native_scripts_and_ideographs():
    assert script_letters("ตอนแรกมานีมีแอปเปิล 7 ลูก", "th") == 19 + 3  # Thai letters and vowel signs
    assert script_letters("Сначала у Ани 7 яблок.", "ru") == 16
    assert script_letters("Sanjay has 7 apples", "ru") == 0  # Latin letters are not Russian
    assert script_letters("小明原来有7个苹果。", "zh") == 16  # 8 Han characters, 2 each


def test_combine_product_and_sum():
    comps = {"correctness": [1.0, 1.0, 0.0], "language": [1.0, 0.0, 1.0], "format": [1.0, 1.0, 1.0]}
    w = {"correctness": 1.0, "language": 1.0, "format": 1.0}
    assert combine(comps, w, "product") == [1.0, 0.0, 0.0]
    assert combine(comps, {**w, "language": 0.0}, "product") == [1.0, 1.0, 0.0]  # the no-language ablation
    assert combine(comps, {"correctness": 1.0, "language": 0.5, "format": 0.25}, "sum") == [1.75, 1.25, 0.75]


def test_rewarder_loops_over_functions_with_user_function():
    r = build_rewarder({"correctness": 1.0, "format": 1.0, "language": 0.0}, strict=True,
                       functions=["test_rl_rewards.length_bonus"], function_weights=[2.0])
    assert list(r.functions) == ["correctness", "format", "length_bonus"]  # weight 0 = not computed
    texts = ["3+4=7. The answer is 7.", "3+4=7 so 7", "The answer is 8.", "答案是 7。"]
    out = r(texts, {"answer": ["7"] * 4, "language": ["en", "en", "en", "zh"]})
    assert out.components["correctness"] == [1.0, 0.0, 0.0, 1.0]  # strict: "so 7" has no answer phrase
    assert out.components["format"] == [1.0, 0.0, 1.0, 1.0]
    assert out.components["length_bonus"] == [0.0, 0.5, 0.5, 0.5]
    assert out.success == [True, False, False, True]
    assert out.totals == [0.0, 0.0, 0.0, 0.5]  # product includes the user reward
    flexible = build_rewarder({"correctness": 1.0}, strict=False)
    assert flexible(texts, {"answer": ["7"] * 4, "language": ["en", "en", "en", "zh"]}).totals == [1.0, 1.0, 0.0, 1.0]
    assert format_reward(["\\boxed{7}"], language=["th"]) == [1.0]


def test_config_resolves_strict_and_rejects_flexible_with_format():
    from mlreason.config import load_config
    from mlreason.rl.config import RLConfig

    assert load_config(RLConfig, None, []).strict_answers  # format on -> strict
    assert not load_config(RLConfig, None, ["reward.format=0"]).strict_answers
    assert load_config(RLConfig, None, ["reward.format=0", "reward.answer_match=strict"]).strict_answers
    with pytest.raises(UserError, match="answer_match=flexible with reward.format"):
        load_config(RLConfig, None, ["reward.answer_match=flexible"])


def test_reward_path_that_does_not_import():
    with pytest.raises(UserError, match="cannot import module 'no_such_pkg.rewards'"):
        load_reward_function("no_such_pkg.rewards.fn")
    with pytest.raises(UserError, match="has no callable 'nope'"):
        load_reward_function("test_rl_rewards:nope")
    fn = load_reward_function("test_rl_rewards:length_bonus")
    assert fn(["short"], answer=["1"], language=["en"]) == [0.5]
    bad = build_rewarder({}, functions=["test_rl_rewards:length_bonus"])
    bad.functions["length_bonus"] = lambda completions, **_: [1.0]
    with pytest.raises(UserError, match="returned 1 values for 2 completions"):
        bad(["a", "b"], {"answer": ["1", "1"], "language": ["en", "en"]})


def test_relative_length_reward_hand_computed():
    # group 1: 3/4 correct (accuracy 0.75) with lengths 100, 300, 1400 -> mean 600
    rewards_ = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    success = [r > 0 for r in rewards_]
    lengths = [100, 300, 1400, 50, 10, 10, 10, 10]
    out = relative_length_reward(rewards_, success, lengths, 4)
    # 1 + clip((600-100)/500) = 2.0; 1 + 0.6 = 1.6; 1 + clip(-1.6) = 0.5; group 2 (acc 0.25) unchanged
    assert out == pytest.approx([2.0, 1.6, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0])


def test_injection_slots_default_to_all_available():
    success = [False] * 8 + [True] + [False] * 7 + [True, True] + [False] * 6
    # group 0: acc 0; group 1: acc 1/8 = 0.125 (both eligible); group 2: 0.25 -> none
    assert injection_slots(success, 8, available=[1, 1, 1]) == [(0, 0), (9, 0)]
    # every stored solution by default (here 3 and 2), one failed rollout each, in order
    assert injection_slots(success, 8, available=[3, 2, 5]) == [(0, 0), (1, 1), (2, 2), (9, 0), (10, 1)]
    assert injection_slots(success, 8, available=[3, 2, 5], count=1) == [(0, 0), (9, 0)]
    assert injection_slots(success, 8, available=[0, 2, 5]) == [(9, 0), (10, 1)]  # nothing stored, nothing injected
    assert injection_slots([False, True], 2, available=[9]) == []  # acc 0.5 is above 0.125
