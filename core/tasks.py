"""Tasks: the sinusoid distribution of Finn et al. (2017) and tasks built from user points.

A Task holds a support set and a query set as tensors. A batch of tasks is the same
dataclass with a leading task dimension, built by `stack_tasks`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor


@dataclass(frozen=True)
class Task:
    """Support and query sets of one task (or, with a leading dimension, of a batch).

    Regression: x, y of shape (points, 1) float.
    Classification: x of shape (ways * shots, 1, 28, 28) float, y of shape (ways * shots,) int64.
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    info: dict[str, Any] = field(default_factory=dict)  # amplitude/phase, characters, ...

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "Task":
        """The same task on `device`; float tensors cast to `dtype` when given."""

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return Task(move(self.x_support), move(self.y_support), move(self.x_query),
                    move(self.y_query), self.info)

    def __getitem__(self, index: int) -> "Task":
        """Task `index` of a batch."""
        info = {k: v[index] for k, v in self.info.items()} if self.info else {}
        return Task(self.x_support[index], self.y_support[index], self.x_query[index],
                    self.y_query[index], info)

    def __len__(self) -> int:
        """Number of tasks in a batch (the leading dimension)."""
        return self.x_support.shape[0]


def stack_tasks(tasks: Sequence[Task]) -> Task:
    """A batch Task whose tensors have a leading task dimension; info values become lists."""
    if not tasks:
        raise ValueError("stack_tasks needs at least one task")
    info = {k: [t.info.get(k) for t in tasks] for k in tasks[0].info}
    return Task(torch.stack([t.x_support for t in tasks]), torch.stack([t.y_support for t in tasks]),
                torch.stack([t.x_query for t in tasks]), torch.stack([t.y_query for t in tasks]), info)


@dataclass(frozen=True)
class SinusoidDistribution:
    """y = A sin(x − φ) with A ~ U[amplitude], φ ~ U[phase], x ~ U[x_range] (Finn et al. 2017).

    The paper's ranges are the defaults; shifted distributions (A up to 10, φ up to 2π, x beyond
    [−5, 5]) come from the same code with other ranges.
    """

    amplitude: tuple[float, float] = (0.1, 5.0)  # A ~ U[low, high]
    phase: tuple[float, float] = (0.0, math.pi)  # φ ~ U[low, high]
    x_range: tuple[float, float] = (-5.0, 5.0)  # x ~ U[low, high], support and query alike
    support: int = 10  # K support points per task
    query: int = 10  # Q query points per task

    def __post_init__(self):
        for name in ("amplitude", "phase", "x_range"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"{name} must be a finite range (low <= high), got {(low, high)}")
        if self.support < 1 or self.query < 0:
            raise ValueError(f"need support >= 1 and query >= 0 points, got {self.support} and {self.query}")

    def sample(self, tasks: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Task:
        """A batch of `tasks` tasks: x, y of shape (tasks, K or Q, 1); info has amplitude, phase."""
        def uniform(shape: tuple[int, ...], bounds: tuple[float, float]) -> Tensor:
            low, high = bounds
            return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)

        amplitude = uniform((tasks, 1, 1), self.amplitude)
        phase = uniform((tasks, 1, 1), self.phase)
        x = uniform((tasks, self.support + self.query, 1), self.x_range)
        y = amplitude * torch.sin(x - phase)
        x, y = x.to(dtype), y.to(dtype)
        k = self.support
        return Task(x[:, :k], y[:, :k], x[:, k:], y[:, k:],
                    {"amplitude": amplitude.flatten().tolist(), "phase": phase.flatten().tolist()})


def sinusoid(x: Tensor, amplitude: float, phase: float) -> Tensor:
    """y = A sin(x − φ)."""
    return amplitude * torch.sin(x - phase)


@dataclass(frozen=True)
class PointRules:
    """What a task from user points may hold."""

    x_range: tuple[float, float] = (-5.0, 5.0)  # every x must lie in [low, high]
    max_points: int = 100  # at most this many support (and query) points
    max_abs_y: float = 1e3  # |y| above this is rejected as a typo or overflow


def _as_floats(values, name: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a list of numbers, got {type(values).__name__}")
    result = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)  # numpy scalars, 0-d tensors
            except (TypeError, ValueError):
                raise ValueError(f"{name}[{i}] must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{name}[{i}] must be a finite number, got {value}")
        result.append(float(value))
    return result


def _checked_points(x_values, y_values, rules: PointRules, role: str, minimum: int) -> tuple[list[float], list[float]]:
    x = _as_floats(x_values, f"x_{role}")
    y = _as_floats(y_values, f"y_{role}")
    if len(x) != len(y):
        raise ValueError(f"x_{role} and y_{role} must have the same length, got {len(x)} and {len(y)}")
    if len(x) < minimum:
        raise ValueError(f"the {role} set needs at least {minimum} point(s), got {len(x)}")
    if len(x) > rules.max_points:
        raise ValueError(f"the {role} set may hold at most {rules.max_points} points, got {len(x)}")
    low, high = rules.x_range
    for i, value in enumerate(x):
        if not low <= value <= high:
            raise ValueError(f"x_{role}[{i}] = {value:g} is outside the allowed x range [{low:g}, {high:g}]")
    for i, value in enumerate(y):
        if abs(value) > rules.max_abs_y:
            raise ValueError(f"y_{role}[{i}] = {value:g} is larger in size than the allowed {rules.max_abs_y:g}")
    return x, y


def task_from_points(x_support, y_support, x_query=(), y_query=(), rules: PointRules = PointRules(),
                     dtype: torch.dtype = torch.float32, info: dict[str, Any] | None = None) -> Task:
    """A regression Task from lists of (x, y) points: any curve, not only sinusoids.

    Rules (each broken rule raises a ValueError that names it): at least 1 support point,
    finite numbers, equal lengths, x within `rules.x_range`, at most `rules.max_points` points.
    """
    xs, ys = _checked_points(x_support, y_support, rules, "support", 1)
    xq, yq = _checked_points(x_query, y_query, rules, "query", 0)

    def column(values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=dtype).reshape(-1, 1)

    return Task(column(xs), column(ys), column(xq), column(yq), dict(info or {}))
