"""The Gradio UI: one module per tab in demo/tabs, figures in plots.py, inputs in inputs.py; all math lives in core."""
from __future__ import annotations

from functools import partial

import gradio as gr

from demo.brush import PICK_BRUSH_JS
from demo.data import OmniglotImages
from demo.common import DeviceView
from demo.errors import Playground
from demo.messages import text
from demo.serving import CACHE_SWEEP, STATE_TTL_S, serve
from demo.store import CheckpointStore
from demo.tabs import characters, gradients, metatrain, sinusoid

__all__ = ["build_app", "serve"]

# the presentation option: larger plot text and thicker lines for the back of a room (demo.plot_view draws it)
PRESENTATION_JS = "(on) => { document.body.classList.toggle('presentation', on); return []; }"

TABS = (("tab.sinusoid", sinusoid), ("tab.characters", characters), ("tab.gradients", gradients),
        ("tab.metatrain", metatrain))  # (label key, module) in page order


def show_device(store: CheckpointStore, views: list[DeviceView]) -> list:
    """What each tab shows of the server's device (asked of torch, which this loads if it has not yet)."""
    return [value for view in views for value in view.values(store.device)]


def build_app(store: CheckpointStore | None = None, omniglot: OmniglotImages | None = None) -> gr.Blocks:
    """The whole app; models and Omniglot load on first use, shared read-only by all sessions.

    Building it loads no torch: the engine is imported when first used (see `core`), and what the tabs
    show of the device is set when a page has loaded.
    """
    store = store or CheckpointStore()
    views: list[DeviceView] = []
    with Playground(title=text("app.title"), delete_cache=CACHE_SWEEP) as app:
        with gr.Row(equal_height=True):
            gr.Markdown(text("app.header"), scale=1)
            presentation = gr.Checkbox(False, label=text("app.presentation"), scale=0, min_width=230,
                                       elem_id="presentation", container=False)
        presentation.change(None, presentation, None, js=PRESENTATION_JS)  # in the page alone: no server call
        # session states one tab offers the others: a task, drawn examples, the θ meta-trained in the page
        shared: dict = {"trained_theta": gr.State(None, time_to_live=STATE_TTL_S),
                        "omniglot": omniglot or OmniglotImages()}  # read-only images, not a session state
        for label, tab in TABS:
            with gr.Tab(text(label)) as page_tab:
                view = tab.build(store, shared)
            if view:
                views.append(view)
            page_tab.select(None, js=PICK_BRUSH_JS)  # its canvases start with the brush in hand
        app.load(partial(show_device, store, views), None, [output for view in views for output in view.outputs],
                 api_visibility="private", queue=False)
    return app
