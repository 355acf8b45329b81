"""Markdown tables of the shipped checkpoints' numbers, read from their model cards, beside the papers'.

    python -m bench.cards_table
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.episodes import describe_training_data
from core.evaluation import PAPER

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def fmt(stat: dict | None, scale: float = 1.0, digits: tuple[str, str] = (".3g", ".2g")) -> str:
    """'mean ± ci95' of a card's statistic; accuracies take two decimals, so 84.98 does not read as 85."""
    if not stat:
        return "–"
    text = f"{scale * stat['mean']:{digits[0]}} ± {scale * stat['ci95']:{digits[1]}}"
    return text + (f" ({stat['diverged']} diverged)" if stat.get("diverged") else "")


def sinusoid_rows(cards: list[dict]) -> list[str]:
    lines = ["| model | distribution | K | MSE k=0 | k=1 | k=5 | k=10 | k=100 | paper (k=1/5/10) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for card in cards:
        for row in card["metrics"].get("report", []):
            mse = row["mse"]
            paper = PAPER["sinusoid"]["mse"].get(card["algorithm"]) if (row["distribution"], row["K"]) == (
                "in-distribution", 5) else None
            paper = " / ".join(str(paper[k]) for k in ("1", "5", "10")) if paper else ""
            lines.append(f"| {card['algorithm']} | {row['distribution']} | {row['K']} | "
                         + " | ".join(fmt(mse.get(k)) for k in ("0", "1", "5", "10", "100")) + f" | {paper} |")
    return lines


def omniglot_rows(cards: list[dict]) -> list[str]:
    lines = ["| model | N-way K-shot | test α | accuracy % (k=0) | k=1 | k=2 | k=3 | paper (MAML, all 50 alphabets) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for card in cards:
        for row in card["metrics"].get("report", []):
            acc, setting = row["accuracy"], f"{row['ways']}-way {row['shots']}-shot"
            lr = row.get("inner_lr", card["config"]["inner_lr"])
            lines.append(f"| {card['algorithm']} ({card['iterations']} it.) | {setting} | {lr:g} | "
                         + " | ".join(fmt(acc.get(k), 100, (".2f", ".2f")) for k in ("0", "1", "2", "3"))
                         + f" | {PAPER['omniglot']['accuracy'].get(setting, '')} |")
    return lines


def main() -> int:
    cards = [json.loads(p.read_text()) for p in sorted(ASSETS.glob("*.pt.json"))]
    for task, rows in (("sinusoid", sinusoid_rows), ("omniglot", omniglot_rows)):
        chosen = [c for c in cards if c["task"] == task]
        if chosen:
            print("\n".join(rows(chosen)) + "\n")
        for card in chosen:
            config, steps = card["config"], card["config"]["train_steps"]
            episode = f"K = {config['support']}" if task == "sinusoid" else describe_training_data(config)
            trained_on = {"blackbox": f"K = 1..{config['support']}, no inner steps",
                          "pretrained": "pooled tasks, no inner steps"}.get(
                card["algorithm"], f"{episode}, {steps} inner step{'s' if steps != 1 else ''}")
            if config.get("first_order_iterations"):
                trained_on += f", the first {config['first_order_iterations']} first-order"
            print(f"- {card['checkpoint']}: {card['iterations']} iterations ({trained_on}), "
                  f"{card['wall_time_s']:.0f} s on {card['device']}, sha256 {card['sha256'][:12]}…")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
