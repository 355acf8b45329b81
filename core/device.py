"""Device choice, seeded generators and memory measurement (CUDA and CPU alike)."""
from __future__ import annotations

import os
from typing import Any, Callable

import torch


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name: str | None) -> torch.device:
    """The device named by `name` ('auto', 'cpu', 'cuda', 'cuda:1'); clear error if unusable."""
    if name in (None, "", "auto"):
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available; use 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported; use 'cpu' or 'cuda'")
    return device


def describe_device(device: torch.device) -> str:
    """'CUDA: <gpu name>' or 'CPU'."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return "CPU"


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator seeded with `seed` (sampling is done on the CPU, then moved)."""
    return torch.Generator(device=device).manual_seed(int(seed))


def synchronize(device: torch.device) -> None:
    """Wait for queued work on `device` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def available_memory(device: torch.device) -> int:
    """Bytes that a computation on `device` may still take: free GPU memory, or MemAvailable."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30  # no /proc/meminfo (not Linux): assume 4 GiB


def measure_peak_memory(fn: Callable[[], Any], device: torch.device) -> tuple[Any, int]:
    """Run fn() and return (its result, the peak bytes of tensor memory it allocated).

    CUDA: torch.cuda.max_memory_allocated after a reset, minus what was allocated before.
    CPU: the torch profiler records every tensor allocation and free of the CPU allocator
    (profile_memory=True); replaying them in time order gives the live bytes over time, and the
    peak of that curve is returned. It counts tensors only (not Python objects or the
    interpreter), like the CUDA figure. The profiler slows fn down, so time fn separately.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        result = fn()
        synchronize(device)
        return result, int(torch.cuda.max_memory_allocated(device) - baseline)
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage),
                    key=lambda e: e.time_range.start)
    live = peak = 0
    for event in events:
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return result, int(peak)
