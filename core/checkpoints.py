"""Checkpoints (θ as a state dict) and the JSON model card saved next to each one.

Importing it loads no torch (saving and loading import it), so the app reads and checks the cards
before the engine has loaded.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from core.registry import build_model

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.models import Params

CARD_FIELDS = ("task", "algorithm", "checkpoint", "sha256", "config", "data", "iterations",
               "wall_time_s", "device", "metrics", "git_commit")
MANIFEST = "SHA256SUMS"  # beside shipped checkpoints: `sha256sum *.pt` output, a second record of each sha256


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path(checkpoint: str | Path) -> Path:
    """The model card of a checkpoint: `PATH.json` beside `PATH`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".json")


def git_commit() -> str | None:
    """The commit of the code that runs, or None outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def save_checkpoint(path: str | Path, theta: Params, card: dict) -> dict:
    """Write θ (CPU tensors) to `path` and the card, completed with file name and sha256."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: value.detach().cpu().clone() for key, value in theta.items()}, path)
    card = {**card, "checkpoint": path.name, "sha256": sha256_of(path)}
    missing = [name for name in CARD_FIELDS if name not in card]
    if missing:
        raise ValueError(f"model card lacks the fields {missing}")
    card_path(path).write_text(json.dumps(card, indent=1) + "\n")
    return card


def check_card(card, name: str = "model card") -> dict:
    """`card` if it has what loading needs (task, algorithm, sha256, config.model), else a ValueError."""
    if not isinstance(card, dict):
        raise ValueError(f"{name} is not a JSON object")
    missing = [field for field in ("task", "algorithm", "sha256", "config") if field not in card]
    if not missing and not (isinstance(card["config"], dict) and isinstance(card["config"].get("model"), dict)):
        missing = ["config.model"]
    if missing:
        raise ValueError(f"{name} lacks the field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return card


def read_manifest(path: str | Path) -> dict[str, str]:
    """{file name: sha256} from a `sha256sum` listing ("<hex>  <name>" per line); {} when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](\S+)", line.strip())
        if match:
            entries[match.group(2)] = match.group(1)
    return entries


def write_manifest(folder: str | Path) -> Path:
    """Write `folder/SHA256SUMS` for every *.pt in `folder` (the format of `sha256sum *.pt`)."""
    folder = Path(folder)
    lines = [f"{sha256_of(path)}  {path.name}" for path in sorted(folder.glob("*.pt"))]
    (folder / MANIFEST).write_text("".join(line + "\n" for line in lines))
    return folder / MANIFEST


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    dtype: torch.dtype | None = None) -> tuple[nn.Module, Params, dict]:
    """(model, θ, card) from a checkpoint and its card; the sha256 must match the card's."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not card_path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} has no model card {card_path(path).name} beside it")
    try:
        card = json.loads(card_path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"model card {card_path(path).name} is not valid JSON: {error}") from None
    check_card(card, card_path(path).name)
    if card["sha256"] != sha256_of(path):
        raise ValueError(f"checkpoint {path.name} does not match the sha256 in its model card")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt or foreign file: say which; the loader's own text stays in the cause
        raise ValueError(f"checkpoint {path.name} is not a readable state dict of tensors") from error
    try:
        model = build_model(card["config"]["model"]).to(device=device, dtype=dtype)
    except TypeError as error:
        raise ValueError(f"model card {card_path(path).name} describes no buildable model: {error}") from None
    expected = dict(model.named_parameters())
    if (not isinstance(state, dict) or set(state) != set(expected)
            or any(not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape for k in expected)):
        raise ValueError(f"checkpoint {path.name} does not hold the parameters of {card['config']['model']}")
    theta = {key: value.to(device=device, dtype=dtype or value.dtype) for key, value in state.items()}
    return model, theta, card
