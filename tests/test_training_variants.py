"""Training variants: the pretrained baseline, the black box, augmentation, torchrun data parallel."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core import evaluate, train, training
from core.blackbox import BlackBoxRegressor, blackbox_predict
from core.checkpoints import load_checkpoint
from core.device import generator
from core.meta import meta_gradient
from core.models import params
from core.omniglot import CLASS_AUGMENT, AugmentConfig, augment_episodes, augment_images, class_maps, sample_episodes
from core.tasks import SinusoidDistribution, Task

ROOT = Path(__file__).resolve().parents[1]


def recording_batches(monkeypatch) -> list[Task]:
    """The training batches a run draws, in order, recorded as it draws them (validation batches left out)."""
    drawn: list[Task] = []
    sample = training.TaskSource.sample

    def record(self, *args, validation=False, **kwargs):
        batch = sample(self, *args, validation=validation, **kwargs)
        if not validation and args[0] == self.cfg.meta_batch and len(drawn) < self.cfg.iterations:
            drawn.append(batch)
        return batch

    monkeypatch.setattr(training.TaskSource, "sample", record)
    return drawn


def adam_over(cfg, batches: list[Task], gradient) -> dict:
    """θ after Adam steps on gradient(θ, batch, t) for t = 1, 2, …: the update rule written out."""
    model, _ = training.build_run_model(cfg)
    theta = {key: value.requires_grad_() for key, value in params(model).items()}
    optimizer = torch.optim.Adam(theta.values(), lr=cfg.meta_lr)
    for t, batch in enumerate(batches, 1):
        grads = gradient(model, {k: v.detach() for k, v in theta.items()}, batch, t)
        for key, value in theta.items():
            value.grad = grads[key]
        optimizer.step()
    return {key: value.detach() for key, value in theta.items()}


def test_black_box_ignores_support_order_and_other_queries():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BlackBoxRegressor(width=16, heads=2, layers=1)
    theta = params(model)
    task = SinusoidDistribution(support=6, query=5).sample(1, generator(0))[0]
    full = blackbox_predict(model, theta, task.x_support, task.y_support, task.x_query)
    order = torch.randperm(6, generator=generator(1))
    shuffled = blackbox_predict(model, theta, task.x_support[order], task.y_support[order], task.x_query)
    alone = blackbox_predict(model, theta, task.x_support, task.y_support, task.x_query[:2])
    torch.testing.assert_close(shuffled, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alone, full[:2], rtol=1e-5, atol=1e-6)
    moved = blackbox_predict(model, theta, task.x_support, task.y_support + 1.0, task.x_query)
    assert not torch.allclose(moved, full)  # it does read the support values


@pytest.mark.parametrize("algorithm", ["pretrained", "blackbox"])
def test_baselines_train_and_evaluate(algorithm, tmp_path, capsys):
    out = tmp_path / f"{algorithm}.pt"
    assert train.main(["--task", "sinusoid", "--algo", algorithm, "--iterations", "30", "--validate-every", "15",
                       "--validation-tasks", "20", "--strategy", "loop", "--out", str(out), "--quiet"]) == 0
    card = json.loads(out.with_name(out.name + ".json").read_text())
    curve = card["training_curve"]
    assert card["algorithm"] == algorithm and len(curve) == 2
    model, theta, _ = load_checkpoint(out)
    assert isinstance(model, BlackBoxRegressor) == (algorithm == "blackbox")
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(out), "--sinusoid-sample", "20", "--steps", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["per_step"]
    assert len(rows) == (1 if algorithm == "blackbox" else 3)


def test_pretrained_baseline_gradient_is_the_plain_regression_gradient(tmp_path):
    # one iteration of Adam from the same seed: 'pretrained' must equal MAML with 0 inner steps
    common = ["--task", "sinusoid", "--iterations", "1", "--validate-every", "1", "--validation-tasks", "5",
              "--strategy", "loop", "--quiet"]
    assert train.main([*common, "--algo", "pretrained", "--out", str(tmp_path / "p.pt")]) == 0
    assert train.main([*common, "--algo", "fomaml", "--train-steps", "0", "--out", str(tmp_path / "f.pt")]) == 0
    a = torch.load(tmp_path / "p.pt", weights_only=True)
    b = torch.load(tmp_path / "f.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_augmentation_is_identity_at_zero_and_keeps_ink_otherwise():
    images = torch.zeros(6, 1, 28, 28)
    images[..., 8:20, 12:16] = 1.0
    identity = AugmentConfig(degrees=0.0, shift=0.0, scale=(1.0, 1.0), shear=0.0)
    torch.testing.assert_close(augment_images(images, identity, generator(0)), images)
    jittered = augment_images(images, AugmentConfig(), generator(0))
    assert not torch.allclose(jittered, images)
    assert jittered.sum() > 0.5 * images.sum()  # the stroke moves, it is not cropped away
    torch.testing.assert_close(augment_images(images, AugmentConfig(), generator(0)), jittered)  # seeded


def _bar_episodes(tasks: int = 3, classes: int = 4, shots: int = 2, queries: int = 3) -> Task:
    """Every image the same vertical bar; labels 0..classes-1 in each task."""
    def images(per_class: int) -> torch.Tensor:
        x = torch.zeros(tasks, classes * per_class, 1, 28, 28)
        x[..., 6:22, 12:15] = 1.0
        return x

    def labels(per_class: int) -> torch.Tensor:
        return torch.arange(classes).repeat_interleave(per_class).repeat(tasks, 1)

    return Task(images(shots), labels(shots), images(queries), labels(queries))


def test_class_augment_gives_every_image_of_a_class_its_one_map():
    batch = _bar_episodes()
    no_jitter = dict(degrees=0.0, shift=0.0, scale=(1.0, 1.0), shear=0.0)
    out = augment_episodes(batch, AugmentConfig(**no_jitter, class_shear=0.3, class_stretch=1.3), generator(0))
    for task in range(3):
        for label in range(4):
            images = torch.cat([out.x_support[task][out.y_support[task] == label],
                                out.x_query[task][out.y_query[task] == label]])
            torch.testing.assert_close(images, images[:1].expand_as(images))  # support and query alike
        firsts = torch.stack([out.x_support[task][out.y_support[task] == label][0] for label in range(4)])
        assert all(not torch.allclose(firsts[a], firsts[b]) for a in range(4) for b in range(a))
    maps = class_maps(3, 4, AugmentConfig(class_shear=0.3, class_stretch=1.3), generator(0))
    stretch, shear = maps[..., 0, 0], maps[..., 0, 1] * maps[..., 0, 0]
    torch.testing.assert_close(maps[..., 1, 1], 1 / stretch)
    assert torch.all(maps[..., 1, 0] == 0) and float(shear.abs().max()) <= 0.3
    assert 1 / 1.3 - 1e-6 <= float(stretch.min()) and float(stretch.max()) <= 1.3 + 1e-6
    with pytest.raises(ValueError, match="class_stretch must be >= 1"):
        AugmentConfig(class_stretch=0.5)


def test_class_map_acts_before_the_jitter():
    # oracle: with a shift-only jitter t, an image under class map C is grid_sample through [C | C t]
    images = _bar_episodes().x_query[0]
    n = len(images)
    shift_only = AugmentConfig(degrees=0.0, shift=0.1, scale=(1.0, 1.0), shear=0.0)
    linear = class_maps(1, n, AugmentConfig(class_shear=0.3, class_stretch=1.3), generator(1))[0]
    out = augment_images(images, shift_only, generator(7), linear)
    draws = torch.rand(5, n, generator=generator(7))  # angle, zoom, shear, x shift, y shift, in augment_images' order
    shift = (-0.2 + 0.4 * draws[3:]).T[..., None]

    def through(theta):
        grid = torch.nn.functional.affine_grid(theta, [n, 1, 28, 28], align_corners=False)
        return torch.nn.functional.grid_sample(images, grid, align_corners=False)

    torch.testing.assert_close(out, through(torch.cat([linear, linear @ shift], -1)))
    assert not torch.allclose(out, through(torch.cat([linear, shift], -1)), atol=1e-3)  # jitter first: another image


def test_without_class_maps_every_image_gets_its_own_jitter():
    batch = _bar_episodes()
    same = Task(batch.x_support[:, :1].expand_as(batch.x_support).contiguous(), batch.y_support,
                batch.x_query[:, :1].expand_as(batch.x_query).contiguous(), batch.y_query)  # one image, copied
    out = augment_episodes(same, AugmentConfig(), generator(5))
    flat = out.x_support.flatten(2)
    assert all(not torch.allclose(flat[0, 0], flat[0, i]) for i in range(1, flat.shape[1]))  # independent draws
    assert CLASS_AUGMENT.per_class and not AugmentConfig().per_class


def test_class_augment_reaches_training_and_the_card(tmp_path, capsys):
    from tests.omniglot_fixtures import write_characters

    data = [str(write_characters(tmp_path / "data"))]
    cfg = training.default_config("omniglot", ways=2, support=1, query=2, val_alphabets=1, meta_batch=4,
                               augment=True, class_augment=True, iterations=1, validate_every=1,
                               validation_tasks=2, strategy="loop", test_steps=1)
    source = training.TaskSource(cfg, data)
    plain = training.TaskSource(replace(cfg, class_augment=False), data)
    gen = generator(0)
    expected = augment_episodes(sample_episodes(source.train_chars, source.training_episodes[0], 4, gen),
                                CLASS_AUGMENT, gen)
    torch.testing.assert_close(source.sample(4, generator(0), augment=True).x_query, expected.x_query)
    assert not torch.equal(plain.sample(4, generator(0), augment=True).x_query, expected.x_query)
    torch.testing.assert_close(source.sample(4, generator(0), validation=True, augment=False).x_query,
                               plain.sample(4, generator(0), validation=True, augment=False).x_query)
    card = train.train(cfg, tmp_path / "class.pt", data, progress=False)
    assert card["config"]["class_augment"] is True
    with pytest.raises(ValueError, match="use it with augment"):
        training.default_config("omniglot", class_augment=True)
    with pytest.raises(ValueError, match="class_augment is for the omniglot task"):
        training.default_config("sinusoid", class_augment=True, augment=True)
    assert train.main(["--task", "omniglot", "--iterations", "1", "--class-augment", "--data", *data,
                       "--out", str(tmp_path / "x.pt")]) == 2
    assert "use it with augment (--augment --class-augment)" in capsys.readouterr().err


def test_torchrun_two_processes_match_one_process(tmp_path):
    common = ["--task", "sinusoid", "--iterations", "6", "--validate-every", "3", "--validation-tasks", "10",
              "--meta-batch", "8", "--strategy", "loop", "--device", "cpu", "--quiet"]
    single = tmp_path / "single.pt"
    assert train.main([*common, "--out", str(single)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

    def torchrun() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               "-m", "core.train", *common, "--out", str(tmp_path / "dp.pt")],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)

    result = torchrun()
    if result.returncode != 0 and "SIGABRT" in result.stderr:
        # once in this project's CI a worker aborted (SIGABRT) with no Python error; it did not recur in 15
        # runs alone. Retry that case once, and keep the first failure visible as a warning.
        warnings.warn("a torchrun worker aborted; retrying once. Its stderr began:\n" + result.stderr[:3000])
        result = torchrun()
    assert result.returncode == 0, result.stderr[:2000] + "\n...\n" + result.stderr[-2000:]
    one = torch.load(single, weights_only=True)
    two = torch.load(tmp_path / "dp.pt", weights_only=True)
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-5)
    card = json.loads((tmp_path / "dp.pt.json").read_text())
    assert card["device"].endswith("x2 processes")


def test_cosine_schedule_values_and_errors():
    cfg = training.TrainConfig(iterations=10, meta_lr=0.2, schedule="cosine")
    values = [training.meta_lr_at(cfg, t) for t in range(1, 11)]
    assert values[0] == pytest.approx(0.2) and all(a > b > 0 for a, b in zip(values, values[1:]))
    assert training.meta_lr_at(cfg, 6) == pytest.approx(0.1)  # half way through a half cosine: half of β
    # a half cosine is point-symmetric about its midpoint: β_t + β_{T+2−t} = β
    assert all(values[t - 1] + training.meta_lr_at(cfg, 12 - t) == pytest.approx(0.2) for t in range(2, 11))
    assert training.meta_lr_at(training.TrainConfig(meta_lr=0.2), 1000) == 0.2
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        training.TrainConfig(schedule="linear")


def test_cosine_run_interrupted_and_resumed_equals_one_run(tmp_path):
    cfg = training.default_config("sinusoid", iterations=5, validate_every=5, validation_tasks=5, meta_batch=4,
                               strategy="loop", schedule="cosine")
    train.train(cfg, tmp_path / "whole.pt", progress=False)
    card = train.train(cfg, tmp_path / "parts.pt", progress=False, max_minutes=1e-9)  # stops after iteration 1
    assert card["iterations"] == 1
    train.train(cfg, tmp_path / "parts.pt", progress=False, resume=True)
    whole = torch.load(tmp_path / "whole.pt", weights_only=True)
    parts = torch.load(tmp_path / "parts.pt", weights_only=True)
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    with pytest.raises(ValueError, match="another configuration"):  # a longer cosine run is another schedule
        train.train(replace(cfg, iterations=9), tmp_path / "parts.pt", progress=False, resume=True)


def test_episode_mix_takes_its_shapes_in_turn_and_validation_keeps_the_main_shape(tmp_path):
    from tests.omniglot_fixtures import write_characters

    data = [str(write_characters(tmp_path / "data"))]
    cfg = training.default_config("omniglot", ways=2, support=1, query=1, val_alphabets=1, meta_batch=2,
                               episode_mix=["3x1:1", "4x2:1"], iterations=3, validate_every=3,
                               validation_tasks=2, strategy="loop", test_steps=1)
    assert cfg.episode_mix == ("3x1:1", "4x2:1")
    source = training.TaskSource(cfg, data)
    gen = generator(0)
    shapes = [(b.x_support.shape[1], b.x_query.shape[1], int(b.y_support.max()) + 1)
              for b in (source.sample(2, gen, iteration=t) for t in (1, 2, 3))]
    assert shapes == [(3, 3, 3), (8, 4, 4), (3, 3, 3)]  # (support, query, ways) of 3x1:1, 4x2:1, 3x1:1
    held_out = source.sample(2, gen, validation=True, iteration=2)
    assert (held_out.x_support.shape[1], held_out.x_query.shape[1]) == (2, 2)
    assert train.train(cfg, tmp_path / "mix.pt", data, progress=False)["iterations"] == 3
    card = json.loads((tmp_path / "mix.pt.json").read_text())
    assert card["config"]["episode_mix"] == ["3x1:1", "4x2:1"]
    assert train.train(cfg, tmp_path / "mix.pt", data, progress=False, resume=True)["iterations"] == 3


def test_mirror_classes_reach_training_episodes_only(tmp_path):
    from tests.omniglot_fixtures import write_characters

    data = [str(write_characters(tmp_path / "data"))]
    cfg = training.default_config("omniglot", ways=5, support=1, query=1, val_alphabets=1, meta_batch=8,
                               episode_mix=["5x1:1", "3x1:1"], mirror_classes=True, iterations=2,
                               validate_every=2, validation_tasks=2, strategy="loop", test_steps=1)
    source = training.TaskSource(cfg, data)
    gen = generator(0)
    for iteration in (1, 2):  # every shape of the mix draws mirrored classes
        names = sum(source.sample(8, gen, iteration=iteration).info["classes"], [])
        assert any(name.endswith(" mirrored") for name in names)
    held_out = sum(source.sample(8, gen, validation=True).info["classes"], [])
    assert not any(name.endswith(" mirrored") for name in held_out)
    card = train.train(cfg, tmp_path / "mirror.pt", data, progress=False)
    assert card["config"]["mirror_classes"] is True and card["data"]["mirrors_as_classes"] is True
    with pytest.raises(ValueError, match="mirror_classes is for the omniglot task"):
        training.default_config("sinusoid", mirror_classes=True)


def test_conv_init_reaches_the_model_and_the_card(tmp_path, capsys):
    from tests.omniglot_fixtures import write_characters

    data = str(write_characters(tmp_path / "data"))
    argv = ["--task", "omniglot", "--iterations", "1", "--ways", "2", "--query", "1", "--val-alphabets", "1",
            "--meta-batch", "2", "--validation-tasks", "2", "--validate-every", "1", "--strategy", "loop",
            "--data", data, "--quiet", "--conv-init", "he", "--out", str(tmp_path / "he.pt")]
    assert train.main(argv) == 0
    card = json.loads((tmp_path / "he.pt.json").read_text())
    assert card["config"]["model"]["init"] == "he"
    theta = torch.load(tmp_path / "he.pt", weights_only=True)
    assert float(theta["body.1.conv.weight"].std()) > 2 * math.sqrt(1 / (3 * 64 * 9))  # He's scale, not PyTorch's
    capsys.readouterr()
    assert train.main(["--task", "sinusoid", "--iterations", "1", "--conv-init", "he", "--out", str(tmp_path / "s.pt")]) == 2
    assert "--conv-init is for the omniglot task" in capsys.readouterr().err


@pytest.mark.parametrize("overrides, message", [
    ({"episode_mix": ["5x1"]}, "'5x1' is not NxK:Q"),
    ({"episode_mix": ["5xa:1"]}, "'5xa:1' is not NxK:Q"),
    ({"episode_mix": ["1x1:1"]}, "needs N >= 2, K >= 1 and Q >= 1"),
])
def test_episode_mix_rejects_bad_shapes_with_a_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        training.default_config("omniglot", **overrides)
    with pytest.raises(ValueError, match="episode_mix is for the omniglot task"):
        training.default_config("sinusoid", episode_mix=["5x1:5"])


def test_first_order_warm_start_takes_fomaml_then_maml_gradients(tmp_path, monkeypatch):
    cfg = training.default_config("sinusoid", iterations=3, first_order_iterations=2, validate_every=3,
                               validation_tasks=5, meta_batch=4, strategy="loop", train_steps=2)
    assert [training.algorithm_at(cfg, t) for t in (1, 2, 3)] == ["fomaml", "fomaml", "maml"]
    batches = recording_batches(monkeypatch)
    warm = train.train(cfg, tmp_path / "warm.pt", progress=False)
    assert warm["config"]["first_order_iterations"] == 2 and len(batches) == 3
    # oracle: Adam on the batches the run drew, with the gradient each iteration should take
    expected = adam_over(cfg, batches, lambda model, theta, batch, t: meta_gradient(
        model, theta, batch, ("fomaml", "fomaml", "maml")[t - 1], cfg.inner_lr, cfg.train_steps, "loop").grads)
    got = torch.load(tmp_path / "warm.pt", weights_only=True)
    assert all(torch.equal(got[key], expected[key]) for key in got)
    monkeypatch.undo()
    for others in ({"first_order_iterations": 0}, {"first_order_iterations": 0, "algorithm": "fomaml"}):
        train.train(replace(cfg, **others), tmp_path / "other.pt", progress=False)
        other = torch.load(tmp_path / "other.pt", weights_only=True)
        assert not all(torch.allclose(got[key], other[key]) for key in got)
    # interrupted in the warm start and resumed: the same θ as one run
    assert train.train(cfg, tmp_path / "parts.pt", progress=False, max_minutes=1e-9)["iterations"] == 1
    train.train(cfg, tmp_path / "parts.pt", progress=False, resume=True)
    parts = torch.load(tmp_path / "parts.pt", weights_only=True)
    assert all(torch.equal(got[key], parts[key]) for key in got)


@pytest.mark.parametrize("argv, message", [
    (["--algo", "anil", "--first-order-iterations", "2"], "a warm start for maml"),
    (["--first-order-iterations", "4"], r"first_order_iterations \(4\) must be fewer than iterations \(4\)"),
    (["--first-order-iterations", "-1"], "first_order_iterations must be >= 0"),
])
def test_first_order_warm_start_rejects_bad_values_with_a_message(argv, message, tmp_path, capsys):
    assert train.main(["--task", "sinusoid", "--iterations", "4", "--out", str(tmp_path / "x.pt"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err)
    assert not (tmp_path / "x.pt").exists()


def test_multi_step_loss_weights_anneal_from_uniform_to_the_last_step():
    cfg = training.TrainConfig(iterations=100, train_steps=3, multi_step_loss=True)
    weights = [training.step_weights_at(cfg, t) for t in range(1, 101)]
    assert weights[0] == pytest.approx((1 / 3,) * 3)  # uniform at the start
    assert all(sum(w) == pytest.approx(1.0) and min(w) >= 0 and w[0] == w[1] for w in weights)
    assert all(a[0] > b[0] and a[2] < b[2] for a, b in zip(weights, weights[1:]))  # weight moves to the last step
    assert weights[-1][0] < 0.01 and weights[-1][2] > 0.98  # and the run ends on nearly the plain objective
    assert training.step_weights_at(replace(cfg, multi_step_loss=False), 1) is None


def test_multi_step_loss_trains_with_the_annealed_weights(tmp_path, monkeypatch):
    cfg = training.default_config("sinusoid", iterations=3, first_order_iterations=1, validate_every=3,
                               validation_tasks=5, meta_batch=4, strategy="loop", train_steps=2,
                               multi_step_loss=True)
    batches = recording_batches(monkeypatch)
    card = train.train(cfg, tmp_path / "msl.pt", progress=False)
    assert card["config"]["multi_step_loss"] is True
    # oracle: Adam on the batches the run drew, each gradient taken with that iteration's weights
    expected = adam_over(cfg, batches, lambda model, theta, batch, t: meta_gradient(
        model, theta, batch, ("fomaml", "maml", "maml")[t - 1], cfg.inner_lr, cfg.train_steps, "loop",
        step_weights=training.step_weights_at(cfg, t)).grads)
    got = torch.load(tmp_path / "msl.pt", weights_only=True)
    assert all(torch.equal(got[key], expected[key]) for key in got)
    monkeypatch.undo()
    train.train(replace(cfg, multi_step_loss=False), tmp_path / "plain.pt", progress=False)
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)
    assert not all(torch.allclose(got[key], plain[key]) for key in got)
    with pytest.raises(ValueError, match="another configuration"):  # the weights are drawn over the run's length
        train.train(replace(cfg, iterations=5), tmp_path / "msl.pt", progress=False, resume=True)


@pytest.mark.parametrize("argv, message", [
    (["--algo", "reptile", "--train-steps", "3"], "needs maml, fomaml or anil and train_steps >= 2 .got reptile"),
    (["--train-steps", "1"], r"train_steps >= 2 \(got maml, 1 steps\)"),
])
def test_multi_step_loss_rejects_what_it_cannot_weigh(argv, message, tmp_path, capsys):
    assert train.main(["--task", "sinusoid", "--iterations", "4", "--out", str(tmp_path / "x.pt"),
                       "--multi-step-loss", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err)
    assert not (tmp_path / "x.pt").exists()


def test_two_algorithms_side_by_side_share_theta_zero_and_the_task_stream(monkeypatch):
    cfg = training.default_config("sinusoid", iterations=4, validate_every=2, validation_tasks=5, meta_batch=4,
                                  strategy="loop")
    batches = recording_batches(monkeypatch)
    records = list(training.meta_train(cfg, algorithms=("maml", "fomaml"), theta_every=1))
    monkeypatch.undo()
    assert [r.iteration for r in records] == [0, 1, 2, 3, 4] and len(batches) == 4  # one batch per iteration
    assert records[0].info.strategies == {"maml": "loop", "fomaml": "loop"} and records[-1].last
    start = records[0].theta
    assert all(torch.equal(start["maml"][k], start["fomaml"][k]) for k in start["maml"])
    assert [r.iteration for r in records if r.validation] == [2, 4]
    assert all(set(r.losses) == {"maml", "fomaml"} and r.seconds["maml"] > 0 for r in records[1:])
    for name in ("maml", "fomaml"):  # each side equals its own run alone, iteration by iteration
        alone = list(training.meta_train(replace(cfg, algorithm=name), theta_every=1))
        for together, single in zip(records, alone):
            assert all(torch.equal(together.theta[name][k], single.theta[name][k]) for k in single.theta[name])
            assert together.losses.get(name) == single.losses.get(name)
    final = records[-1].theta
    assert not all(torch.allclose(final["maml"][k], final["fomaml"][k]) for k in final["maml"])


def test_a_stopped_run_keeps_what_it_learned():
    cfg = training.default_config("sinusoid", iterations=1000, validate_every=500, validation_tasks=5, meta_batch=4,
                                  strategy="loop")
    for record in training.meta_train(cfg, theta_every=1):
        if record.iteration == 3:
            break  # the page's Stop: the generator is simply not asked for more
    short = list(training.meta_train(replace(cfg, iterations=3, validate_every=3)))[-1]
    assert all(torch.equal(record.theta["maml"][k], short.theta["maml"][k]) for k in short.theta["maml"])
