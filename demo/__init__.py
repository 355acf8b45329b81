"""The Gradio UI: one module per tab in demo/tabs, figures in plots.py, inputs in inputs.py; all math lives in core."""
from __future__ import annotations

import gradio as gr

from demo.errors import Playground
from demo.messages import text
from demo.serving import CACHE_SWEEP, serve
from demo.store import CheckpointStore
from demo.tabs import characters, gradients, sinusoid

__all__ = ["build_app", "serve"]

TABS = (("tab.sinusoid", sinusoid), ("tab.characters", characters), ("tab.gradients", gradients))  # page order


def build_app(store: CheckpointStore | None = None) -> gr.Blocks:
    """The whole app; models load on first use, θ shared read-only by all sessions."""
    store = store or CheckpointStore()
    with Playground(title=text("app.title"), delete_cache=CACHE_SWEEP) as app:
        gr.Markdown(text("app.header"))
        shared: dict = {}  # session states one tab offers the later ones (a task, drawn examples)
        for label, tab in TABS:
            with gr.Tab(text(label)):
                tab.build(store, shared)
    return app
