"""StyleGAN2 as a forward model: our own pure-PyTorch generator reading the common weight layouts."""
