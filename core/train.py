"""Meta-train from the command line: the records of core.training.meta_train → progress bar, checkpoints, model card.

    python -m core.train --task sinusoid --algo maml --iterations 70000 --out assets/sinusoid_maml.pt
    python -m core.train --task omniglot --algo fomaml --iterations 5000 --out runs/omniglot.pt \\
        --data images_background_small1.zip images_background_small2.zip

Defaults are the papers' values (Finn et al. 2017). Writes PATH (θ as a state dict),
PATH.json (the model card) and PATH.state.pt (optimizer and sampler state, for --resume).
Under torchrun each process takes a slice of every meta-batch; rank 0 writes the files.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch

from core.checkpoints import card_path, git_commit, save_checkpoint
from core.models import CONV_INITS, Conv4
from core.registry import default_model
from core.training import TRAIN_ALGORITHMS, TASKS, SCHEDULES, TrainConfig, TrainState, default_config, meta_train


class Progress:
    """A one-line progress bar with rate, ETA and running losses on stderr."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.total, self.start, self.enabled = total, start, enabled
        self.began = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0

    def update(self, iteration: int, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last_print < (0.2 if self.tty else 10.0):
            return
        self.last_print = now
        done = iteration - self.start
        rate = done / max(now - self.began, 1e-9)
        eta = (self.total - iteration) / rate if rate > 0 else math.inf
        filled = int(30 * iteration / self.total)
        bar = "#" * filled + "-" * (30 - filled)
        line = (f"[{bar}] {iteration}/{self.total} {rate:.2f} it/s ETA {_duration(eta)} {text}")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def state_path(out: Path) -> Path:
    """Where --resume finds the optimizer and sampler state of `out`."""
    return out.with_name(out.name + ".state.pt")


def _resumable(cfg: TrainConfig) -> str:
    """What must match for --resume: the whole configuration, except the number of iterations when β
    is constant (a cosine schedule is drawn over the whole run, so its length must match too)."""
    drawn_over_run = cfg.schedule != "constant" or cfg.multi_step_loss  # so are the multi-step loss weights
    return json.dumps({k: v for k, v in asdict(cfg).items() if k != "iterations" or drawn_over_run}, sort_keys=True)


def train(cfg: TrainConfig, out: str | Path, data: list[str] | None = None, device: str = "auto",
          resume: bool = False, progress: bool = True, max_minutes: float | None = None) -> dict:
    """Meta-train θ as `cfg` says; writes the checkpoint, its card and the resume state; returns the card.

    A thin consumer of `meta_train`: at each validation it writes the checkpoint (θ), its model card
    (with the training curve) and the state that --resume continues from.
    """
    out = Path(out)
    name = cfg.algorithm
    cfg = replace(cfg, model=cfg.model or default_model(cfg.task, name).spec())  # the card names the model
    saved, curve = None, []
    if resume:
        if not state_path(out).is_file():
            raise FileNotFoundError(f"--resume: no training state at {state_path(out)}")
        state = torch.load(state_path(out), weights_only=True)
        if state["config"] != _resumable(cfg):
            raise ValueError("--resume: the saved run used another configuration; use the same arguments")
        saved = TrainState(state["iteration"], {name: state["theta"]}, {name: state["optimizer"]}, state["sampler"],
                           state["wall_time_s"])
        curve = json.loads(state["curve"])
    records = meta_train(cfg, data=data, device=device, resume=saved,
                         deadline_s=60 * max_minutes if max_minutes is not None else None)
    first = next(records)
    info = first.info
    show = progress and info.rank == 0
    if show:
        print(f"training {cfg.task}/{name} on {info.device} x{info.world}, strategy {info.strategy_reasons[name]}",
              file=sys.stderr)
    bar = Progress(cfg.iterations, first.iteration, show)
    card: dict = {}
    running_loss = math.nan
    for record in records:
        loss = record.losses[name]
        running_loss = loss if math.isnan(running_loss) else 0.98 * running_loss + 0.02 * loss
        text = f"loss {running_loss:.4f}" + (f" val {curve[-1]['value']:.4f}" if curve else "")
        bar.update(record.iteration, text)
        if record.validation is None:
            continue
        values = record.validation[name]
        curve.append({"iteration": record.iteration, "metric": record.metric, "value": values["mean"],
                      "train_loss": running_loss})
        bar.update(record.iteration, text, force=True)
        card = {
            "task": cfg.task,
            "algorithm": name,
            "config": asdict(cfg),
            "data": info.data,
            "iterations": record.iteration,
            "wall_time_s": round(record.wall_time_s, 1),
            "device": info.device + (f" x{info.world} processes" if info.world > 1 else ""),
            "strategy": info.strategies[name],
            "metrics": {"validation": {record.metric: values, "steps": cfg.test_steps,
                                       "tasks": cfg.validation_tasks}},
            "training_curve": curve,
            "git_commit": git_commit(),
            "torch": torch.__version__,
        }
        card = save_checkpoint(out, record.theta[name], card)
        state = record.state
        torch.save({"iteration": state.iteration, "theta": state.theta[name], "optimizer": state.optimizer[name],
                    "sampler": state.sampler, "curve": json.dumps(curve), "wall_time_s": state.wall_time_s,
                    "config": _resumable(cfg)}, state_path(out))
    bar.close()
    return card or json.loads(card_path(out).read_text())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--algo", choices=TRAIN_ALGORITHMS, default="maml")
    parser.add_argument("--iterations", type=int, required=True, help="meta-iterations")
    parser.add_argument("--out", required=True, help="checkpoint path (PATH.json gets the model card)")
    parser.add_argument("--data", nargs="+", help="Omniglot folders or .zip archives (needed for --task omniglot)")
    parser.add_argument("--meta-batch", type=int, help="tasks per meta-iteration (25 sinusoid, 32 Omniglot)")
    parser.add_argument("--meta-lr", type=float, help="β, Adam's learning rate (1e-3)")
    parser.add_argument("--schedule", choices=SCHEDULES, help="β over the run: constant (default) or cosine decay to 0")
    parser.add_argument("--inner-lr", type=float, help="α (0.01 sinusoid, 0.4 Omniglot)")
    parser.add_argument("--train-steps", type=int, help="inner steps in training (1)")
    parser.add_argument("--first-order-iterations", type=int,
                        help="maml: take first-order MAML's gradient for the first N iterations (0), a cheaper warm start")
    parser.add_argument("--multi-step-loss", action="store_true", default=None,
                        help="the query loss after every inner step, weights annealed to the last step's (MAML++)")
    parser.add_argument("--test-steps", type=int, help="inner steps in validation (10 sinusoid, 3 Omniglot)")
    parser.add_argument("--support", type=int, help="sinusoid K (10) / Omniglot shots (1)")
    parser.add_argument("--query", type=int, help="sinusoid query points (10) / Omniglot queries per class (15)")
    parser.add_argument("--ways", type=int, help="Omniglot N (5)")
    parser.add_argument("--episode-mix", nargs="+", type=str,
                        help='Omniglot training episodes "NxK:Q" taken in turn, e.g. 5x1:5 5x5:3 20x1:1 '
                             '(default: ways x support : query)')
    parser.add_argument("--val-alphabets", type=int, help="Omniglot alphabets held out (2)")
    parser.add_argument("--validate-every", type=int, help="iterations between validations and checkpoints")
    parser.add_argument("--validation-tasks", type=int, help="fixed validation tasks (200)")
    parser.add_argument("--strategy", help="auto (measure), loop, vmap or vmap:<chunk>")
    parser.add_argument("--seed", type=int, help="seed (0)")
    parser.add_argument("--augment", action="store_true", default=None, help="Omniglot: affine jitter of training images")
    parser.add_argument("--class-augment", action="store_true", default=None,
                        help="Omniglot, with --augment: each class of an episode also gets its own shear and stretch")
    parser.add_argument("--conv-init", choices=CONV_INITS,
                        help="Omniglot: Conv4's conv weights start as PyTorch's default or He's (see core.models)")
    parser.add_argument("--mirror-classes", action="store_true", default=None,
                        help="Omniglot: mirror images of training characters are classes too (2x the classes)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--resume", action="store_true", help="continue from PATH.state.pt")
    parser.add_argument("--max-minutes", type=float, help="stop (validated and saved) after this much wall time")
    parser.add_argument("--json", action="store_true", help="print the model card as JSON at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = {f.name for f in fields(TrainConfig)}
    overrides = {name: getattr(args, name, None) for name in names if name not in ("task", "algorithm", "model")}
    try:
        if args.conv_init is not None:
            if args.task != "omniglot":
                raise ValueError("--conv-init is for the omniglot task (Conv4)")
            overrides["model"] = Conv4(init=args.conv_init).spec()
        cfg = default_config(args.task, algorithm=args.algo, **overrides)
        if args.max_minutes is not None and not args.max_minutes > 0:
            raise ValueError(f"--max-minutes must be > 0, got {args.max_minutes}")
        card = train(cfg, args.out, args.data, args.device, args.resume, progress=not args.quiet,
                     max_minutes=args.max_minutes)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    if args.json:
        print(json.dumps(card, indent=1))
    else:
        print(f"wrote {args.out} and {args.out}.json: {card['metrics']['validation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
