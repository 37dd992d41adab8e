"""Landscape Studio engines: forward models, losses, Θ, inversion, landscape learning.

Torch + numpy only: nothing here imports gradio or plotly.
"""
