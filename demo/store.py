"""The shipped checkpoints, loaded lazily once per process and shared read-only by every session."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from core.checkpoints import card_path, load_checkpoint
from core.device import default_device
from core.omniglot import describe_training_data

ASSETS = Path(__file__).resolve().parents[1] / "assets"
LABELS = {"maml": "MAML", "fomaml": "First-order MAML", "anil": "ANIL", "reptile": "Reptile",
          "pretrained": "Pretrained baseline", "blackbox": "Black box (transformer)"}


class CheckpointStore:
    """`get(task, algorithm)` loads `assets/<task>_<algorithm>.pt` on first use, then reuses it.

    θ tensors are never written to (the inner loop builds new φ), so sessions can share them.
    """

    def __init__(self, assets: Path = ASSETS, device: torch.device | None = None):
        self.assets = Path(assets)
        self.device = device or default_device()
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], tuple] = {}

    def available(self, task: str) -> list[str]:
        """Algorithms with a shipped checkpoint for `task`, in the order of LABELS."""
        return [a for a in LABELS if (self.assets / f"{task}_{a}.pt").is_file()]

    def card(self, task: str, algorithm: str) -> dict:
        """The model card, without loading the weights."""
        return json.loads(card_path(self.assets / f"{task}_{algorithm}.pt").read_text())

    def summary(self, task: str, algorithm: str | None) -> str:
        """`card_summary` of a shipped checkpoint; empty when there is none."""
        return card_summary(self.card(task, algorithm)) if algorithm in self.available(task) else ""

    def get(self, task: str, algorithm: str) -> tuple[torch.nn.Module, dict, dict]:
        """(model, θ, card) of a shipped checkpoint; a clear error if there is none."""
        key = (task, algorithm)
        with self._lock:
            if key not in self._loaded:
                path = self.assets / f"{task}_{algorithm}.pt"
                if not path.is_file():
                    raise ValueError(f"no {LABELS.get(algorithm, algorithm)} checkpoint for {task} in {self.assets}")
                model, theta, card = load_checkpoint(path, self.device)
                for value in theta.values():
                    value.requires_grad_(False)
                self._loaded[key] = (model.eval(), theta, card)
            return self._loaded[key]


def _percent(stat: dict) -> str:
    return f"{100 * stat['mean']:.1f} ± {100 * stat['ci95']:.1f}%"


def card_summary(card: dict) -> str:
    """One Markdown line from a model card: how the checkpoint was trained and what it scores."""
    config, label = card["config"], LABELS.get(card["algorithm"], card["algorithm"])
    steps = config["train_steps"]
    text = f"**{label}** checkpoint: {card['iterations']:,} meta-iterations"
    if config.get("first_order_iterations"):
        text += f" (the first {config['first_order_iterations']:,} first-order)"
    if card["task"] == "omniglot":
        text += f" on {len(card['data']['train_alphabets'])} alphabets ({describe_training_data(config)})"
    if card["algorithm"] != "blackbox":
        text += f", {steps} inner step{'s' if steps != 1 else ''} at α = {config['inner_lr']:g}"
        text += f" on K = {config['support']} points in training" if card["task"] == "sinusoid" and steps else " in training"
    report = card.get("metrics", {}).get("report") or []
    text += "."
    if card["task"] == "omniglot":
        test = str(config["test_steps"])
        rows = {(r["ways"], r["shots"]): r for r in report}
        shown = [rows[(n, k)] for n, k in ((5, 1), (5, 5), (20, 1))
                 if (n, k) in rows and test in rows[(n, k)]["accuracy"]]
        other_lr = [row.get("inner_lr", config["inner_lr"]) != config["inner_lr"] for row in shown]
        scores = [f"{row['ways']}-way {row['shots']}-shot {_percent(row['accuracy'][test])}"
                  + (f" (α = {row['inner_lr']:g})" if other else "") for row, other in zip(shown, other_lr)]
        if scores:
            alphabets = ", ".join(next(iter(rows.values()))["alphabets"])
            text += f" On alphabets it never saw ({alphabets}), after {test} steps: {'; '.join(scores)}."
            if any(other_lr):
                text += " Each α in brackets was chosen for its row on a validation alphabet, not on these."
        return text
    row = next((r for r in report if r["distribution"] == "in-distribution" and r["K"] == 10), None)
    if row:
        mse = row["mse"]
        after = f"after 1 step {mse['1']['mean']:.2f}" if "1" in mse else f"in one forward pass {mse['0']['mean']:.2f}"
        text += f" Query MSE on {row['tasks']:,} fresh tasks with K = 10: {after}"
        text += f" (before adapting {mse['0']['mean']:.2f})." if "1" in mse else "."
    return text
