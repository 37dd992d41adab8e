"""Serve Landscape Studio: ``python app.py [--host H] [--port P]`` (default 127.0.0.1:7860, offline).

Host and port also come from ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, as on Hugging Face Spaces.
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the Landscape Studio web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--concurrency", type=int, default=4, help="runs served at once (default 4)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument(
        "--device",
        default=os.environ.get("LANDSCAPE_DEVICE", "auto"),
        help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps; also $LANDSCAPE_DEVICE (default auto)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from app.memory import limit_arenas

    limit_arenas()  # before any worker thread allocates: see app/memory.py
    from app.gpu import on_zero_gpu

    if on_zero_gpu():
        import spaces  # noqa: F401  (ZeroGPU wants it imported before torch touches CUDA)
    import torch

    from engines.core.device import DEVICE_ENV, resolve_device

    os.environ[DEVICE_ENV] = str(resolve_device(args.device))  # fails early, with the alternatives, if absent
    logging.getLogger("app").info("running on %s", os.environ[DEVICE_ENV])

    from app.ui import build_app, launch_options, quiet_queue

    torch.set_num_threads(args.torch_threads)
    demo = quiet_queue(build_app().queue(default_concurrency_limit=args.concurrency, max_size=64))
    demo.launch(server_name=args.host, server_port=args.port, **launch_options())


if __name__ == "__main__":
    main()
