"""The naive reference: a per-task Python loop with torch.autograd.grad(create_graph=...).

Written the way the lecture writes MAML, independently of core.inner and core.meta (no
torch.func transforms, no vmap): the baseline the benchmark's engine has to beat. (The tests have
their own oracles, in tests/oracle.py.)
"""
from __future__ import annotations

import torch
from torch import nn

from core.models import Params, loss
from core.registry import HEAD_PREFIX
from core.tasks import Task


def naive_meta_gradient(model: nn.Module, theta: Params, batch: Task, algorithm: str = "maml",
                        inner_lr: float = 0.01, steps: int = 1, step_weights: tuple[float, ...] | None = None
                        ) -> Params:
    """1/T Σ_i ∇_θ L_query,i(φ_i) (Reptile: θ − φ_i), one task at a time, with autograd.grad.

    With `step_weights` the query loss is Σ_k w_k L_query,i(φ_i,k) over the steps k = 1..S.
    """
    theta = {key: value.detach().requires_grad_() for key, value in theta.items()}
    ways = None if batch.y_support.is_floating_point() else int(batch.y_support[0].max()) + 1
    weights = step_weights or (0.0,) * (steps - 1) + (1.0,)
    total = {key: torch.zeros_like(value) for key, value in theta.items()}
    for i in range(len(batch)):
        x_support, y_support = batch.x_support[i], batch.y_support[i]

        def query_term(phi: Params, weight: float):
            """w·L_query(φ), to differentiate through; first order: w·∇_φ L_query(φ) goes into `total` now."""
            query_loss = loss(model, phi, batch.x_query[i], batch.y_query[i], context=x_support)
            if algorithm != "fomaml":
                return weight * query_loss
            for key, g in zip(theta, torch.autograd.grad(query_loss, [phi[key] for key in theta])):
                total[key] += weight * g  # dφ/dθ = I
            return 0.0

        phi = dict(model.task_params(theta, ways))
        phi = {key: value if value.requires_grad else value.requires_grad_() for key, value in phi.items()}
        adapted = [key for key in phi if algorithm != "anil" or key.startswith(HEAD_PREFIX)]
        objective = 0.0
        for step in range(steps):
            support_loss = loss(model, phi, x_support, y_support)
            grads = torch.autograd.grad(support_loss, [phi[key] for key in adapted],
                                        create_graph=algorithm in ("maml", "anil"))
            phi = {**phi, **{key: phi[key] - inner_lr * g for key, g in zip(adapted, grads)}}
            if step < steps - 1 and weights[step] and algorithm != "reptile":
                objective = objective + query_term(phi, weights[step])
        if algorithm == "reptile":
            for key in theta:
                total[key] += (theta[key] - phi[key]).detach()
            continue
        objective = objective + query_term(phi, weights[-1])
        if algorithm != "fomaml":
            for key, g in zip(theta, torch.autograd.grad(objective, list(theta.values()))):
                total[key] += g
    return {key: value / len(batch) for key, value in total.items()}
