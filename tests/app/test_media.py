"""Streamed pictures as content-named files: written once, the same picture gives the same file."""

from __future__ import annotations

from PIL import Image

from app.media import as_files


def test_as_files_turns_images_and_gallery_items_into_content_named_files(tmp_path):
    red, blue = Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))
    updates = as_files({"pane": red, "gallery": [(red, "#0"), (blue, "#1")], "status": "step 3", "empty": []})
    assert updates["status"] == "step 3" and updates["empty"] == []
    first, second = updates["gallery"]
    assert updates["pane"] == first[0] != second[0]  # same picture, same file; another picture, another file
    assert [caption for _, caption in updates["gallery"]] == ["#0", "#1"]
    assert Image.open(second[0]).getpixel((0, 0)) == (0, 0, 255)


def test_streamed_files_are_pruned_after_their_age_and_shared_ones_kept(tmp_path):
    from types import SimpleNamespace

    from app.media import prune_streamed

    files = [tmp_path / f"frame{index}.png" for index in range(3)]
    for file in files:
        file.write_bytes(b"png")
    pane = SimpleNamespace(temp_files={str(files[0]), str(files[1])})
    other = SimpleNamespace(temp_files={str(files[1]), str(files[2])})  # frame1 is in both: left to Gradio
    assert prune_streamed([pane, other], age=3600) == 0 and all(file.exists() for file in files)
    assert prune_streamed([pane, other], age=-1) == 2
    assert [file.exists() for file in files] == [False, True, False]
    assert pane.temp_files == {str(files[1])} and other.temp_files == {str(files[1])}


def test_the_page_prunes_its_result_pictures_but_never_the_target():
    from app.ui import build_app, streamed_components

    ids = {block.elem_id for block in streamed_components(build_app())}
    assert {"x-image", "z-image", "zx-image", "x-gallery", "pose-live"} <= ids
    assert not ids & {"seen", "editor"}
