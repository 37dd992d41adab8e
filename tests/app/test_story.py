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


def test_a_masked_run_leads_with_the_hidden_part_and_never_crowns_the_overfitting_space():
    from app.story import masked_comparison

    x, z = _curve(1.0), _curve(0.5)
    zx = _curve(0.01)  # fits the visible part far best
    errors = {"X": 1.62, "Z": 1.38, "Z→X": 1.83}  # and guesses the hidden part worst
    sentence = masked_comparison((x, z, zx), hidden_errors=errors, part="the hidden joints", unit="units")
    assert sentence.startswith("Under the mask (the hidden joints, never shown to the optimiser) Z guessed best: ")
    assert "error Z 1.38, 15% below X 1.62; Z→X 1.83 units." in sentence
    assert "Z→X fits the visible part best but guesses the hidden part worst" in sentence
    assert sentence.index("Visible fit: ") > sentence.index("Z→X 1.83")  # the visible fit comes second
    # a control: when the best visible fit also guesses best, it is named and nothing is called overfitting
    fair = masked_comparison((x, z, zx), hidden_errors={"X": 1.62, "Z": 1.38, "Z→X": 1.0}, part="the hidden joints")
    assert "Z→X guessed best" in fair and "overfits" not in fair


def test_an_unknown_truth_is_said_and_only_the_visible_fit_and_spread_reported():
    from app.story import masked_comparison

    x, z = _curve(1.0), _curve(0.5)
    sentence = masked_comparison(
        (x, z, _curve(0.4)), hidden_errors=None, part="", unknown_reason="painted-over pixels",
        diversity={"X": 0.1, "Z": 0.2, "Z→X": 0.15},
    )  # fmt: skip
    assert sentence.startswith("The truth under the mask is unknown (painted-over pixels): only the visible fit and")
    assert "guessed best" not in sentence and "Spread of the hypotheses under the mask: X 0.1, Z 0.2" in sentence
