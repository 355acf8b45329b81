"""Small pieces both tabs use: input checks that raise gr.Error, the device badge, the ZeroGPU wrapper."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import gradio as gr
from gradio.processing_utils import encode_pil_to_bytes, hash_bytes
from PIL import Image

from core.device import describe_device
from demo.errors import excerpt

try:  # Hugging Face ZeroGPU: run GPU-bound handlers on a borrowed GPU
    import spaces

    gpu = spaces.GPU
except ImportError:  # everywhere else it changes nothing
    def gpu(fn):
        return fn


def checked_number(value, name: str, low: float, high: float, integer: bool = False):
    """`value` as a number in [low, high], or a gr.Error that says what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise gr.Error(f"{name} must be a number, got {excerpt(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise gr.Error(f"{name} must be a number, got {excerpt(value)}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise gr.Error(f"{name} must be between {low:g} and {high:g}, got {excerpt(value)}")
    if integer:
        if number != int(number):
            raise gr.Error(f"{name} must be a whole number, got {excerpt(value)}")
        return int(number)
    return number


def badge(device, seconds_per_step: float | None = None) -> str:
    """'CUDA: <gpu>' or 'CPU', with the measured time per inner step."""
    text = f"**{describe_device(device)}**"
    if seconds_per_step is not None:
        text += f" · {1000 * seconds_per_step:.2f} ms per inner step"
    return text

from gradio.events import Dependency

class Picture(gr.Image):
    """gr.Image whose output files are written atomically.

    Gradio names an output picture by the hash of its bytes and rewrites that file in place each
    time, so two sessions that show the same picture at once (the same drawings, say) can each
    serve the other a file that is being rewritten, and a client then reads 0 bytes. Here the
    file is written once, under a temporary name renamed into place, and reused afterwards.
    """

    def get_block_name(self) -> str:
        return "image"  # the page renders it with gr.Image's own frontend

    def postprocess(self, value):
        if isinstance(value, Image.Image):
            data = encode_pil_to_bytes(value, self.format)
            folder = Path(self.GRADIO_CACHE) / hash_bytes(data)
            path = folder / f"image.{self.format}"
            if not path.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
                    handle.write(data)
                os.replace(handle.name, path)
            value = str(path)
        return super().postprocess(value)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component