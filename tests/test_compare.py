"""core.compare against independent computations: the one-step Hessian decomposition, implicit MAML against
a dense solve, the first-order approximation's limit, and what create_graph keeps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.compare import (autograd_graph, compare_gradients, hessian_term, hessian_vector_product, imaml_gradient,
                          measure_cost)
from core.inner import ways_of
from core.meta import meta_gradient
from core.models import loss
from tests import oracle
from tests.helpers import pattern_episodes, sinusoid_batch, tiny_conv, tiny_mlp


def dense_hessian(model, params, x, y) -> torch.Tensor:
    """∇²L(params) over all of params' entries, flattened, by torch.autograd.functional.hessian."""
    keys, shapes = list(params), [v.shape for v in params.values()]
    flat = torch.cat([v.detach().reshape(-1) for v in params.values()])

    def f(vector):
        parts = torch.split(vector, [s.numel() for s in shapes])
        return loss(model, {k: p.reshape(s) for k, p, s in zip(keys, parts, shapes)}, x, y)

    return torch.autograd.functional.hessian(f, flat)


@pytest.mark.parametrize("net", ["mlp", "conv"])
def test_hessian_vector_product_equals_the_dense_hessian(net):
    model, theta = tiny_mlp(hidden=5) if net == "mlp" else tiny_conv(filters=2)
    task = sinusoid_batch(tasks=1)[0] if net == "mlp" else pattern_episodes(tasks=1)[0]
    phi = model.task_params(theta, ways_of(task))
    if net == "conv":  # a head away from zero, so that every block of H is exercised
        phi["head.weight"] = torch.randn(phi["head.weight"].shape, generator=torch.Generator().manual_seed(0),
                                         dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    vector = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in phi.items()}
    got = torch.cat([v.reshape(-1) for v in hessian_vector_product(model, phi, task.x_support, task.y_support,
                                                                   vector).values()])
    expected = dense_hessian(model, phi, task.x_support, task.y_support) @ torch.cat(
        [v.reshape(-1) for v in vector.values()])
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("net", ["mlp", "conv"])
def test_one_step_maml_is_first_order_minus_the_hessian_term(net):
    model, theta = tiny_mlp() if net == "mlp" else tiny_conv()
    batch = sinusoid_batch(tasks=1) if net == "mlp" else pattern_episodes(tasks=1)
    lr = 0.05 if net == "mlp" else 0.4
    parts = hessian_term(model, theta, batch[0], lr)
    maml = meta_gradient(model, theta, batch, "maml", lr, 1).grads
    fomaml = meta_gradient(model, theta, batch, "fomaml", lr, 1).grads
    for key in theta:
        torch.testing.assert_close(parts["first_order"][key], fomaml[key], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(parts["maml"][key], maml[key], rtol=1e-9, atol=1e-12)
    assert max(float(v.abs().max()) for v in parts["hessian_term"].values()) > 1e-6  # the term is not nothing


def test_imaml_equals_a_dense_solve_of_its_definition_in_float64():
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=2, seed=3)
    lam, lr, steps = 2.0, 0.05, 4
    got = imaml_gradient(model, theta, batch, lr, steps, lam=lam, cg_steps=200)
    p = oracle.as_numpy(theta)
    keys = list(p)
    expected = {key: np.zeros_like(value) for key, value in p.items()}
    for i in range(len(batch)):  # φ by hand, H by central differences of the hand gradient, a dense solve
        task = batch[i]
        xs, ys = task.x_support.numpy(), task.y_support.numpy()
        xq, yq = task.x_query.numpy(), task.y_query.numpy()
        phi = dict(p)
        for _ in range(steps):
            _, g = oracle.mlp_loss_and_gradient(phi, xs, ys)
            phi = {k: phi[k] - lr * (g[k] + lam * (phi[k] - p[k])) for k in keys}

        def flat_gradient(vector):
            parts = np.split(vector, np.cumsum([phi[k].size for k in keys])[:-1])
            q = {k: part.reshape(phi[k].shape) for k, part in zip(keys, parts)}
            return np.concatenate([v.reshape(-1) for v in oracle.mlp_loss_and_gradient(q, xs, ys)[1].values()])

        # the hand gradient's keys come in its own order: reorder them to `keys`
        order = list(oracle.mlp_loss_and_gradient(phi, xs, ys)[1])
        point = np.concatenate([phi[k].reshape(-1) for k in keys])
        sizes = {k: phi[k].size for k in keys}

        def gradient_in_key_order(vector):
            g = flat_gradient(vector)
            chunks = dict(zip(order, np.split(g, np.cumsum([sizes[k] for k in order])[:-1])))
            return np.concatenate([chunks[k] for k in keys])

        eps = 1e-6
        hessian = np.stack([(gradient_in_key_order(point + eps * e) - gradient_in_key_order(point - eps * e)) / (2 * eps)
                            for e in np.eye(point.size)], axis=1)
        g_query = oracle.mlp_loss_and_gradient(phi, xq, yq)[1]
        rhs = np.concatenate([g_query[k].reshape(-1) for k in keys])
        v = np.linalg.solve(np.eye(point.size) + hessian / lam, rhs)
        for k, part in zip(keys, np.split(v, np.cumsum([sizes[k] for k in keys])[:-1])):
            expected[k] += part.reshape(p[k].shape) / len(batch)
    for key in theta:
        np.testing.assert_allclose(got[key].numpy(), expected[key], rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="λ must be a finite number > 0"):
        imaml_gradient(model, theta, batch, lr, steps, lam=0.0)


def test_first_order_tends_to_maml_as_alpha_goes_to_zero():
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=3)
    gaps = []
    for lr in (0.1, 0.01, 0.001, 0.0001):
        grads = {name: meta_gradient(model, theta, batch, name, lr, 1).grads for name in ("maml", "fomaml")}
        gaps.append(1 - compare_gradients(grads)["fomaml"].cosine)
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-6 and gaps[0] > 1e-5


def test_create_graph_keeps_every_inner_backward_and_first_order_keeps_none():
    model, theta = tiny_mlp()
    task = sinusoid_batch(tasks=1)[0]
    second = [autograd_graph(model, theta, task, 0.05, steps, create_graph=True) for steps in (0, 1, 2, 4)]
    first = [autograd_graph(model, theta, task, 0.05, steps, create_graph=False) for steps in (0, 1, 2, 4)]
    assert second[0] == first[0]  # no inner step: nothing to keep or drop
    assert all(a.nodes < b.nodes and a.saved_bytes < b.saved_bytes for a, b in zip(second, second[1:]))
    assert len({g.saved_bytes for g in first}) == 1  # first order saves the query pass alone, whatever S
    assert second[-1].nodes > 3 * first[-1].nodes and second[-1].saved_bytes > 3 * first[-1].saved_bytes


def test_second_order_peak_memory_grows_with_steps_and_first_order_stays_flat():
    model, theta = tiny_mlp(hidden=40)
    batch = sinusoid_batch(tasks=10, support=10, query=10)
    cpu = torch.device("cpu")
    peaks = {name: [measure_cost(lambda s=steps: meta_gradient(model, theta, batch, name, 0.01, s), cpu,
                                 repeats=1)[1].peak_bytes for steps in (1, 4, 8)] for name in ("maml", "fomaml")}
    assert peaks["maml"][0] < peaks["maml"][1] < peaks["maml"][2]
    assert peaks["maml"][2] > 2 * peaks["maml"][0]
    assert max(peaks["fomaml"]) < 1.5 * min(peaks["fomaml"])


def test_first_order_memory_stays_flat_in_steps_for_every_strategy_and_reptile():
    model, theta = tiny_mlp(hidden=40)
    batch = sinusoid_batch(tasks=10, support=10, query=10)
    cpu = torch.device("cpu")
    for name in ("fomaml", "reptile"):
        for strategy in ("loop", "vmap"):
            peaks = [measure_cost(lambda s=steps: meta_gradient(model, theta, batch, name, 0.01, s, strategy), cpu,
                                  repeats=1)[1].peak_bytes for steps in (1, 8)]
            assert peaks[1] < 1.5 * peaks[0], (name, strategy, peaks)


def test_cpu_memory_measurement_follows_storages_until_they_are_freed():
    from core.device import measure_peak_memory

    mib = 2**20 // 8  # float64 elements in 1 MiB

    def two_alive_at_most():
        a = torch.ones(8 * mib, dtype=torch.float64)  # 8 MiB
        b = a * 2  # 16 MiB alive
        del a
        c = b + 1  # b and c: 16 MiB again, never 24
        return float(c.sum())

    _, peak = measure_peak_memory(two_alive_at_most, torch.device("cpu"))
    assert 16 * 2**20 <= peak < 16 * 2**20 + 4096

    def kept_by_autograd():  # sin saves its input: x·2 stays alive inside the graph the result holds
        x = torch.ones(8 * mib, dtype=torch.float64, requires_grad=True)
        return (x * 2).sin().sum()

    _, peak = measure_peak_memory(kept_by_autograd, torch.device("cpu"))
    assert peak >= 24 * 2**20  # x, x·2 and sin(x·2) all alive at the sum


def test_imaml_batched_over_tasks_equals_the_loop_and_stops_cg_once_solved():
    model, theta = tiny_mlp(hidden=6)
    batch = sinusoid_batch(tasks=3, seed=5)
    loop = imaml_gradient(model, theta, batch, 0.05, 3, lam=1.5, cg_steps=40)
    batched = imaml_gradient(model, theta, batch, 0.05, 3, lam=1.5, cg_steps=40, strategy="vmap")
    longer = imaml_gradient(model, theta, batch, 0.05, 3, lam=1.5, cg_steps=400, strategy="vmap")
    for key in theta:
        torch.testing.assert_close(batched[key], loop[key], rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(longer[key], loop[key], rtol=1e-8, atol=1e-10)  # the masked stop holds x still
        assert torch.isfinite(longer[key]).all()
