"""The Gradio fixes of app.gradio_patches give the same answers as Gradio itself, as copies."""

from __future__ import annotations

import inspect

import gradio as gr
import gradio.blocks
import gradio.component_meta
from gradio import data_classes
from gradio.components.gallery import GalleryData

from app.gradio_patches import cache_data_model_schemas, cache_init_signatures


def test_cached_schema_equals_pydantic_and_is_a_fresh_copy():
    expected = data_classes.FileData.__mro__[-2].model_json_schema.__func__(data_classes.FileData)  # BaseModel's
    cache_data_model_schemas()
    cache_data_model_schemas()  # idempotent: not wrapped twice
    first, second = data_classes.FileData.model_json_schema(), data_classes.FileData.model_json_schema()
    assert first == expected and second == expected
    first["title"] = "edited by a caller"
    assert data_classes.FileData.model_json_schema() == expected  # the cache is never handed out itself
    assert GalleryData.model_json_schema()["title"] == "GalleryData"  # root models too, keyed per class


def test_component_api_info_unchanged_by_the_cache():
    gallery = gr.Gallery(render=False)
    cache_data_model_schemas()
    again = gr.Gallery(render=False)
    assert again.api_info() == gallery.api_info()
    assert gr.Dropdown(["a", "b"], render=False).api_info()["enum"] == ["a", "b"]  # per-instance info untouched


def test_signatures_cached_for_plain_functions_only():
    cache_init_signatures()
    cached = gradio.blocks.inspect
    assert cached.signature(gr.Image.__init__) is cached.signature(gr.Image.__init__)
    assert cached.signature(gr.Image.__init__) == inspect.signature(gr.Image.__init__)
    assert cached.getfullargspec(gr.Image.__init__) == inspect.getfullargspec(gr.Image.__init__)
    assert gradio.component_meta.inspect is not inspect
    bound = gr.Image(render=False).get_config
    assert cached.signature(bound) == inspect.signature(bound)
    assert cached.isfunction is inspect.isfunction  # the rest of inspect passes through
    cache_init_signatures()
    assert gradio.blocks.inspect is cached


def test_a_component_config_is_the_same_with_the_caches(monkeypatch):
    with monkeypatch.context() as plain:  # Gradio's own inspect, whatever ran before
        plain.setattr(gradio.blocks, "inspect", inspect)
        plain.setattr(gradio.component_meta, "inspect", inspect)
        before = gradio.blocks.BlocksConfig.config_for_block(1, [], gr.Gallery(label="g", render=False))
    cache_data_model_schemas()
    cache_init_signatures()
    after = gradio.blocks.BlocksConfig.config_for_block(1, [], gr.Gallery(label="g", render=False))
    assert {key: value for key, value in after.items() if key != "key"} == {key: value for key, value in before.items() if key != "key"}  # fmt: skip
