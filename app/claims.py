"""The page's headline: the paper's claim, what this page measures on its own models, and links.

The measured figures live in :data:`MEASURED`, in this one place, copied from the benchmarks (test splits,
settings chosen on training data). A row without figures says "to be measured" rather than a number.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "Liu, Mao, Tendulkar, Wang and Vondrick, *Landscape Learning for Neural Network Inversion*, ICCV 2023"
PIX2LATENT = "https://github.com/minyoungg/pix2latent"
CLAIM = (
    "Optimising z through a learned mapping Θ (**Z-space**, x = Θ(z)) reaches a good inversion in far fewer "
    "steps than optimising the network's input directly (**X-space**)."
)


@dataclass(frozen=True, kw_only=True)
class Measured:
    """One benchmark row: mean losses of X, Z and Z→X at ``early`` and ``steps`` steps on ``data`` (n targets).

    A ``None`` loss is a placeholder: not yet measured."""

    model: str
    data: str
    n: int
    early: int = 20
    steps: int = 200
    command: str = ""
    x_early: float | None = None
    z_early: float | None = None
    zx_early: float | None = None
    x_final: float | None = None
    z_final: float | None = None
    zx_final: float | None = None

    @property
    def measured(self) -> bool:
        figures = (self.x_early, self.z_early, self.zx_early, self.x_final, self.z_final, self.zx_final)
        return all(value is not None for value in figures)

    def final_change(self, space: str = "zx") -> float:
        """How far ``space`` ("zx" or "z") ends from X at ``steps``, in percent (negative: below X)."""
        return 100 * ((self.zx_final if space == "zx" else self.z_final) / self.x_final - 1)

    def sentence(self) -> str:
        """E.g. "faces64 on CelebA test (n = 30): at step 20 Z 0.249 vs X 0.316; at step 200 Z→X 0.110 vs X 0.135
        (19% lower), plain Z 0.155"."""
        where = f"{self.model} on {self.data} (n = {self.n})"
        if not self.measured:
            return f"{where}: ⚠ *placeholder, to be measured* (`{self.command}`)" if self.command else f"{where}: ⚠ *placeholder, to be measured*"  # fmt: skip
        change = 100 * (1 - self.zx_final / self.x_final)
        direction = "lower" if change >= 0 else "higher"
        return (
            f"{where}: at step {self.early} Z {self.z_early:.3g} vs X {self.x_early:.3g}; at step {self.steps} "
            f"Z→X {self.zx_final:.3g} vs X {self.x_final:.3g} ({abs(change):.0f}% {direction}), plain Z {self.z_final:.3g}"
        )


# Test splits, settings (lrs, hand-off) chosen on training data: docs/benchmarks.md, "Z→X hand-off".
MEASURED: tuple[Measured, ...] = (
    Measured(
        model="faces64",
        data="CelebA test",
        n=50,
        command="python -m engines.bench --threads 1 inversion --model faces64 --data CELEBA_TEST --n 50 --steps 200 --seed 0",
        x_early=0.298,
        z_early=0.220,
        zx_early=0.220,
        x_final=0.1334,
        z_final=0.1487,
        zx_final=0.1121,
    ),
    Measured(
        model="faces64",
        data="AFHQ cats (never trained on)",
        n=50,
        command="python -m engines.bench --threads 1 inversion --model faces64 --data afhq_cat64 --n 50 --steps 200 --seed 0",
        x_early=0.505,
        z_early=0.379,
        zx_early=0.379,
        x_final=0.2329,
        z_final=0.2659,
        zx_final=0.2017,
    ),
)
WHY = (
    "Z is ahead early, but Θ's range is thin: plain Z levels off above X after about 100 steps. "
    "Z→X takes Z's head start for 20 steps, then continues in X-space from Θ(z); it ends below X on 48 of 50 "
    "held-out faces, not on every one."
)


def headline() -> str:
    """The page's opening Markdown: title, the claim, what this page measures, what each space is, links."""
    rows = "\n".join(f"- {row.sentence()}" for row in MEASURED)
    return f"""# Landscape Studio
**The claim** ({PAPER}): {CLAIM} Every tab runs X, Z and **Z→X** (Z-space for a few steps, then X-space from
Θ(z)) side by side on your target, so you can check it yourself. **Measured here, on this page's own models** (mean loss):
{rows}

{WHY}

Projection into a generator follows [pix2latent]({PIX2LATENT}) (Huh et al., ECCV 2020)."""
