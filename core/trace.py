"""What the page shows of one adaptation: a StepRecord per inner step k = 0..S, built here for any model.

`trace_records` adapts θ to a task through the one inner loop (`core.inner.trajectory`) and
yields the records in order; a model that `reads_support` (the black box) adapts in one forward
pass, so its trace is the single record k = 0. Records are detached, small and
JSON-serialisable, so the UI can replay them without recomputing.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator

import torch
from torch import Tensor, nn

from core.inner import UNLABELLED, InnerConfig, diverged, support_gradient, trajectory, ways_of
from core.models import Params, layer_of, task_loss, task_predict
from core.tasks import Task


@dataclass
class StepRecord:
    """What one inner step k looks like; k = 0 is θ itself."""

    step: int  # k
    support_loss: float  # L_support(φ_k)
    query_loss: float | None  # L_query(φ_k); None when the task has no (labelled) query set
    grad_norm: float  # ‖∇_φ L_support(φ_k)‖ over the adapted parameters
    distance: dict[str, float]  # per layer: ‖φ_k − θ‖ (Frobenius over that layer's tensors)
    wall_time_s: float  # time to compute φ_k from φ_{k−1} (for k = 0: the black box's forward pass, else 0)
    predictions: list[float] | None = None  # regression: f(grid; φ_k)
    probabilities: list[list[float]] | None = None  # classification: softmax over ways per query
    query_accuracy: float | None = None  # classification: accuracy on the query set


@dataclass
class AdaptationTrace:
    """One record per inner step k = 0..S, detached and JSON-serialisable."""

    config: dict  # what was run: algorithm, inner_lr, steps
    grid: list[float] | None = None  # x-grid of `predictions` (regression)
    records: list[StepRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdaptationTrace":
        return cls(config=data["config"], grid=data.get("grid"),
                   records=[StepRecord(**r) for r in data["records"]])


def _layer_distances(theta: Params, phi: Params) -> dict[str, float]:
    """‖φ − θ‖ per layer; keys that θ lacks (a zero-initialised head) count from zero."""
    squares: dict[str, float] = {}
    for key, value in phi.items():
        start = theta.get(key)
        diff = value if start is None else value - start
        squares[layer_of(key)] = squares.get(layer_of(key), 0.0) + float(diff.double().square().sum())
    return {layer: math.sqrt(total) for layer, total in squares.items()}


def _record(model: nn.Module, theta: Params, phi: Params, task: Task, cfg: InnerConfig, step: int,
            wall_time_s: float, grid: Tensor | None, query_output: Tensor | None) -> StepRecord:
    """Evaluate φ_k on the support set, the query set (its output given) and the grid into a StepRecord."""
    adapted = [key for key in phi if cfg.adapts(key)]
    grads = support_gradient(model, phi, adapted, task.x_support, task.y_support,
                             create_graph=False, functional=False)
    with torch.no_grad():
        support = task_predict(model, phi, task.x_support, task.y_support, task.x_support)
        record = StepRecord(
            step=step,
            support_loss=float(task_loss(support, task.y_support, model.task_kind)),
            query_loss=None,
            grad_norm=math.sqrt(sum(float(g.double().square().sum()) for g in grads.values())),
            distance=_layer_distances(theta, phi),
            wall_time_s=wall_time_s,
        )
        if query_output is not None:
            labelled = task.y_query.is_floating_point() or bool((task.y_query != UNLABELLED).all())
            if labelled:
                record.query_loss = float(task_loss(query_output, task.y_query, model.task_kind))
            if model.task_kind == "classification":
                record.probabilities = query_output.softmax(-1).tolist()
                accuracy = (query_output.argmax(-1) == task.y_query).double().mean()
                record.query_accuracy = float(accuracy) if labelled else None
        if grid is not None:
            record.predictions = task_predict(model, phi, task.x_support, task.y_support, grid).flatten().tolist()
    return record


def trace_records(model: nn.Module, theta: Params, task: Task, cfg: InnerConfig,
                  grid: Tensor | None = None) -> Iterator[StepRecord]:
    """Adapt θ to `task` and yield a StepRecord for k = 0, 1, …, S.

    The steps are the one inner loop's, first order with plain autograd: no outer gradient is
    needed to watch them, and the values of φ_k are the same. `grid` (points, 1) adds regression
    predictions f(grid; φ_k). A diverging adaptation ends early: after the first step whose
    support loss exceeds DIVERGENCE_FACTOR · L_support(θ), or before the first step with a
    non-finite value, so every record yielded is finite (`core.inner.diverged` tells which).
    """
    theta = {key: value.detach() for key, value in theta.items()}
    has_query = task.x_query.shape[0] > 0
    path = trajectory(model, theta, task.x_support, task.y_support, replace(cfg, first_order=True), ways_of(task),
                      x_query=task.x_query if has_query else None, functional=False, timed=True)
    start = None
    for step, phi in enumerate(path.phis):
        phi = {key: value.detach() for key, value in phi.items()}
        begin = time.perf_counter()
        with torch.no_grad():
            output = path.query_output(step) if has_query else None
        # k = 0 took no step, except for a black box, whose adaptation is this forward pass
        seconds = path.seconds[step - 1] if step else (time.perf_counter() - begin if model.reads_support else 0.0)
        record = _record(model, theta, phi, task, cfg, step, seconds, grid, output)
        if step and not _finite(record):
            return
        yield record
        start = start or record
        if step and diverged(start.support_loss, record.support_loss):
            return


def _finite(record: StepRecord) -> bool:
    """Whether every number in `record` is finite."""
    values = [record.support_loss, record.grad_norm, *record.distance.values()]
    values += [record.query_loss] if record.query_loss is not None else []
    values += record.predictions or []
    values += [p for row in record.probabilities or [] for p in row]
    return all(math.isfinite(v) for v in values)
