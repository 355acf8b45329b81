"""Evaluate a checkpoint from the command line (the library is core.evaluation); --json prints JSON.

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

from core.checkpoints import card_path, load_checkpoint
from core.device import generator, resolve_device
from core.episodes import EpisodeConfig
from core.evaluation import (PAPER, card_inner_lr, evaluate_steps, omniglot_report, read_sinusoid_tasks,
                             select_test_inner_lr, sinusoid_report, summarize)
from core.inner import InnerConfig, ways_of
from core.omniglot import load_omniglot, read_omniglot_runs, sample_episodes
from core.registry import META_GRADIENTS, inner_config
from core.tasks import SinusoidDistribution, stack_tasks
from core.trace import trace_records


def _inner_from_args(card: dict, args: argparse.Namespace, ways: int | None, shots: int | None
                     ) -> tuple[InnerConfig, str]:
    """The inner loop the command line asks for, and where its α comes from (`card_inner_lr` for N-way K-shot)."""
    inner_lr, source = card_inner_lr(card, ways, shots) if args.inner_lr is None else (args.inner_lr, "--inner-lr")
    steps = card["config"]["test_steps"] if args.steps is None else args.steps
    return inner_config(args.algo or card["algorithm"], inner_lr, steps), source


def _omniglot_sources(args: argparse.Namespace, what: str) -> list[str]:
    """--data; ValueError naming `what` when it is not given."""
    if not args.data:
        raise ValueError(f"{what} needs --data (Omniglot folders or .zip archives)")
    return args.data


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
    source.add_argument("--omniglot-runs", metavar="DIR",
                        help="Lake et al. (2015) 20-way one-shot runs (α: the card's 20-way 1-shot row)")
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
                        help="inner learning rate α (default: the card's for --ways and --shots, see card_inner_lr)")
    parser.add_argument("--algo", choices=META_GRADIENTS, help="inner loop to run (default: the checkpoint's)")
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
    task_kind = card["task"]
    runs = read_omniglot_runs(args.omniglot_runs) if args.omniglot_runs and task_kind == "omniglot" else []
    if runs:  # Lake et al.'s runs are 20-way 1-shot: the α of that row
        ways = ways_of(runs[0])
        shape = (ways, runs[0].x_support.shape[0] // ways)
    else:
        shape = (args.ways, args.shots) if task_kind == "omniglot" else (None, None)
    cfg, lr_source = _inner_from_args(card, args, *shape)
    result: dict = {"checkpoint": str(args.checkpoint), "algorithm": args.algo or card["algorithm"],
                    "inner_lr": cfg.lr, "inner_lr_source": lr_source, "steps": cfg.steps}
    if (args.sinusoid_tasks or args.sinusoid_sample is not None) and task_kind != "sinusoid":
        raise ValueError(f"{args.checkpoint} is a {task_kind} checkpoint; sinusoid tasks need a sinusoid one")
    if (args.episodes is not None or args.omniglot_runs) and task_kind != "omniglot":
        raise ValueError(f"{args.checkpoint} is a {task_kind} checkpoint; Omniglot needs an omniglot one")
    if args.sinusoid_tasks:
        per_task = []
        for task in read_sinusoid_tasks(args.sinusoid_tasks):
            task = task.to(device)
            records = list(trace_records(model, theta, task, cfg, grid=task.x_query))
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
        errors = []
        for task in runs:
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
        _print_rows(f"{args.checkpoint}: {result['algorithm']}, α={result['inner_lr']} ({result['inner_lr_source']})",
                    result["per_step"])
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
        print(f"mean error rate: {100 * result['mean_error_rate']:.2f}% (α = {result['inner_lr']:g}, "
              f"{result['inner_lr_source']})")
    else:
        for i, records in enumerate(result["tasks"]):
            print(f"task {i}: " + ", ".join(f"k={r['step']} mse={r['query_mse']:.4f}" for r in records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
