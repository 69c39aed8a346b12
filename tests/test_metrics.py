"""avg@k, std, pass@k and group averages against hand-computed values."""

import numpy as np
import pytest

from mlreason.evaluate.metrics import add_averages, mean_std, pass_at_k, summarize_language


def test_mean_std_over_runs() -> None:
    # 4 questions x 2 runs: run means 0.75 and 0.25 -> mean 0.5, population std 0.25
    m = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], dtype=float)
    assert mean_std(m) == (pytest.approx(0.5), pytest.approx(0.25))
    assert mean_std(m[:, :1]) == (pytest.approx(0.75), 0.0)


def test_pass_at_k_unbiased() -> None:
    # n=4 samples, c=1 correct: pass@1 = 1/4, pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5, pass@4 = 1
    row = np.array([[1, 0, 0, 0]])
    assert pass_at_k(row, 1) == pytest.approx(0.25)
    assert pass_at_k(row, 2) == pytest.approx(0.5)
    assert pass_at_k(row, 4) == pytest.approx(1.0)
    both = np.array([[1, 0, 0, 0], [0, 0, 0, 0]])
    assert pass_at_k(both, 4) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pass_at_k(row, 5)


def test_summarize_and_averages() -> None:
    acc = np.array([[1, 1], [0, 1]], dtype=float)  # runs: 0.5, 1.0
    s = summarize_language({"acc_flexible": acc})
    assert s["acc_flexible"] == pytest.approx(0.75)
    assert s["acc_flexible_std"] == pytest.approx(0.25)
    assert s["acc_flexible_pass@2"] == pytest.approx(1.0)
    per_lang = {"en": {"acc": 0.9}, "de": {"acc": 0.7}, "sw": {"acc": 0.2}, "th": {"acc": 0.4}}
    avg = add_averages(per_lang, high=["en", "de", "fr"], low=["sw", "th", "bn"])
    assert avg["AVG"]["acc"] == pytest.approx(0.55)
    assert avg["HRL"]["acc"] == pytest.approx(0.8)
    assert avg["LRL"]["acc"] == pytest.approx(0.3)
    assert "LRL" not in add_averages({"en": {"acc": 1.0}}, high=["en"], low=["sw"])
