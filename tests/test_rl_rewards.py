"""RL rewards: components, product vs sum, user functions, Dissect length reward and injection."""

import pytest

from mlreason.errors import UserError
from mlreason.rl.rewards import Rewarder, combine, injection_slots, load_reward_function, relative_length_reward


def length_bonus(completions, **columns):
    """A user reward in TRL's shape; also checks the columns arrive."""
    assert set(columns) >= {"answer", "language"}
    return [0.5 if len(c) < 20 else 0.0 for c in completions]


def test_combine_product_and_sum():
    comps = {"correctness": [1.0, 1.0, 0.0], "language": [1.0, 0.0, 1.0], "format": [1.0, 1.0, 1.0]}
    w = {"correctness": 1.0, "language": 1.0, "format": 1.0}
    assert combine(comps, w, "product") == [1.0, 0.0, 0.0]
    assert combine(comps, {**w, "language": 0.0}, "product") == [1.0, 1.0, 0.0]  # the no-language ablation
    assert combine(comps, {"correctness": 1.0, "language": 0.5, "format": 0.25}, "sum") == [1.75, 1.25, 0.75]


def test_rewarder_correctness_format_and_user_function():
    r = Rewarder(weights={"correctness": 1.0, "format": 1.0, "language": 0.0}, combine_mode="product",
                 functions=["test_rl_rewards.length_bonus"], function_weights=[2.0])
    texts = ["3+4=7. The answer is 7.", "3+4=7 so 7", "The answer is 8.", "答案是 7。"]
    out = r(texts, answers=["7"] * 4, languages=["en", "en", "en", "zh"],
            columns={"answer": ["7"] * 4, "language": ["en", "en", "en", "zh"]})
    assert out.components["correctness"] == [1.0, 1.0, 0.0, 1.0]
    assert out.components["format"] == [1.0, 0.0, 1.0, 1.0]
    assert out.components["length_bonus"] == [0.0, 0.5, 0.5, 0.5]
    assert out.success == [True, False, False, True]
    assert out.totals == [0.0, 0.0, 0.0, 0.5]  # product includes the user reward
    strict = Rewarder(weights={"correctness": 1.0, "format": 0.0, "language": 0.0}, answer_match="strict")
    res = strict(texts, answers=["7"] * 4, languages=["en", "en", "en", "zh"], columns={})
    assert res.totals == [1.0, 0.0, 0.0, 1.0]


def test_reward_path_that_does_not_import():
    with pytest.raises(UserError, match="cannot import module 'no_such_pkg.rewards'"):
        load_reward_function("no_such_pkg.rewards.fn")
    with pytest.raises(UserError, match="has no callable 'nope'"):
        load_reward_function("test_rl_rewards:nope")
    fn = load_reward_function("test_rl_rewards:length_bonus")
    assert fn(["short"], answer=["1"], language=["en"]) == [0.5]


def test_relative_length_reward_hand_computed():
    # group 1: 3/4 correct (accuracy 0.75) with lengths 100, 300, 1400 -> mean 600
    rewards = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    success = [r > 0 for r in rewards]
    lengths = [100, 300, 1400, 50, 10, 10, 10, 10]
    out = relative_length_reward(rewards, success, lengths, 4)
    # 1 + clip((600-100)/500) = 2.0; 1 + 0.6 = 1.6; 1 + clip(-1.6) = 0.5; group 2 (acc 0.25) unchanged
    assert out == pytest.approx([2.0, 1.6, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0])


def test_injection_slots():
    success = [False] * 8 + [True] + [False] * 7 + [True, True] + [False] * 6
    # group 0: acc 0 -> first failure; group 1: acc 1/8 = 0.125 -> first failure; group 2: 0.25 -> none
    assert injection_slots(success, 8) == [0, 9]
    assert injection_slots(success, 8, count=2) == [0, 1, 9, 10]


def test_language_component_and_lang_product():
    from mlreason.language import get_detector

    r = Rewarder(weights={"correctness": 1.0, "format": 1.0, "language": 1.0},
                 detector=get_detector("lingua", candidates=["en", "zh", "de"]))
    texts = ["小明有3个苹果。他又买了4个。答案是 7。",  # right answer, right language
             "Tom has three apples and buys four more. 答案是 7。",  # right answer, English reasoning
             "Tom hat drei Äpfel und kauft vier dazu. Die Antwort lautet 7."]
    out = r(texts, answers=["7"] * 3, languages=["zh", "zh", "de"], columns={})
    assert out.components["language"] == [1.0, 0.0, 1.0]
    assert out.totals == [1.0, 0.0, 1.0]  # LANG: 1 only if correct AND in language AND formatted
    assert out.success == [True, False, True]
