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
    assert [output["label"] for output in invert["returns"]] == ["X result", "Z result", "Z→X result", "numbers"]
    for endpoint in api["named_endpoints"].values():  # no Literal[] without values, no value_21
        for parameter in endpoint["parameters"]:
            assert parameter["parameter_name"] and not parameter["parameter_name"].startswith("value_")
            assert parameter["python_type"]["type"] != "Literal[]"


def test_invert_returns_three_images_and_the_numbers_in_one_call(client):
    from gradio_client import handle_file

    face = sample_paths()[default_sample()]
    x_file, z_file, zx_file, numbers = client.predict(
        handle_file(str(face)), model="faces64", steps=4, loss="mse", handoff=2, api_name="/invert"
    )
    for path in (x_file, z_file, zx_file):
        assert Image.open(path).size == (64, 64)
    assert set(numbers["losses"]) == {"x", "z", "zx"} and all(len(curve) == 5 for curve in numbers["losses"].values())
    assert numbers["losses"]["zx"][:2] == numbers["losses"]["z"][:2]  # Z→X is Z until the hand-off at step 2
    assert numbers["losses"]["x"][-1] < numbers["losses"]["x"][0]
    assert numbers["summary"].startswith("At step 4: X ") and numbers["handoff_step"] == 2


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
