"""faces64: a 64x64 face generator (GAN or VAE decoder) trained on CelebA 1-8000, and its training."""
