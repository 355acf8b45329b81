"""Oracles that share no code with the engine: MAML written out by hand, for the tests to check the engine against.

- The MLP 1 → h → h → 1 in numpy, with its support-loss gradient derived by hand (no autograd),
  so `mlp_objective` is the MAML objective L_query(φ_S(θ)) unrolled step by step, and central
  differences of it give the true meta-gradient.
- Conv4 written from torch primitives (conv2d, batch statistics of the support rows, max-pool,
  ReLU, a zero head) and a plain loop of autograd.grad(create_graph=True) over it: the naive MAML
  the lecture writes, for the models whose gradients are not worth deriving by hand.

Parameters are given under the engine's key names, so results compare key by key.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MLP_LAYERS = (("body.0.weight", "body.0.bias"), ("body.2.weight", "body.2.bias"), ("head.weight", "head.bias"))


# ----------------------------------------------------------------------------- the MLP, by hand


def as_numpy(theta: dict) -> dict[str, np.ndarray]:
    return {key: value.detach().double().cpu().numpy().copy() for key, value in theta.items()}


def mlp_loss_and_gradient(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
                          ) -> tuple[float, dict[str, np.ndarray]]:
    """L = mean((f(x) − y)²) of f(x) = W₃ relu(W₂ relu(W₁x + b₁) + b₂) + b₃, and ∂L/∂p by the chain rule."""
    (w1, b1), (w2, b2), (w3, b3) = [(p[w], p[b]) for w, b in MLP_LAYERS]
    z1 = x @ w1.T + b1
    a1 = np.maximum(z1, 0.0)
    z2 = a1 @ w2.T + b2
    a2 = np.maximum(z2, 0.0)
    out = a2 @ w3.T + b3
    n = out.size
    loss = float(np.sum((out - y) ** 2) / n)
    d_out = 2.0 * (out - y) / n  # (n, 1)
    d_a2 = d_out @ w3
    d_z2 = d_a2 * (z2 > 0)
    d_a1 = d_z2 @ w2
    d_z1 = d_a1 * (z1 > 0)
    grads = {"head.weight": d_out.T @ a2, "head.bias": d_out.sum(0),
             "body.2.weight": d_z2.T @ a1, "body.2.bias": d_z2.sum(0),
             "body.0.weight": d_z1.T @ x, "body.0.bias": d_z1.sum(0)}
    return loss, grads


def mlp_adapted(p: dict[str, np.ndarray], task, inner_lr: float, steps: int, head_only: bool = False
                ) -> dict[str, np.ndarray]:
    """φ_S by S hand-computed steps φ ← φ − α ∂L_support/∂φ (only the head's entries with head_only)."""
    xs, ys = task.x_support.double().numpy(), task.y_support.double().numpy()
    phi = dict(p)
    for _ in range(steps):
        _, grads = mlp_loss_and_gradient(phi, xs, ys)
        phi = {key: value - inner_lr * grads[key] if (key.startswith("head.") or not head_only) else value
               for key, value in phi.items()}
    return phi


def mlp_objective(p: dict[str, np.ndarray], task, inner_lr: float, steps: int, head_only: bool = False) -> float:
    """The MAML (or ANIL) objective L_query(φ_S(θ)), unrolled by hand."""
    phi = mlp_adapted(p, task, inner_lr, steps, head_only)
    return mlp_loss_and_gradient(phi, task.x_query.double().numpy(), task.y_query.double().numpy())[0]


def mlp_first_order(p: dict[str, np.ndarray], task, inner_lr: float, steps: int) -> dict[str, np.ndarray]:
    """First-order MAML's meta-gradient: ∂L_query/∂φ at φ_S, with dφ_S/dθ taken as I."""
    phi = mlp_adapted(p, task, inner_lr, steps)
    return mlp_loss_and_gradient(phi, task.x_query.double().numpy(), task.y_query.double().numpy())[1]


def central_differences(f, p: dict[str, np.ndarray], eps: float = 1e-6) -> dict[str, np.ndarray]:
    """∂f/∂p for every coordinate: (f(p + εe) − f(p − εe)) / 2ε."""
    grads = {}
    for key, value in p.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[index] += eps
            minus[index] -= eps
            grad[index] = (f({**p, key: plus}) - f({**p, key: minus})) / (2 * eps)
        grads[key] = grad
    return grads


# ----------------------------------------------------------------------------- Conv4 from primitives


def conv4_logits(p: dict, x_support: torch.Tensor, x: torch.Tensor, head: tuple[torch.Tensor, torch.Tensor],
                 eps: float = 1e-5) -> torch.Tensor:
    """Logits of x: 4 × [conv 3×3, BatchNorm with the support rows' moments, max-pool 2, ReLU], flatten, head."""
    n = x_support.shape[0]
    h = torch.cat([x_support, x])
    for block in range(4):
        h = F.conv2d(h, p[f"body.{block}.conv.weight"], p[f"body.{block}.conv.bias"], padding=1)
        support = h[:n]
        mean = support.mean(dim=(0, 2, 3), keepdim=True)
        var = ((support - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        h = (h - mean) / torch.sqrt(var + eps) * p[f"body.{block}.norm.weight"].view(1, -1, 1, 1) \
            + p[f"body.{block}.norm.bias"].view(1, -1, 1, 1)
        h = torch.relu(F.max_pool2d(h, 2))
    weight, bias = head
    return (h.flatten(1) @ weight.T + bias)[n:]


def naive_conv_meta_gradient(theta: dict, batch, algorithm: str, inner_lr: float, steps: int,
                             step_weights: tuple[float, ...] | None = None) -> dict[str, torch.Tensor]:
    """1/T Σ_i of each task's meta-gradient, one task at a time with autograd.grad(create_graph=True).

    MAML differentiates through every step; first-order MAML detaches each inner gradient; ANIL
    moves the head alone; Reptile returns θ − φ_S. With step_weights the objective is
    Σ_k w_k L_query(φ_k).
    """
    leaves = {key: value.detach().clone().requires_grad_() for key, value in theta.items()}
    total = {key: torch.zeros_like(value) for key, value in leaves.items()}
    features = theta["body.3.conv.weight"].shape[0]
    weights = step_weights or (0.0,) * (steps - 1) + (1.0,)
    second_order = algorithm in ("maml", "anil")
    for i in range(len(batch)):
        xs, ys, xq, yq = batch.x_support[i], batch.y_support[i], batch.x_query[i], batch.y_query[i]
        ways = int(ys.max()) + 1
        body = dict(leaves)
        head = [torch.zeros(ways, features, dtype=xs.dtype, requires_grad=True),
                torch.zeros(ways, dtype=xs.dtype, requires_grad=True)]
        objective = 0.0
        for k in range(1, steps + 1):
            moving = head if algorithm == "anil" else [*body.values(), *head]
            support_loss = F.cross_entropy(conv4_logits(body, xs, xs, head), ys)
            grads = torch.autograd.grad(support_loss, moving, create_graph=second_order)
            if not second_order:  # first order: dφ_k/dθ = I
                grads = [g.detach() for g in grads]
            updated = [value - inner_lr * g for value, g in zip(moving, grads)]
            if algorithm == "anil":
                head = updated
            else:
                body, head = dict(zip(body, updated[:len(body)])), updated[len(body):]
            if algorithm != "reptile" and weights[k - 1]:
                objective = objective + weights[k - 1] * F.cross_entropy(conv4_logits(body, xs, xq, head), yq)
        if algorithm == "reptile":
            task_grads = [(leaves[key] - body[key]).detach() for key in leaves]
        else:
            if steps == 0:
                objective = F.cross_entropy(conv4_logits(body, xs, xq, head), yq)
            task_grads = torch.autograd.grad(objective, list(leaves.values()))
        total = {key: total[key] + g for key, g in zip(leaves, task_grads)}
    return {key: value / len(batch) for key, value in total.items()}
