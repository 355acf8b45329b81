"""One table of the caps on every number a person sets: it feeds the sliders' ranges and the handlers' checks.

A slider offers exactly the range its handler accepts, so the page and the API agree.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    step: float  # the slider's step
    value: float  # where the slider starts
    integer: bool = False


MAX_DELAY_S = 1.0  # the longest wait between streamed steps

LIMITS = {
    "sinusoid.amplitude": Limit(0.1, 10.0, 0.1, 2.5),
    "sinusoid.phase": Limit(0.0, 6.28, 0.05, 1.0),
    "sinusoid.shots": Limit(1, 20, 1, 10, integer=True),
    "sinusoid.inner_lr": Limit(0.0, 0.1, 0.001, 0.01),
    "sinusoid.steps": Limit(0, 100, 1, 10, integer=True),
    "sinusoid.delay": Limit(0.0, MAX_DELAY_S, 0.05, 0.2),
    "sinusoid.seed": Limit(0, 2**31 - 1, 1, 0, integer=True),
    "sinusoid.replay": Limit(0, 100, 1, 0, integer=True),
    "characters.ways": Limit(2, 10, 1, 3, integer=True),
    "characters.shots": Limit(1, 5, 1, 1, integer=True),
    "characters.inner_lr": Limit(0.0, 2.0, 0.05, 0.4),
    "characters.steps": Limit(0, 20, 1, 3, integer=True),
    "characters.delay": Limit(0.0, MAX_DELAY_S, 0.05, 0.3),
    "characters.replay": Limit(0, 20, 1, 0, integer=True),
    "gradients.steps": Limit(1, 20, 1, 1, integer=True),
    "gradients.inner_lr": Limit(0.0, 1.0, 0.005, 0.01),
    "gradients.tasks": Limit(1, 25, 1, 5, integer=True),
    "gradients.meta_lr": Limit(0.0, 1.0, 0.005, 0.03),
    "gradients.sweep": Limit(1, 10, 1, 10, integer=True),
    "gradients.seed": Limit(0, 2**31 - 1, 1, 0, integer=True),
    "metatrain.meta_batch": Limit(1, 25, 1, 25, integer=True),
    "metatrain.inner_lr": Limit(0.0, 0.1, 0.001, 0.01),
    "metatrain.meta_lr": Limit(0.0001, 0.01, 0.0001, 0.001),
    "metatrain.steps": Limit(1, 5, 1, 1, integer=True),
    "metatrain.iterations": Limit(25, 2000, 25, 500, integer=True),
    "metatrain.seed": Limit(0, 2**31 - 1, 1, 0, integer=True),
}
