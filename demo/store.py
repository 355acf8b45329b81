"""The shipped checkpoints, loaded lazily once per process and shared read-only by every session."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from core.checkpoints import card_path, load_checkpoint
from core.device import default_device

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
