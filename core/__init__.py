"""MAML Playground's engine: tasks, models, the inner loop, meta-gradients, training, evaluation.

Depends on torch, numpy and Pillow only (torchvision is imported only to download Omniglot);
never on gradio or plotly. The UI lives in `demo/`.

`import core` loads no module of the engine: `core.<module>` imports that module when it is first
used, so the app is built and serving before torch has loaded (`core.registry`, `core.checkpoints`
and `core.episodes` load no torch at all).
"""
from __future__ import annotations

import importlib


def __getattr__(name: str):
    """`core.<name>`: the submodule, imported on first use (PEP 562; the import system makes this thread-safe)."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
