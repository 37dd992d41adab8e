"""Write the app's bundled sample poses, ``app/samples/poses/<clip>.json``, from the CMU test clips.

``PYTHONPATH=. python scripts/make_pose_samples.py`` (reads ``../shared/data/cmu_mocap``): eight frames, evenly
spaced over the middle 80%, of a few test clips, as 66 axis-angle values per frame (rounded to 1e-4 rad), so that the
pose tab works from a bare clone. CMU data: "The data used in this project was obtained from
mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217."
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engines.io.data import data_path
from engines.models.pose.data import frames_to_pose, read_clip
from engines.models.pose.skeleton import load_skeleton

CLIPS = ("washwindow/washwindow_1", "walking/walking_1", "running/running_1", "soccer/soccer_1")
FRAMES = 8
OUT = Path(__file__).resolve().parents[1] / "app" / "samples" / "poses"


def main() -> None:
    names = load_skeleton().names
    OUT.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        frames = read_clip(data_path("cmu_mocap") / "test" / f"{clip}.txt")
        # from 10% to 90% of the clip: mocap clips start (and often end) in a calibration T-pose
        chosen = np.linspace(0.1 * (len(frames) - 1), 0.9 * (len(frames) - 1), FRAMES).round().astype(int)
        poses = frames_to_pose(frames[chosen], names).numpy()
        record = {
            "source": f"CMU mocap (mocap.cs.cmu.edu), cmu_mocap/test/{clip}.txt, frames {chosen.tolist()}",
            "frames": np.round(poses.astype(np.float64), 4).tolist(),
        }
        (OUT / f"{clip.split('/')[1]}.json").write_text(json.dumps(record, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
