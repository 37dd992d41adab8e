"""The one-sentence comparison of a run's X and Z loss curves."""

from __future__ import annotations

from app.story import comparison


def test_the_faster_space_is_named_with_its_step_and_factor():
    x = [1.0] + [1.0 / (step + 1) for step in range(1, 201)]  # X reaches 1/201 at step 200
    z = [1.0] + [0.1 / (step + 1) for step in range(1, 201)]  # Z is below that from step 19 on
    sentence = comparison(x, z)
    reached = next(step for step, loss in enumerate(z) if loss <= x[-1])
    assert f"Z reached X's step-200 loss at step {reached} ({200 / reached:.0f}× fewer steps)" in sentence
    assert "Z ends 90% lower than X" in sentence


def test_x_ahead_level_and_empty_runs():
    # X gets below Z's final loss only at its own last step: no "fewer steps" claim, just the margin
    assert (
        comparison([1.0, 0.5, 0.2, 0.1], [1.0, 0.9, 0.8, 0.103])
        == "X ends 3% lower than Z (loss 0.1 vs 0.103 at step 3)."
    )
    assert comparison([1.0, 0.5], [1.0, 0.502]).startswith("X and Z end level")
    assert comparison([], [1.0]) == "" and comparison([float("nan")], [1.0]) == ""
