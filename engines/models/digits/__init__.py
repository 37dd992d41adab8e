"""digits: a class-conditional 28×28 MNIST digit generator, its classifier and Θ (MNIST train)."""
