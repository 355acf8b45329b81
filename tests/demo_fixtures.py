"""Small checkpoints for UI tests: real files in the shipped layout, made in seconds."""
from __future__ import annotations

from pathlib import Path

import torch

from core import train
from core.checkpoints import save_checkpoint
from core.models import Conv4, params


def make_assets(folder: Path) -> Path:
    """assets-like folder: sinusoid MAML and ANIL (briefly trained), Omniglot MAML (untrained Conv4)."""
    folder.mkdir(parents=True, exist_ok=True)
    for algorithm in ("maml", "anil", "blackbox"):
        assert train.main(["--task", "sinusoid", "--algo", algorithm, "--iterations", "20", "--validate-every", "20",
                           "--validation-tasks", "10", "--strategy", "loop", "--quiet",
                           "--out", str(folder / f"sinusoid_{algorithm}.pt")]) == 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Conv4(filters=16)
    config = train.default_config("omniglot", model=model.spec()).__dict__
    save_checkpoint(folder / "omniglot_maml.pt", params(model),
                    {"task": "omniglot", "algorithm": "maml", "config": config, "data": {"train_alphabets": []},
                     "iterations": 0, "wall_time_s": 0.0, "device": "CPU", "metrics": {},
                     "git_commit": None})
    return folder
