"""The page's headline: the claim, the measured figures (or a marked placeholder), the links."""

from __future__ import annotations

from app.claims import MEASURED, PIX2LATENT, Measured, headline


def test_headline_states_the_claim_the_figures_and_the_links():
    text = headline()
    assert "Landscape Learning for Neural Network Inversion" in text and "ICCV 2023" in text
    assert PIX2LATENT in text and "fewer steps" in text
    assert all(row.model in text for row in MEASURED)


def test_a_row_without_figures_is_a_marked_placeholder_and_a_measured_row_gives_numbers():
    pending = Measured(model="faces64", data="CelebA test", n=30, command="python -m engines.bench inversion")
    assert "placeholder, to be measured" in pending.sentence() and "engines.bench inversion" in pending.sentence()
    done = Measured(model="faces64", data="CelebA test", n=30, x_early=0.316, z_early=0.249, zx_early=0.209,
                    x_final=0.135, z_final=0.155, zx_final=0.110)  # fmt: skip
    assert done.sentence() == (
        "faces64 on CelebA test (n = 30): at step 20 Z 0.249 vs X 0.316; at step 200 Z→X 0.11 vs X 0.135 "
        "(19% lower), plain Z 0.155"
    )


def test_the_shipped_headline_has_figures_and_says_why_plain_z_levels_off():
    assert MEASURED and all(row.measured for row in MEASURED)
    text = headline()
    assert "placeholder" not in text and "levels off above X" in text
    assert all(row.zx_final < row.x_final for row in MEASURED)  # the figures the page quotes: Z→X ends below X


def test_the_readme_quotes_the_headlines_figures():
    """The README's "Z→X ends N% below X …, plain Z M% above it" is the headline's first row, recomputed."""
    import re

    from tests.conftest import REPO_ROOT

    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    found = re.search(r"on held-out faces Z→X ends (\d+)% below X after (\d+) steps, plain Z (\d+)% above it", readme)
    assert found, "the README's sentence on held-out faces is missing"
    faces = MEASURED[0]
    assert int(found.group(1)) == round(-faces.final_change("zx")) and int(found.group(2)) == faces.steps
    assert int(found.group(3)) == round(faces.final_change("z"))
    assert f"{round(-faces.final_change('zx'))}% lower" in headline()
