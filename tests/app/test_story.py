"""The one-sentence story of a run: Z's speed to X's early loss first, then how Z→X (and plain Z) end."""

from __future__ import annotations

from app.story import comparison, speed, versus_x


def _curve(scale: float, steps: int = 200) -> list[float]:
    return [1.0] + [scale / (step + 1) for step in range(1, steps + 1)]


def test_the_sentence_leads_with_speed_and_ends_with_z_to_x_against_x():
    x = _curve(1.0)  # X at step 20: 1/21
    z = [1.0] + [0.2 / (step + 1) for step in range(1, 6)] + [0.05] * 195  # fast, then a plateau above X's end
    zx = z[:6] + [0.8 / (step + 1) for step in range(6, 201)]  # hands off at 5, ends 20% below X
    sentence = comparison(x, z, zx)
    reached = next(step for step, loss in enumerate(z) if loss <= x[20])
    assert sentence.startswith(f"Z reached X's step-20 loss at step {reached} ({20 / reached:.1f}× faster); ")
    assert "; Z→X ends 20% below X (loss" in sentence and "at step 200)" in sentence
    assert sentence.endswith("; plain Z stalls: it ends 905% above X.")  # said plainly when Z stalls


def test_issue_example_shape():
    x = [1.0] * 20 + [0.316] + [0.135] * 180  # X@20 0.316, X@200 0.135
    z = [1.0, 0.6, 0.45, 0.35, 0.3] + [0.249] * 196
    zx = z[:5] + [0.2] * 195 + [0.110]
    assert comparison(x, z, zx) == (
        "Z reached X's step-20 loss at step 4 (5.0× faster); Z→X ends 19% below X (loss 0.11 vs 0.135 at step 200); "
        "plain Z stalls: it ends 84% above X."
    )


def test_when_plain_z_does_not_stall_the_sentence_says_how_it_ends():
    x, z = _curve(1.0), _curve(0.5)
    sentence = comparison(x, z, _curve(0.4))
    assert "Z→X ends 60% below X" in sentence and sentence.endswith("; plain Z ends 50% below X.")
    assert "stalls" not in sentence


def test_z_not_faster_never_reached_level_and_above():
    x = [1.0, 0.5, 0.2, 0.1]
    assert speed(x, [1.0, 0.9, 0.8, 0.1]) == "Z was not faster: it reached X's step-3 loss at step 3"
    assert speed(x, [1.0, 0.9, 0.8, 0.7]) == "Z never reached X's step-3 loss"
    assert speed(x, [0.05, 0.05, 0.05, 0.05]) == "Z starts at X's step-3 loss"
    assert versus_x("Z→X", 0.1005, 0.1) == "Z→X and X end level"
    assert versus_x("Z→X", 0.12, 0.1) == "Z→X ends 20% above X"


def test_two_curves_still_work_and_empty_runs_say_nothing():
    assert (
        comparison([1.0, 0.5, 0.2, 0.1], [1.0, 0.9, 0.8, 0.103])
        == "Z never reached X's step-3 loss; Z ends 3% above X (loss 0.103 vs 0.1 at step 3); "
        "plain Z stalls."
    )
    assert "Z and X end level" in comparison([1.0, 0.5], [1.0, 0.502])
    assert comparison([], [1.0]) == "" and comparison([float("nan")], [1.0]) == ""
    assert comparison([1.0, 0.5], [1.0, 0.4], [float("nan")]) == ""
    assert comparison([1.0], [1.0], [1.0]) == "Z→X and X end level (loss 1 vs 1 at step 0); plain Z and X end level."
