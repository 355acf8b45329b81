"""The meta-gradient against independent oracles: finite differences, a closed form, a naive loop."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.naive import naive_meta_gradient
from core.inner import InnerConfig, adapt, ways_of
from core.meta import ALGORITHMS, meta_gradient
from core.models import loss
from core.tasks import Task, stack_tasks
from tests.helpers import pattern_episodes, sinusoid_batch, tiny_conv, tiny_mlp

STRATEGIES = ("loop", "vmap", "vmap:2")


def query_loss_after_adaptation(model, theta, task: Task, inner_lr: float, steps: int) -> torch.Tensor:
    """L_query(adapt(θ)) for one task, the function whose gradient MAML takes."""
    phi = adapt(model, theta, task.x_support, task.y_support, InnerConfig(inner_lr, steps), ways_of(task))
    return loss(model, phi, task.x_query, task.y_query, context=task.x_support)


def directional_fd(model, theta, task, inner_lr, steps, direction, eps=1e-5) -> float:
    """Central difference (L(θ+εv) − L(θ−εv)) / 2ε in float64."""
    plus = {k: theta[k] + eps * direction[k] for k in theta}
    minus = {k: theta[k] - eps * direction[k] for k in theta}
    with torch.no_grad():
        return float(query_loss_after_adaptation(model, plus, task, inner_lr, steps)
                     - query_loss_after_adaptation(model, minus, task, inner_lr, steps)) / (2 * eps)


@pytest.mark.parametrize("steps", [1, 3])
def test_mlp_meta_gradient_matches_coordinate_finite_differences(steps):
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=1, seed=steps)
    g = meta_gradient(model, theta, batch, "maml", inner_lr=0.05, steps=steps).grads
    for key, value in theta.items():
        for index in range(value.numel()):
            direction = {k: torch.zeros_like(v) for k, v in theta.items()}
            direction[key].view(-1)[index] = 1.0
            fd = directional_fd(model, theta, batch[0], 0.05, steps, direction)
            assert fd == pytest.approx(float(g[key].view(-1)[index]), rel=1e-6, abs=1e-9), (key, index)


@pytest.mark.parametrize("steps", [1, 3])
def test_conv_meta_gradient_matches_directional_finite_differences(steps):
    model, theta = tiny_conv()
    batch = pattern_episodes(tasks=1, ways=3, shots=2, queries=2, seed=steps)
    g = meta_gradient(model, theta, batch, "maml", inner_lr=0.4, steps=steps).grads
    gen = torch.Generator().manual_seed(steps)
    for _ in range(4):
        direction = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in theta.items()}
        analytic = sum(float((g[k] * direction[k]).sum()) for k in theta)
        # ReLU and max-pool kinks sit within ~1e-5 of θ along a random direction; a smaller ε
        # stays on one side of them, and float64 rounding (~1e-16 / ε) is still far below 1e-6
        fd = directional_fd(model, theta, batch[0], 0.4, steps, direction, eps=1e-7)
        assert fd == pytest.approx(analytic, rel=1e-6)


class LinearRegression(nn.Module):
    """f(x) = x w (no bias): the closed-form test model."""

    task_kind = "regression"
    context_norm = False
    static_first_step = ()

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


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mlp_engine_equals_naive_create_graph_loop(algorithm, steps, strategy):
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=3)
    expected = naive_meta_gradient(model, theta, batch, algorithm, 0.05, steps)
    got = meta_gradient(model, theta, batch, algorithm, 0.05, steps, strategy).grads
    for key in theta:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_conv_with_batchnorm_engine_equals_naive_create_graph_loop(algorithm, steps, strategy):
    model, theta = tiny_conv()
    batch = pattern_episodes(tasks=3, ways=3, shots=2, queries=2)
    expected = naive_meta_gradient(model, theta, batch, algorithm, 0.4, steps)
    got = meta_gradient(model, theta, batch, algorithm, 0.4, steps, strategy).grads
    for key in theta:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-10, atol=1e-10)


WEIGHTS = (0.2, 0.3, 0.5)  # w_1..w_3 of the multi-step loss Σ_k w_k L_query(φ_k)


def test_multi_step_loss_matches_finite_differences_of_its_definition():
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=1, seed=4)
    g = meta_gradient(model, theta, batch, "maml", 0.05, 3, step_weights=WEIGHTS).grads
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        direction = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in theta.items()}
        analytic = sum(float((g[k] * direction[k]).sum()) for k in theta)
        # each L_query(φ_k) is differenced by adapting k steps from scratch: no shared code with the engine
        fd = sum(w * directional_fd(model, theta, batch[0], 0.05, k, direction) for k, w in enumerate(WEIGHTS, 1))
        assert fd == pytest.approx(analytic, rel=1e-6)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_multi_step_loss_engine_equals_naive_create_graph_loop(algorithm, strategy):
    for model, theta, batch, inner_lr in ((*tiny_mlp(), sinusoid_batch(tasks=3), 0.05),
                                          (*tiny_conv(), pattern_episodes(tasks=3, ways=3, shots=2, queries=2), 0.4)):
        expected = naive_meta_gradient(model, theta, batch, algorithm, inner_lr, 3, step_weights=WEIGHTS)
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
