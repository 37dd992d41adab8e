"""The adversarial-defense tab's handlers, driven directly with a tiny classifier and Θ registered."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

import engines.models.mnist.model as mnist_model
from app.defense_runs import defense_sentence, repaired_at, true_label
from app.session import SESSIONS
from app.tabs.defense import DRAWN, DefenseHandlers, build_defense_tab, drawing_to_digit, sample_digits
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.models import registry
from tests.engines.tiny_classifier import tiny_bank, trained_tiny_classifier


class Request:
    def __init__(self, session_hash: str):
        self.session_hash = session_hash


@pytest.fixture
def parts(monkeypatch):
    registry.available_models()

    def tiny_mapping():
        torch.manual_seed(0)
        return MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=32, layers=3))

    spec = registry.ModelSpec("mnist-classifier", "tiny", "classifier", trained_tiny_classifier, tiny_mapping)
    monkeypatch.setitem(registry.MODELS, "mnist-classifier", spec)
    monkeypatch.setattr(mnist_model, "defense_settings", lambda name: {"weight": 0.1, "x_lr": 0.05, "z_lr": 0.1})
    monkeypatch.setattr(mnist_model, "load_negative_bank", lambda name: tiny_bank())
    registry.load_model.cache_clear()
    registry.load_mapping.cache_clear()
    with gr.Blocks():
        yield build_defense_tab()
    registry.load_model.cache_clear()
    registry.load_mapping.cache_clear()


def test_samples_are_bundled_digits():
    digits = sample_digits()
    assert len(digits) == 10
    assert all(value.shape == (28, 28) and 0 <= value.min() and value.max() <= 1 for value in digits.values())


def test_a_drawing_becomes_a_centred_white_on_black_digit():
    canvas = np.zeros((200, 200, 4), np.uint8)
    canvas[20:180, 140:150] = (0, 0, 0, 255)  # a black vertical stroke near the right edge
    digit = drawing_to_digit({"composite": canvas})
    assert digit.shape == (28, 28) and digit.max() > 0.9
    columns = np.nonzero(digit.sum(0))[0]
    assert 10 <= columns.mean() <= 17  # centred
    assert drawing_to_digit({"composite": np.zeros((50, 50, 4), np.uint8)}) is None


def test_attack_then_defend_streams_both_spaces_and_reenables_controls(parts):
    handlers = DefenseHandlers(parts)
    name = next(iter(sample_digits()))
    attacked = handlers.attack("mnist-classifier", name, None, "PGD L∞", 1.0)
    adversarial = attacked[parts["adversarial"]]
    assert len(adversarial) == 784 and "prediction" in attacked[parts["status"]]
    clean, fooled_as = attacked[parts["labels"]]
    updates = list(handlers.defend("mnist-classifier", adversarial, 3, [clean, fooled_as], Request("d1")))
    assert updates[0][parts["stop_button"]]["interactive"] is True
    views = [update for update in updates if parts["z_reversal"] in update]
    assert views and views[-1][parts["status"]].startswith("step 3/3")
    assert Image.open(views[-1][parts["x_image"]]).size == Image.open(views[-1][parts["z_image"]]).size
    sentence = updates[-1][parts["status"]]
    assert sentence.startswith("The attack fooled" if fooled_as != clean else "The attack did not fool")
    assert sentence.count("X ") == 1 and "; Z " in sentence and "step" in sentence
    assert updates[-1][parts["attack_button"]]["interactive"] is True
    assert not SESSIONS.is_running("d1")


def test_blank_drawing_and_missing_attack_give_messages(parts):
    handlers = DefenseHandlers(parts)
    assert "draw a digit" in handlers.attack("mnist-classifier", DRAWN, None, "PGD L2", 1.0)[parts["status"]]
    assert "Attack first" in list(handlers.defend("mnist-classifier", [], 3, None, Request("d2")))[-1][parts["status"]]


def test_stop_ends_the_defense_early(parts):
    handlers = DefenseHandlers(parts)
    adversarial = sample_digits()[next(iter(sample_digits()))].reshape(-1).tolist()
    stream = handlers.defend("mnist-classifier", adversarial, 30, None, Request("d3"))
    next(stream)
    SESSIONS.stop("d3")
    updates = list(stream)
    assert updates[-1][parts["status"]].startswith("Stopped at step ")
    assert "X reads" in updates[-1][parts["status"]]  # no clean prediction known: what X and Z read
    assert not SESSIONS.is_running("d3")


def test_a_diverging_reversal_is_reported_not_done(parts, monkeypatch):
    monkeypatch.setattr(mnist_model, "defense_settings", lambda name: {"weight": 0.1, "x_lr": 1e12, "z_lr": 0.1})
    handlers = DefenseHandlers(parts)
    adversarial = sample_digits()[next(iter(sample_digits()))].reshape(-1).tolist()
    updates = list(handlers.defend("mnist-classifier", adversarial, 20, None, Request("d4")))
    assert "X-space diverged" in updates[-1][parts["status"]] and not SESSIONS.is_running("d4")


def test_all_ten_digits_tabulate_accuracy_per_stage_and_per_digit(parts):
    handlers = DefenseHandlers(parts)
    updates = list(handlers.all_digits("mnist-classifier", "PGD L∞", 1.0, 2, Request("d5")))
    assert updates[0][parts["all_button"]]["interactive"] is False and not SESSIONS.is_running("d5")
    accuracy, per_digit = updates[-1][parts["accuracy"]], updates[-1][parts["per_digit"]]
    stages = [row[0] for row in accuracy]
    assert stages == ["clean", "attacked", "X after step 1", "X after step 2", "Z after step 1", "Z after step 2"]
    assert [row[0] for row in per_digit] == list(range(10))  # the true digits, from the bundled names
    correct_clean = sum(row[1] == row[0] for row in per_digit)
    assert accuracy[0][1] == f"{correct_clean}/10" and accuracy[0][2] == round(correct_clean / 10, 3)
    assert all(0 <= row[2] <= 1 for row in accuracy)
    assert "clean" in updates[-1][parts["status"]] and "Z after step 2" in updates[-1][parts["status"]]


def test_repaired_at_is_the_first_step_that_stays_right():
    assert repaired_at([8, 8, 3, 3], 3) == 2
    assert repaired_at([8, 3, 8, 3], 3) == 3  # a slip back does not count
    assert repaired_at([8, 3, 3, 8], 3) is None
    assert repaired_at([3, 3], 3) == 0


def test_the_sentence_says_whether_the_attack_fooled_and_where_each_space_repaired():
    sentence = defense_sentence(3, 8, [8, 8, 3, 3], [8, 8, 8, 8])
    assert sentence == (
        "The attack fooled the classifier (3 → 8); X repaired it at step 2; Z did not repair it (reads 8 after 3 steps)."
    )
    assert defense_sentence(3, 3, [3, 3], [3, 5]).startswith(
        "The attack did not fool the classifier (it still reads 3)"
    )
    assert "Z changed it to 5" in defense_sentence(3, 3, [3, 3], [3, 5])
    assert defense_sentence(None, 8, [8, 2], [8, 3]) == "After 1 step X reads 2 and Z reads 3."
    assert true_label("mnist_test_03577_digit3") == 3 and true_label("my drawing") is None
