"""Soak a running app: rounds of ``app.bench`` sessions, resident memory and Gradio's cache after each round.

``PYTHONPATH=. python scripts/soak.py --url http://127.0.0.1:7860 --pid PID --cache DIR --sessions 8 --runs 20 --steps 10``

PID is the server's process id (``python app.py``), DIR its ``GRADIO_TEMP_DIR``. Prints the idle CPU use, the resident memory after one first run, then one line per round:
resident memory (``VmRSS``), the cache's size and file count, and whether every session ran isolated and whole. Also
measures the idle server's CPU use over ``--idle-seconds`` before the first round.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from app.bench import run_many


def resident_mb(pid: int) -> float:
    """The process's resident memory (``VmRSS``) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def folder_size(folder: Path) -> tuple[float, int]:
    """(MB, files) under ``folder`` (0, 0 when it does not exist)."""
    files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []
    return sum(path.stat().st_size for path in files) / 2**20, len(files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    before = cpu_seconds(args.pid)
    time.sleep(args.idle_seconds)
    idle = (cpu_seconds(args.pid) - before) / args.idle_seconds
    print(f"idle: {100 * idle:.1f}% of a core over {args.idle_seconds:.0f} s; resident {resident_mb(args.pid):.0f} MB")
    first = run_many(args.url, 1, args.steps, "faces64")[0]
    print(f"first run: resident {resident_mb(args.pid):.0f} MB, {'isolated' if first.isolated else 'NOT ISOLATED'}")
    for run in range(1, args.runs + 1):
        results = run_many(args.url, args.sessions, args.steps, "faces64")
        whole = sum(result.isolated and not result.error for result in results)
        size, count = folder_size(args.cache)
        print(
            f"round {run}: resident {resident_mb(args.pid):.0f} MB, cache {size:.1f} MB in {count} files, "
            f"{whole}/{args.sessions} sessions isolated and whole",
            flush=True,
        )


if __name__ == "__main__":
    main()
