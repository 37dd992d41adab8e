"""Streaming benchmark of a running app through ``gradio_client``.

``python -m app.bench --url http://127.0.0.1:7860 --sessions 4 --steps 50 --json OUT.json``

Each Run is what the page's Run button sends: ``--loss`` (default ``mse+lpips``, the page's default when LPIPS is
available), the model's saved learning rates and hand-off step, on the model's own samples (``--model``).
First one session alone (``single_session_steps_per_second``), then ``--sessions`` clients at
once, each with its own sample target. For every session: seconds from submitting Run to the
first streamed frame, streamed side-by-side steps per second, and whether it got only its own
results (every frame carries its own target's fingerprint, steps run 0, 1, 2, ... to the end).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from app.targets import TARGET_ID_LABEL, fingerprint, sample_paths
from engines.core.evaluation import inversion_defaults

STEP_PATTERN = re.compile(r"step (\d+)")


@dataclass
class SessionResult:
    index: int
    sample: str
    first_frame_seconds: float = float("nan")
    steps_per_second: float = float("nan")
    steps_seen: list[int] = field(default_factory=list)
    isolated: bool = False
    error: str = ""


def _step_of(caption: object) -> int | None:
    match = STEP_PATTERN.search(str(caption or ""))
    return int(match.group(1)) if match else None


def target_slot(client) -> int:
    """Where /run's hidden target-fingerprint output sits among the outputs a client receives (found by label,
    not position). /run streams for the page and this benchmark but is left out of the documented API, so the
    page's config is read rather than ``view_api()``."""
    endpoint = next(endpoint for endpoint in client.endpoints.values() if endpoint.api_name == "/run")
    labels = {component["id"]: component.get("props", {}).get("label") for component in client.config["components"]}
    shown = [output for output, kind in zip(endpoint.dependency["outputs"], endpoint.output_component_types) if not kind.skip]  # fmt: skip
    return next(index for index, output in enumerate(shown) if labels.get(output) == TARGET_ID_LABEL)


def run_session(url: str, index: int, sample: Path, steps: int, model: str, loss: str = "mse+lpips") -> SessionResult:
    """Submit one Run and time its stream."""
    from gradio_client import Client, handle_file

    result = SessionResult(index=index, sample=sample.stem)
    expected = fingerprint(Image.open(sample))
    client = Client(url, verbose=False, download_files=False)  # captions are enough
    slot = target_slot(client)
    editor = {"background": handle_file(str(sample)), "layers": [], "composite": None}
    started = time.perf_counter()
    defaults = inversion_defaults(model)  # as the page fills them in for the model
    # /run's inputs end with the Z→X hand-off step and refine (off, as on the page)
    job = client.submit(editor, "none", model, "adam", steps, defaults.x_lr, defaults.z_lr, loss, defaults.handoff, False, api_name="/run")  # fmt: skip
    times, statuses, targets = [], [], []
    for outputs in job:
        status, step = str(outputs[0] or ""), _step_of(outputs[4])
        if step is not None and (not result.steps_seen or step != result.steps_seen[-1]):
            times.append(time.perf_counter())
            result.steps_seen.append(step)
            statuses.append(status)
            targets.append(str(outputs[slot] or ""))  # the run's target fingerprint (a hidden output)
    job.result()
    if not times:
        result.error = f"no frames; last status {statuses[-1] if statuses else None!r}"
        return result
    result.first_frame_seconds = times[0] - started
    result.steps_per_second = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    ordered = result.steps_seen == list(range(result.steps_seen[0], result.steps_seen[-1] + 1))
    own = all(target == expected for target in targets)
    result.isolated = ordered and own and result.steps_seen[-1] == steps
    return result


def run_many(url: str, sessions: int, steps: int, model: str, loss: str = "mse+lpips") -> list[SessionResult]:
    """``sessions`` clients at once, session i on the i-th of the model's samples."""
    from app.tabs.image import model_sample_choices, model_samples

    paths = model_samples(model)
    samples = [paths[name] for _, name in model_sample_choices(model) if name in paths] or list(sample_paths().values())
    results: list[SessionResult | None] = [None] * sessions

    def work(index: int) -> None:
        sample = samples[index % len(samples)]
        try:
            results[index] = run_session(url, index, sample, steps, model, loss)
        except Exception as error:  # reported per session, the others still finish
            results[index] = SessionResult(index=index, sample=sample.stem, error=repr(error))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [result for result in results if result is not None]


def describe(result: SessionResult) -> str:
    line = (
        f"session {result.index} ({result.sample}): first frame {result.first_frame_seconds:.2f} s, "
        f"{result.steps_per_second:.1f} steps/s, {len(result.steps_seen)} frames, "
        f"{'own results only' if result.isolated else 'NOT ISOLATED'}"
    )
    return line + (f", error: {result.error}" if result.error else "")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--model", default="faces64")
    parser.add_argument("--loss", default="mse+lpips", choices=("mse", "l1", "mse+lpips"), help="the page's default")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    print(f"{args.model}, loss {args.loss}, {args.steps} steps")
    single = run_many(args.url, 1, args.steps, args.model, args.loss)[0]
    print(f"single: {describe(single)}")
    results = run_many(args.url, args.sessions, args.steps, args.model, args.loss)
    for result in results:
        print(describe(result))
    report = {
        "sessions": args.sessions,
        "steps": args.steps,
        "first_frame_seconds": [r.first_frame_seconds for r in results],
        "steps_per_second": [r.steps_per_second for r in results],
        "isolated": all(r.isolated for r in results) and len(results) == args.sessions,
        "single_session_steps_per_second": single.steps_per_second,
        "single_session_first_frame_seconds": single.first_frame_seconds,
        "details": [asdict(r) | {"steps_seen": len(r.steps_seen)} for r in results],
    }
    total = sum(r.steps_per_second for r in results if r.steps_per_second == r.steps_per_second)
    print(
        f"overall: {args.sessions} sessions, {total:.1f} steps/s in total, "
        f"first frame max {max(report['first_frame_seconds']):.2f} s, isolated {report['isolated']}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"summary: single session {single.steps_per_second:.1f} side-by-side steps/s; "
        f"{args.sessions} sessions {'all isolated' if report['isolated'] else 'MIXED OR FAILED'}, "
        f"{min(report['steps_per_second']):.1f}-{max(report['steps_per_second']):.1f} steps/s each"
    )
    return report


if __name__ == "__main__":
    main()
