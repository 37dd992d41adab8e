"""``python -m engines.train ...``: see :mod:`engines.train.cli`."""

from engines.train.cli import main

main()
