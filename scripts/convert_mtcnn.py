"""Convert MTCNN's P/R/O-net weights from the facenet-pytorch wheel into ``assets/mtcnn.safetensors``.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fnp   # the wheel; never install it
    PYTHONPATH=. python scripts/convert_mtcnn.py --wheel /tmp/fnp/facenet_pytorch-2.6.0-py3-none-any.whl

The same as ``python -m engines.train mtcnn-weights --wheel ...`` (see :mod:`engines.train.mtcnn`).
"""

from __future__ import annotations

import sys

from engines.train.cli import main

if __name__ == "__main__":
    main(["mtcnn-weights", *sys.argv[1:]])
