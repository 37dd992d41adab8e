"""The progress strip each tab shows above its results.

While a run waits for a free worker (more sessions than ``--concurrency``), Gradio's queue writes the
visitor's place there ("queue: 2/5"); once it runs, a bar over its steps (the handlers report through
``gr.Progress``). The run events' ``show_progress`` points at this strip only, so the panes and the
status line stream as before, never covered by a spinner.
"""

from __future__ import annotations

import gradio as gr


def progress_strip(elem_id: str) -> gr.HTML:
    """An empty strip where the queue position and the progress bar appear."""
    return gr.HTML("", elem_id=elem_id, min_height=30, padding=False, elem_classes=["progress-strip"])


def on_strip(strip: gr.HTML) -> dict:
    """The keyword arguments of a run event whose queue position and progress show in ``strip``."""
    return dict(show_progress="full", show_progress_on=[strip])
