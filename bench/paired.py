"""Paired differences between Omniglot checkpoints, on the very episodes of their cards' reports.

    python -m bench.paired assets/omniglot_maml.pt runs/candidate.pt [more.pt ...] --data A.zip B.zip

Every checkpoint adapts to the episodes `core.evaluate --report` draws (seed 2024, 600 per N-way
K-shot row, 5 queries per class, on the alphabets they held out) for its own test steps. Per
episode, candidate accuracy − baseline accuracy; mean ± 95% CI over the episodes. The episodes'
difficulty cancels in the difference, so its interval is several times narrower than the two
cards' intervals would suggest.
"""
from __future__ import annotations

import argparse
import sys

from bench.report_cli import add_report_arguments, run_report
from core.checkpoints import load_checkpoint
from core.device import resolve_device
from core.evaluation import evaluate_steps, mean_ci, omniglot_report_episodes, report_inner_config


def paired_rows(paths: list[str], data: list[str], episodes: int = 600, device: str = "cpu") -> list[dict]:
    """For each report row: each checkpoint's mean accuracy and each candidate's paired difference from paths[0]."""
    dev = resolve_device(device)
    loaded = [load_checkpoint(path, dev) for path in paths]
    cards = [card for _, _, card in loaded]
    if any(card["task"] != "omniglot" for card in cards):
        raise ValueError("paired differences compare omniglot checkpoints")
    splits = {tuple(sorted(card["data"]["train_alphabets"])) for card in cards}
    if len(splits) > 1:
        raise ValueError("these checkpoints held out different alphabets, so their report episodes differ; "
                         f"training alphabets: {' vs '.join(', '.join(split) for split in sorted(splits))}")
    rows = []
    for ways, shots, alphabets, batch in omniglot_report_episodes(cards[0], data, episodes):
        batch = batch.to(dev)
        configs = [report_inner_config(card, ways, shots) for card in cards]
        accuracies = [evaluate_steps(model, theta, batch, cfg)[1][cfg.steps]
                      for (model, theta, _), cfg in zip(loaded, configs)]
        rows.append({"ways": ways, "shots": shots, "episodes": episodes, "alphabets": alphabets,
                     "accuracy": {path: mean_ci(a) for path, a in zip(paths, accuracies)},
                     "difference": {path: mean_ci(a - accuracies[0]) for path, a in zip(paths[1:], accuracies[1:])}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", help="the checkpoint the others are compared with")
    parser.add_argument("candidates", nargs="+", help="checkpoints to compare with the baseline")
    add_report_arguments(parser)
    args = parser.parse_args(argv)
    paths = [args.baseline, *args.candidates]

    def print_rows(rows: list[dict]) -> None:
        for row in rows:
            base = row["accuracy"][args.baseline]
            line = f"{row['ways']}-way {row['shots']}-shot: {args.baseline} {100 * base['mean']:.2f}"
            for path in args.candidates:
                mean, difference = row["accuracy"][path]["mean"], row["difference"][path]
                line += (f" | {path} {100 * mean:.2f} ({100 * difference['mean']:+.2f} ± "
                         f"{100 * difference['ci95']:.2f} points)")
            print(line)

    return run_report(args, lambda data: paired_rows(paths, data, args.episodes, args.device), print_rows)


if __name__ == "__main__":
    sys.exit(main())
