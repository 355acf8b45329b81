"""Meta-gradients side by side: how each method's direction and size compare with second-order MAML's,
and, measured apart, what each costs.

`compare_gradients` is pure: given the gradients (dicts of tensors with θ's keys), it returns
cosines per layer and in total, norms, and ‖g − g_ref‖, the term a first-order method drops.
`measure_cost` times a computation and takes its peak memory, on the CPU or the GPU.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from core.device import measure_peak_memory, synchronize
from core.models import Params, layer_of


@dataclass(frozen=True)
class GradientComparison:
    """One method's meta-gradient g against the reference g_ref (second-order MAML)."""

    norm: float  # ‖g‖
    cosine: float  # cos(g, g_ref) over all parameters (NaN when either is zero)
    cosine_per_layer: dict[str, float]  # cos(g, g_ref) per layer
    difference_norm: float  # ‖g − g_ref‖: for first-order MAML, the Hessian term it drops


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return sum(float((x.double() * y.double()).sum()) for x, y in zip(a, b))


def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """⟨a, b⟩ / (‖a‖ ‖b‖) over lists of tensors, in float64; NaN when either has norm 0."""
    na, nb = math.sqrt(_dot(a, a)), math.sqrt(_dot(b, b))
    return _dot(a, b) / (na * nb) if na > 0 and nb > 0 else math.nan


def compare_gradients(gradients: Mapping[str, Params], reference: str = "maml") -> dict[str, GradientComparison]:
    """For each method's g in `gradients`: ‖g‖, cos(g, g_ref) in total and per layer, and ‖g − g_ref‖."""
    if reference not in gradients:
        raise ValueError(f"the reference {reference!r} is not among the gradients ({', '.join(gradients)})")
    ref = gradients[reference]
    keys = list(ref)
    layers = list(dict.fromkeys(layer_of(key) for key in keys))
    result = {}
    for name, g in gradients.items():
        if set(g) != set(keys):
            raise ValueError(f"{name}'s gradient has other keys than {reference}'s")
        result[name] = GradientComparison(
            norm=math.sqrt(_dot([g[k] for k in keys], [g[k] for k in keys])),
            cosine=cosine([g[k] for k in keys], [ref[k] for k in keys]),
            cosine_per_layer={layer: cosine([g[k] for k in keys if layer_of(k) == layer],
                                            [ref[k] for k in keys if layer_of(k) == layer]) for layer in layers},
            difference_norm=math.sqrt(sum(float((g[k] - ref[k]).double().square().sum()) for k in keys)),
        )
    return result


@dataclass(frozen=True)
class Cost:
    seconds: float  # median wall time of one run
    peak_bytes: int  # peak tensor memory of one run above what was allocated before it (core.device)
    device: str


def measure_cost(compute: Callable[[], Any], device: torch.device, repeats: int = 3) -> tuple[Any, Cost]:
    """(the result of `compute()`, its cost): peak memory from one run, then the median time of `repeats` more.

    Memory is measured apart from time, since measuring it slows the run (see
    `core.device.measure_peak_memory`: `torch.cuda.max_memory_allocated` on a GPU, the profiler's
    tensor allocations on a CPU).
    """
    def run():
        result = compute()
        synchronize(device)
        return result

    result, peak = measure_peak_memory(run, device)
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return result, Cost(statistics.median(times), peak, str(device))
