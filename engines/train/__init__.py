"""Training command lines, one module per model's commands of ``python -m engines.train``.

The training loops live with their models (:mod:`engines.models`) and in :mod:`engines.core.trainer`.
"""
