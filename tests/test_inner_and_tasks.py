"""The inner loop's trace, the any-way head, sinusoid tasks and user-point tasks."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from core.compare import compare_gradients, measure_cost
from core.device import generator
from core.evaluation import evaluate_steps
from core.inner import DIVERGENCE_FACTOR, InnerConfig, adapt, trajectory, ways_of
from core.models import loss
from core.registry import inner_config
from core.trace import AdaptationTrace, trace_records
from core.tasks import PointRules, SinusoidDistribution, task_from_points
from tests import oracle
from tests.helpers import pattern_episodes, sinusoid_batch, tiny_conv, tiny_mlp


def test_trace_has_one_record_per_step_including_theta():
    model, theta = tiny_mlp()
    task = sinusoid_batch(tasks=1)[0]
    grid = torch.linspace(-5, 5, 11, dtype=torch.float64).reshape(-1, 1)
    records = list(trace_records(model, theta, task, InnerConfig(0.05, 4), grid))
    assert [r.step for r in records] == [0, 1, 2, 3, 4]
    assert records[0].wall_time_s == 0.0 and all(r.wall_time_s > 0 for r in records[1:])
    assert all(len(r.predictions) == 11 for r in records)
    assert records[0].distance == {"body.0": 0.0, "body.2": 0.0, "head": 0.0}
    assert records[-1].support_loss < records[0].support_loss
    assert records[-1].distance["head"] > 0
    trace = AdaptationTrace(config={"lr": 0.05}, grid=grid.flatten().tolist(), records=records)
    assert AdaptationTrace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace


def test_trace_matches_batched_evaluation():
    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=3)
    cfg = InnerConfig(0.05, 3)
    losses, accuracies = evaluate_steps(model, theta, batch, cfg)
    assert losses.shape == (4, 3) and torch.isnan(accuracies).all()
    for i in range(3):
        records = list(trace_records(model, theta, batch[i], cfg))
        assert [r.query_loss for r in records] == pytest.approx(losses[:, i].tolist(), rel=1e-12)


def test_anil_trace_moves_only_the_head():
    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1)[0]
    records = list(trace_records(model, theta, task, inner_config("anil", 0.4, 2)))
    last = records[-1].distance
    assert last["head"] > 0
    assert all(value == 0.0 for layer, value in last.items() if layer.startswith("body."))


@pytest.mark.parametrize("ways", [2, 5, 20])
def test_any_way_head_runs_and_learns(ways):
    model, theta = tiny_conv(filters=8)
    task = pattern_episodes(tasks=1, ways=ways, shots=2, queries=2, seed=ways, dtype=torch.float32)[0]
    model, theta = model.float(), {k: v.float() for k, v in theta.items()}
    records = list(trace_records(model, theta, task, InnerConfig(0.4, 20)))
    assert records[0].support_loss == pytest.approx(math.log(ways), rel=1e-5)  # zero head: uniform
    assert len(records[-1].probabilities[0]) == ways
    assert records[-1].support_loss < 0.6 * records[0].support_loss
    assert records[-1].query_accuracy >= min(0.9, 3.0 / ways)  # far above chance (1/N)


def test_compare_gradients_against_cosines_worked_by_hand():
    reference = {"body.0.weight": torch.tensor([1.0, 0.0]), "head.weight": torch.tensor([0.0, 1.0])}
    other = {"body.0.weight": torch.tensor([1.0, 1.0]), "head.weight": torch.tensor([0.0, -1.0])}
    result = compare_gradients({"maml": reference, "fomaml": other})["fomaml"]
    # ⟨g, g_ref⟩ = 1·1 + 1·0 + 0·0 + (−1)·1 = 0; ‖g‖ = √3; g − g_ref = (0, 1, 0, −2)
    assert result.cosine == pytest.approx(0.0, abs=1e-15)
    assert result.cosine_per_layer == pytest.approx({"body.0": 1 / math.sqrt(2), "head": -1.0})
    assert result.norm == pytest.approx(math.sqrt(3)) and result.difference_norm == pytest.approx(math.sqrt(5))
    zero = {key: torch.zeros(2) for key in reference}
    assert math.isnan(compare_gradients({"maml": reference, "zero": zero})["zero"].cosine)
    with pytest.raises(ValueError, match="reference 'maml'"):
        compare_gradients({"fomaml": other})


def test_measure_cost_returns_the_result_and_counts_what_it_allocates():
    size = 2**20  # one float64 tensor of 8 MiB, alive while the computation runs
    result, cost = measure_cost(lambda: float(torch.ones(size, dtype=torch.float64).sum()), torch.device("cpu"),
                                repeats=2)
    assert result == size
    assert cost.peak_bytes >= 8 * size and cost.seconds > 0 and cost.device == "cpu"


def test_sinusoid_distribution_respects_ranges_and_seed():
    distribution = SinusoidDistribution(amplitude=(5.0, 10.0), phase=(math.pi, 2 * math.pi), support=5, query=7)
    batch = distribution.sample(50, generator(3))
    assert batch.x_support.shape == (50, 5, 1) and batch.x_query.shape == (50, 7, 1)
    assert all(5.0 <= a <= 10.0 for a in batch.info["amplitude"])
    assert all(math.pi <= p <= 2 * math.pi for p in batch.info["phase"])
    assert batch.x_support.abs().max() <= 5.0
    a, p = batch.info["amplitude"][0], batch.info["phase"][0]
    torch.testing.assert_close(batch.y_query[0], a * torch.sin(batch.x_query[0] - p))
    again = distribution.sample(50, generator(3))
    assert torch.equal(again.x_support, batch.x_support)
    with pytest.raises(ValueError, match="amplitude must be a finite range"):
        SinusoidDistribution(amplitude=(5.0, 1.0))


def test_task_from_points_accepts_any_curve():
    task = task_from_points([0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [0.5], [1.0])
    assert task.x_support.shape == (3, 1) and task.x_query.shape == (1, 1)
    assert task_from_points([4], [0]).x_query.shape == (0, 1)


@pytest.mark.parametrize("x, y, message", [
    ([], [], "at least 1 point"),
    ([0.0, 1.0], [0.0], "same length"),
    ([float("nan")], [0.0], "finite number"),
    ([0.0], [float("inf")], "finite number"),
    ([6.0], [0.0], "outside the allowed x range"),
    (list(range(-2, 3)) * 30, [0.0] * 150, "at most 100 points"),
    ("abc", [0.0], "list of numbers"),
    (["a"], [0.0], "must be a number"),
    ([0.0], [1e9], "larger in size"),
])
def test_task_from_points_says_which_rule_was_broken(x, y, message):
    with pytest.raises(ValueError, match=message):
        task_from_points(x, y, rules=PointRules())


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "inner learning rate"),
    (dict(lr=float("nan")), "inner learning rate"),
    (dict(steps=-1), "inner steps"),
    (dict(steps=1.5), "inner steps"),
])
def test_inner_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InnerConfig(**kwargs)


def test_choose_strategy_measures_and_respects_the_memory_budget():
    from core.meta import choose_strategy

    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=8)
    choice = choose_strategy(model, theta, batch, "maml", 0.05, 2, repeats=1)
    assert choice.strategy in choice.seconds and set(choice.seconds) <= {"loop", "vmap"}
    assert choice.peak_bytes["loop"] > 0 and choice.strategy in choice.reason
    tight = choose_strategy(model, theta, batch, "maml", 0.05, 2, repeats=1, memory_budget=1)
    assert tight.strategy == "loop" and "predicted" in tight.skipped["vmap"]


def test_mean_ci_counts_diverged_tasks_apart():
    from core.evaluation import mean_ci

    summary = mean_ci(torch.tensor([1.0, 2.0, 3.0, float("inf"), float("nan")]))
    assert summary["mean"] == pytest.approx(2.0) and summary["median"] == pytest.approx(2.0)
    assert summary["n"] == 3 and summary["diverged"] == 2
    assert summary["ci95"] == pytest.approx(1.96 * 1.0 / math.sqrt(3))


@pytest.mark.parametrize("functional", [True, False])
def test_anil_runs_the_body_on_the_support_set_once(functional):
    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1)[0]
    calls = []
    model.body[0].register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    adapt(model, theta, task.x_support, task.y_support, inner_config("anil", 0.4, 5), ways_of(task), functional)
    assert calls == [task.x_support.shape[0]]  # one pass for 5 steps: the features are reused
    calls.clear()
    adapt(model, theta, task.x_support, task.y_support, inner_config("maml", 0.4, 5), ways_of(task), functional)
    assert len(calls) == 5  # the body moves, so every step runs it again


@pytest.mark.parametrize("algorithm,steps,body_passes", [("maml", 1, 1), ("anil", 3, 1), ("fomaml", 1, 1),
                                                         ("maml", 2, 3), ("fomaml", 3, 4)])
def test_meta_gradient_runs_the_body_once_while_it_stays_at_theta(algorithm, steps, body_passes):
    from core.meta import meta_gradient

    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1)
    rows = []
    model.body[0].register_forward_hook(lambda module, inputs, output: rows.append(inputs[0].shape[0]))
    meta_gradient(model, theta, task, algorithm, 0.4, steps, "loop")
    support, query = task.x_support.shape[1], task.x_query.shape[1]
    assert len(rows) == body_passes  # S steps and the query: 1 pass while the body stays at θ, else S + 1
    assert rows[-1] == support + query  # the last pass is [support; query], BatchNorm from the support rows


@pytest.mark.parametrize("net, algorithm, steps, still", [
    ("conv", "maml", 1, 1),  # the zero head: step 1 moves the head alone
    ("conv", "maml", 2, 1), ("conv", "anil", 7, 7), ("conv", "anil", 0, 0),
    ("mlp", "maml", 1, 0), ("mlp", "anil", 1, 1), ("mlp", "fomaml", 3, 0),
])
def test_trajectory_knows_how_long_the_body_stays_at_theta(net, algorithm, steps, still):
    model, theta = tiny_conv() if net == "conv" else tiny_mlp()
    task = pattern_episodes(tasks=1)[0] if net == "conv" else sinusoid_batch(tasks=1)[0]
    path = trajectory(model, theta, task.x_support, task.y_support, inner_config(algorithm, 0.4, steps), ways_of(task))
    assert path.body_still == still and len(path.phis) == steps + 1
    for k, phi in enumerate(path.phis):  # the body is θ's very tensors up to body_still, and has moved after
        same = all(torch.equal(phi[key], theta[key]) for key in theta if key.startswith("body."))
        assert same == (k <= still), k


def test_joint_features_equal_separate_passes():
    from core.models import joint_features, predict

    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1)[0]
    params = model.task_params(theta, ways_of(task))
    support, query = joint_features(model, params, task.x_support, task.x_query)
    torch.testing.assert_close(support, predict(model, params, task.x_support, part="body"), rtol=0, atol=1e-12)
    torch.testing.assert_close(query, predict(model, params, task.x_query, task.x_support, part="body"),
                               rtol=0, atol=1e-12)


def test_conv_blocks_run_channels_last_on_plain_tensors_only():
    from torch.func import vmap

    model, theta = tiny_conv()
    block = model.body[1]
    x = torch.randn(6, block.conv.in_channels, 8, 8, dtype=torch.float64)
    plain = block(x)
    assert plain.is_contiguous(memory_format=torch.channels_last)
    batched = vmap(block)(x[None])[0]  # under vmap the layout stays the default one
    assert batched.is_contiguous()
    torch.testing.assert_close(plain, batched, rtol=0, atol=1e-12)


def test_he_init_scales_the_conv_weights_and_round_trips_through_the_spec():
    from core.models import Conv4
    from core.registry import build_model

    default, he = Conv4(), Conv4(init="he")
    for block_default, block_he in zip(default.body, he.body):
        fan_in = block_he.conv.weight[0].numel()
        assert float(block_he.conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.1)
        assert float(block_default.conv.weight.detach().std()) == pytest.approx(math.sqrt(1 / (3 * fan_in)), rel=0.1)
    assert build_model(he.spec()).init == "he" and he.spec()["init"] == "he"
    assert build_model({"name": "Conv4", "filters": 64, "in_channels": 1}).init == "default"  # older cards
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        Conv4(init="xavier")


def test_scaling_a_conv_before_batchnorm_keeps_the_function_and_shrinks_the_inner_step():
    """f(x; cW) = f(x; W) under BatchNorm, ∇_{cW} L = ∇_W L / c, so one step of α moves cW by 1/c² as much, relatively."""
    from core.models import loss

    model, theta = tiny_conv()
    model.body[1].norm.eps = 0.0  # the identity is exact without BatchNorm's ε (float64 here)
    task = pattern_episodes(tasks=1)[0]
    params = model.task_params(theta, ways_of(task))
    params["head.weight"] = torch.randn(params["head.weight"].shape, generator=generator(3), dtype=torch.float64)  # a head away from zero, so the body has a gradient
    c = 2.5
    key = "body.1.conv.weight"
    scaled = {**params, key: c * params[key], "body.1.conv.bias": c * params["body.1.conv.bias"]}
    base = loss(model, params, task.x_support, task.y_support)
    torch.testing.assert_close(loss(model, scaled, task.x_support, task.y_support), base, rtol=1e-12, atol=0)

    def weight_gradient(p):
        weight = p[key].detach().requires_grad_()
        return torch.autograd.grad(loss(model, {**p, key: weight}, task.x_support, task.y_support), weight)[0]

    torch.testing.assert_close(weight_gradient(scaled), weight_gradient(params) / c, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("inner_lr, dtype", [(5.0, torch.float64), (1e30, torch.float32)])
def test_a_diverging_trace_stops_at_the_threshold_with_every_record_finite(inner_lr, dtype):
    """float64 at α = 5 passes the threshold with finite values; float32 at α = 1e30 overflows to inf at once."""
    model, theta = tiny_mlp()
    model, theta = model.to(dtype), {key: value.to(dtype) for key, value in theta.items()}
    task = sinusoid_batch(tasks=1, support=10)[0].to("cpu", dtype)
    task = type(task)(task.x_support, 10 * task.y_support, task.x_query, 10 * task.y_query)  # amplitude ×10
    grid = torch.linspace(-5, 5, 11, dtype=dtype).reshape(-1, 1)
    cfg = InnerConfig(inner_lr, 60)
    records = list(trace_records(model, theta, task, cfg, grid))
    # the same steps without any stopping rule: every support loss L(φ_k), k = 0..S
    phis = trajectory(model, theta, task.x_support, task.y_support, replace(cfg, first_order=True)).phis
    with torch.no_grad():
        losses = [float(loss(model, phi, task.x_support, task.y_support)) for phi in phis]
    over = [k for k, value in enumerate(losses) if not math.isfinite(value) or value > DIVERGENCE_FACTOR * losses[0]]
    assert over, "this α should diverge within 60 steps"
    first = over[0]
    expected_last = first if math.isfinite(losses[first]) else first - 1  # past the threshold, or before a non-finite
    assert [r.step for r in records] == list(range(expected_last + 1))
    assert all(math.isfinite(v) for r in records for v in [r.support_loss, r.grad_norm, *r.predictions])
    assert records[-1].support_loss == pytest.approx(losses[expected_last], rel=1e-9)


def test_meta_landscape_plots_the_meta_loss_of_each_theta_and_keeps_their_distances():
    from core.landscape import meta_landscape

    model, theta = tiny_mlp(hidden=5)
    batch = sinusoid_batch(tasks=3, seed=4)
    lr, steps = 0.02, 2
    gen = torch.Generator().manual_seed(0)
    thetas = [{k: (v + 0.3 * t * torch.randn(v.shape, generator=gen, dtype=v.dtype)) for k, v in theta.items()}
              for t in range(3)]
    landscape = meta_landscape(model, thetas, batch, inner_config("maml", lr, steps), resolution=7)

    def by_hand(params):  # 1/T Σ_i L_query,i after S steps on task i's support set, in numpy (tests.oracle)
        total = 0.0
        for i in range(len(batch)):
            phi = oracle.as_numpy(params)
            for _ in range(steps):
                _, g = oracle.mlp_loss_and_gradient(phi, batch.x_support[i].numpy(), batch.y_support[i].numpy())
                phi = {k: phi[k] - lr * g[k] for k in phi}
            total += oracle.mlp_loss_and_gradient(phi, batch.x_query[i].numpy(), batch.y_query[i].numpy())[0]
        return total / len(batch)

    for point, value in zip(thetas, landscape.path_loss):
        assert value == pytest.approx(by_hand(point), rel=1e-6)
    flat = [torch.cat([p[k].reshape(-1) for k in p]).double() for p in thetas]
    for i in range(3):  # three points span a plane: the projection keeps every distance
        for j in range(i):
            shown = math.dist(landscape.path[i], landscape.path[j])
            assert shown == pytest.approx(float((flat[i] - flat[j]).norm()), rel=1e-6)
    assert len(landscape.loss) == len(landscape.b) == 7 and all(len(row) == 7 for row in landscape.loss)
