"""The one inner loop: φ_{k+1} = φ_k − α ∇_φ L_support(φ_k), φ_0 = θ.

Training, evaluation and the app all adapt through `inner_updates`; `adapt` returns the last
φ and `trace_adaptation` records every step for the UI.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.func import grad

from core.models import HEAD_PREFIX, Params, layer_of, loss, predict
from core.tasks import Task


UNLABELLED = -100  # a query class label that is not known (a drawn query): no loss or accuracy for it
DIVERGENCE_FACTOR = 1e6  # a trace ends once L_support(φ_k) exceeds this multiple of L_support(θ)


@dataclass(frozen=True)
class InnerConfig:
    lr: float = 0.01  # α, the inner learning rate
    steps: int = 1  # S, the number of inner steps
    first_order: bool = False  # FOMAML: treat dφ/dθ as I by detaching each inner gradient
    adapt: tuple[str, ...] | None = None  # key prefixes to adapt; None: all (MAML), ("head.",): ANIL

    def __post_init__(self):
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"inner learning rate α must be a finite number >= 0, got {self.lr!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 0:
            raise ValueError(f"inner steps must be an integer >= 0, got {self.steps!r}")

    def adapts(self, key: str) -> bool:
        """Whether the inner loop updates parameter `key`."""
        return self.adapt is None or key.startswith(self.adapt)


def ways_of(task: Task) -> int | None:
    """Number of classes of a classification task (None for regression)."""
    if task.y_support.is_floating_point():
        return None
    return int(task.y_support.max()) + 1


def support_gradient(model: nn.Module, phi: Params, adapted: list[str], x_support: Tensor,
                     y_support: Tensor, create_graph: bool, functional: bool, part: str = "all") -> Params:
    """∇_φ L_support(φ) for the `adapted` keys (part='head': `x_support` holds the body's features).

    functional=True: torch.func.grad, which composes with vmap and an outer grad transform
    (the graph is kept unless the caller detaches). functional=False: torch.autograd.grad on
    tensors that require grad, with `create_graph`; the lighter choice in a plain Python loop.
    """
    frozen = {key: value for key, value in phi.items() if key not in adapted}

    def support_loss(moving: Params) -> Tensor:
        return loss(model, {**frozen, **moving}, x_support, y_support, part=part)

    if functional:
        return grad(support_loss)({key: phi[key] for key in adapted})
    if create_graph:
        # a fresh node per tensor, so autograd.grad gives the partial derivative ∂L/∂φ_key even when
        # φ_key is θ's own tensor and other φ entries depend on θ too (a total derivative otherwise)
        moving = {key: phi[key].view_as(phi[key]) if phi[key].requires_grad else phi[key].detach().requires_grad_()
                  for key in adapted}
    else:  # first order: nothing differentiates through this gradient, so no graph to θ is recorded
        frozen = {key: value.detach() for key, value in frozen.items()}
        moving = {key: phi[key].detach().requires_grad_() for key in adapted}
    with torch.enable_grad():
        grads = torch.autograd.grad(support_loss(moving), list(moving.values()), create_graph=create_graph)
    return dict(zip(adapted, grads))


def moves_head_only(model: nn.Module, cfg: InnerConfig, keys: list[str]) -> bool:
    """Whether the inner loop over parameters `keys` moves head keys only, so the body stays at θ.

    True for ANIL, and for one step of a model whose first step is head-only
    (`model.static_first_step`), e.g. Conv4 with its zero head: MAML with S = 1.
    """
    moved = [key for key in keys if cfg.adapts(key)]
    if cfg.steps == 1:
        moved = [key for key in moved if not key.startswith(model.static_first_step)]
    return cfg.steps > 0 and all(key.startswith(HEAD_PREFIX) for key in moved)


def inner_updates(model: nn.Module, theta: Params, x_support: Tensor, y_support: Tensor,
                  cfg: InnerConfig, ways: int | None = None, functional: bool = True,
                  support_features: Tensor | None = None) -> Iterator[Params]:
    """Yield φ_1 … φ_S of φ_{k+1} = φ_k − α ∇_φ L_support(φ_k), φ_0 = task_params(θ).

    Keys outside `cfg.adapt` are carried over untouched (the same tensors), and so are those
    of `model.static_first_step` in the first step, whose gradient there is exactly zero. When
    every step moves the head only (`moves_head_only`: ANIL, or one step from a zero head), the
    body's support features h(x_support; θ) are the same at every step, so they are computed
    once (or taken from `support_features`, see `joint_features`) and each step runs the head
    alone on them. With `cfg.first_order` each gradient is detached, so dφ/dθ = I in the outer
    gradient; otherwise the graph is kept and the outer gradient includes the Hessian.
    `functional` picks how the gradient is taken (see `support_gradient`); the values are the same.
    """
    phi = model.task_params(theta, ways)
    adapted = [key for key in phi if cfg.adapts(key)]
    first_step = [key for key in adapted if not key.startswith(model.static_first_step)]
    head_only = moves_head_only(model, cfg, list(phi))
    if head_only:  # the body is fixed: one forward pass gives the features every step reuses
        x_support = predict(model, phi, x_support, part="body") if support_features is None else support_features
    elif support_features is not None:
        raise ValueError("support_features apply only when the inner loop moves the head alone")
    part = "head" if head_only else "all"
    for step in range(cfg.steps):
        moving = first_step if step == 0 else adapted  # skip gradients known to be exactly zero
        grads = support_gradient(model, phi, moving, x_support, y_support,
                                 create_graph=not cfg.first_order, functional=functional, part=part)
        if cfg.first_order:
            grads = {key: g.detach() for key, g in grads.items()}
        phi = {**phi, **{key: phi[key] - cfg.lr * grads[key] for key in moving}}
        yield phi


def adapt(model: nn.Module, theta: Params, x_support: Tensor, y_support: Tensor,
          cfg: InnerConfig, ways: int | None = None, functional: bool = True,
          support_features: Tensor | None = None) -> Params:
    """φ_S: the task-specific parameters after `cfg.steps` inner steps from θ."""
    phi = model.task_params(theta, ways)
    for phi in inner_updates(model, theta, x_support, y_support, cfg, ways, functional, support_features):
        pass
    return phi


@dataclass
class StepRecord:
    """What one inner step k looks like; k = 0 is θ itself."""

    step: int  # k
    support_loss: float  # L_support(φ_k)
    query_loss: float | None  # L_query(φ_k); None when the task has no query set
    grad_norm: float  # ‖∇_φ L_support(φ_k)‖ over the adapted parameters
    distance: dict[str, float]  # per layer: ‖φ_k − θ‖ (Frobenius over that layer's tensors)
    wall_time_s: float  # time to compute φ_k from φ_{k−1} (0 for k = 0)
    predictions: list[float] | None = None  # regression: f(grid; φ_k)
    probabilities: list[list[float]] | None = None  # classification: softmax over ways per query
    query_accuracy: float | None = None  # classification: accuracy on the query set


@dataclass
class AdaptationTrace:
    """One record per inner step k = 0..S, detached and JSON-serialisable."""

    config: dict  # the InnerConfig used
    grid: list[float] | None = None  # x-grid of `predictions` (regression)
    records: list[StepRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdaptationTrace":
        return cls(config=data["config"], grid=data.get("grid"),
                   records=[StepRecord(**r) for r in data["records"]])


def query_metrics(model: nn.Module, phi: Params, x_support: Tensor, x_query: Tensor,
                  y_query: Tensor, part: str = "all") -> tuple[Tensor, Tensor, Tensor]:
    """(L_query(φ), query accuracy (NaN for regression), f(x_query; φ)), BatchNorm from support.

    part='head': `x_query` holds the query features the body already computed (see `predict`).
    """
    output = predict(model, phi, x_query, context=x_support, part=part)
    if model.task_kind == "regression":
        nan = torch.full((), math.nan, dtype=output.dtype, device=output.device)
        return torch.nn.functional.mse_loss(output, y_query), nan, output
    accuracy = (output.argmax(-1) == y_query).to(output.dtype).mean()
    return torch.nn.functional.cross_entropy(output, y_query), accuracy, output


def _layer_distances(theta: Params, phi: Params) -> dict[str, float]:
    """‖φ − θ‖ per layer; keys that θ lacks (a zero-initialised head) count from zero."""
    squares: dict[str, float] = {}
    for key, value in phi.items():
        start = theta.get(key)
        diff = value if start is None else value - start
        squares[layer_of(key)] = squares.get(layer_of(key), 0.0) + float(diff.double().square().sum())
    return {layer: math.sqrt(total) for layer, total in squares.items()}


def _record(model: nn.Module, theta: Params, phi: Params, task: Task, cfg: InnerConfig,
            step: int, wall_time_s: float, grid: Tensor | None) -> StepRecord:
    """Evaluate φ_k on the support and query sets (and the grid) into a StepRecord."""
    adapted = [key for key in phi if cfg.adapts(key)]
    grads = support_gradient(model, phi, adapted, task.x_support, task.y_support,
                             create_graph=False, functional=False)
    with torch.no_grad():
        record = StepRecord(
            step=step,
            support_loss=float(loss(model, phi, task.x_support, task.y_support)),
            query_loss=None,
            grad_norm=math.sqrt(sum(float(g.double().square().sum()) for g in grads.values())),
            distance=_layer_distances(theta, phi),
            wall_time_s=wall_time_s,
        )
        if task.x_query.shape[0] > 0:
            query_loss, accuracy, output = query_metrics(model, phi, task.x_support, task.x_query, task.y_query)
            labelled = task.y_query.is_floating_point() or bool((task.y_query != UNLABELLED).all())
            record.query_loss = float(query_loss) if labelled else None
            if model.task_kind == "classification":
                record.probabilities = output.softmax(-1).tolist()
                record.query_accuracy = float(accuracy) if labelled else None
        if grid is not None:
            record.predictions = predict(model, phi, grid).flatten().tolist()
    return record


def trace_adaptation(model: nn.Module, theta: Params, task: Task, cfg: InnerConfig,
                     grid: Tensor | None = None) -> Iterator[StepRecord]:
    """Adapt θ to `task` and yield a StepRecord for k = 0, 1, …, S as each step finishes.

    Uses `inner_updates` (first-order with plain autograd: no outer gradient is needed to watch
    the steps, and the values of φ_k are the same). `grid` (points, 1) adds regression predictions f(grid; φ_k).
    A diverging adaptation ends early: after the first step whose support loss exceeds
    DIVERGENCE_FACTOR · L_support(θ), or before the first step with a non-finite value, so every
    record yielded is finite (`diverged` tells a caller which happened).
    """
    ways = ways_of(task)
    theta = {key: value.detach() for key, value in theta.items()}
    watch = replace(cfg, first_order=True)
    start = _record(model, theta, model.task_params(theta, ways), task, cfg, 0, 0.0, grid)
    yield start
    updates = inner_updates(model, theta, task.x_support, task.y_support, watch, ways, functional=False)
    for step in range(1, cfg.steps + 1):
        begin = time.perf_counter()
        phi = next(updates)
        phi = {key: value.detach() for key, value in phi.items()}
        _synchronize(phi)
        record = _record(model, theta, phi, task, cfg, step, time.perf_counter() - begin, grid)
        if not _finite(record):
            return
        yield record
        if diverged(start.support_loss, record.support_loss):
            return


def diverged(start_loss: float, loss: float) -> bool:
    """Whether a support loss is past the divergence threshold: L_support(φ_k) > DIVERGENCE_FACTOR · L_support(θ)."""
    return loss > DIVERGENCE_FACTOR * max(start_loss, 1e-12)


def _finite(record: StepRecord) -> bool:
    """Whether every number in `record` is finite."""
    values = [record.support_loss, record.grad_norm, *record.distance.values()]
    values += [record.query_loss] if record.query_loss is not None else []
    values += record.predictions or []
    values += [p for row in record.probabilities or [] for p in row]
    return all(math.isfinite(v) for v in values)


def _synchronize(phi: Params) -> None:
    """Wait for queued CUDA work so that a step's wall time is real."""
    device = next(iter(phi.values())).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
