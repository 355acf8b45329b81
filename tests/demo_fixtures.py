"""Fixtures for the UI tests: small checkpoints in the shipped layout, the served app, drawings, requests."""
from __future__ import annotations

import contextlib
import socket
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageDraw

from core import train
from core.training import default_config
from core.checkpoints import save_checkpoint, write_manifest
from core.models import Conv4, params


def make_assets(folder: Path) -> Path:
    """assets-like folder: sinusoid MAML, ANIL and black box (briefly trained), Omniglot MAML (untrained Conv4)."""
    folder.mkdir(parents=True, exist_ok=True)
    for algorithm in ("maml", "anil", "blackbox"):
        assert train.main(["--task", "sinusoid", "--algo", algorithm, "--iterations", "20", "--validate-every", "20",
                           "--validation-tasks", "10", "--strategy", "loop", "--quiet",
                           "--out", str(folder / f"sinusoid_{algorithm}.pt")]) == 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Conv4(filters=16)
    config = default_config("omniglot", model=model.spec()).__dict__
    save_checkpoint(folder / "omniglot_maml.pt", params(model),
                    {"task": "omniglot", "algorithm": "maml", "config": config, "data": {"train_alphabets": []},
                     "iterations": 0, "wall_time_s": 0.0, "device": "CPU", "metrics": {},
                     "git_commit": None})
    write_manifest(folder)  # as the shipped assets/ publishes each sha256 a second time
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(app, **options) -> Iterator[str]:
    """Serve `app` as app.py does (demo.serve, `options` passed on) on a free local port; yield its URL.

    serve() sets process-wide options (torch threads, the image pixel cap); they are put back
    afterwards, so the tests that run later in this process keep their own settings.
    """
    from demo import serve

    threads, pixels = torch.get_num_threads(), Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        serve(app, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **options)
        try:
            yield app.local_url
        finally:
            app.close()
            torch.set_num_threads(threads)
            Image.MAX_IMAGE_PIXELS = pixels


def character_sketch(kind: int, size=280) -> np.ndarray:
    """A drawn character (RGBA, dark ink on a transparent layer over white), one of a few shapes."""
    image = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    shapes = [lambda: draw.line([(60, 60), (220, 220)], fill="black", width=10),
              lambda: draw.ellipse([70, 70, 210, 210], outline="black", width=10),
              lambda: draw.line([(140, 40), (140, 240), (60, 240)], fill="black", width=10)]
    shapes[kind % 3]()
    return np.asarray(image)


EMPTY_POINTS = {"headers": ["x", "y"], "data": [], "metadata": None}


def sinusoid_request(**changes) -> list:
    """The arguments of /adapt_sinusoid: a sine wave, MAML, 2 steps at delay 0, with `changes`."""
    args = dict(source="sine", amplitude=2.0, phase=1.0, shots=5, drawing=None, points=EMPTY_POINTS,
                algorithm="maml", inner_lr=0.01, steps=2, delay=0.0, seed=0)
    args.update(changes)
    return list(args.values())
