"""Small pieces both tabs use: input checks that raise gr.Error, the device badge, the ZeroGPU wrapper."""
from __future__ import annotations

import math

import gradio as gr

from core.device import describe_device

try:  # Hugging Face ZeroGPU: run GPU-bound handlers on a borrowed GPU
    import spaces

    gpu = spaces.GPU
except ImportError:  # everywhere else it changes nothing
    def gpu(fn):
        return fn

EVENT_LIMITS = dict(concurrency_limit=4, time_limit=180)  # per event: parallel runs and seconds


def checked_number(value, name: str, low: float, high: float, integer: bool = False):
    """`value` as a number in [low, high], or a gr.Error that says what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise gr.Error(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise gr.Error(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    if integer:
        if value != int(value):
            raise gr.Error(f"{name} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def badge(device, seconds_per_step: float | None = None) -> str:
    """'CUDA: <gpu>' or 'CPU', with the measured time per inner step."""
    text = f"**{describe_device(device)}**"
    if seconds_per_step is not None:
        text += f" · {1000 * seconds_per_step:.2f} ms per inner step"
    return text
