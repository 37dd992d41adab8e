"""Fixes for two of Gradio's per-request costs (Gradio 6.31), both paid in its event loop, where every
session's requests wait behind each other.

**Every streamed frame.** Each output a handler's yield leaves out gets ``gr.skip()``
(``{"__type__": "update"}``), and Gradio treats that as a property update: it builds the component anew and
regenerates its config, including the pydantic JSON schema of its data model (about 5 ms for a ``Gallery``).
A run of the image tab has about twenty outputs and streams a frame per step, so a frame cost ~20 ms. The
schema depends only on the data-model class, so :func:`cache_data_model_schemas` keeps one per class and
hands out copies.

**Every new session.** Its first event builds the config of every component on the page (~60 ms for ours),
and most of that is ``inspect.signature(cls.__init__)``, asked again for every component; building a
component (as each left-out output above is rebuilt) asks ``inspect.getfullargspec`` of its ``__init__``.
:func:`cache_init_signatures` remembers both for plain functions (they never change).
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import types
from typing import Any

import gradio.blocks
import gradio.component_meta
from gradio import data_classes

_SCHEMAS: dict[tuple, dict] = {}
_LOCK = threading.Lock()
_PATCHED = "_landscape_cached_schema"


def _cached(original: classmethod):
    function = original.__func__

    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict:
        key = (cls, args, tuple(sorted(kwargs.items(), key=lambda item: item[0])))
        try:
            hash(key)
        except TypeError:  # an unhashable argument (a custom generator instance): no cache
            return function(cls, *args, **kwargs)
        with _LOCK:
            if key not in _SCHEMAS:
                _SCHEMAS[key] = function(cls, *args, **kwargs)
            return copy.deepcopy(_SCHEMAS[key])  # callers may edit what they get (api_info pops a key)

    model_json_schema.__doc__ = function.__doc__
    setattr(model_json_schema, _PATCHED, True)
    return classmethod(model_json_schema)


def cache_data_model_schemas() -> None:
    """Cache ``model_json_schema`` of Gradio's data models (``GradioModel``, ``GradioRootModel`` and their
    subclasses) per class. Idempotent; the schemas are the same as without it, as copies."""
    for base in (data_classes.GradioModel, data_classes.GradioRootModel):
        current = base.__dict__.get("model_json_schema")
        if current is not None and getattr(current.__func__, _PATCHED, False):
            continue
        original = current if current is not None else classmethod(base.model_json_schema.__func__)
        base.model_json_schema = _cached(original)


_function_signature = functools.lru_cache(maxsize=1024)(inspect.signature)
_function_argspec = functools.lru_cache(maxsize=1024)(inspect.getfullargspec)


class _CachedInspect(types.ModuleType):
    """``inspect`` as Gradio's component code sees it, with ``signature`` and ``getfullargspec`` of plain
    functions cached (both answers are immutable)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    @staticmethod
    def signature(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        if not args and not kwargs and inspect.isfunction(obj):
            return _function_signature(obj)
        return inspect.signature(obj, *args, **kwargs)

    @staticmethod
    def getfullargspec(obj: Any) -> inspect.FullArgSpec:
        return _function_argspec(obj) if inspect.isfunction(obj) else inspect.getfullargspec(obj)


def cache_init_signatures() -> None:
    """Cache ``inspect.signature`` / ``getfullargspec`` of plain functions for ``gradio.blocks`` (each
    component's config is built from its ``__init__``'s parameters) and ``gradio.component_meta`` (each
    component's construction reads them). Idempotent; bound methods and other callables are not cached."""
    for module in (gradio.blocks, gradio.component_meta):
        if not isinstance(module.inspect, _CachedInspect):
            module.inspect = _CachedInspect("inspect")
