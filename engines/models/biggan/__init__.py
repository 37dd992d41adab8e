"""biggan: BigGAN (pytorch-pretrained-biggan's architecture) from a local folder, class-conditional."""
