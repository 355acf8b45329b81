"""Device choice, seeded generators and memory measurement (CUDA and CPU alike)."""
from __future__ import annotations

import weakref
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


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


class LiveTensorBytes(TorchDispatchMode):
    """While active, counts the bytes of the CPU tensor storages created inside it that are still alive.

    Every op's outputs pass through `__torch_dispatch__`; a storage seen for the first time adds
    its bytes, and a finalizer takes them off when the storage is freed (by Python or by autograd
    releasing a graph). `peak` is the highest count reached.
    """

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self._storages: dict[int, weakref.finalize] = {}

    def _freed(self, pointer: int, nbytes: int) -> None:
        self.live -= nbytes
        self._storages.pop(pointer, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "cpu":
                storage = tensor.untyped_storage()
                pointer = storage.data_ptr()
                if pointer and pointer not in self._storages:
                    self._storages[pointer] = weakref.finalize(storage, self._freed, pointer, storage.nbytes())
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
        return out


def measure_peak_memory(fn: Callable[[], Any], device: torch.device) -> tuple[Any, int]:
    """Run fn() and return (its result, the peak bytes of tensor memory it allocated).

    CUDA: torch.cuda.max_memory_allocated after a reset, minus what was allocated before.
    CPU: `LiveTensorBytes` follows every tensor storage the computation creates, until it is
    freed, and reports the peak of the live bytes. It counts tensors only (not Python objects or
    the interpreter), like the CUDA figure; it slows fn a little, so time fn separately.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        result = fn()
        synchronize(device)
        return result, int(torch.cuda.max_memory_allocated(device) - baseline)
    tracker = LiveTensorBytes()
    with tracker:
        result = fn()
    return result, int(tracker.peak)
