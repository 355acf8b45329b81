"""Which half of an inner step helps: each step of an Omniglot checkpoint split into its head move and its body move.

    python -m bench.step_parts assets/omniglot_maml.pt --data A.zip B.zip

Step k takes φ_{k−1} to φ_k = φ_{k−1} − α ∇L_support(φ_{k−1}). Split it by parameter:
"head only" is φ_{k−1} with the head's entries of φ_k (the body stays where it was), "body
only" is φ_{k−1} with the body's entries of φ_k. On the episodes of the card's report (seed
2024, 600 per N-way K-shot row, 5 queries per class, on the alphabets the checkpoint held out),
this gives the query accuracy before the step, after it, and after each half alone, with each
half's paired difference from the whole step (mean ± 95% CI over episodes). Both halves use the
same gradient, taken at φ_{k−1}; only where it is applied differs.
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch import Tensor, nn

from bench.report_cli import add_report_arguments, run_report
from core.checkpoints import load_checkpoint
from core.device import resolve_device
from core.evaluation import mean_ci, omniglot_report_episodes, report_inner_lr
from core.inner import query_metrics, trajectory
from core.models import Params
from core.registry import HEAD_PREFIX, inner_config

PARTS = ("before", "after", "head_only", "body_only")


def step_part_accuracies(model: nn.Module, theta: Params, x_support: Tensor, y_support: Tensor, x_query: Tensor,
                         y_query: Tensor, lr: float, steps: int) -> Tensor:
    """(steps, 4) query accuracies of one episode: per step k, at φ_{k−1}, φ_k, head moved only, body moved only."""
    ways = int(y_support.max()) + 1
    cfg = inner_config("fomaml", lr, steps)  # all parameters; no outer gradient, so φ_k is MAML's
    phis = trajectory(model, theta, x_support, y_support, cfg, ways, functional=False).phis

    def accuracy(phi: Params) -> Tensor:
        with torch.no_grad():
            return query_metrics(model, phi, x_support, x_query, y_query)[1]

    whole = [accuracy(phi) for phi in phis]  # φ_0 … φ_S, each once
    rows = []
    for k, (before, after) in enumerate(zip(phis, phis[1:])):
        head = {key: after[key] for key in after if key.startswith(HEAD_PREFIX)}
        body = {key: after[key] for key in after if not key.startswith(HEAD_PREFIX)}
        rows.append(torch.stack([whole[k], whole[k + 1], accuracy({**before, **head}), accuracy({**before, **body})]))
    return torch.stack(rows)


def step_part_rows(path: str, data: list[str], episodes: int = 600, device: str = "cpu") -> list[dict]:
    """Per report row (N-way K-shot) and inner step: the accuracies of `step_part_accuracies` with
    95% CIs, and each half's paired difference from the whole step."""
    dev = resolve_device(device)
    model, theta, card = load_checkpoint(path, dev)
    if card["task"] != "omniglot":
        raise ValueError(f"{path} is a {card['task']} checkpoint; step parts are measured on Omniglot episodes")
    if card["algorithm"] not in ("maml", "fomaml"):
        raise ValueError(f"{path} is {card['algorithm']}, whose inner loop moves the head alone: "
                         "there is no body move to split off (use a maml or fomaml checkpoint)")
    steps = card["config"]["test_steps"]
    rows = []
    for ways, shots, alphabets, batch in omniglot_report_episodes(card, data, episodes):
        batch, lr = batch.to(dev), report_inner_lr(card, ways, shots)
        accuracies = torch.stack([step_part_accuracies(model, theta, *(t[i] for t in (
            batch.x_support, batch.y_support, batch.x_query, batch.y_query)), lr, steps) for i in range(len(batch))])
        per_step = []
        for k in range(steps):
            values = {part: accuracies[:, k, j] for j, part in enumerate(PARTS)}
            per_step.append({"step": k + 1, **{part: mean_ci(v) for part, v in values.items()},
                             "head_only_minus_after": mean_ci(values["head_only"] - values["after"]),
                             "body_only_minus_after": mean_ci(values["body_only"] - values["after"])})
        rows.append({"ways": ways, "shots": shots, "episodes": episodes, "alphabets": alphabets, "steps": per_step})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a maml or fomaml Omniglot checkpoint")
    add_report_arguments(parser)
    args = parser.parse_args(argv)

    def print_rows(rows: list[dict]) -> None:
        for row in rows:
            for step in row["steps"]:
                percent = {part: 100 * step[part]["mean"] for part in PARTS}
                head, body = step["head_only_minus_after"], step["body_only_minus_after"]
                print(f"{row['ways']}-way {row['shots']}-shot, step {step['step']}: {percent['before']:.2f} → "
                      f"{percent['after']:.2f} | head only {percent['head_only']:.2f} "
                      f"({100 * head['mean']:+.2f} ± {100 * head['ci95']:.2f}) | body only "
                      f"{percent['body_only']:.2f} ({100 * body['mean']:+.2f} ± {100 * body['ci95']:.2f})")

    return run_report(args, lambda data: step_part_rows(args.checkpoint, data, args.episodes, args.device),
                      print_rows)


if __name__ == "__main__":
    sys.exit(main())
