"""Small pieces both tabs use: input checks that raise gr.Error, the device badge, the ZeroGPU wrapper."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import gradio as gr
from gradio.processing_utils import encode_pil_to_bytes, hash_bytes
from gradio.utils import get_upload_folder
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


def picture_file(image: Image.Image, format: str = "webp") -> str:
    """`image` saved in Gradio's cache under the hash of its bytes, written once; its path, for a gr.Image output.

    Returned as a PIL image, Gradio would save the same-named file afresh for every output, in place,
    so two sessions that show the same picture at once (the same drawings, say) could each be sent
    the other's half-written file, and a client then read 0 bytes. Here the file is written under
    a temporary name and renamed into place, and an existing one is only touched (the cache sweep
    ages files by their ctime).
    """
    data = encode_pil_to_bytes(image, format)
    folder = Path(get_upload_folder()) / hash_bytes(data)
    path = folder / f"image.{format}"
    try:
        os.utime(path)  # there already, and kept from the sweep a while longer
        return str(path)
    except OSError:  # not there (or just swept): write it
        pass
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
        handle.write(data)
    try:
        os.replace(handle.name, path)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    return str(path)
