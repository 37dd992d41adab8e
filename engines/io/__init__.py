"""File formats and paths: safetensors checkpoints, the asset manifest and resolver, images, data folders.

Imports no other engines package.
"""
