"""Meta-gradients side by side: how each method's direction and size compare with second-order MAML's,
and, measured apart, what each costs.

`compare_gradients` is pure: given the gradients (dicts of tensors with θ's keys), it returns
cosines per layer and in total, norms, and ‖g − g_ref‖, the term a first-order method drops.
`measure_cost` times a computation and takes its peak memory, on the CPU or the GPU.
`imaml_gradient` is the fifth method (implicit MAML), `hessian_term` the one-step decomposition
g_MAML = g_FO − α·H·g_FO, and `autograd_graph` what `create_graph=True` keeps.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from core.device import measure_peak_memory, synchronize
from core.evaluation import evaluate_steps
from core.inner import InnerConfig, support_gradient, trajectory, ways_of
from core.meta import meta_gradient, parse_strategy
from core.models import Params, layer_of, loss
from core.registry import inner_config
from core.tasks import Task

METHODS = ("maml", "fomaml", "anil", "reptile", "imaml")  # second order first: the reference
IMAML_LAMBDA = 1.0  # iMAML's proximal strength λ
IMAML_CG_STEPS = 10  # conjugate-gradient iterations of iMAML's solve


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
    `core.device.measure_peak_memory`: `torch.cuda.max_memory_allocated` on a GPU, the live tensor
    storages followed by `LiveTensorBytes` on a CPU).
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


def hessian_vector_product(model: nn.Module, phi: Params, x_support: Tensor, y_support: Tensor,
                           vector: Params) -> Params:
    """H·v with H = ∇²L_support(φ) over φ's keys at a fixed φ (no graph to θ): the gradient of
    ⟨∇L_support(φ), v⟩ (reverse over reverse, by torch.func, so it also runs under vmap)."""
    direction = {key: vector[key].detach() for key in phi}

    def directional_slope(point: Params) -> Tensor:  # ⟨∇L_support(point), v⟩
        slope_at = grad(lambda q: loss(model, q, x_support, y_support))(point)
        return sum((slope_at[key] * direction[key]).sum() for key in point)

    return grad(directional_slope)({key: value.detach() for key, value in phi.items()})


def hessian_term(model: nn.Module, theta: Params, task: Task, inner_lr: float) -> dict[str, Params]:
    """The one-step decomposition of MAML's meta-gradient for one task:

        φ_1 = φ_0 − α∇L_support(φ_0),   g_FO = ∇_φ L_query(φ_1),   g_MAML = g_FO − α·H(φ_0)·g_FO

    over θ's keys (H is the support loss's Hessian at φ_0 = task_params(θ), over every key of φ,
    so a per-task head that depends on θ is counted). Returns g_FO, the term α·H·g_FO, and their
    difference g_FO − α·H·g_FO, each restricted to θ's keys.
    """
    theta = {key: value.detach() for key, value in theta.items()}
    ways = ways_of(task)
    path = trajectory(model, theta, task.x_support, task.y_support, InnerConfig(inner_lr, 1, first_order=True), ways,
                      functional=False)
    phi = {key: value.detach().requires_grad_() for key, value in path.phis[1].items()}
    with torch.enable_grad():
        query_loss = loss(model, phi, task.x_query, task.y_query, context=task.x_support)
        g_fo = dict(zip(phi, torch.autograd.grad(query_loss, list(phi.values()))))
    curvature = hessian_vector_product(model, path.phis[0], task.x_support, task.y_support, g_fo)
    term = {key: inner_lr * curvature[key] for key in theta}
    return {"first_order": {key: g_fo[key] for key in theta}, "hessian_term": term,
            "maml": {key: g_fo[key] - term[key] for key in theta}}


def imaml_task_gradient(model: nn.Module, inner_lr: float, steps: int, lam: float, cg_steps: int,
                        ways: int | None) -> Callable[[Params, Tensor, Tensor, Tensor, Tensor], Params]:
    """One task's implicit meta-gradient as a function (θ, x_s, y_s, x_q, y_q) → g that runs under vmap:

        φ ≈ argmin_φ L_support(φ) + λ/2 ‖φ − φ_0‖²   (S steps of φ ← φ − α(∇L_support(φ) + λ(φ − φ_0)))
        g = v restricted to θ's keys, where (I + H/λ) v = ∇L_query(φ), H = ∇²L_support(φ)

    solved by `cg_steps` of conjugate gradient with Hessian-vector products. The inner steps keep
    no graph, so memory does not grow with S. φ_0 = task_params(θ): a per-task head starts, and is
    pulled back to, zero.
    """
    def task_gradient(theta: Params, xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> Params:
        start = model.task_params({key: value.detach() for key, value in theta.items()}, ways)
        phi = dict(start)
        for _ in range(steps):
            grads = support_gradient(model, phi, list(phi), xs, ys, create_graph=False, functional=True)
            phi = {key: phi[key] - inner_lr * (grads[key] + lam * (phi[key] - start[key])) for key in phi}
        rhs = grad(lambda q: loss(model, q, xq, yq, context=xs))(phi)

        def operator(v: Params) -> Params:  # (I + H/λ) v
            hv = hessian_vector_product(model, phi, xs, ys, v)
            return {key: v[key] + hv[key] / lam for key in v}

        solution = conjugate_gradient(operator, rhs, cg_steps)
        return {key: solution[key] for key in theta}
    return task_gradient


def imaml_gradient(model: nn.Module, theta: Params, batch: Task, inner_lr: float, steps: int, lam: float = 1.0,
                   cg_steps: int = 10, strategy: str = "loop") -> Params:
    """Implicit MAML (Rajeswaran et al. 2019): g = 1/T Σ_i g_i over the batch (`imaml_task_gradient`),
    by a loop over tasks or vmap over them (`strategy` as in core.meta)."""
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"iMAML's λ must be a finite number > 0, got {lam}")
    chunk = parse_strategy(strategy)
    task_fn = imaml_task_gradient(model, inner_lr, steps, lam, cg_steps, ways_of(batch[0]))
    theta = {key: value.detach() for key, value in theta.items()}
    tensors = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    if chunk is None:
        per_task = [task_fn(theta, *(t[i] for t in tensors)) for i in range(len(batch))]
        return {key: torch.stack([g[key] for g in per_task]).mean(0) for key in theta}
    grads = vmap(task_fn, in_dims=(None, 0, 0, 0, 0), chunk_size=chunk or None)(theta, *tensors)
    return {key: value.mean(0) for key, value in grads.items()}


def conjugate_gradient(operator, rhs: Params, steps: int, tolerance: float = 1e-10) -> Params:
    """x ≈ A⁻¹ b for a symmetric positive-definite A given as operator(v) = A·v, from x = 0.

    `steps` iterations; once ‖b − A·x‖ ≤ tolerance·‖b‖ the remaining ones leave x as it is. The
    stop is a mask, not a break, so the same code runs per task under vmap.
    """
    def dot(a: Params, b: Params) -> Tensor:
        return sum((a[key] * b[key]).sum() for key in a)

    x = {key: torch.zeros_like(value) for key, value in rhs.items()}
    residual, direction = dict(rhs), dict(rhs)
    rs = dot(residual, residual)
    enough = tolerance**2 * rs
    for _ in range(steps):
        active = rs > enough
        ad = operator(direction)
        step = torch.where(active, rs / torch.where(active, dot(direction, ad), 1.0), 0.0)
        x = {key: x[key] + step * direction[key] for key in x}
        residual = {key: residual[key] - step * ad[key] for key in x}
        new = dot(residual, residual)
        direction = {key: residual[key] + torch.where(active, new / torch.where(active, rs, 1.0), 0.0) * direction[key]
                     for key in x}
        rs = torch.where(active, new, rs)
    return x


@dataclass(frozen=True)
class GraphSize:
    nodes: int  # autograd nodes reachable from the meta-objective
    saved_bytes: int  # bytes of the tensors those nodes saved for the backward pass (each storage once)


def autograd_graph(model: nn.Module, theta: Params, task: Task, inner_lr: float, steps: int,
                   create_graph: bool) -> GraphSize:
    """The autograd graph of one task's meta-objective L_query(φ_S(θ)), with or without `create_graph`.

    Walks grad_fn from the objective and sums the tensors each node saved (its `_saved_*` fields).
    With create_graph=True the graph holds every inner step's backward pass (what second order
    differentiates through); without it, each inner gradient is a constant and only the forward
    passes remain.
    """
    leaves = {key: value.detach().requires_grad_() for key, value in theta.items()}
    cfg = InnerConfig(inner_lr, steps, first_order=not create_graph)
    with torch.enable_grad():
        path = trajectory(model, leaves, task.x_support, task.y_support, cfg, ways_of(task), x_query=task.x_query,
                          functional=False)
        objective = path.query_metrics(steps, task.y_query)[0]
    seen, stack, storages, saved = set(), [objective.grad_fn], set(), 0
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            try:
                value = getattr(node, name)
            except RuntimeError:  # a saved tensor already freed
                continue
            for tensor in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(tensor, Tensor) and tensor.numel():
                    key = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
                    if key not in storages:
                        storages.add(key)
                        saved += key[1]
        stack.extend(next_node for next_node, _ in node.next_functions)
    return GraphSize(len(seen), saved)


def meta_gradients(model: nn.Module, theta: Params, batch: Task, inner_lr: float, steps: int,
                   methods: tuple[str, ...] = METHODS, strategy: str = "loop") -> dict[str, Params]:
    """Each method's meta-gradient of one batch from one θ (iMAML with λ = IMAML_LAMBDA)."""
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; expected one of {', '.join(METHODS)}")
    return {name: imaml_gradient(model, theta, batch, inner_lr, steps, IMAML_LAMBDA, IMAML_CG_STEPS, strategy)
            if name == "imaml" else meta_gradient(model, theta, batch, name, inner_lr, steps, strategy).grads
            for name in methods}


def meta_step_effect(model: nn.Module, theta: Params, batch: Task, gradients: dict[str, Params], meta_lr: float,
                     inner_lr: float, steps: int) -> dict[str, dict]:
    """What one meta-update θ′ = θ − β·g does, per method: θ′ itself and the mean query loss on the batch
    after S inner steps from θ′ (the same full-parameter loop for every method, so only the meta-step
    differs). The key "theta" is θ's own loss, before any meta-update."""
    cfg = inner_config("maml", inner_lr, steps)
    candidates = {"theta": theta, **{name: {key: theta[key] - meta_lr * g[key] for key in theta}
                                     for name, g in gradients.items()}}
    result = {}
    for name, params in candidates.items():
        losses, _ = evaluate_steps(model, params, batch, cfg)
        result[name] = {"theta": params, "query_loss": float(losses[-1].mean())}
    return result


@dataclass(frozen=True)
class CostSweep:
    steps: list[int]
    seconds: dict[str, list[float]]  # method → median seconds per meta-gradient at each S
    peak_bytes: dict[str, list[int]]  # method → peak tensor memory at each S
    memory_slope: dict[str, float]  # method → least-squares bytes per inner step
    device: str


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against xs (0 for a single point)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def cost_sweep(model: nn.Module, theta: Params, batch: Task, inner_lr: float, steps: list[int],
               methods: tuple[str, ...] = METHODS, repeats: int = 1, strategy: str = "loop") -> CostSweep:
    """`measure_cost` of each method's meta-gradient at each S, and the memory's slope in S."""
    device = next(iter(theta.values())).device
    seconds = {name: [] for name in methods}
    peaks = {name: [] for name in methods}
    for s in steps:
        for name in methods:
            _, cost = measure_cost(lambda: meta_gradients(model, theta, batch, inner_lr, s, (name,), strategy), device,
                                   repeats)
            seconds[name].append(cost.seconds)
            peaks[name].append(cost.peak_bytes)
    return CostSweep(list(steps), seconds, peaks, {name: slope(steps, peaks[name]) for name in methods}, str(device))


def first_order_agreement(model: nn.Module, theta: Params, batch: Task, inner_lrs: list[float],
                          steps: list[int]) -> list[list[float]]:
    """cos(g_MAML, g_FOMAML) on a grid: rows over α in `inner_lrs`, columns over S in `steps`."""
    return [[compare_gradients(meta_gradients(model, theta, batch, lr, s, ("maml", "fomaml")))["fomaml"].cosine
             for s in steps] for lr in inner_lrs]
