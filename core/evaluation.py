"""Evaluation: query loss and accuracy after each inner step, with 95% confidence intervals, and the
model cards' report protocol (sinusoid in and off distribution; Omniglot N-way K-shot on held-out
alphabets; the per-row test α chosen on validation alphabets). `python -m core.evaluate` is its
command line.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.func import vmap

from core.blackbox import blackbox_query_losses
from core.device import generator
from core.episodes import EpisodeConfig
from core.inner import InnerConfig, trajectory, ways_of
from core.models import Params
from core.omniglot import load_omniglot, sample_episodes
from core.registry import inner_config
from core.tasks import PointRules, SinusoidDistribution, Task, task_from_points


def evaluate_steps(model: nn.Module, theta: Params, batch: Task, cfg: InnerConfig,
                   chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Query loss and accuracy of every task after k = 0..S inner steps: two (S+1, T) tensors.

    A black-box learner has no steps: its single row is the loss of its one forward pass.

    Runs the one inner loop (first-order: no outer gradient is needed, φ_k is the same) under
    vmap over tasks, `chunk` tasks at a time: by default 100, but for a conv net on the CPU
    (chunk 1) a plain loop over tasks with autograd, where vmap over per-task conv weights ran
    2× slower (Conv4, 20-way 1-shot, 3 steps, one thread: 1.9 s vs 1.0 s per episode with 15
    queries per class) and plain tensors run the conv blocks channels-last (`ConvBlock`). The
    trajectory runs the body on the queries once while it stays at θ, and again only for steps
    where it has moved (not at all for ANIL; not for step 1 when the first step is head-only).
    Accuracy is NaN for regression.
    """
    if model.reads_support:  # a black box has no steps and reads whole batches: one row, k = 0
        losses = blackbox_query_losses(model, {k: v.detach() for k, v in theta.items()}, batch).detach()
        return losses[None], torch.full_like(losses[None], math.nan)
    ways = ways_of(batch[0])
    if chunk is None:
        chunk = 1 if model.task_kind == "classification" and batch.x_support.device.type == "cpu" else 100
    watch = replace(cfg, first_order=True)
    theta = {key: value.detach() for key, value in theta.items()}
    functional = chunk != 1  # vmap needs torch.func's gradients; a plain loop takes autograd's

    def curve(xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> tuple[Tensor, Tensor]:
        path = trajectory(model, theta, xs, ys, watch, ways, x_query=xq, functional=functional)
        metrics = [path.query_metrics(k, yq)[:2] for k in range(len(path.phis))]
        return torch.stack([m[0] for m in metrics]), torch.stack([m[1] for m in metrics])

    tensors = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    if functional:
        losses, accuracies = vmap(curve, chunk_size=chunk)(*tensors)
    else:
        curves = [curve(*(t[i] for t in tensors)) for i in range(len(batch))]
        losses, accuracies = (torch.stack([c[j] for c in curves]) for j in (0, 1))
    return losses.T.detach(), accuracies.T.detach()


def mean_ci(values: Tensor) -> dict[str, float]:
    """Mean and the half-width of its 95% confidence interval (1.96·s/√n), with the median.

    Tasks whose loss is not finite (the inner loop diverged on them) are counted in `diverged`
    and left out of the mean, the interval and the median, so one blow-up does not hide the rest.
    """
    values = values.double().flatten()
    finite = values[torch.isfinite(values)]
    n = finite.numel()
    std = float(finite.std()) if n > 1 else 0.0
    return {"mean": float(finite.mean()) if n else math.nan, "ci95": 1.96 * std / math.sqrt(n) if n else math.nan,
            "median": float(finite.median()) if n else math.nan, "n": n, "diverged": values.numel() - n}


def summarize(losses: Tensor, accuracies: Tensor) -> list[dict]:
    """One row per inner step: query loss (and accuracy) with 95% confidence intervals."""
    rows = []
    for step in range(losses.shape[0]):
        row = {"step": step, "query_loss": mean_ci(losses[step])}
        if not torch.isnan(accuracies[step]).any():
            row["accuracy"] = mean_ci(accuracies[step])
        rows.append(row)
    return rows


SINUSOID_REPORT = (  # (name, amplitude range, phase range): the paper's and Finn & Levine 2018 §7.1's shifts
    ("in-distribution", (0.1, 5.0), (0.0, math.pi)),
    ("amplitude 5-10", (5.0, 10.0), (0.0, math.pi)),
    ("phase pi-2pi", (0.1, 5.0), (math.pi, 2 * math.pi)),
)
SINUSOID_REPORT_STEPS = (0, 1, 5, 10, 100)
OMNIGLOT_REPORT = ((5, 1), (5, 5), (20, 1), (2, 1), (10, 1))  # (ways, shots)
PAPER = {  # what the model cards compare against
    "sinusoid": {"source": "Finn et al. 2017, K = 5, query MSE after 1 / 5 / 10 steps",
                 "mse": {"maml": {"1": 0.67, "5": 0.38, "10": 0.35}, "pretrained": {"1": 2.41, "5": 2.23, "10": 2.19}}},
    "omniglot": {"source": "Finn et al. 2017, Table 1 (MAML, accuracy % after 3 test steps)",
                 "setting": "1,200 characters, irrespective of alphabet, for meta-training; the other 423 for testing",
                 "accuracy": {"5-way 1-shot": 98.7, "5-way 5-shot": 99.9, "20-way 1-shot": 95.8,
                              "20-way 5-shot": 98.9}},
}


def sinusoid_report(model: nn.Module, theta: Params, card: dict, tasks: int = 1000, seed: int = 2024,
                    query: int = 100) -> list[dict]:
    """Query MSE ± 95% CI at K = 5 and 10 after 0/1/5/10/100 steps, in and off distribution."""
    cfg = inner_config(card["algorithm"], card["config"]["inner_lr"], max(SINUSOID_REPORT_STEPS))
    rows = []
    for name, amplitude, phase in SINUSOID_REPORT:
        for shots in (5, 10):
            distribution = SinusoidDistribution(amplitude=amplitude, phase=phase, support=shots, query=query)
            batch = distribution.sample(tasks, generator(seed)).to(next(iter(theta.values())).device)
            losses, _ = evaluate_steps(model, theta, batch, cfg)
            rows.append({"distribution": name, "amplitude": list(amplitude), "phase": list(phase), "K": shots,
                         "tasks": tasks, "mse": {str(k): mean_ci(losses[k]) for k in SINUSOID_REPORT_STEPS
                                                 if k < losses.shape[0]}})
    return rows


def omniglot_report_episodes(card: dict, data: list[str], episodes: int = 600, seed: int = 2024,
                             queries: int = 5, alphabets: set[str] | None = None
                             ) -> Iterator[tuple[int, int, list[str], Task]]:
    """The report's episodes: for each (N, K) of OMNIGLOT_REPORT, (N, K, alphabets, batch) with
    `episodes` N-way K-shot tasks of `queries` queries per class, drawn from `seed` out of the
    alphabets the checkpoint did not train on (or out of `alphabets`). Every checkpoint with the
    same split gets the same tasks.
    """
    characters = load_omniglot(data)
    if alphabets is None:
        held_out = characters.without_alphabets(set(card["data"]["train_alphabets"]))
    else:
        held_out = characters.without_alphabets(set(characters.alphabets) - alphabets)
    for ways, shots in OMNIGLOT_REPORT:
        batch = sample_episodes(held_out, EpisodeConfig(ways, shots, queries), episodes, generator(seed))
        yield ways, shots, sorted(set(held_out.alphabets)), batch


def card_inner_lr(card: dict, ways: int | None = None, shots: int | None = None) -> tuple[float, str]:
    """(α, where it comes from) for N-way K-shot tasks: the test α the card selected for the row of
    exactly that shape (`select_test_inner_lr`), else the α the checkpoint meta-trained with."""
    row = f"{ways}x{shots}"
    selected = card.get("test_inner_lr", {})
    if ways is not None and row in selected:
        return selected[row], f"the test α the card selected for {ways}-way {shots}-shot"
    return card["config"]["inner_lr"], "the α the checkpoint meta-trained with"


def report_inner_lr(card: dict, ways: int, shots: int) -> float:
    """α of the report's N-way K-shot row (`card_inner_lr`)."""
    return card_inner_lr(card, ways, shots)[0]


def report_inner_config(card: dict, ways: int, shots: int) -> InnerConfig:
    """The inner loop that the report runs on N-way K-shot episodes: the card's algorithm and test steps."""
    return inner_config(card["algorithm"], report_inner_lr(card, ways, shots), card["config"]["test_steps"])


def omniglot_report(model: nn.Module, theta: Params, card: dict, data: list[str], episodes: int = 600,
                    seed: int = 2024, queries: int = 5) -> list[dict]:
    """Accuracy ± 95% CI per inner step on the alphabets the checkpoint did not train on."""
    rows = []
    for ways, shots, alphabets, batch in omniglot_report_episodes(card, data, episodes, seed, queries):
        cfg = report_inner_config(card, ways, shots)
        _, accuracies = evaluate_steps(model, theta, batch.to(next(iter(theta.values())).device), cfg)
        rows.append({"ways": ways, "shots": shots, "queries": queries, "episodes": episodes, "alphabets": alphabets,
                     "inner_lr": cfg.lr,
                     "accuracy": {str(k): mean_ci(accuracies[k]) for k in range(accuracies.shape[0])}})
    return rows


def select_test_inner_lr(card: dict, validation: tuple[nn.Module, Params, dict], grid: list[float],
                         data: list[str], episodes: int = 600, seed: int = 2024, queries: int = 5) -> dict:
    """Per report row, the test α in `grid` chosen without the checkpoint's held-out alphabets.

    `validation` is the checkpoint's own recipe (the same config but for `val_alphabets`) meta-trained
    on a subset of its training alphabets. On the alphabets that the checkpoint trained on and
    `validation` did not, each row's α is

        α*(N, K) = argmax_{α ∈ grid} accuracy of `validation` after S test steps of size α

    on the report's episodes (seed, count and queries), S being the card's test steps; of tied α,
    the one nearest the α the checkpoint meta-trained with wins. The alphabets the checkpoint is
    reported on take no part. Returns the card's `test_inner_lr` ({"NxK": α*}) with every accuracy
    behind it.
    """
    model, theta, validation_card = validation
    if not grid or any(not (math.isfinite(lr) and lr > 0) for lr in grid):
        raise ValueError(f"the α grid must hold positive finite numbers, got {grid}")
    if card["task"] != "omniglot":
        raise ValueError("a test α is selected for omniglot checkpoints")
    differing = sorted(key for key in set(card["config"]) | set(validation_card["config"])  # task and algorithm too
                       if key != "val_alphabets" and card["config"].get(key) != validation_card["config"].get(key))
    if differing:
        raise ValueError("the validation checkpoint must follow the checkpoint's recipe; "
                         f"it differs in {', '.join(differing)}")
    trained, validation_trained = set(card["data"]["train_alphabets"]), set(validation_card["data"]["train_alphabets"])
    if not validation_trained < trained:
        extra = ", ".join(sorted(validation_trained - trained)) or "all of them"
        raise ValueError("the validation checkpoint must train on a strict subset of the checkpoint's training "
                         f"alphabets; it also trained on {extra}")
    steps = card["config"]["test_steps"]
    rows, chosen = [], {}
    grid = sorted(set(grid))
    for ways, shots, alphabets, batch in omniglot_report_episodes(validation_card, data, episodes, seed, queries,
                                                                  alphabets=trained - validation_trained):
        batch = batch.to(next(iter(theta.values())).device)
        accuracy = {}
        for lr in grid:
            _, accuracies = evaluate_steps(model, theta, batch, inner_config(card["algorithm"], lr, steps))
            accuracy[lr] = mean_ci(accuracies[steps])
        best = max(grid, key=lambda lr: (accuracy[lr]["mean"], -abs(lr - card["config"]["inner_lr"])))
        chosen[f"{ways}x{shots}"] = best
        rows.append({"ways": ways, "shots": shots, "queries": queries, "episodes": episodes, "alphabets": alphabets,
                     "accuracy": {f"{lr:g}": accuracy[lr] for lr in grid}, "chosen": best})
    return {"test_inner_lr": chosen, "selection": {
        "rule": f"per row, the α of the grid at which the validation checkpoint is most accurate after {steps} "
                "steps on alphabets this checkpoint trained on and it did not",
        "validation_checkpoint": validation_card["checkpoint"], "validation_sha256": validation_card["sha256"],
        "validation_train_alphabets": sorted(validation_trained), "grid": grid, "rows": rows}}


def read_sinusoid_tasks(path: str | Path, rules: PointRules = PointRules(x_range=(-1e6, 1e6))) -> list[Task]:
    """Tasks from a JSON list of {"x_support", "y_support", "x_query", "y_query"} objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sinusoid task file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path} must hold a non-empty JSON list of tasks")
    tasks = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"task {i} in {path} must be an object with x_support, y_support, x_query, y_query")
        missing = [k for k in ("x_support", "y_support", "x_query", "y_query") if k not in item]
        if missing:
            raise ValueError(f"task {i} in {path} lacks {', '.join(missing)}")
        try:
            tasks.append(task_from_points(item["x_support"], item["y_support"], item["x_query"], item["y_query"], rules))
        except ValueError as error:
            raise ValueError(f"task {i} in {path}: {error}") from None
    return tasks
