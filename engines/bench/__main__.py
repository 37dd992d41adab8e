"""``python -m engines.bench ...``: see :mod:`engines.bench.cli`."""

from engines.bench.cli import main

main()
