"""The one inner loop: φ_{k+1} = φ_k − α ∇_φ L_support(φ_k), φ_0 = θ.

`inner_step` is one update. `trajectory` runs S of them and returns φ_0 … φ_S with the body's
features where the body stays at θ; meta-gradients, evaluation, the trace, the landscape and the
benchmarks all adapt through it. `adapt` returns φ_S alone.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Collection

import torch
from torch import Tensor, nn
from torch.func import grad

from core.models import Params, joint_features, loss, predict, task_loss, task_predict
from core.registry import HEAD_PREFIX
from core.tasks import Task


UNLABELLED = -100  # a query class label that is not known (a drawn query): no loss or accuracy for it
DIVERGENCE_FACTOR = 1e6  # a trace ends once L_support(φ_k) exceeds this multiple of L_support(θ)


@dataclass(frozen=True)
class InnerConfig:
    lr: float = 0.01  # α, the inner learning rate
    steps: int = 1  # S, the number of inner steps
    first_order: bool = False  # FOMAML: treat dφ/dθ as I by detaching each inner gradient
    adapt: tuple[str, ...] | None = None  # key prefixes to adapt; None: all (MAML), ("head.",): ANIL, (): none

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
    if not adapted:
        return {}
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


def inner_step(model: nn.Module, phi: Params, keys: list[str], x_support: Tensor, y_support: Tensor,
               cfg: InnerConfig, functional: bool = True, part: str = "all") -> Params:
    """φ_{k+1} = φ_k − α ∇_φ L_support(φ_k) on the entries `keys`; the others carry over (the same tensors).

    With `cfg.first_order` the gradient is detached, so dφ_{k+1}/dφ_k = I in an outer gradient;
    otherwise its graph is kept and the outer gradient includes the Hessian. part='head':
    `x_support` holds the body's features and the step runs the head alone.
    """
    grads = support_gradient(model, phi, keys, x_support, y_support,
                             create_graph=not cfg.first_order, functional=functional, part=part)
    if cfg.first_order:
        grads = {key: g.detach() for key, g in grads.items()}
    return {**phi, **{key: phi[key] - cfg.lr * grads[key] for key in keys}}


@dataclass
class Trajectory:
    """φ_0 … φ_S of one task, and f(x_query; φ_k) computed with as few passes of the body as can be.

    The body's entries of φ_k are θ's own tensors for every k <= `body_still`; there the query's
    features h(x_query; θ) serve every k, and each φ_k runs only its head on them.
    """

    model: nn.Module
    phis: list[Params | None]  # φ_0 = task_params(θ), φ_1, …, φ_S (None for a step not kept)
    x_support: Tensor
    y_support: Tensor
    x_query: Tensor | None
    body_still: int  # φ_k's body is θ's for k <= body_still (S when the body never moves)
    seconds: list[float]  # wall time of each step, φ_{k−1} → φ_k (when timed, else empty)
    query_features: Tensor | None = field(default=None, repr=False)  # h(x_query; θ), once computed

    def query_output(self, k: int) -> Tensor:
        """f(x_query; φ_k), BatchNorm moments from the support inputs."""
        model, phi = self.model, self.phis[k]
        if model.reads_support or k > self.body_still:
            return task_predict(model, phi, self.x_support, self.y_support, self.x_query)
        if self.query_features is None:  # the body at θ: one pass serves every such k
            self.query_features = predict(model, phi, self.x_query, context=self.x_support, part="body")
        return predict(model, phi, self.query_features, part="head")

    def query_metrics(self, k: int, y_query: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(L_query(φ_k), query accuracy (NaN for regression), f(x_query; φ_k))."""
        return output_metrics(self.model, self.query_output(k), y_query)


def trajectory(model: nn.Module, theta: Params, x_support: Tensor, y_support: Tensor, cfg: InnerConfig,
               ways: int | None = None, x_query: Tensor | None = None, functional: bool = True,
               timed: bool = False, keep: Collection[int] | None = None) -> Trajectory:
    """φ_0 = task_params(θ) and S inner steps φ_{k+1} = φ_k − α ∇_φ L_support(φ_k).

    Keys outside `cfg.adapt` are carried over untouched, and so are those of
    `model.static_first_step` in the first step, whose gradient there is exactly zero. When every
    step moves the head alone (ANIL, or one step from a zero head) the body's support features
    h(x_support; θ) are the same at every step: they are computed once (with the query's, in one
    pass over [support; query], when `x_query` is given) and each step runs the head alone.
    `functional` picks how each gradient is taken (see `support_gradient`); the values are the
    same. `timed` records each step's wall time (waiting for the GPU). `keep` names the steps k whose
    φ_k the caller will read (None: all; φ_0 and φ_S always): the others are not held, so a first-order
    loop's memory does not grow with S.
    """
    phi = model.task_params(theta, ways)
    adapted = [key for key in phi if cfg.adapts(key)]
    first_step = [key for key in adapted if not key.startswith(model.static_first_step)]
    moves = [first_step, *[adapted] * max(cfg.steps - 1, 0)][:cfg.steps]  # the keys each step moves
    moves_body = [any(not key.startswith(HEAD_PREFIX) for key in keys) for keys in moves]
    body_still = moves_body.index(True) if True in moves_body else cfg.steps
    head_only = cfg.steps > 0 and body_still == cfg.steps
    inputs, query_features, part = x_support, None, "all"
    if head_only:  # the body is fixed: one forward pass gives the features every step reuses
        if x_query is None:
            inputs = predict(model, phi, x_support, part="body")
        else:
            inputs, query_features = joint_features(model, phi, x_support, x_query)
        part = "head"
    phis, seconds = [phi], []
    for k, keys in enumerate(moves, 1):
        begin = time.perf_counter()
        phi = inner_step(model, phi, keys, inputs, y_support, cfg, functional, part)
        if timed:
            _synchronize(phi)
            seconds.append(time.perf_counter() - begin)
        phis.append(phi if keep is None or k in keep or k == cfg.steps else None)
    return Trajectory(model, phis, x_support, y_support, x_query, body_still, seconds, query_features)


def adapt(model: nn.Module, theta: Params, x_support: Tensor, y_support: Tensor,
          cfg: InnerConfig, ways: int | None = None, functional: bool = True) -> Params:
    """φ_S: the task-specific parameters after `cfg.steps` inner steps from θ."""
    return trajectory(model, theta, x_support, y_support, cfg, ways, functional=functional, keep=()).phis[-1]


def output_metrics(model: nn.Module, output: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, accuracy (NaN for regression), output) of a model's prediction `output` on targets y."""
    if model.task_kind == "regression":
        nan = torch.full((), math.nan, dtype=output.dtype, device=output.device)
        return task_loss(output, y, "regression"), nan, output
    accuracy = (output.argmax(-1) == y).to(output.dtype).mean()
    return task_loss(output, y, "classification"), accuracy, output


def query_metrics(model: nn.Module, phi: Params, x_support: Tensor, x_query: Tensor,
                  y_query: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(L_query(φ), query accuracy (NaN for regression), f(x_query; φ)), BatchNorm from support."""
    return output_metrics(model, predict(model, phi, x_query, context=x_support), y_query)


def diverged(start_loss: float, loss: float) -> bool:
    """Whether a support loss is past the divergence threshold: L_support(φ_k) > DIVERGENCE_FACTOR · L_support(θ)."""
    return loss > DIVERGENCE_FACTOR * max(start_loss, 1e-12)


def _synchronize(phi: Params) -> None:
    """Wait for queued CUDA work so that a step's wall time is real."""
    device = next(iter(phi.values())).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
