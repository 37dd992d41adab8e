"""The documented API through ``gradio_client``: one call per tab returns final images and numbers,
and ``view_api()`` lists those endpoints only. Starts the real page (embedded models) on a free port.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.api import ENDPOINTS
from app.api_runs import hidden_pixels, image_target, summary
from app.targets import default_sample, sample_paths
from engines.models.registry import available_models


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    if "faces64" not in available_models("image"):
        pytest.fail("faces64 weights are missing from assets/: the API test needs the embedded model")
    from gradio_client import Client

    from app.ui import build_app

    demo = build_app().queue(default_concurrency_limit=4)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True)
    yield Client(f"http://127.0.0.1:{port}", verbose=False)
    demo.close()


def test_view_api_lists_only_the_documented_endpoints_with_named_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == sorted(ENDPOINTS) and not api["unnamed_endpoints"]
    invert = api["named_endpoints"]["/invert"]
    names = [parameter["parameter_name"] for parameter in invert["parameters"]]
    assert names[:3] == ["image", "mask", "model"] and "steps" in names and "handoff" in names
    labels = [output["label"] for output in invert["returns"]]
    assert labels == ["X result", "Z result", "Z→X result", "numbers", "Final result (refine; None without it)"]
    assert names[-1] == "refine" and invert["parameters"][-1]["parameter_default"] is False
    for endpoint in api["named_endpoints"].values():  # no Literal[] without values, no value_21
        for parameter in endpoint["parameters"]:
            assert parameter["parameter_name"] and not parameter["parameter_name"].startswith("value_")
            assert parameter["python_type"]["type"] != "Literal[]"


def test_invert_returns_three_images_and_the_numbers_in_one_call(client):
    from gradio_client import handle_file

    face = sample_paths()[default_sample()]  # already the training crop: used as it is (align=False), as the page does
    x_file, z_file, zx_file, numbers, final = client.predict(
        handle_file(str(face)), model="faces64", steps=4, loss="mse", handoff=2, align=False, api_name="/invert"
    )
    assert final is None and "final" not in numbers  # refine is off by default, as on the page
    for path in (x_file, z_file, zx_file):
        assert Image.open(path).size == (64, 64)
    assert set(numbers["losses"]) == {"x", "z", "zx"} and all(len(curve) == 5 for curve in numbers["losses"].values())
    assert numbers["losses"]["zx"][:2] == numbers["losses"]["z"][:2]  # Z→X is Z until the hand-off at step 2
    assert numbers["losses"]["x"][-1] < numbers["losses"]["x"][0]
    assert numbers["summary"].startswith("At step 4: X ") and numbers["handoff_step"] == 2


def test_invert_with_refine_runs_the_last_stage_within_the_steps():
    from app.api_runs import invert_image

    face = sample_paths()[default_sample()]
    images, numbers = invert_image(face, model="faces64", steps=6, loss="mse", handoff=2, refine=True)
    assert len(images) == 4 and images[3].size == (64, 64)
    final = numbers["final"]
    assert final["from_step"] == 3 and final["steps"] == 3 and len(final["losses"]) == 4
    assert abs(final["losses"][0] - numbers["losses"]["zx"][3]) < 1e-5  # it starts from Z→X at step 3
    assert final["final_loss"] == final["losses"][-1] < numbers["losses"]["zx"][3]


def test_invert_takes_the_ffhq_model_and_aligns_a_photo_the_ffhq_way():
    from app.api_runs import invert_image
    from app.tabs.image import FFHQ_SAMPLES
    from engines.models.registry import available_models

    if "ffhq64" not in available_models("image"):
        pytest.skip("assets/ffhq64_fast missing")
    images, numbers = invert_image(FFHQ_SAMPLES / "generated_seed0002.png", model="ffhq64", steps=4, loss="mse", align=False)  # fmt: skip
    assert [image.size for image in images[:3]] == [(64, 64)] * 3 and images[3] is None
    assert numbers["model"] == "ffhq64" and numbers["losses"]["x"][-1] < numbers["losses"]["x"][0]
    assert any("random, untrained Θ" in note for note in numbers["notes"])  # no Θ trained for it yet, and it says so
    images, numbers = invert_image(FFHQ_SAMPLES / "generated_seed0002.png", model="ffhq64-w", steps=2, loss="mse", align=False, refine=True)  # fmt: skip
    assert images[3] is None and any("faces64 model only" in note for note in numbers["notes"])


def test_defend_and_pose_answer_in_one_call(client):
    adversarial, x_repaired, z_repaired, numbers = client.predict(steps=2, api_name="/defend")
    assert all(Image.open(path).size == (28, 28) for path in (adversarial, x_repaired, z_repaired))
    assert len(numbers["predictions"]["x"]) == 3 and numbers["summary"].startswith("The attack ")
    still, pose_numbers = client.predict(steps=3, api_name="/pose")
    assert Image.open(still).width == 3 * Image.open(still).height  # X, Z and Z→X side by side
    assert set(pose_numbers["hidden_joint_error"]) == {"x", "z", "zx"}


def test_learn_returns_per_round_figures_and_a_theta_file_in_one_call(client):
    """A few seconds of learning on digits: the round-0 probe plus one per round, and a Θ file that
    ``engines.invert --mapping`` reads (the shipped Θ's shape) and that is not the shipped Θ."""
    from engines.core.mapping import load_mapping_file
    from engines.models.registry import load_mapping

    figures, theta = client.predict(model="digits", seconds=2, api_name="/learn")
    assert figures["rounds"] >= 1 and len(figures["trajectory_loss"]) == figures["rounds"]
    assert len(figures["probe"]) == figures["rounds"] + 1
    assert set(figures["probe"][-1]["z_loss"]) == {"2", "20", "200"}
    mapping = load_mapping_file(theta, x_dim=64)
    shipped = load_mapping("digits").state_dict()
    assert mapping.state_dict().keys() == shipped.keys()
    assert not torch.equal(mapping.state_dict()["net.0.weight"], shipped["net.0.weight"])


def test_bad_input_comes_back_as_the_apps_message(client):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    face = sample_paths()[default_sample()]
    with pytest.raises(AppError, match="steps must be a whole number from 1 to"):
        client.predict(handle_file(str(face)), steps=0, api_name="/invert")
    with pytest.raises(AppError, match="frame must be a whole number from 0 to 7"):
        client.predict(frame=100, api_name="/pose")
    with pytest.raises(AppError, match="the budget must be from 1 to 600 seconds"):
        client.predict(seconds=5000, api_name="/learn")


def test_invert_prepares_the_target_as_the_page_does(client, tmp_path: Path):
    """A tight-cropped face photo is aligned and what lies beyond it hidden, and the notes say so; a
    photo without a face gets the page's not-a-face note."""
    from gradio_client import handle_file

    face = Image.open(sample_paths()["face_008311"]).convert("RGB")
    face.crop((12, 14, 52, 58)).resize((160, 176), Image.Resampling.BICUBIC).save(tmp_path / "tight.png")
    *_images, numbers, _final = client.predict(handle_file(str(tmp_path / "tight.png")), steps=2, loss="mse", api_name="/invert")  # fmt: skip
    notes = " ".join(numbers["notes"])
    assert "face aligned to the training crop" in notes and "lie outside the photo" in notes, notes
    assert 0.3 < numbers["target"]["known_fraction"] < 0.85
    scene = np.zeros((120, 160, 3), np.uint8)
    scene[:60], scene[60:], scene[30:90, 60:100] = (120, 170, 230), (90, 80, 70), (200, 190, 180)
    Image.fromarray(scene).save(tmp_path / "scene.png")
    *_images, numbers, _final = client.predict(handle_file(str(tmp_path / "scene.png")), steps=2, loss="mse", api_name="/invert")  # fmt: skip
    assert any("no face found" in note for note in numbers["notes"]), numbers["notes"]
    assert any("does not look like a face" in note for note in numbers["notes"]), numbers["notes"]


def test_the_handoff_default_agrees_in_the_docs_view_api_and_a_run(client):
    """docs/app.md, ``view_api()`` and a call agree: −1 = the model's saved default, which a call then uses."""
    from gradio_client import handle_file

    from engines.core.evaluation import inversion_defaults
    from tests.conftest import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "app.md").read_text()
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint in ("/invert", "/pose"):
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{endpoint}` |"))
        assert "`handoff` (−1 = the model's default)" in row, row
        handoff = next(item for item in api[endpoint]["parameters"] if item["parameter_name"] == "handoff")
        assert handoff["parameter_default"] == -1
    face = sample_paths()[default_sample()]
    *_images, numbers, _final = client.predict(handle_file(str(face)), steps=2, loss="mse", api_name="/invert")
    assert numbers["handoff_step"] == inversion_defaults("faces64").handoff


def _same_sentence(expected: str, actual: str) -> bool:
    """The same words and, number for number, the same figures (decimals within 0.5%, whole numbers within 1),
    so that a run on another machine's floating point still counts as the README's output."""
    import re

    pattern = r"(\d+\.\d+|\d+)"
    ours, theirs = re.split(pattern, " ".join(expected.split())), re.split(pattern, " ".join(actual.split()))
    if len(ours) != len(theirs):
        return False
    for index, (mine, other) in enumerate(zip(ours, theirs)):
        if index % 2 == 0:
            if mine != other:
                return False
        elif "." in mine and abs(float(mine) - float(other)) > 0.005 * abs(float(mine)):
            return False
        elif "." not in mine and abs(int(mine) - float(other)) > 1:
            return False
    return True


def test_the_readmes_example_prints_what_the_readme_says(client, monkeypatch):
    """Runs the README's Python example (against this test's server) and checks the output the README quotes."""
    import contextlib
    import io
    import re

    from tests.conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Use it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    quoted = re.search(r"prints[^`(]*\([^)]*\): `([^`]*)`", section, re.S).group(1)
    assert 'Client("http://127.0.0.1:7860")' in code
    monkeypatch.chdir(REPO_ROOT)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code.replace("http://127.0.0.1:7860", client.src.rstrip("/")), {})
    summary = printed.getvalue().strip().splitlines()[-1]  # after gradio_client's own "Loaded as API: …" line
    assert _same_sentence(quoted, summary), (quoted, printed.getvalue())


def test_the_pose_still_never_draws_a_space_in_the_targets_green():
    from app.api_runs import PANE_COLOURS
    from app.pose_figures import TARGET_COLOUR

    assert TARGET_COLOUR not in PANE_COLOURS and len(set(PANE_COLOURS)) == 3


def test_an_unreadable_file_gets_the_apps_message_and_one_log_line(client, tmp_path: Path, capfd, caplog):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image")
    caplog.set_level("INFO", logger="app")
    with pytest.raises(AppError, match="image: not a readable image; send a PNG or JPEG"):
        client.predict(handle_file(str(fake)), steps=2, api_name="/invert")
    with pytest.raises(AppError, match="image: not a readable image; send a PNG or JPEG"):
        client.predict(handle_file(str(fake)), budget=4, api_name="/project")
    rejected = [record for record in caplog.records if "rejected input" in record.getMessage()]
    assert len(rejected) == 2 and not any(record.exc_info for record in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


def test_a_mask_hides_its_white_or_painted_pixels(tmp_path: Path):
    opaque = np.zeros((128, 128), np.uint8)
    opaque[:, 64:] = 255  # the right half white: hidden
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    hidden = hidden_pixels(tmp_path / "opaque.png", 64)
    assert hidden[:, 32:].all() and not hidden[:, :32].any()
    painted = np.zeros((64, 64, 4), np.uint8)
    painted[:16, :, 3] = 255  # a stroke over the top rows, the rest transparent
    assert hidden_pixels(Image.fromarray(painted), 64).sum() == 16 * 64
    face = sample_paths()[default_sample()]
    target = image_target(face, tmp_path / "opaque.png", "none", 64)
    assert target.weight.shape == (1, 1, 64, 64) and float(target.weight.mean()) == 0.5
    with pytest.raises(ValueError, match="hides everything"):
        image_target(face, Image.new("L", (64, 64), 255), "none", 64)


def test_summary_names_the_winner_and_the_speed_to_xs_early_loss():
    x = list(torch.linspace(1.0, 0.2, 41).tolist())
    z = [1.0, *[0.5] * 40]
    zx = [1.0, 0.5, *torch.linspace(0.45, 0.1, 39).tolist()]
    sentence = summary({"X": x, "Z": z, "Z→X": zx})
    assert sentence.startswith("At step 40: X 0.2, Z 0.5, Z→X 0.1; Z→X 50% below X, Z 150% above X.")
    assert "reached X's step-20 loss at step 1 (20.0× fewer steps)" in sentence
    assert summary({"X": [], "Z": [], "Z→X": []}) == ""


def test_project_reports_the_class_and_the_transform_found():
    from app.api_runs import project_image
    from tests.conftest import REPO_ROOT

    digit = REPO_ROOT / "app" / "samples" / "projection" / "digit_3_mnist_test_03147.png"
    _images, numbers = project_image(digit, model="digits", method="adam", space="x", budget=16, population=4)
    result = numbers["spaces"]["x"]
    assert isinstance(result["class"], int) and 0 <= result["class"] <= 9
    assert result["class"] == result["class_path"][-1]["class"]
    assert len(result["transform"]["sx_sy_tx_ty_gamma"]) == 5 and "zoom" in result["transform"]["text"]
