"""MNIST digit classifiers with a contrastive head, for the adversarial-defense application."""
