import json

import engines.train.mnist as train_mnist
from engines.bench.cli import main
from engines.models.mnist.model import save_classifier
from tests.engines.tiny_classifier import bar_images, trained_tiny_classifier


def test_defense_signal_measures_both_objectives_on_a_candidate_classifier(monkeypatch, tmp_path, capsys):
    images, labels = bar_images(40, seed=3)
    monkeypatch.setattr(train_mnist, "load_training_split", lambda: (images, labels))
    weights = tmp_path / "candidate.safetensors"
    save_classifier(weights, trained_tiny_classifier(), {"train": {"augment_noise": 0.0}})
    out = tmp_path / "signal.json"
    main(["defense-signal", "--model", "mnist-classifier", "--weights", str(weights), "--n", "16", "--bank", "8"]
         + ["--repeats", "2", "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["n"] == 16 and result["weights"] == str(weights)
    assert 0 <= result["clean_accuracy"] <= 1
    for attack in ("pgd-linf", "pgd-l2"):
        line = result[attack]
        assert 0 <= line["attacked_accuracy"] <= 1
        for objective in ("defense", "bank"):
            assert 0 <= line[objective]["auc"] <= 1
            assert line[objective]["clean_loss"] >= 0 and line[objective]["attacked_loss"] >= 0
        # the squeeze objective is deterministic: the clean loss does not depend on the attack measured next
    assert result["pgd-linf"]["defense"]["clean_loss"] == result["pgd-l2"]["defense"]["clean_loss"]
    printed = capsys.readouterr().out
    assert printed.count("ROC AUC") == 4 and "defense objective" in printed and "bank objective" in printed
