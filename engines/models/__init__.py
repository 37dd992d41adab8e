"""Forward models F, one package each, registered by name in :mod:`engines.models.registry`.

Models import :mod:`engines.core` and :mod:`engines.io`, never the command lines.
"""
