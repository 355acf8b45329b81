"""The Gradio UI: one module per tab, figures in plots.py, inputs in inputs.py; all math lives in core."""
from __future__ import annotations

import gradio as gr

from demo import characters, sinusoid
from demo.errors import Playground
from demo.serving import CACHE_SWEEP, CSS, THEME, serve
from demo.store import CheckpointStore

__all__ = ["CSS", "THEME", "build_app", "serve"]

HEADER = r"""
# MAML Playground
Meta-learning with real computation: **θ** is a meta-learned initialisation, and each task adapts it
to **φᵢ** with a few gradient steps on its support set (Finn et al., 2017).
MAML은 여러 태스크에서 빠르게 적응할 수 있는 초기값 θ를 학습합니다. 각 태스크는 support set에서
몇 번의 경사 하강으로 θ를 φᵢ로 바꾸고, 그 결과를 query set으로 평가합니다.
"""


def build_app(store: CheckpointStore | None = None) -> gr.Blocks:
    """The whole app; models load on first use, θ shared read-only by all sessions."""
    store = store or CheckpointStore()
    with Playground(title="MAML Playground", delete_cache=CACHE_SWEEP) as app:
        gr.Markdown(HEADER)
        with gr.Tab("Sinusoid"):
            sinusoid.build(store)
        with gr.Tab("Characters"):
            characters.build(store)
    return app
