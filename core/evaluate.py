"""Evaluation: query loss and accuracy after each inner step, with 95% confidence intervals.

    python -m core.evaluate --checkpoint PATH --sinusoid-tasks FILE.json
    python -m core.evaluate --checkpoint PATH --sinusoid-sample 1000 --support 5 --steps 10
    python -m core.evaluate --checkpoint PATH --episodes 600 --ways 5 --shots 1 --data DIR
    python -m core.evaluate --checkpoint PATH --omniglot-runs DIR
    python -m core.evaluate --checkpoint PATH --report --data DIR
    python -m core.evaluate --checkpoint PATH --select-inner-lr 0.2 0.3 0.4 --validation-checkpoint VAL.pt --data DIR
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.func import vmap

from core.blackbox import BlackBoxRegressor, blackbox_query_losses
from core.checkpoints import card_path, load_checkpoint
from core.device import generator, resolve_device
from core.inner import InnerConfig, inner_updates, moves_head_only, query_metrics, trace_adaptation, ways_of
from core.meta import ALGORITHMS, inner_config
from core.models import HEAD_PREFIX, Params, joint_features, predict
from core.tasks import PointRules, SinusoidDistribution, Task, stack_tasks, task_from_points


def evaluate_steps(model: nn.Module, theta: Params, batch: Task, cfg: InnerConfig,
                   chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Query loss and accuracy of every task after k = 0..S inner steps: two (S+1, T) tensors.

    A black-box learner has no steps: its single row is the loss of its one forward pass.

    Runs the one inner loop (first-order: no outer gradient is needed, φ_k is the same) under
    vmap over tasks, `chunk` tasks at a time: by default 100, but for a conv net on the CPU
    (chunk 1) a plain loop over tasks with autograd, where vmap over per-task conv weights ran
    2× slower (Conv4, 20-way 1-shot, 3 steps, one thread: 1.9 s vs 1.0 s per episode with 15
    queries per class) and plain tensors run the conv blocks channels-last (`ConvBlock`). The
    body runs once on [support; query] at θ (`joint_features`; the inner loop reuses its support
    features when the body stays at θ), and again on the queries only when it has moved (not at
    all for ANIL; not for step 1 when the first step is head-only). Accuracy is NaN for regression.
    """
    if isinstance(model, BlackBoxRegressor):  # no inner steps: one row, k = 0
        losses = blackbox_query_losses(model, {k: v.detach() for k, v in theta.items()}, batch).detach()
        return losses[None], torch.full_like(losses[None], math.nan)
    ways = ways_of(batch[0])
    if chunk is None:
        chunk = 1 if model.task_kind == "classification" and batch.x_support.device.type == "cpu" else 100
    watch = replace(cfg, first_order=True)
    theta = {key: value.detach() for key, value in theta.items()}
    functional = chunk != 1  # vmap needs torch.func's gradients; a plain loop takes autograd's

    def body_of(phi: Params) -> list[Tensor]:
        return [value for key, value in phi.items() if not key.startswith(HEAD_PREFIX)]

    def curve(xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> tuple[Tensor, Tensor]:
        start = model.task_params(theta, ways)
        support_features, features = joint_features(model, start, xs, xq)  # the body at θ, one pass
        reused = support_features if moves_head_only(model, watch, list(start)) else None
        phis = [start, *inner_updates(model, theta, xs, ys, watch, ways, functional, reused)]
        metrics, body = [], body_of(start)
        for phi in phis:
            current = body_of(phi)
            if any(a is not b for a, b in zip(current, body)):  # the body moved: run it again
                body, features = current, predict(model, phi, xq, context=xs, part="body")
            metrics.append(query_metrics(model, phi, xs, features, yq, part="head")[:2])
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
    "sinusoid": {"source": "Finn et al. 2017, K = 5, query MSE after 1 / 5 / 10 steps (as issue #3 quotes it)",
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
    from core.omniglot import EpisodeConfig, load_omniglot, sample_episodes

    characters = load_omniglot(data)
    if alphabets is None:
        held_out = characters.without_alphabets(set(card["data"]["train_alphabets"]))
    else:
        held_out = characters.without_alphabets(set(characters.alphabets) - alphabets)
    for ways, shots in OMNIGLOT_REPORT:
        batch = sample_episodes(held_out, EpisodeConfig(ways, shots, queries), episodes, generator(seed))
        yield ways, shots, sorted(set(held_out.alphabets)), batch


def report_inner_lr(card: dict, ways: int, shots: int) -> float:
    """α of the report's N-way K-shot row: the test α selected for it (`select_test_inner_lr`), if the
    card holds one, else the α the checkpoint meta-trained with."""
    return card.get("test_inner_lr", {}).get(f"{ways}x{shots}", card["config"]["inner_lr"])


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


def _inner_from_args(card: dict, args: argparse.Namespace) -> InnerConfig:
    config = card["config"]
    algorithm = args.algo or card["algorithm"]
    inner_lr = report_inner_lr(card, args.ways, args.shots) if args.inner_lr is None else args.inner_lr
    steps = config["test_steps"] if args.steps is None else args.steps
    return inner_config(algorithm, inner_lr, steps)


def _omniglot_sources(args: argparse.Namespace, what: str) -> list[str]:
    """--data, or the default Omniglot sources; ValueError naming `what` when there are none."""
    from core.omniglot import default_sources
    data = args.data or default_sources()
    if not data:
        raise ValueError(f"{what} needs --data (folders or .zip archives)")
    return data


def _print_rows(title: str, rows: list[dict]) -> None:
    print(title)
    for row in rows:
        loss = row["query_loss"]
        line = f"  step {row['step']:>3}: query loss {loss['mean']:.4f} ± {loss['ci95']:.4f}"
        if "accuracy" in row:
            line += f"   accuracy {100 * row['accuracy']['mean']:.2f}% ± {100 * row['accuracy']['ci95']:.2f}"
        print(line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a .pt checkpoint with its .pt.json model card")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sinusoid-tasks", metavar="FILE.json", help="tasks given as lists of points")
    source.add_argument("--sinusoid-sample", type=int, metavar="N", help="N fresh tasks from the sinusoid distribution")
    source.add_argument("--episodes", type=int, metavar="M", help="M Omniglot episodes from --data")
    source.add_argument("--omniglot-runs", metavar="DIR", help="Lake et al. (2015) 20-way one-shot runs")
    source.add_argument("--select-inner-lr", type=float, nargs="+", metavar="ALPHA",
                        help="Omniglot: choose each report row's test α from these with --validation-checkpoint "
                             "and write the choice into the card (run --report after it)")
    source.add_argument("--report", action="store_true",
                        help="the model card's standard numbers (sinusoid: 1,000 tasks in and off distribution; "
                             "Omniglot: 600 episodes per N-way K-shot on held-out alphabets, or --report-tasks), "
                             "written into the card")
    parser.add_argument("--validation-checkpoint", metavar="PATH",
                        help="--select-inner-lr: the same recipe trained on a strict subset of the checkpoint's "
                             "alphabets")
    parser.add_argument("--steps", type=int, help="inner steps S (default: the checkpoint's test steps)")
    parser.add_argument("--inner-lr", type=float,
                        help="inner learning rate α (default: the checkpoint's, for --ways and --shots)")
    parser.add_argument("--algo", choices=ALGORITHMS, help="inner loop to run (default: the checkpoint's)")
    parser.add_argument("--support", type=int, default=10, help="--sinusoid-sample: K support points")
    parser.add_argument("--query", type=int, default=100, help="--sinusoid-sample: query points per task")
    parser.add_argument("--amplitude", type=float, nargs=2, default=(0.1, 5.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--phase", type=float, nargs=2, default=(0.0, math.pi), metavar=("LOW", "HIGH"))
    parser.add_argument("--ways", type=int, default=5, help="--episodes: classes per episode")
    parser.add_argument("--shots", type=int, default=1, help="--episodes: support images per class")
    parser.add_argument("--queries", type=int, default=15, help="--episodes: query images per class")
    parser.add_argument("--data", nargs="+", help="--episodes: Omniglot folders or .zip archives")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the sampled tasks")
    parser.add_argument("--report-tasks", type=int, help="--report or --select-inner-lr on this many tasks (episodes)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Evaluate as the parsed command line says; returns the JSON-able result."""
    device = resolve_device(args.device)
    model, theta, card = load_checkpoint(args.checkpoint, device)
    cfg = _inner_from_args(card, args)
    task_kind = card["task"]
    result: dict = {"checkpoint": str(args.checkpoint), "algorithm": args.algo or card["algorithm"],
                    "inner_lr": cfg.lr, "steps": cfg.steps}
    if (args.sinusoid_tasks or args.sinusoid_sample is not None) and task_kind != "sinusoid":
        raise ValueError(f"{args.checkpoint} is a {task_kind} checkpoint; sinusoid tasks need a sinusoid one")
    if (args.episodes is not None or args.omniglot_runs) and task_kind != "omniglot":
        raise ValueError(f"{args.checkpoint} is a {task_kind} checkpoint; Omniglot needs an omniglot one")
    if args.sinusoid_tasks:
        per_task = []
        for task in read_sinusoid_tasks(args.sinusoid_tasks):
            task = task.to(device)
            records = list(trace_adaptation(model, theta, task, cfg, grid=task.x_query))
            per_task.append([{"step": r.step, "query_mse": r.query_loss, "predictions": r.predictions}
                             for r in records])
        result["tasks"] = per_task
    elif args.sinusoid_sample is not None:
        if args.sinusoid_sample < 1:
            raise ValueError(f"--sinusoid-sample must be >= 1, got {args.sinusoid_sample}")
        distribution = SinusoidDistribution(amplitude=tuple(args.amplitude), phase=tuple(args.phase),
                                            support=args.support, query=args.query)
        batch = distribution.sample(args.sinusoid_sample, generator(args.seed)).to(device)
        result["distribution"] = {"amplitude": list(args.amplitude), "phase": list(args.phase),
                                  "support": args.support, "query": args.query}
        result["per_step"] = summarize(*evaluate_steps(model, theta, batch, cfg))
    elif args.episodes is not None:
        from core.omniglot import EpisodeConfig, load_omniglot, sample_episodes
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        if not args.data:
            raise ValueError("--episodes needs --data: Omniglot folders or .zip archives")
        characters = load_omniglot(args.data)
        trained_on = set(card.get("data", {}).get("train_alphabets", []))
        held_out = characters.without_alphabets(trained_on)
        result["alphabets"] = sorted(set(held_out.alphabets))
        episodes = sample_episodes(held_out, EpisodeConfig(args.ways, args.shots, args.queries),
                                   args.episodes, generator(args.seed)).to(device)
        result.update(ways=args.ways, shots=args.shots, queries=args.queries, episodes=args.episodes)
        result["per_step"] = summarize(*evaluate_steps(model, theta, episodes, cfg))
    elif args.select_inner_lr:
        if not args.validation_checkpoint:
            raise ValueError("--select-inner-lr needs --validation-checkpoint")
        selected = select_test_inner_lr(card, load_checkpoint(args.validation_checkpoint, device), args.select_inner_lr,
                                        _omniglot_sources(args, "--select-inner-lr"), episodes=args.report_tasks or 600,
                                        seed=args.seed)
        result.update(selected)
        card["test_inner_lr"] = selected["test_inner_lr"]
        card["metrics"]["test_inner_lr_selection"] = selected["selection"]
        card_path(args.checkpoint).write_text(json.dumps(card, indent=1) + "\n")
    elif args.report:
        if task_kind == "sinusoid":
            result["report"] = sinusoid_report(model, theta, card, tasks=args.report_tasks or 1000, seed=args.seed)
        else:
            result["report"] = omniglot_report(model, theta, card, _omniglot_sources(args, "--report for Omniglot"),
                                               episodes=args.report_tasks or 600, seed=args.seed)
        card["metrics"]["report"] = result["report"]  # each row records its number of tasks
        paper = PAPER[task_kind]
        if task_kind == "omniglot":  # what this checkpoint saw, beside the paper's setting
            paper = {**paper, "this_checkpoint": (
                f"meta-trained on {len(card['data']['train_alphabets'])} alphabets of the 8 in "
                f"{' and '.join(s['name'] for s in card['data']['sources'])}, evaluated on "
                f"{len(card['data']['val_alphabets'])} whole alphabets it never saw")}
        card["metrics"]["paper"] = paper
        card_path(args.checkpoint).write_text(json.dumps(card, indent=1) + "\n")
    else:
        from core.omniglot import read_omniglot_runs
        errors = []
        for task in read_omniglot_runs(args.omniglot_runs):
            info = task.info
            _, accuracies = evaluate_steps(model, theta, stack_tasks([task.to(device)]), cfg)
            errors.append({"run": info.get("run"), "error_rate": 1.0 - float(accuracies[-1, 0])})
        result["runs"] = errors
        result["mean_error_rate"] = sum(e["error_rate"] for e in errors) / len(errors)
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    elif "per_step" in result:
        _print_rows(f"{args.checkpoint}: {result['algorithm']}, α={result['inner_lr']}", result["per_step"])
    elif "report" in result:
        print(json.dumps(result["report"], indent=1))
    elif "test_inner_lr" in result:
        for row in result["selection"]["rows"]:
            scores = ", ".join(f"{lr}: {100 * stat['mean']:.2f}%" for lr, stat in row["accuracy"].items())
            print(f"{row['ways']}-way {row['shots']}-shot on {', '.join(row['alphabets'])}: {scores} "
                  f"→ α = {row['chosen']:g}")
    elif "runs" in result:
        for run_result in result["runs"]:
            print(f"  {run_result['run']}: error {100 * run_result['error_rate']:.1f}%")
        print(f"mean error rate: {100 * result['mean_error_rate']:.2f}%")
    else:
        for i, records in enumerate(result["tasks"]):
            print(f"task {i}: " + ", ".join(f"k={r['step']} mse={r['query_mse']:.4f}" for r in records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
