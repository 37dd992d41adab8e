"""Benchmarks, one module per sub-command of ``python -m engines.bench`` (dispatch: :mod:`engines.bench.cli`).

May import every other engines package; nothing in ``engines`` imports it back.
"""
