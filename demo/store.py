"""The shipped checkpoints: verified against two published sha256s, loaded lazily once per process.

θ is shared read-only by every session. The `nn.Module` is not: `torch.func.functional_call` swaps
the caller's tensors into the module for the length of a call, so two runs on one module object
would compute with each other's parameters. `get` therefore hands each run its own copy.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
from pathlib import Path

import torch

from core.checkpoints import MANIFEST, card_path, check_card, load_checkpoint, read_manifest, sha256_of
from core.device import default_device
from core.omniglot import describe_training_data
from demo.errors import excerpt

ASSETS = Path(__file__).resolve().parents[1] / "assets"
LABELS = {"maml": "MAML", "fomaml": "First-order MAML", "anil": "ANIL", "reptile": "Reptile",
          "pretrained": "Pretrained baseline", "blackbox": "Black box (transformer)"}
log = logging.getLogger("maml_playground")


class CheckpointUnavailable(ValueError):
    """A checkpoint that is missing, or disabled because it failed a check (the message says which)."""


class CheckpointStore:
    """`get(task, algorithm)` loads `assets/<task>_<algorithm>.pt` on first use, then reuses θ.

    A checkpoint is offered only when its model card reads and its sha256 agrees with the file
    and with the folder's `SHA256SUMS` (published with the code). One that fails is disabled with
    a reason (`problems`); the others still serve, and the app still starts.
    """

    def __init__(self, assets: Path = ASSETS, device: torch.device | None = None):
        self.assets = Path(assets)
        self.device = device or default_device()
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], tuple] = {}
        self._cards: dict[tuple[str, str], dict] = {}
        self._problems: dict[tuple[str, str], str] = {}
        manifest = read_manifest(self.assets / MANIFEST)
        for algorithm in LABELS:
            for task in ("sinusoid", "omniglot"):
                path = self.assets / f"{task}_{algorithm}.pt"
                if path.is_file():
                    self._check(task, algorithm, path, manifest)

    def _check(self, task: str, algorithm: str, path: Path, manifest: dict[str, str]) -> None:
        key, label = (task, algorithm), LABELS[algorithm]
        try:
            card = check_card(json.loads(card_path(path).read_text()), "its model card")
            if (card["task"], card["algorithm"]) != key:
                raise ValueError("its model card describes another checkpoint")
            if path.name not in manifest:
                raise ValueError(f"it is not listed in {MANIFEST}")
            if manifest[path.name] != card["sha256"]:
                raise ValueError(f"its model card and {MANIFEST} give different sha256s")
            card_summary(card)  # a card the summary cannot read is as broken as one that does not parse
        except FileNotFoundError:
            self._disable(key, f"{label} is unavailable: it has no model card.")
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._disable(key, f"{label} is unavailable: its model card is not valid JSON.")
        except ValueError as error:
            self._disable(key, f"{label} is unavailable: {error}.")
        except (KeyError, TypeError, AttributeError) as error:
            self._disable(key, f"{label} is unavailable: its model card lacks or misreads a field ({error!s:.40}).")
        else:
            self._cards[key] = card

    def _disable(self, key: tuple[str, str], reason: str) -> None:
        self._problems[key] = reason
        self._cards.pop(key, None)
        log.warning("checkpoint %s_%s disabled: %s", *key, reason)

    def available(self, task: str) -> list[str]:
        """Algorithms with a verified checkpoint for `task`, in the order of LABELS."""
        return [a for a in LABELS if (task, a) in self._cards]

    def problems(self, task: str) -> list[str]:
        """One sentence per checkpoint of `task` that is disabled, saying why."""
        with self._lock:
            return [reason for (t, _), reason in self._problems.items() if t == task]

    def card(self, task: str, algorithm: str) -> dict:
        """The model card, without loading the weights."""
        self._require(task, algorithm)
        return self._cards[(task, algorithm)]

    def summary(self, task: str, algorithm: str | None) -> str:
        """`card_summary` of a verified checkpoint; empty when there is none."""
        known = isinstance(algorithm, str) and (task, algorithm) in self._cards
        return card_summary(self._cards[(task, algorithm)]) if known else ""

    def note(self, task: str, algorithm: str | None) -> str:
        """The checkpoint line of a tab: the chosen card's summary, then why any checkpoint is disabled."""
        return " ".join([self.summary(task, algorithm), *self.problems(task)]).strip()

    def _require(self, task: str, algorithm: str) -> None:
        if not isinstance(algorithm, str) or (task, algorithm) not in self._cards:
            reason = self._problems.get((task, algorithm)) if isinstance(algorithm, str) else None
            if reason:
                raise CheckpointUnavailable(reason)
            names = ", ".join(self.available(task)) or "none"
            raise CheckpointUnavailable(f"no checkpoint for algorithm {excerpt(algorithm)} in this tab; "
                                        f"choose one of: {names}")

    def get(self, task: str, algorithm: str) -> tuple[torch.nn.Module, dict, dict]:
        """(a model of the run's own, θ shared read-only, card) of a verified checkpoint."""
        key = (task, algorithm)
        with self._lock:
            self._require(task, algorithm)
            if key not in self._loaded:
                path = self.assets / f"{task}_{algorithm}.pt"
                card = self._cards[key]
                try:
                    if sha256_of(path) != card["sha256"]:
                        raise ValueError("its file does not match the sha256 published for it")
                    model, theta, card = load_checkpoint(path, self.device)
                except OSError as error:
                    log.error("loading %s failed", path.name, exc_info=error)
                    self._disable(key, f"{LABELS[algorithm]} is unavailable: its file could not be read.")
                    raise CheckpointUnavailable(self._problems[key]) from None
                except ValueError as error:  # load_checkpoint's messages name files, not paths
                    log.error("loading %s failed", path.name, exc_info=error)
                    self._disable(key, f"{LABELS[algorithm]} is unavailable: {error}.")
                    raise CheckpointUnavailable(self._problems[key]) from None
                for value in theta.values():
                    value.requires_grad_(False)
                self._loaded[key] = (model.eval(), theta, card)
            model, theta, card = self._loaded[key]
        return copy.deepcopy(model), theta, card


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
