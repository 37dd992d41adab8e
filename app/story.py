"""The run just shown, in one sentence: speed to a quality level first, then the final comparison.

From the loss curves of a run (X-space, Z-space and, when run, Z→X; one value per step, step 0 first),
e.g. "Z reached X's step-20 loss at step 4 (5× faster); Z→X ends 19% below X (0.11 vs 0.135 at step 200);
plain Z stalls: it ends 15% above X." The quality level is X's loss at step :data:`EARLY_STEP` (or the last
step of a shorter run), so the verdict names the step it is about and does not flip silently with the
run's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LEVEL = 0.01  # final losses within 1% of each other count as level
EARLY_STEP = 20  # the speed claim: who reaches X's loss at this step first


def _first_at_or_below(losses: Sequence[float], level: float) -> int | None:
    return next((step for step, loss in enumerate(losses) if loss <= level), None)


def _factor(ratio: float) -> str:
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"


def speed(x_losses: Sequence[float], z_losses: Sequence[float]) -> str:
    """How fast Z reaches X's loss at step ``min(EARLY_STEP, last)``, e.g. "Z reached X's step-20 loss at step 4 (5× faster)"."""
    reference = min(EARLY_STEP, len(x_losses) - 1, len(z_losses) - 1)
    if reference < 1 or not math.isfinite(x_losses[reference]):
        return ""
    reached = _first_at_or_below(z_losses, x_losses[reference])
    if reached is None:
        return f"Z never reached X's step-{reference} loss"
    if reached == 0:
        return f"Z starts at X's step-{reference} loss"
    if reached >= reference:
        return f"Z was not faster: it reached X's step-{reference} loss at step {reached}"
    return f"Z reached X's step-{reference} loss at step {reached} ({_factor(reference / reached)}× faster)"


def versus_x(name: str, end: float, x_end: float) -> str:
    """ "Z→X ends 19% below X", "... above X" or "Z→X and X end level" (within :data:`LEVEL`)."""
    if abs(end - x_end) <= LEVEL * max(end, x_end):
        return f"{name} and X end level"
    if end < x_end:
        return f"{name} ends {100 * (1 - end / x_end):.0f}% below X"
    if x_end <= 0:
        return f"{name} ends above X"
    return f"{name} ends {100 * (end / x_end - 1):.0f}% above X"


def comparison(x_losses: Sequence[float], z_losses: Sequence[float], zx_losses: Sequence[float] | None = None) -> str:
    """One sentence on the curves: Z's speed to X's early loss, then how Z→X (else Z) ends against X,
    and plainly when plain Z stalls above X. Empty when a curve is empty or ends non-finite."""
    curves = [x_losses, z_losses] + ([zx_losses] if zx_losses is not None else [])
    if not all(curves) or not all(math.isfinite(curve[-1]) for curve in curves):
        return ""
    last = min(len(curve) for curve in curves) - 1
    x_end, z_end = x_losses[last], z_losses[last]
    parts = [speed(x_losses, z_losses)]
    if zx_losses is None:
        final = versus_x("Z", z_end, x_end)
        parts.append(f"{final} (loss {z_end:.4g} vs {x_end:.4g} at step {last})")
        if z_end > x_end * (1 + LEVEL):
            parts.append("plain Z stalls")
    else:
        zx_end = zx_losses[last]
        parts.append(f"{versus_x('Z→X', zx_end, x_end)} (loss {zx_end:.4g} vs {x_end:.4g} at step {last})")
        if z_end > x_end * (1 + LEVEL):
            parts.append(f"plain Z stalls: it ends {100 * (z_end / x_end - 1):.0f}% above X")
        else:
            parts.append(versus_x("plain Z", z_end, x_end))
    return "; ".join(part for part in parts if part) + "."


SPACE_LABELS = ("X", "Z", "Z→X")


def _lower_by(best: float, other: float) -> str:
    if abs(best - other) <= LEVEL * max(best, other):
        return "level with"
    return f"{100 * (1 - best / other):.0f}% below" if other > 0 else "below"


def hidden_sentence(errors: dict[str, float], *, part: str, unit: str = "") -> str:
    """Who guessed the hidden part best, e.g. "Under the mask (the hidden joints, never shown to the
    optimiser) Z guessed best: error Z 1.38, 15% below X 1.62; Z→X 1.83 units." ``errors``: label -> error."""
    ranked = sorted(errors, key=errors.get)
    best, rest = ranked[0], ranked[1:]
    others = "; ".join(f"{name} {errors[name]:.3g}" for name in rest[1:])
    text = f"Under the mask ({part}, never shown to the optimiser) {best} guessed best: error {best} {errors[best]:.3g}"
    if rest:
        text += f", {_lower_by(errors[best], errors[rest[0]])} {rest[0]} {errors[rest[0]]:.3g}"
    return text + (f"; {others}" if others else "") + (f" {unit}" if unit else "") + "."


def masked_comparison(
    curves: tuple,
    *,
    hidden_errors: dict[str, float] | None,
    part: str,
    unknown_reason: str = "",
    diversity: dict[str, float] | None = None,
    unit: str = "",
    visible: str | None = None,
) -> str:
    """The story of a run with a hidden part: what is under the mask first, the visible fit second.

    curves: the X, Z (and Z→X) visible-loss curves (as :func:`comparison`). hidden_errors: label -> error of
    each space's result on the hidden part against the truth, or None when the truth is unknown (then
    ``unknown_reason`` says why, and only the visible fit and the ``diversity`` are reported).
    diversity: label -> spread of the K hypotheses on the hidden part (Hypotheses only). visible: the
    visible-fit sentence (default :func:`comparison` of the curves).
    """
    visible = comparison(*curves) if visible is None else visible
    spread = ""
    if diversity:
        spread = " Spread of the hypotheses under the mask: " + ", ".join(f"{n} {v:.3g}" for n, v in diversity.items()) + "."  # fmt: skip
    if not hidden_errors:
        why = f" ({unknown_reason})" if unknown_reason else ""
        judged = "the visible fit and the diversity" if diversity else "the visible fit"
        return f"The truth under the mask is unknown{why}: only {judged} can be judged. Visible fit: {visible}{spread}"
    sentence = hidden_sentence(hidden_errors, part=part, unit=unit)
    finals = {label: curve[-1] for label, curve in zip(SPACE_LABELS, curves) if curve}
    fits_best = min(finals, key=finals.get) if finals else None
    guessed_worst = max(hidden_errors, key=hidden_errors.get)
    if fits_best == guessed_worst and len(hidden_errors) > 1 and fits_best != min(hidden_errors, key=hidden_errors.get):
        sentence += (
            f" {fits_best} fits the visible part best but guesses the hidden part worst: it overfits what it is shown."
        )
    return f"{sentence} Visible fit: {visible}{spread}"
