"""Download folders are bounded: a server that runs for days keeps a fixed number of run folders."""

from __future__ import annotations

import os
import time

from PIL import Image

from app.download import RunRecord, new_run_folder


def _record() -> RunRecord:
    record = RunRecord()
    tile = Image.new("RGB", (8, 8), "gray")
    for step in range(3):
        record.add(step, (1.0 / (step + 1),) * 3, (tile,) * 3)
    return record


def test_run_folders_never_pile_up(tmp_path):
    folders = [new_run_folder(tmp_path, keep=4) for _ in range(10)]
    left = sorted(tmp_path.glob("landscape-run-*"))
    assert len(left) == 4 and folders[-1] in left  # the newest is kept, the oldest are gone
    assert not folders[0].exists()


def test_old_run_folders_go_whatever_their_number(tmp_path):
    old = new_run_folder(tmp_path)
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    fresh = new_run_folder(tmp_path, max_age=3600)
    assert fresh.exists() and not old.exists()


def test_a_record_writes_its_three_files_into_a_bounded_folder(tmp_path, monkeypatch):
    import app.download as download

    monkeypatch.setattr(download, "RUNS_ROOT", tmp_path)
    paths = [_record().write() for _ in range(download.KEEP_RUNS + 3)]
    assert all(len(files) == 3 for files in paths)
    assert len(list(tmp_path.glob("landscape-run-*"))) == download.KEEP_RUNS
    assert all(os.path.exists(path) for path in paths[-1])


def test_the_refined_curve_is_a_last_column_from_its_first_step(tmp_path):
    import csv

    record = _record()
    record.final = {1: 0.5, 2: 0.25}  # the last stage from step 1 to the run's last step
    rows = list(csv.reader(open(record.write(tmp_path / "run")[1])))
    assert rows[0] == ["step", "x_loss", "z_loss", "zx_loss", "final_loss"]
    assert [row[-1] for row in rows[1:]] == ["", "0.5", "0.25"]
    record.add(0, (1.0,) * 3, (Image.new("RGB", (8, 8)),) * 3)  # a fresh start forgets it
    assert record.final == {}


def test_full_resolution_finals_join_the_download(tmp_path):
    record = _record()
    record.full = {"run_x_1024": Image.new("RGB", (32, 32), "red"), "run_zx_1024": Image.new("RGB", (32, 32), "blue")}
    paths = record.write(tmp_path / "run")
    names = [os.path.basename(path) for path in paths]
    assert names[:3] == ["run_strip.png", "run_losses.csv", "run_settings.json"]
    assert names[3:] == ["run_x_1024.png", "run_zx_1024.png"]
    with Image.open(paths[3]) as saved:
        assert saved.size == (32, 32) and saved.getpixel((0, 0)) == (255, 0, 0)
