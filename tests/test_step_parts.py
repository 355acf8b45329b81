"""bench.step_parts: each inner step split into its head move and its body move."""
from __future__ import annotations

import json

import pytest
import torch

from core import train, training
from core.checkpoints import card_path, load_checkpoint
from core.evaluation import omniglot_report, omniglot_report_episodes
from core.models import loss, predict
from core.registry import HEAD_PREFIX
from tests.helpers import run_tool, tool_json
from tests.omniglot_fixtures import write_characters

EPISODES = 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A Conv4 MAML checkpoint after 2 iterations on a generated 2-alphabet set (20 classes each)."""
    root = tmp_path_factory.mktemp("step_parts")
    data = write_characters(root / "images", alphabets=("Alpha", "Beta"), characters=5, drawers=10)
    cfg = training.default_config("omniglot", iterations=2, meta_batch=2, query=1, val_alphabets=1,
                               validation_tasks=2, validate_every=2, strategy="loop")
    path = root / "maml.pt"
    train.train(cfg, path, data=[str(data)], device="cpu", progress=False)
    return str(path), [str(data)]


def naive_trajectory(model, theta, x_support, y_support, lr, steps):
    """φ_0 … φ_S by plain autograd on every parameter: an independent copy of the inner loop."""
    ways = int(y_support.max()) + 1
    phis = [model.task_params(theta, ways)]
    for _ in range(steps):
        phi = {key: value.detach().requires_grad_() for key, value in phis[-1].items()}
        grads = torch.autograd.grad(loss(model, phi, x_support, y_support), list(phi.values()))
        phis.append({key: (value - lr * g).detach() for (key, value), g in zip(phi.items(), grads)})
    return phis


def test_step_parts_match_the_report_and_an_independent_inner_loop(checkpoint):
    path, data = checkpoint
    rows = tool_json("bench.step_parts", path, "--data", *data, "--episodes", EPISODES)
    model, theta, card = load_checkpoint(path)
    steps, lr = card["config"]["test_steps"], card["config"]["inner_lr"]
    report = omniglot_report(model, theta, card, data, episodes=EPISODES)
    assert [(r["ways"], r["shots"]) for r in rows] == [(r["ways"], r["shots"]) for r in report]
    for row, reported in zip(rows, report):
        assert [s["step"] for s in row["steps"]] == list(range(1, steps + 1))
        for step in row["steps"]:  # before and after are the report's accuracies at k − 1 and k
            k = step["step"]
            assert step["before"]["mean"] == pytest.approx(reported["accuracy"][str(k - 1)]["mean"], abs=1e-6)
            assert step["after"]["mean"] == pytest.approx(reported["accuracy"][str(k)]["mean"], abs=1e-6)
        first = row["steps"][0]  # zero head: ∇_body L = 0 at φ_0, so step 1 is all head
        assert first["head_only"]["mean"] == first["after"]["mean"]
        assert first["body_only"]["mean"] == first["before"]["mean"]
        assert first["head_only_minus_after"]["ci95"] == 0

    _, _, _, batch = next(omniglot_report_episodes(card, data, EPISODES))  # 5-way 1-shot
    theta = {key: value.detach() for key, value in theta.items()}
    parts = []
    for i in range(EPISODES):  # each half of each step, against plain autograd, episode by episode
        xs, ys, xq, yq = batch.x_support[i], batch.y_support[i], batch.x_query[i], batch.y_query[i]
        phis = naive_trajectory(model, theta, xs, ys, lr, steps)

        def accuracy(phi):
            with torch.no_grad():
                return float((predict(model, phi, xq, context=xs).argmax(-1) == yq).float().mean())

        episode = []
        for k in range(1, steps + 1):
            before, after = phis[k - 1], phis[k]
            head = {**before, **{key: v for key, v in after.items() if key.startswith(HEAD_PREFIX)}}
            body = {**before, **{key: v for key, v in after.items() if not key.startswith(HEAD_PREFIX)}}
            episode.append([accuracy(before), accuracy(after), accuracy(head), accuracy(body)])
        parts.append(episode)
    expected = torch.tensor(parts).mean(0)  # (steps, 4): the means over the row's episodes
    for k, step in enumerate(rows[0]["steps"]):
        measured = [step[part]["mean"] for part in ("before", "after", "head_only", "body_only")]
        assert measured == pytest.approx(expected[k].tolist(), abs=1e-6)


def test_step_parts_cli_prints_each_step_and_rejects_head_only_algorithms(checkpoint, tmp_path):
    path, data = checkpoint
    result = run_tool("bench.step_parts", path, "--data", *data, "--episodes", 2)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 * 3 and lines[0].startswith("5-way 1-shot, step 1: ") and "body only" in lines[0]
    anil = tmp_path / "anil.pt"
    anil.write_bytes(open(path, "rb").read())
    card = json.loads(card_path(path).read_text())
    card_path(anil).write_text(json.dumps({**card, "algorithm": "anil", "checkpoint": anil.name}))
    refused = run_tool("bench.step_parts", anil, "--data", *data, "--episodes", 2)
    assert refused.returncode == 2 and "moves the head alone" in refused.stderr
    zero = run_tool("bench.step_parts", path, "--data", *data, "--episodes", 0)
    assert zero.returncode == 2 and "--episodes must be >= 1" in zero.stderr
