"""LANG hints in prompts: the problem's own language, cut at segment boundaries, bare at p = 0."""

from mlreason.data.types import Example
from mlreason.rl.hints import segment_solution
from mlreason.rl.rollout import DataCursor, hinted_prompts, join_hint

EXS = [
    Example("w", 0, "en", "Tom has 3 apples and buys 4. How many?", "7",
            "Tom has 3 apples. He buys 4 more. 3 + 4 = 7. The answer is 7."),
    Example("w", 0, "zh", "小明有3个苹果，又买了4个。有多少个？", "7", "小明有3个苹果。他又买了4个。3+4=7。答案是 7。"),
    Example("w", 0, "th", "ทอมมีแอปเปิ้ล 3 ผล ซื้อเพิ่ม 4 ผล มีกี่ผล", "7",
            "ทอมมีแอปเปิ้ล 3 ผล\nเขาซื้อเพิ่ม 4 ผล\n3 + 4 = 7\nคำตอบคือ 7"),
]
BASE = ["Question: " + EXS[0].question + "\nStep-by-Step Answer:", "问题：" + EXS[1].question + "\n逐步解答：",
        "โจทย์: " + EXS[2].question + "\nคำตอบทีละขั้นตอน:"]


def test_hints_in_own_language_at_segment_boundaries():
    out = hinted_prompts(EXS, BASE, 0.5, [True] * 3)
    # no trailing whitespace: a prompt ending in a bare space (or newline) token is out of distribution
    assert out[0].prompt == BASE[0] + " Tom has 3 apples. He buys 4 more."
    assert out[1].prompt == BASE[1] + "小明有3个苹果。他又买了4个。"  # no space after a full-width colon
    assert out[2].prompt == BASE[2] + " ทอมมีแอปเปิ้ล 3 ผล\nเขาซื้อเพิ่ม 4 ผล"
    for x in out:
        assert x.example.solution.startswith(x.hint)  # a verbatim prefix of the reference in that language
        segments = segment_solution(x.example.solution)
        assert x.hint == "".join(segments[: len(segments) // 2]).rstrip()  # floor(0.5 * S) whole segments
        assert x.hint_share == 0.5 and x.forced_prefix == ""


def test_p_zero_switch_off_and_hide_last_give_bare_or_shorter_prompts():
    assert [x.prompt for x in hinted_prompts(EXS, BASE, 0.0, [True] * 3)] == BASE
    assert [x.prompt for x in hinted_prompts(EXS, BASE, 1.0, [False] * 3)] == BASE  # switch withdrew hints
    full = hinted_prompts(EXS, BASE, 1.0, [True] * 3, hide_last=1)
    assert full[1].hint == "小明有3个苹果。他又买了4个。3+4=7。"  # the answer sentence never shown
    assert full[1].hint_share == 1.0


def test_completion_prefix_placement():
    out = hinted_prompts(EXS[:1], BASE[:1], 0.25, [True], placement="completion-prefix")
    assert out[0].forced_prefix == " Tom has 3 apples."
    assert out[0].prompt == out[0].base + out[0].forced_prefix
    assert join_hint("a:", "") == "" and join_hint("a: ", "x") == ""


def test_data_cursor_resumes_same_order():
    a = DataCursor(5, seed=3)
    first = a.take(7)
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and len(first) == 7  # one full epoch, then the next
    b = DataCursor(5, seed=3)
    b.load_state_dict(a.state_dict())
    assert a.take(6) == b.take(6)
