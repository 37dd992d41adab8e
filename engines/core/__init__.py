"""The method, model-agnostic: gradient inversion in X and Z, losses, the mapping network Θ,
the Algorithm 1 trainer, loss landscapes and X/Z evaluation. Imports only :mod:`engines.io`.
"""
