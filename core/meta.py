"""Meta-gradients over a batch of tasks: MAML (second order), first-order MAML, ANIL, Reptile.

    MAML     g = 1/T Σ_i ∇_θ L_query,i(φ_i(θ)),   φ_i = θ − α∇L_support,i(θ) (S steps, graph kept)
    FOMAML   the same with dφ_i/dθ treated as I:  g = 1/T Σ_i ∇_φ L_query,i(φ_i)
    ANIL     MAML where the inner loop adapts the head only (the body's φ is θ's)
    Reptile  g = 1/T Σ_i (θ − φ_i), so θ ← θ − ε g is θ + ε(φ̄ − θ)

With `step_weights` (w_1 … w_S), MAML, FOMAML and ANIL take the gradient of the multi-step loss
Σ_k w_k L_query,i(φ_i,k) over the inner steps k = 1..S instead of L_query,i(φ_i,S) alone
(MAML++, Antoniou et al. 2019); w = (0, …, 0, 1) is the plain objective.

One function per task, batched over tasks by a strategy: a Python loop, `vmap`, or chunked
`vmap`. Which is fastest depends on the model and the device (a conv net with small tasks
prefers the loop on a CPU, the MLP prefers vmap), so `choose_strategy` measures.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import grad_and_value, vmap

from core.device import available_memory, measure_peak_memory, synchronize
from core.inner import InnerConfig, adapt, trajectory, ways_of
from core.models import Params
from core.registry import META_GRADIENTS, QUERY_LOSS, inner_config
from core.tasks import Task


@dataclass(frozen=True)
class MetaGradient:
    grads: Params  # 1/T Σ_i of each task's meta-gradient (Reptile: of θ − φ_i), keys of θ
    query_loss: float  # mean over tasks of L_query(φ_i); NaN for Reptile, which reads no query set
    query_accuracy: float | None  # classification: mean query accuracy after adaptation
    strategy: str  # how the batch was computed: 'loop', 'vmap' or 'vmap:<chunk>'


def check_step_weights(step_weights: tuple[float, ...] | None, algorithm: str, steps: int) -> None:
    """A clear error unless `step_weights` is None or S finite weights >= 0 for a query-loss algorithm."""
    if step_weights is None:
        return
    if algorithm not in QUERY_LOSS:
        raise ValueError(f"step weights (the multi-step loss) need a query loss: maml, fomaml or anil, not {algorithm}")
    if steps < 1 or len(step_weights) != steps or not all(math.isfinite(w) and w >= 0 for w in step_weights):
        raise ValueError(f"step weights must be {steps} finite numbers >= 0, one per inner step; got {step_weights}")


def task_meta_gradient(model: nn.Module, algorithm: str, cfg: InnerConfig, ways: int | None,
                       functional: bool = True, step_weights: tuple[float, ...] | None = None
                       ) -> Callable[[Params, Tensor, Tensor, Tensor, Tensor], tuple[Params, Tensor, Tensor]]:
    """One task's meta-gradient as a function (θ, x_s, y_s, x_q, y_q) → (g, L_query, accuracy).

    g differentiates L_query(φ_S), or Σ_k w_k L_query(φ_k) with `step_weights`; the L_query and
    accuracy returned are φ_S's either way. functional=True: built from torch.func transforms, so
    it runs under vmap. functional=False: plain autograd (θ's tensors must require grad), for a loop.
    """
    check_step_weights(step_weights, algorithm, cfg.steps)
    weights = step_weights or (0.0,) * (cfg.steps - 1) + (1.0,)  # the plain objective: L_query(φ_S) alone

    def adapted_metrics(theta, xs, ys, xq, yq):
        """(objective, L_query(φ_S), accuracy of φ_S)."""
        read = [k for k in range(1, cfg.steps) if weights[k - 1]]  # the earlier steps the objective weighs
        path = trajectory(model, theta, xs, ys, cfg, ways, x_query=xq, functional=functional, keep=read)
        objective = 0.0
        for k in read:  # an earlier step of weight 0 needs no query pass
            objective = objective + weights[k - 1] * path.query_metrics(k, yq)[0]
        query_loss, accuracy, _ = path.query_metrics(cfg.steps, yq)  # φ_S (φ_0 when S = 0)
        return objective + weights[-1] * query_loss, query_loss, accuracy

    if algorithm == "reptile":
        def reptile_direction(theta, xs, ys, xq, yq):
            phi = adapt(model, theta, xs, ys, cfg, ways, functional)
            nan = torch.full((), math.nan, dtype=xs.dtype, device=xs.device)  # Reptile reads no query set
            return {key: (theta[key] - phi[key]).detach() for key in theta}, nan, nan
        return reptile_direction

    if not functional:
        def autograd_gradient(theta, xs, ys, xq, yq):
            objective, query_loss, accuracy = adapted_metrics(theta, xs, ys, xq, yq)
            grads = torch.autograd.grad(objective, list(theta.values()))
            return dict(zip(theta, grads)), query_loss.detach(), accuracy.detach()
        return autograd_gradient

    def objective_after_adaptation(theta, xs, ys, xq, yq):
        objective, query_loss, accuracy = adapted_metrics(theta, xs, ys, xq, yq)
        return objective, (query_loss, accuracy)

    def functional_gradient(theta, xs, ys, xq, yq):
        grads, (_, (query_loss, accuracy)) = grad_and_value(objective_after_adaptation, has_aux=True)(
            theta, xs, ys, xq, yq)
        return grads, query_loss.detach(), accuracy.detach()
    return functional_gradient


def parse_strategy(strategy: str) -> int | None:
    """'loop' → None ... returns the vmap chunk size: 'vmap' → 0 (all tasks), 'vmap:8' → 8."""
    if strategy == "loop":
        return None
    if strategy == "vmap":
        return 0
    if strategy.startswith("vmap:") and strategy[5:].isdigit() and int(strategy[5:]) > 0:
        return int(strategy[5:])
    raise ValueError(f"unknown strategy {strategy!r}; expected 'loop', 'vmap' or 'vmap:<chunk size>'")


def meta_gradient(model: nn.Module, theta: Params, batch: Task, algorithm: str = "maml",
                  inner_lr: float = 0.01, steps: int = 1, strategy: str = "loop",
                  step_weights: tuple[float, ...] | None = None) -> MetaGradient:
    """g = 1/T Σ_i g_i over the T tasks of `batch` (see the module docstring for each g_i).

    `batch` has a leading task dimension (core.tasks.stack_tasks). `strategy` picks a loop,
    vmap over all tasks, or vmap in chunks; all give the same g up to rounding. `step_weights`
    (w_1 … w_S) makes g_i the gradient of the multi-step loss Σ_k w_k L_query,i(φ_i,k).
    """
    chunk = parse_strategy(strategy)
    if algorithm not in META_GRADIENTS:
        raise ValueError(f"unknown algorithm {algorithm!r} for a meta-gradient; expected one of {', '.join(META_GRADIENTS)}")
    cfg = inner_config(algorithm, inner_lr, steps)
    if len(batch) < 1:
        raise ValueError("the task batch is empty")
    ways = ways_of(batch[0])
    tensors = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    if chunk is None:
        task_fn = task_meta_gradient(model, algorithm, cfg, ways, functional=False, step_weights=step_weights)
        leaves = {key: value.detach().requires_grad_() for key, value in theta.items()}
        total: Params = {}
        losses, accuracies = [], []
        for i in range(len(batch)):
            with torch.enable_grad():
                grads, query_loss, accuracy = task_fn(leaves, *(t[i] for t in tensors))
            total = grads if not total else {key: total[key] + grads[key] for key in total}
            losses.append(query_loss)
            accuracies.append(accuracy)
        mean_grads = {key: value / len(batch) for key, value in total.items()}
        query_losses, query_accuracies = torch.stack(losses), torch.stack(accuracies)
    else:
        task_fn = task_meta_gradient(model, algorithm, cfg, ways, functional=True, step_weights=step_weights)
        batched = vmap(task_fn, in_dims=(None, 0, 0, 0, 0), chunk_size=chunk or None)
        grads, query_losses, query_accuracies = batched(theta, *tensors)
        mean_grads = {key: value.mean(0) for key, value in grads.items()}
    accuracy = float(query_accuracies.mean())
    return MetaGradient(mean_grads, float(query_losses.mean()),
                        None if math.isnan(accuracy) else accuracy, strategy)


@dataclass(frozen=True)
class StrategyChoice:
    strategy: str  # the chosen strategy
    seconds: dict[str, float]  # median seconds per meta-gradient of each candidate measured
    peak_bytes: dict[str, int]  # peak tensor memory of the loop and of the candidates near the fastest
    skipped: dict[str, str] = field(default_factory=dict)  # candidate → why it was not measured
    reason: str = ""  # one line: why this one


def candidate_strategies(tasks: int, device: torch.device) -> list[str]:
    """The loop, then vmap in growing chunks (GPU) or whole (CPU), ending with vmap over all."""
    chunks = [c for c in (4, 8, 16) if c < tasks] if device.type == "cuda" else []
    return ["loop", *(f"vmap:{c}" for c in chunks), "vmap"]


CPU_MEMORY_SLACK = (0.2, 16 * 2**20)  # CPU: a batched strategy may add max(20%, 16 MiB) over the loop


def default_memory_budget(device: torch.device, loop_peak: int) -> int:
    """How much tensor memory a strategy may take when the caller does not say.

    GPU: a quarter of the free memory (it is the accelerator's own). CPU: the loop's peak plus
    max(20%, 16 MiB): the RAM is shared with whatever else the machine runs, so a batched strategy
    must win on time without multiplying memory (W2's vmap would take ~30× the loop's).
    """
    if device.type == "cuda":
        return available_memory(device) // 4
    relative, absolute = CPU_MEMORY_SLACK
    return loop_peak + max(int(relative * loop_peak), absolute)


def choose_strategy(model: nn.Module, theta: Params, batch: Task, algorithm: str = "maml",
                    inner_lr: float = 0.01, steps: int = 1, candidates: list[str] | None = None,
                    memory_budget: int | None = None, repeats: int = 2, tolerance: float = 0.1,
                    give_up: float = 3.0) -> StrategyChoice:
    """Measure each candidate strategy on this workload and device and pick one.

    The loop runs first; its peak memory m predicts vmap over c tasks at about c·m, and a
    candidate predicted (or measured) above `memory_budget` (default: `default_memory_budget`)
    is not chosen. A candidate whose first (warm-up) run is `give_up` times slower than the loop is
    not timed further. Among the rest, the one with the least memory whose time is within
    `tolerance` of the fastest wins, so a slightly faster but many times larger vmap loses.
    """
    device = next(iter(theta.values())).device
    candidates = candidates or candidate_strategies(len(batch), device)
    budget = memory_budget
    seconds: dict[str, float] = {}
    peaks: dict[str, int] = {}
    skipped: dict[str, str] = {}

    def timed(strategy: str) -> float:
        start = time.perf_counter()
        meta_gradient(model, theta, batch, algorithm, inner_lr, steps, strategy)
        synchronize(device)
        return time.perf_counter() - start

    def peak(strategy: str) -> int:
        return measure_peak_memory(lambda: timed(strategy), device)[1]

    for strategy in candidates:
        chunk = parse_strategy(strategy)
        if chunk is not None and "loop" in peaks:
            budget = budget if budget is not None else default_memory_budget(device, peaks["loop"])
            predicted = peaks["loop"] * (chunk or len(batch))
            if predicted > budget:
                skipped[strategy] = f"predicted {predicted / 2**20:.0f} MiB > budget {budget / 2**20:.0f} MiB"
                continue
        try:
            if strategy == "loop":
                peaks[strategy] = peak(strategy)
            warm_up = timed(strategy)
            if "loop" in seconds and warm_up > give_up * seconds["loop"]:
                skipped[strategy] = f"warm-up {warm_up:.2f} s, over {give_up:g}x the loop's {seconds['loop']:.2f} s"
                continue
            seconds[strategy] = statistics.median(timed(strategy) for _ in range(repeats))
        except torch.OutOfMemoryError:
            skipped[strategy] = "out of memory"
            torch.cuda.empty_cache()
    fastest = min(seconds.values())
    near = [s for s in seconds if seconds[s] <= fastest * (1 + tolerance)]
    for strategy in near:
        if strategy not in peaks:
            peaks[strategy] = peak(strategy)
    over = [s for s in near if budget is not None and s != "loop" and peaks[s] > budget]
    for strategy in over:
        skipped[strategy] = f"measured {peaks[strategy] / 2**20:.0f} MiB > budget {budget / 2**20:.0f} MiB"
    near = [s for s in near if s not in over] or (["loop"] if "loop" in seconds else near)
    chosen = min(near, key=lambda s: peaks[s])
    reason = (f"{chosen}: {1 / seconds[chosen]:.2f} it/s, {peaks[chosen] / 2**20:.0f} MiB "
              f"(least memory within {tolerance:.0%} of the fastest)")
    return StrategyChoice(chosen, seconds, peaks, skipped, reason)
