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
from typing import TYPE_CHECKING

import core
from core.checkpoints import MANIFEST, card_path, check_card, load_checkpoint, read_manifest, sha256_of
from core.episodes import training_episode_shapes
from core.registry import ALGORITHMS, TASKS
from demo.errors import excerpt
from demo.messages import Problem, text

if TYPE_CHECKING:
    import torch

ASSETS = Path(__file__).resolve().parents[1] / "assets"
log = logging.getLogger("maml_playground")


class CheckpointUnavailable(Problem):
    """A checkpoint that is missing, or disabled because it failed a check (the message says which)."""

    def __init__(self, reason: str):
        super().__init__("checkpoint.unavailable", reason=reason)


class CheckpointStore:
    """`get(task, algorithm)` loads `assets/<task>_<algorithm>.pt` on first use, then reuses θ.

    A checkpoint is offered only when its model card reads and its sha256 agrees with the file
    and with the folder's `SHA256SUMS` (published with the code). One that fails is disabled with
    a reason (`problems`); the others still serve, and the app still starts.
    """

    def __init__(self, assets: Path = ASSETS, device: torch.device | None = None):
        self.assets = Path(assets)
        self._device = device
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], tuple] = {}
        self._cards: dict[tuple[str, str], dict] = {}
        self._problems: dict[tuple[str, str], str] = {}
        manifest = read_manifest(self.assets / MANIFEST)
        for algorithm in ALGORITHMS:
            for task in TASKS:
                path = self.assets / f"{task}_{algorithm}.pt"
                if path.is_file():
                    self._check(task, algorithm, path, manifest)

    @property
    def device(self) -> torch.device:
        """Where the checkpoints run: the one given, else CUDA when there is a GPU, else the CPU (asked of torch on
        first use, which loads it)."""
        if self._device is None:
            self._device = core.device.default_device()
        return self._device

    def _check(self, task: str, algorithm: str, path: Path, manifest: dict[str, str]) -> None:
        key, label = (task, algorithm), text(f"algorithm.{algorithm}")
        try:
            card = check_card(json.loads(card_path(path).read_text()), "its model card")
            if (card["task"], card["algorithm"]) != key:
                raise ValueError(text("checkpoint.other_card"))
            if path.name not in manifest:
                raise ValueError(text("checkpoint.not_listed", manifest=MANIFEST))
            if manifest[path.name] != card["sha256"]:
                raise ValueError(text("checkpoint.sha_disagree", manifest=MANIFEST))
            card_summary(card)  # a card the summary cannot read is as broken as one that does not parse
        except FileNotFoundError:
            self._disable(key, text("checkpoint.no_card", label=label))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._disable(key, text("checkpoint.bad_json", label=label))
        except ValueError as error:
            self._disable(key, text("checkpoint.invalid", label=label, reason=error))
        except (KeyError, TypeError, AttributeError) as error:
            self._disable(key, text("checkpoint.bad_field", label=label, field=f"{error!s:.40}"))
        else:
            self._cards[key] = card

    def _disable(self, key: tuple[str, str], reason: str) -> None:
        self._problems[key] = reason
        self._cards.pop(key, None)
        log.warning("checkpoint %s_%s disabled: %s", *key, reason)

    def available(self, task: str) -> list[str]:
        """Algorithms with a verified checkpoint for `task`, in the registry's order."""
        return [a for a in ALGORITHMS if (task, a) in self._cards]

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
            names = ", ".join(self.available(task)) or text("checkpoint.none")
            raise CheckpointUnavailable(text("checkpoint.none_for", value=excerpt(algorithm), names=names))

    def get(self, task: str, algorithm: str) -> tuple[torch.nn.Module, dict, dict]:
        """(a model of the run's own, θ shared read-only, card) of a verified checkpoint."""
        key = (task, algorithm)
        with self._lock:
            self._require(task, algorithm)
            if key not in self._loaded:
                path = self.assets / f"{task}_{algorithm}.pt"
                card = self._cards[key]
                label = text(f"algorithm.{algorithm}")
                try:
                    if sha256_of(path) != card["sha256"]:
                        raise ValueError(text("checkpoint.tampered"))
                    model, theta, card = load_checkpoint(path, self.device)
                except OSError as error:
                    log.error("loading %s failed", path.name, exc_info=error)
                    self._disable(key, text("checkpoint.unreadable", label=label))
                    raise CheckpointUnavailable(self._problems[key]) from None
                except ValueError as error:  # load_checkpoint's messages name files, not paths
                    log.error("loading %s failed", path.name, exc_info=error)
                    self._disable(key, text("checkpoint.invalid", label=label, reason=error))
                    raise CheckpointUnavailable(self._problems[key]) from None
                for value in theta.values():
                    value.requires_grad_(False)
                self._loaded[key] = (model.eval(), theta, card)
            model, theta, card = self._loaded[key]
        return copy.deepcopy(model), theta, card


def training_data(config: dict) -> str:
    """A card config's Omniglot training data in words, e.g. '5-way 1-shot episodes, mirror images as extra classes'."""
    shapes = training_episode_shapes(config)
    counts = {shape: shapes.count(shape) for shape in shapes}  # first-seen order
    words = [text("card.episode_shape", ways=n, shots=k)
             + (text("card.episode_share", count=c, total=len(shapes)) if c > 1 else "") for (n, k), c in counts.items()]
    described = text("card.episode_list").join(words) + (text("card.in_turn") if len(counts) > 1 else "")
    return text("card.episodes", shapes=described, mirrors=text("card.mirrors") if config.get("mirror_classes") else "")


def card_summary(card: dict) -> str:
    """One Markdown line from a model card: how the checkpoint was trained and what it scores."""
    config, algorithm = card["config"], card["algorithm"]
    steps = config["train_steps"]
    line = text("card.trained", label=text(f"algorithm.{algorithm}"), iterations=card["iterations"])
    if config.get("first_order_iterations"):
        line += text("card.warm_start", iterations=config["first_order_iterations"])
    if card["task"] == "omniglot":
        line += text("card.alphabets", count=len(card["data"]["train_alphabets"]), episodes=training_data(config))
    if ALGORITHMS[algorithm].takes_steps:
        line += text("card.steps.one" if steps == 1 else "card.steps", steps=steps, lr=config["inner_lr"])
        line += (text("card.support", support=config["support"]) if card["task"] == "sinusoid" and steps
                 else text("card.in_training"))
    report = card.get("metrics", {}).get("report") or []
    line += text("card.end")
    if card["task"] == "omniglot":
        test = str(config["test_steps"])
        rows = {(r["ways"], r["shots"]): r for r in report}
        shown = [rows[(n, k)] for n, k in ((5, 1), (5, 5), (20, 1))
                 if (n, k) in rows and test in rows[(n, k)]["accuracy"]]
        other_lr = [row.get("inner_lr", config["inner_lr"]) != config["inner_lr"] for row in shown]
        scores = [text("card.omniglot_row", ways=row["ways"], shots=row["shots"],
                       mean=100 * row["accuracy"][test]["mean"], ci=100 * row["accuracy"][test]["ci95"])
                  + (text("card.row_lr", lr=row["inner_lr"]) if other else "") for row, other in zip(shown, other_lr)]
        if scores:
            alphabets = ", ".join(next(iter(rows.values()))["alphabets"])
            line += text("card.omniglot_scores", alphabets=alphabets, steps=test,
                         scores=text("card.separator").join(scores))
            if any(other_lr):
                line += text("card.row_lr_note")
        return line
    row = next((r for r in report if r["distribution"] == "in-distribution" and r["K"] == 10), None)
    if row:
        mse = row["mse"]
        if "1" in mse:
            line += text("card.sinusoid_after_step", tasks=row["tasks"], after=mse["1"]["mean"], before=mse["0"]["mean"])
        else:
            line += text("card.sinusoid_forward", tasks=row["tasks"], after=mse["0"]["mean"])
    return line


def hints(store: CheckpointStore, task: str, algorithm: str | None) -> dict[str, str | float | None]:
    """What the α and S sliders say about the chosen checkpoint, read from its card: their hints, and its α."""
    if not isinstance(algorithm, str) or algorithm not in store.available(task):
        return {"inner_lr": None, "inner_lr_info": text("hint.inner_lr.none"), "steps_info": text("hint.steps.none")}
    config, label = store.card(task, algorithm)["config"], text(f"algorithm.{algorithm}")
    if not ALGORITHMS[algorithm].takes_steps:
        return {"inner_lr": None, "inner_lr_info": text("hint.steps.blackbox"), "steps_info": text("hint.steps.blackbox")}
    trained_steps = config["train_steps"] if ALGORITHMS[algorithm].trains_with_steps else 0
    return {"inner_lr": config["inner_lr"],
            "inner_lr_info": text("hint.inner_lr", algorithm=label, lr=config["inner_lr"]),
            "steps_info": text("hint.steps", algorithm=label, steps=trained_steps, test_steps=config["test_steps"])}
