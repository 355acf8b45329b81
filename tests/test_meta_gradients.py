"""The meta-gradient against oracles that share no code with the engine (tests/oracle.py): finite
differences of MAML unrolled by hand, a closed form, and a naive create_graph loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.inner import InnerConfig, adapt, ways_of
from core.meta import meta_gradient
from core.models import loss
from core.registry import META_GRADIENTS
from core.tasks import Task, stack_tasks
from tests import oracle
from tests.helpers import pattern_episodes, sinusoid_batch, tiny_conv, tiny_mlp

STRATEGIES = ("loop", "vmap", "vmap:2")


def mlp_oracle(theta, batch, algorithm: str, inner_lr: float, steps: int, step_weights=None) -> dict:
    """1/T Σ_i of the hand-unrolled meta-gradient: finite differences of the objective (MAML, ANIL),
    the query gradient at the hand-adapted φ (first-order MAML), or θ − φ (Reptile)."""
    p = oracle.as_numpy(theta)
    weights = step_weights or (0.0,) * (steps - 1) + (1.0,)
    total = {key: np.zeros_like(value) for key, value in p.items()}
    for i in range(len(batch)):
        task = batch[i]
        if algorithm in ("maml", "anil"):
            def objective(q, task=task):
                return sum(w * oracle.mlp_objective(q, task, inner_lr, k, head_only=algorithm == "anil")
                           for k, w in enumerate(weights, 1) if w)
            grads = oracle.central_differences(objective, p)
        elif algorithm == "fomaml":
            grads = {key: sum(w * oracle.mlp_first_order(p, task, inner_lr, k)[key]
                              for k, w in enumerate(weights, 1) if w) for key in p}
        else:
            phi = oracle.mlp_adapted(p, task, inner_lr, steps)
            grads = {key: p[key] - phi[key] for key in p}
        total = {key: total[key] + grads[key] for key in p}
    return {key: torch.from_numpy(value / len(batch)) for key, value in total.items()}


def test_the_hand_derived_mlp_gradient_matches_its_finite_differences():
    """The oracle's own chain rule, checked before anything is checked against it."""
    _, theta = tiny_mlp(hidden=5)
    task = sinusoid_batch(tasks=1, seed=2)[0]
    p = oracle.as_numpy(theta)
    x, y = task.x_support.numpy(), task.y_support.numpy()
    _, grads = oracle.mlp_loss_and_gradient(p, x, y)
    fd = oracle.central_differences(lambda q: oracle.mlp_loss_and_gradient(q, x, y)[0], p)
    for key in p:
        np.testing.assert_allclose(grads[key], fd[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil"])
@pytest.mark.parametrize("steps", [1, 3])
def test_mlp_meta_gradient_matches_the_hand_unrolled_objective(algorithm, steps):
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=1, seed=steps)
    expected = mlp_oracle(theta, batch, algorithm, 0.05, steps)
    got = meta_gradient(model, theta, batch, algorithm, inner_lr=0.05, steps=steps).grads
    for key in theta:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("steps", [1, 3])
def test_conv_meta_gradient_matches_directional_finite_differences_of_the_oracle(steps):
    model, theta = tiny_conv()
    batch = pattern_episodes(tasks=1, ways=3, shots=2, queries=2, seed=steps)
    task = batch[0]
    g = meta_gradient(model, theta, batch, "maml", inner_lr=0.4, steps=steps).grads

    def objective(params) -> float:  # L_query(φ_S(θ)) of the from-scratch Conv4, S plain gradient steps
        with torch.enable_grad():
            body = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
            head = [torch.zeros(3, 4, dtype=torch.float64, requires_grad=True),
                    torch.zeros(3, dtype=torch.float64, requires_grad=True)]
            for _ in range(steps):
                moving = [*body.values(), *head]
                grads = torch.autograd.grad(torch.nn.functional.cross_entropy(
                    oracle.conv4_logits(body, task.x_support, task.x_support, head), task.y_support), moving)
                updated = [value.detach() - 0.4 * grad for value, grad in zip(moving, grads)]
                body = {k: v.requires_grad_() for k, v in zip(body, updated[:len(body)])}
                head = [h.requires_grad_() for h in updated[len(body):]]
            return float(torch.nn.functional.cross_entropy(
                oracle.conv4_logits(body, task.x_support, task.x_query, head), task.y_query).detach())

    gen = torch.Generator().manual_seed(steps)
    for _ in range(4):
        direction = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in theta.items()}
        analytic = sum(float((g[k] * direction[k]).sum()) for k in theta)
        # ReLU and max-pool kinks sit within ~1e-5 of θ along a random direction; a smaller ε
        # stays on one side of them, and float64 rounding (~1e-16 / ε) is still far below 1e-6
        eps = 1e-7
        fd = (objective({k: theta[k] + eps * direction[k] for k in theta})
              - objective({k: theta[k] - eps * direction[k] for k in theta})) / (2 * eps)
        assert fd == pytest.approx(analytic, rel=1e-6)


class LinearRegression(nn.Module):
    """f(x) = x w (no bias): the closed-form test model."""

    task_kind = "regression"
    context_norm = False
    static_first_step = ()
    reads_support = False

    def __init__(self, features: int):
        super().__init__()
        self.head = nn.Linear(features, 1, bias=False)

    def forward(self, x, context_size=None, part="all"):  # the body is the identity
        return x if part == "body" else self.head(x)

    def task_params(self, theta, ways=None):
        return theta


def test_one_step_linear_regression_matches_closed_form():
    gen = torch.Generator().manual_seed(0)
    d, n, m, alpha = 4, 7, 9, 0.05
    xs, xq = torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randn(m, d, generator=gen, dtype=torch.float64)
    ys, yq = torch.randn(n, 1, generator=gen, dtype=torch.float64), torch.randn(m, 1, generator=gen, dtype=torch.float64)
    w = torch.randn(1, d, generator=gen, dtype=torch.float64)
    model = LinearRegression(d).double()
    batch = stack_tasks([Task(xs, ys, xq, yq)])
    # φ = w − α ∇L_s(w), ∇L_s(w) = (2/n) Xsᵀ(Xs w − ys); H = (2/n) XsᵀXs; ∇θ = (I − αH) ∇L_q(φ)
    phi = w.T - alpha * (2 / n) * xs.T @ (xs @ w.T - ys)
    grad_query = (2 / m) * xq.T @ (xq @ phi - yq)
    hessian = (2 / n) * xs.T @ xs
    expected = (torch.eye(d, dtype=torch.float64) - alpha * hessian) @ grad_query
    for strategy in STRATEGIES:
        maml = meta_gradient(model, {"head.weight": w}, batch, "maml", alpha, 1, strategy).grads["head.weight"]
        torch.testing.assert_close(maml, expected.T, rtol=1e-12, atol=1e-12)
        first_order = meta_gradient(model, {"head.weight": w}, batch, "fomaml", alpha, 1, strategy).grads["head.weight"]
        torch.testing.assert_close(first_order, grad_query.T, rtol=1e-12, atol=1e-12)
        # what first-order drops is exactly the Hessian term αH∇L_q(φ)
        torch.testing.assert_close(first_order - maml, (alpha * hessian @ grad_query).T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("algorithm", META_GRADIENTS)
@pytest.mark.parametrize("steps", [1, 5])
def test_mlp_engine_equals_the_hand_unrolled_oracle_for_every_strategy(algorithm, steps):
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=3)
    expected = mlp_oracle(theta, batch, algorithm, 0.05, steps)
    for strategy in STRATEGIES:
        got = meta_gradient(model, theta, batch, algorithm, 0.05, steps, strategy).grads
        for key in theta:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("algorithm", META_GRADIENTS)
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_conv_with_batchnorm_engine_equals_naive_create_graph_loop(algorithm, steps, strategy):
    model, theta = tiny_conv()
    batch = pattern_episodes(tasks=3, ways=3, shots=2, queries=2)
    expected = oracle.naive_conv_meta_gradient(theta, batch, algorithm, 0.4, steps)
    got = meta_gradient(model, theta, batch, algorithm, 0.4, steps, strategy).grads
    for key in theta:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-10, atol=1e-10)


WEIGHTS = (0.2, 0.3, 0.5)  # w_1..w_3 of the multi-step loss Σ_k w_k L_query(φ_k)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil"])
def test_multi_step_loss_matches_the_hand_unrolled_objective(algorithm):
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=2, seed=4)
    expected = mlp_oracle(theta, batch, algorithm, 0.05, 3, step_weights=WEIGHTS)
    for strategy in STRATEGIES:
        got = meta_gradient(model, theta, batch, algorithm, 0.05, 3, strategy, step_weights=WEIGHTS).grads
        for key in theta:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_multi_step_loss_engine_equals_naive_create_graph_loop(algorithm, strategy):
    for model, theta, batch, inner_lr in ((*tiny_conv(), pattern_episodes(tasks=3, ways=3, shots=2, queries=2), 0.4),):
        expected = oracle.naive_conv_meta_gradient(theta, batch, algorithm, inner_lr, 3, step_weights=WEIGHTS)
        got = meta_gradient(model, theta, batch, algorithm, inner_lr, 3, strategy, step_weights=WEIGHTS)
        for key in theta:
            torch.testing.assert_close(got.grads[key], expected[key], rtol=1e-10, atol=1e-10)
        plain = meta_gradient(model, theta, batch, algorithm, inner_lr, 3, strategy)
        assert got.query_loss == pytest.approx(plain.query_loss, rel=1e-12)  # the reported loss is φ_S's
        assert any(not torch.allclose(got.grads[k], plain.grads[k]) for k in theta)


def test_multi_step_loss_with_all_weight_on_the_last_step_is_plain_maml():
    model, theta = tiny_conv()
    batch = pattern_episodes(tasks=2, ways=3, shots=2, queries=2)
    plain = meta_gradient(model, theta, batch, "maml", 0.4, 3).grads
    last = meta_gradient(model, theta, batch, "maml", 0.4, 3, step_weights=(0.0, 0.0, 1.0)).grads
    for key in theta:
        torch.testing.assert_close(last[key], plain[key], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("algorithm, steps, weights, message", [
    ("reptile", 3, WEIGHTS, "need a query loss"),
    ("maml", 2, WEIGHTS, "must be 2 finite numbers"),
    ("maml", 3, (0.5, -0.1, 0.6), "must be 3 finite numbers >= 0"),
    ("maml", 0, (), "must be 0 finite numbers"),
])
def test_multi_step_loss_rejects_bad_weights(algorithm, steps, weights, message):
    model, theta = tiny_mlp()
    with pytest.raises(ValueError, match=message):
        meta_gradient(model, theta, sinusoid_batch(tasks=1), algorithm, 0.05, steps, step_weights=weights)


def test_first_order_gradient_is_query_gradient_at_adapted_parameters():
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=1)
    task = batch[0]
    phi = adapt(model, theta, task.x_support, task.y_support, InnerConfig(0.05, 3, first_order=True))
    phi = {k: v.detach().requires_grad_() for k, v in phi.items()}
    direct = torch.autograd.grad(loss(model, phi, task.x_query, task.y_query), list(phi.values()))
    got = meta_gradient(model, theta, batch, "fomaml", 0.05, 3).grads
    for key, g in zip(phi, direct):
        torch.testing.assert_close(got[key], g, rtol=1e-12, atol=1e-12)


def test_second_order_differs_from_first_order():
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=2)
    maml = meta_gradient(model, theta, batch, "maml", 0.05, 2).grads
    fomaml = meta_gradient(model, theta, batch, "fomaml", 0.05, 2).grads
    assert max(float((maml[k] - fomaml[k]).abs().max()) for k in theta) > 1e-6


def test_anil_leaves_the_body_bit_identical():
    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1)[0]
    phi = adapt(model, theta, task.x_support, task.y_support, InnerConfig(0.4, 3, adapt=("head.",)), ways_of(task))
    for key in theta:
        if key.startswith("body."):
            assert torch.equal(phi[key], theta[key])
    assert phi["head.weight"].abs().sum() > 0


def test_zero_steps_gives_theta():
    model, theta = tiny_mlp()
    task = sinusoid_batch(tasks=1)[0]
    phi = adapt(model, theta, task.x_support, task.y_support, InnerConfig(0.05, 0))
    assert all(torch.equal(phi[k], theta[k]) for k in theta)


def test_reptile_with_epsilon_one_returns_adapted_parameters():
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=1)
    task = batch[0]
    phi = adapt(model, theta, task.x_support, task.y_support, InnerConfig(0.05, 4, first_order=True))
    direction = meta_gradient(model, theta, batch, "reptile", 0.05, 4).grads
    epsilon = 1.0
    updated = {k: theta[k] - epsilon * direction[k] for k in theta}  # θ + ε(φ − θ)
    for key in theta:
        torch.testing.assert_close(updated[key], phi[key].detach(), rtol=0, atol=1e-15)


def test_strategies_reject_unknown_names():
    model, theta = tiny_mlp()
    with pytest.raises(ValueError, match="unknown strategy 'gpu'"):
        meta_gradient(model, theta, sinusoid_batch(), strategy="gpu")
    with pytest.raises(ValueError, match="unknown algorithm 'mamal'"):
        meta_gradient(model, theta, sinusoid_batch(), algorithm="mamal")
