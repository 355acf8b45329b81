"""How the app is served: one set of options for `app.py`, the tests, the benchmarks and the screenshots.

The numbers below were chosen from `python -m bench.load` on a 2-core CPU (see the README's
Reliability section): one torch thread per run, and at most COMPUTE_SLOTS steps computing at once
across both tabs. A second thread per run bought nothing; more compute slots only added memory.
A run holds a compute slot only while a step computes, not while it waits between steps or is
paused, so up to OPEN_RUNS runs stream at once. Events past those wait in the queue, and past
QUEUE_SIZE waiting events a user is told the app is busy and to try again.
"""
from __future__ import annotations

import datetime
import functools
import gc
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from gradio.state_holder import SessionState, StateHolder
from PIL import Image

from demo.common import ZERO_GPU
from demo.plot_view import CSS as PLOT_CSS, PLOTLY_JS
from demo.session import Wait

THEME = gr.themes.Soft(primary_hue="blue", secondary_hue="slate")
CSS = """
.gradio-container {max-width: 1400px !important; padding-top: 4px !important}
#sinusoid-device, #characters-device {font-size: 0.9em}
.controls {gap: 6px !important}
.controls .block {padding: 6px 10px !important}
.controls .form {gap: 6px !important}
.controls .info-text {font-size: 0.78em; line-height: 1.25; margin-top: 0}
.controls .reset-button {display: none}
.controls .hint p {font-size: 0.85em; margin: 2px 0}
.app-title {font-size: 1.5em; font-weight: 700; margin-right: 0.6em}
#presentation {flex: 0 0 auto !important; width: auto !important; min-width: 0 !important}
.presentation .prose, .presentation .prose p {font-size: 1.15em}
""" + PLOT_CSS
TORCH_THREADS = 1  # intra-op threads per run
COMPUTE_SLOTS = 4  # steps computing at once, both tabs together
OPEN_RUNS = 16  # runs streaming at once (Gradio's concurrency limit of the compute events)
QUEUE_SIZE = 64  # events waiting at once; past it Gradio answers "busy, try again"
MAX_IMAGE_PIXELS = 2048 * 2048  # larger images are refused from their header, before decoding
MAX_UPLOAD = "5mb"  # per uploaded file
CACHE_SWEEP = (600, 1800)  # every 10 min, delete uploaded and generated files older than 30 min
SESSIONS = 200  # sessions whose state the server keeps (about 1 MB each); the least recently used go first
STATE_TTL_S = 3600  # a session's state is deleted an hour after it was last set

COMPUTE = dict(concurrency_id="compute", concurrency_limit=OPEN_RUNS)  # every event that runs the engine
LIGHT = dict(concurrency_id="light", concurrency_limit=8)  # events that only redraw or edit a small state
LAUNCH = dict(theme=THEME, css=CSS, show_error=True, max_file_size=MAX_UPLOAD, state_session_capacity=SESSIONS,
              allowed_paths=[str(PLOTLY_JS)])  # the one file of the page's own that Gradio serves


# set by serve() for the serving process; read by every compute step (see `computes`); set once load_engine is done
PROCESS = {"torch_threads": TORCH_THREADS, "compute": threading.BoundedSemaphore(COMPUTE_SLOTS),
           "engine_loaded": threading.Event()}
ENGINE = ("core.compare", "core.device", "core.ink", "core.landscape", "core.omniglot", "core.tasks", "core.trace",
          "core.training")  # the engine modules the tabs use (with those they import)


def use_torch_threads() -> None:
    """Give the calling OS thread the process's torch threads (importing torch if `load_engine` has not yet)."""
    import torch

    torch.set_num_threads(PROCESS["torch_threads"])


def load_engine() -> None:
    """Import torch and the engine's modules (ENGINE), then freeze what the imports made.

    `serve` runs this in a thread of its own once the server answers, so a page is served while torch
    loads (3–4 s of start-up on a 2-core CPU) and a first Adapt rarely waits for it. An event that needs
    the engine sooner imports what it needs itself; the import system makes both wait for one import.
    The modules live as long as the server, so they are frozen out of the garbage collector's walks
    like the libraries loaded before it started (see `serve`); objects of a request that runs
    meanwhile are frozen with them, once.
    """
    for module in ENGINE:
        importlib.import_module(module)
    gc.freeze()
    PROCESS["engine_loaded"].set()


def computes(handler):
    """`handler` (a function or a generator function) run in a compute slot, with the process's torch threads.

    Each call, or each step of a generator, takes one of COMPUTE_SLOTS slots while it computes. A
    generator that yields `Wait` (see `Playback.hold`) sleeps outside any slot, then sends the
    Wait's tick to the page, so a paused run holds no slot. The thread count is set in every step
    because OpenMP and MKL keep it per OS thread, and Gradio runs each step on one of its worker
    threads, which start with one thread per core: set in the main thread alone, TORCH_THREADS
    would not apply where the engine runs.
    """
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args, **kwargs):
            steps = handler(*args, **kwargs)
            try:
                while True:
                    with PROCESS["compute"]:
                        use_torch_threads()
                        try:
                            update = next(steps)
                        except StopIteration:
                            return
                    if isinstance(update, Wait):
                        if update.tick is not None:
                            yield update.tick
                        time.sleep(update.seconds)
                    else:
                        yield update
            finally:
                steps.close()
        return stream

    @functools.wraps(handler)
    def call(*args, **kwargs):
        with PROCESS["compute"]:
            use_torch_threads()
            return handler(*args, **kwargs)
    return call


def configure_process(threads: int = TORCH_THREADS, slots: int = COMPUTE_SLOTS) -> None:
    """Settings of the serving process: torch threads (set where torch runs), compute slots, the image pixel cap, and
    the app's log."""
    PROCESS["torch_threads"], PROCESS["compute"] = threads, threading.BoundedSemaphore(slots)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse above the cap, not only above 2×
    logger = logging.getLogger("maml_playground")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class LazySession(SessionState):
    """Gradio's SessionState, whose blocks' configs are made when first used rather than all at a session's first
    event.

    Gradio makes a config for each of the app's 174 blocks when a session first calls the server: 34 ms of
    the event loop on a quiet 2-core CPU, and more under load, so 30 clients connecting at once held every
    other request (Stop too) for a second or more (docs/RESULTS.md). A session needs the config of a block
    only once an event sets it (Gradio then makes it itself) or when a deep link lists them all
    (`components`), which makes the rest then.
    """

    def __init__(self, blocks: gr.Blocks):
        self.app_blocks = blocks.blocks
        self.outdated: set[int] = set()  # blocks set since their config was last made
        super().__init__(SimpleNamespace(default_config=blocks.default_config, blocks={}))  # no config made yet

    def __setitem__(self, key: int, value) -> None:
        """Gradio's, with the block's config made when it is next read.

        Gradio remakes a block's config whenever an event sets it: every gr.State output, and every
        update, gr.skip() included, which builds the component afresh and makes its config twice, each
        time writing its data model's JSON schema three times with pydantic (about 10 ms for a plot or
        an image, per streamed frame). Only a deep link (`components`) and a value set later read them.
        """
        block = self.blocks_config.blocks.get(key)
        if isinstance(block, gr.State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value
        if block:
            self.outdated.add(key)

    def _update_config(self, key: int) -> None:
        """Gradio's, made when it is next read (see `__setitem__`)."""
        if self[key] is not None:
            self.outdated.add(key)

    def _update_value_in_config(self, key: int, value) -> None:
        self._make_configs({key} & self.outdated)
        super()._update_value_in_config(key, value)

    def _make_configs(self, keys: set[int]) -> None:
        """The configs of `keys`, from their blocks as they are now."""
        for key in sorted(keys):
            self.config_values[key] = self.blocks_config.config_for_block(key, [], self.blocks_config.blocks[key])
        self.outdated -= keys

    @property
    def components(self):
        self._make_configs(set(self.outdated))
        made = self.config_values
        self.config_values = {**{key: made[key] if key in made else self.blocks_config.config_for_block(key, [], block)
                                 for key, block in self.blocks_config.blocks.items() if key in self.app_blocks},
                              **made}
        return super().components


class LazySessions(StateHolder):
    """Gradio's StateHolder, whose new sessions are LazySessions."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LazySession(self.blocks)
        return super().__getitem__(session_id)


def lighten_events() -> None:
    """Spare Gradio's event loop two costs it pays on every event, with the same results.

    Gradio imports matplotlib around every event (to set its backend); where it is not installed each try
    searches the whole path again, so it is marked missing. And Gradio resolves its upload folder for every
    file it handles unless GRADIO_TEMP_DIR names it, so it is named, where Gradio would put it anyway.
    """
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # `import matplotlib` now fails at once, as it would after the search
    os.environ.setdefault("GRADIO_TEMP_DIR", str((Path(tempfile.gettempdir()) / "gradio").resolve()))


def serve(app: gr.Blocks, threads: int = TORCH_THREADS, slots: int = COMPUTE_SLOTS, runs: int = OPEN_RUNS,
          queue_size: int = QUEUE_SIZE, **launch):
    """Queue and launch `app` with the app's options; `launch` adds or overrides launch() arguments.

    `threads`, `slots`, `runs` and `queue_size` override TORCH_THREADS, COMPUTE_SLOTS, OPEN_RUNS
    and QUEUE_SIZE (bench.load measures the choice; tests fill small ones).
    """
    configure_process(threads, slots)
    for fn in app.fns.values():
        if fn.concurrency_id == COMPUTE["concurrency_id"]:
            fn.concurrency_limit = runs
    # What exists now (the libraries, the app's blocks) lives as long as the server. Frozen, it is
    # no longer walked by each full collection, which holds every thread, the event loop too: under
    # a class's load that made Stop wait for as long as the collection took (docs/RESULTS.md).
    # (No collection first: it would add 0.2 s to start-up, to free a few dozen objects.)
    gc.freeze()
    lighten_events()
    if ZERO_GPU:  # `spaces` has loaded torch already, and forks the process for each GPU call: no import may be
        load_engine()  # half done in another thread then, or the fork's copy of its lock is never released
    launched = app.queue(max_size=queue_size, default_concurrency_limit=LIGHT["concurrency_limit"]).launch(
        **{**LAUNCH, **launch, "prevent_thread_lock": True})
    sessions = LazySessions()  # before any page has the address, so no session is in Gradio's own store yet
    sessions.set_blocks(app)
    app.server_app.state_holder = sessions
    if not ZERO_GPU:  # on ZeroGPU it loaded before launch
        threading.Thread(target=load_engine, name="load-engine", daemon=True).start()
    if not launch.get("prevent_thread_lock"):
        app.block_thread()
    return launched
