#!/usr/bin/env bash
# Reproduces the shipped faces64 assets from ../shared/data/celeba (files 1-8000 only) on a CPU.
# Wall time on 2 cores: ~15 min (generator) + ~15 min (Θ stage 1) + ~10 min (Θ stage 2).
set -euo pipefail
cd "$(dirname "$0")/.."
# 1. The generator: a GAN (hinge loss, spectral-norm D, PixelNorm G, EMA of G).
python -m engines.train generator --kind gan --epochs 15 --batch-size 32
# 2. Θ, Algorithm 1, stage 1: the paper's T=20 trajectories from z0=0 (N=128 per round).
python -m engines.train mapping --model faces64 --name faces64_mapping_stage1 --rounds 30 --trajectories 128 \
  --steps 20 --updates 50 --batch-size 128 --mapping-lr 1e-3 --validate 20 --validate-every 5
# 3. Stage 2: longer trajectories (T=200, the benchmark's horizon) so the replay buffer also holds
#    late-optimisation latents; starts from the stage-1 Θ.
python -m engines.train mapping --model faces64 --init assets/faces64_mapping_stage1.safetensors --rounds 8 \
  --trajectories 64 --steps 200 --updates 50 --batch-size 128 --buffer-rounds 5 --mapping-lr 1e-3 \
  --validate 20 --validate-every 4
