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
