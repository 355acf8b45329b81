"""Meta-training: batches of tasks → meta-gradient → Adam on θ, with validation and checkpoints.

    python -m core.train --task sinusoid --algo maml --iterations 70000 --out assets/sinusoid_maml.pt
    python -m core.train --task omniglot --algo fomaml --iterations 5000 --out runs/omniglot.pt \\
        --data ../shared/data/omniglot/images_background_small1.zip ../shared/data/omniglot/images_background_small2.zip

Defaults are the papers' values (Finn et al. 2017). Writes PATH (θ as a state dict),
PATH.json (the model card) and PATH.state.pt (optimizer and sampler state, for --resume).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from core.checkpoints import card_path, git_commit, save_checkpoint, sha256_of
from core.device import describe_device, generator, resolve_device
from core.evaluate import evaluate_steps, mean_ci
from core.meta import ALGORITHMS, choose_strategy, inner_config, meta_gradient, parse_strategy
from core.blackbox import BlackBoxRegressor, blackbox_gradient
from core.models import CONV_INITS, Conv4, SinusoidMLP, build_model, params
from core.omniglot import (CLASS_AUGMENT, AugmentConfig, EpisodeConfig, augment_episodes, default_sources,
                           load_omniglot, parse_episode_shape, sample_episodes, split_alphabets)
from core.tasks import SinusoidDistribution, Task

TASKS = ("sinusoid", "omniglot")
TRAIN_ALGORITHMS = (*ALGORITHMS, "pretrained", "blackbox")
SCHEDULES = ("constant", "cosine")



@dataclass(frozen=True)
class TrainConfig:
    task: str = "sinusoid"  # 'sinusoid' or 'omniglot'
    algorithm: str = "maml"  # maml | fomaml | anil | reptile | pretrained | blackbox
    iterations: int = 70000  # meta-iterations (outer steps)
    meta_batch: int = 25  # tasks per meta-iteration (Omniglot: 32)
    meta_lr: float = 1e-3  # β, Adam's learning rate on θ
    schedule: str = "constant"  # β over the run: 'constant' or 'cosine' (decays to 0 at the last iteration)
    inner_lr: float = 0.01  # α (Omniglot: 0.4)
    train_steps: int = 1  # inner steps while meta-training
    first_order_iterations: int = 0  # MAML: the first iterations take first-order MAML's gradient (a warm start)
    multi_step_loss: bool = False  # the query loss after every inner step, annealed to the last (step_weights_at)
    test_steps: int = 10  # inner steps for validation and evaluation (Omniglot: 3)
    support: int = 10  # sinusoid K / Omniglot shots per class
    query: int = 10  # sinusoid Q / Omniglot queries per class
    ways: int = 5  # Omniglot N
    episode_mix: tuple[str, ...] = ()  # Omniglot: training episode shapes "NxK:Q", one per meta-iteration in turn
    val_alphabets: int = 2  # Omniglot: whole alphabets held out for validation
    validate_every: int = 500  # iterations between validations (and checkpoints)
    validation_tasks: int = 200  # fixed validation tasks (episodes)
    seed: int = 0  # seeds θ's initialisation, the task sampler and the validation tasks
    strategy: str = "auto"  # 'auto' (measure), 'loop', 'vmap' or 'vmap:<chunk>'
    augment: bool = False  # Omniglot: random affine jitter of training images (AugmentConfig)
    mirror_classes: bool = False  # Omniglot: mirror images of training characters are classes too
    class_augment: bool = False  # Omniglot: with augment, each class of an episode also gets a map of its own
    model: dict | None = None  # model spec; None: the task's default (MLP 1-40-40-1 or Conv4)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.algorithm not in TRAIN_ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(TRAIN_ALGORITHMS)}")
        for name in ("iterations", "meta_batch", "support", "validate_every", "validation_tasks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_steps", "test_steps", "query", "first_order_iterations"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("meta_lr", "inner_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.first_order_iterations and self.algorithm != "maml":
            raise ValueError(f"first_order_iterations is a warm start for maml (its first-order relative is "
                             f"fomaml), not for {self.algorithm}")
        if self.first_order_iterations >= self.iterations:
            raise ValueError(f"first_order_iterations ({self.first_order_iterations}) must be fewer than "
                             f"iterations ({self.iterations}); use --algo fomaml for a first-order run")
        if self.multi_step_loss and (self.algorithm not in ("maml", "fomaml", "anil") or self.train_steps < 2):
            raise ValueError(f"multi_step_loss weighs the query loss of every inner step: it needs maml, fomaml "
                             f"or anil and train_steps >= 2 (got {self.algorithm}, {self.train_steps} steps)")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.task == "omniglot" and self.ways < 2:
            raise ValueError(f"ways must be >= 2, got {self.ways}")
        object.__setattr__(self, "episode_mix", tuple(self.episode_mix))  # a list from argparse or JSON
        if self.episode_mix and self.task != "omniglot":
            raise ValueError("episode_mix is for the omniglot task")
        if self.mirror_classes and self.task != "omniglot":
            raise ValueError("mirror_classes is for the omniglot task")
        if self.class_augment and self.task != "omniglot":
            raise ValueError("class_augment is for the omniglot task")
        if self.class_augment and not self.augment:
            raise ValueError("class_augment adds per-class maps to the augment jitter; "
                             "use it with augment (--augment --class-augment)")
        for text in self.episode_mix:
            parse_episode_shape(text)
        if self.strategy != "auto":
            parse_strategy(self.strategy)


PAPER_DEFAULTS = {
    "sinusoid": {},
    "omniglot": {"meta_batch": 32, "inner_lr": 0.4, "test_steps": 3, "support": 1, "query": 15},
}


def meta_lr_at(cfg: TrainConfig, iteration: int) -> float:
    """β for meta-iteration t = 1..T: β for 'constant'; β·½(1 + cos(π(t − 1)/T)) for 'cosine'."""
    if cfg.schedule == "constant":
        return cfg.meta_lr
    return cfg.meta_lr * 0.5 * (1 + math.cos(math.pi * (iteration - 1) / cfg.iterations))


def algorithm_at(cfg: TrainConfig, iteration: int) -> str:
    """The meta-gradient of meta-iteration t = 1..T: first-order MAML's while t ≤ the warm start
    (derivative-order annealing, Antoniou et al. 2019), the configured algorithm's after."""
    return "fomaml" if iteration <= cfg.first_order_iterations else cfg.algorithm


def step_weights_at(cfg: TrainConfig, iteration: int) -> tuple[float, ...] | None:
    """The multi-step loss weights w_1 … w_S of meta-iteration t = 1..T (None without it).

    MAML++'s annealing (Antoniou et al. 2019), over the whole run: each of the first S − 1 steps
    weighs w_k = (1 − (t − 1)/T) / S, from 1/S (uniform) down to nearly 0, and the last step takes
    the rest, w_S = 1 − Σ_{k<S} w_k, so training ends on the plain objective L_query(φ_S).
    """
    if not cfg.multi_step_loss:
        return None
    steps = cfg.train_steps
    early = (1 - (iteration - 1) / cfg.iterations) / steps
    return (early,) * (steps - 1) + (1 - early * (steps - 1),)


def default_config(task: str, **overrides) -> TrainConfig:
    """The papers' configuration of `task`, with `overrides` (None values are ignored)."""
    if task not in PAPER_DEFAULTS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return TrainConfig(task=task, **{**PAPER_DEFAULTS[task], **given})


class TaskSource:
    """Draws meta-training batches and the fixed validation batch of a TrainConfig."""

    def __init__(self, cfg: TrainConfig, data: list[str] | None):
        self.cfg = cfg
        self.jitter = CLASS_AUGMENT if cfg.class_augment else AugmentConfig()  # for augment=True batches
        self.data_card: dict = {}
        if cfg.task == "sinusoid":
            self.distribution = SinusoidDistribution(support=cfg.support, query=cfg.query)
            self.data_card = {"distribution": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in asdict(self.distribution).items()}}
            return
        paths = data or default_sources()
        if not paths:
            raise ValueError("Omniglot training needs --data (folders or .zip archives); none found")
        characters = load_omniglot(paths)
        self.train_chars, self.val_chars = split_alphabets(characters, cfg.val_alphabets, cfg.seed)
        self.episode = EpisodeConfig(ways=cfg.ways, shots=cfg.support, queries=cfg.query)
        shapes = [parse_episode_shape(text) for text in cfg.episode_mix] or [self.episode]
        self.training_episodes = [replace(shape, mirrors=cfg.mirror_classes) for shape in shapes]
        self.data_card = {
            "sources": [{"name": Path(p).name, "sha256": sha256_of(p) if Path(p).is_file() else None} for p in paths],
            "train_alphabets": sorted(set(self.train_chars.alphabets)),
            "val_alphabets": sorted(set(self.val_chars.alphabets)),
            "rotations_as_classes": self.episode.rotations,
            "mirrors_as_classes": cfg.mirror_classes,  # in training episodes only
        }

    def sample(self, tasks: int, gen: torch.Generator, device: torch.device | str = "cpu",
               validation: bool = False, augment: bool = False, iteration: int = 1) -> Task:
        """A batch of tasks on `device` (held-out alphabets when `validation`), jittered if `augment`.

        Omniglot training batches of meta-iteration t = 1, 2, … take the shapes of cfg.episode_mix
        in turn (shape (t − 1) mod M); validation batches are always cfg's ways × support : query.

        Images are jittered after the move, on the device: on a GPU machine the CPU then only
        indexes images, and processes sharing the CPU do not fight over its threads.
        """
        if self.cfg.task == "sinusoid":
            return self.distribution.sample(tasks, gen).to(device)
        chars = self.val_chars if validation else self.train_chars
        episode = self.episode if validation else self.training_episodes[(iteration - 1) % len(self.training_episodes)]
        batch = sample_episodes(chars, episode, tasks, gen).to(device)
        return augment_episodes(batch, self.jitter, gen) if augment else batch


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


def _build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, dict]:
    """The model `cfg` trains, initialised from cfg.seed without touching the global RNG."""
    default = (BlackBoxRegressor() if cfg.algorithm == "blackbox" else
               SinusoidMLP() if cfg.task == "sinusoid" else Conv4()).spec()
    spec = cfg.model or default
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(spec)
    return model, spec


def _distributed(dev: torch.device) -> tuple[int, int]:
    """(rank, world size); under torchrun, joins the process group (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), world


def _mean_over_processes(grads: dict, loss: float, share: int, total: int, world: int) -> tuple[dict, float]:
    """Σ_ranks (local mean × local tasks) / all tasks, so P processes give the one-process mean."""
    if world == 1:
        return grads, loss
    import torch.distributed as dist

    keys = list(grads)
    flat = torch.cat([grads[k].reshape(-1) * share for k in keys]
                     + [torch.tensor([loss * share], dtype=grads[keys[0]].dtype, device=grads[keys[0]].device)])
    dist.all_reduce(flat)
    flat /= total
    out, offset = {}, 0
    for key in keys:
        n = grads[key].numel()
        out[key] = flat[offset:offset + n].view_as(grads[key])
        offset += n
    return out, float(flat[-1])


def _any_process(flag: bool, dev: torch.device) -> bool:
    """True on every process when `flag` is True on any of them."""
    import torch.distributed as dist

    value = torch.tensor([float(flag)], device=dev)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def train(cfg: TrainConfig, out: str | Path, data: list[str] | None = None, device: str = "auto",
          resume: bool = False, progress: bool = True, max_minutes: float | None = None) -> dict:
    """Meta-train θ as `cfg` says; writes the checkpoint, its card and the resume state; returns the card.

    Under torchrun each of P processes takes 1/P of every meta-batch (all sample the same batch
    from the same seed), the gradients are averaged with torch.distributed, and only rank 0
    validates and writes files.
    """
    out = Path(out)
    dev = resolve_device(device)
    if cfg.algorithm == "blackbox" and cfg.task != "sinusoid":
        raise ValueError("the black-box learner is for the sinusoid task")
    rank, world = _distributed(dev)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if cfg.meta_batch % world:
        raise ValueError(f"meta_batch {cfg.meta_batch} must split evenly over {world} processes")
    source = TaskSource(cfg, data)
    model, spec = _build_model(cfg)
    cfg = replace(cfg, model=spec)
    model = model.to(dev)
    theta = {key: value.requires_grad_() for key, value in params(model, device=dev).items()}
    optimizer = torch.optim.Adam(theta.values(), lr=cfg.meta_lr)
    sampler = generator(cfg.seed)
    validation = source.sample(cfg.validation_tasks, generator(cfg.seed + 1_000_003), dev, validation=True)
    test_cfg = inner_config(cfg.algorithm, cfg.inner_lr, cfg.test_steps)
    start, curve, wall_time = 0, [], 0.0
    if resume:
        if not state_path(out).is_file():
            raise FileNotFoundError(f"--resume: no training state at {state_path(out)}")
        state = torch.load(state_path(out), weights_only=True)
        if state["config"] != _resumable(cfg):
            raise ValueError("--resume: the saved run used another configuration; use the same arguments")
        with torch.no_grad():
            for key, value in state["theta"].items():
                theta[key].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
        sampler.set_state(state["sampler"])
        start, curve, wall_time = state["iteration"], json.loads(state["curve"]), state["wall_time_s"]
    share = cfg.meta_batch // world
    local = slice(rank * share, (rank + 1) * share)
    # the paper's baseline regresses on the pooled tasks: its gradient is MAML's with 0 inner steps
    train_steps = 0 if cfg.algorithm == "pretrained" else cfg.train_steps
    strategy, strategy_reason = cfg.strategy, "given"
    if strategy == "auto" and cfg.algorithm != "blackbox":
        choice = choose_strategy(model, {k: v.detach() for k, v in theta.items()},
                                 _rows(source.sample(cfg.meta_batch, generator(cfg.seed + 7), dev), local),
                                 cfg.algorithm, cfg.inner_lr, train_steps)
        strategy, strategy_reason = choice.strategy, choice.reason
    progress = progress and rank == 0
    if progress:
        print(f"training {cfg.task}/{cfg.algorithm} on {describe_device(dev)} x{world}, strategy {strategy_reason}",
              file=sys.stderr)
    bar = Progress(cfg.iterations, start, progress)
    began = time.perf_counter()
    card: dict = {}
    running_loss = math.nan
    for iteration in range(start + 1, cfg.iterations + 1):
        batch = source.sample(cfg.meta_batch, sampler, dev, augment=cfg.augment, iteration=iteration)
        detached = {k: v.detach() for k, v in theta.items()}
        for group in optimizer.param_groups:
            group["lr"] = meta_lr_at(cfg, iteration)
        if cfg.algorithm == "blackbox":
            shots = int(torch.randint(1, cfg.support + 1, (), generator=sampler))  # any K in 1..K_max
            batch = Task(batch.x_support[:, :shots], batch.y_support[:, :shots], batch.x_query, batch.y_query)
            grads, loss = blackbox_gradient(model, detached, _rows(batch, local))
        else:
            result = meta_gradient(model, detached, _rows(batch, local), algorithm_at(cfg, iteration),
                                   cfg.inner_lr, train_steps, strategy, step_weights_at(cfg, iteration))
            grads, loss = result.grads, result.query_loss
        grads, loss = _mean_over_processes(grads, loss, share, cfg.meta_batch, world)
        for key, value in theta.items():
            value.grad = grads[key]
        optimizer.step()
        running_loss = loss if math.isnan(running_loss) else 0.98 * running_loss + 0.02 * loss
        text = f"loss {running_loss:.4f}" + (f" val {curve[-1]['value']:.4f}" if curve else "")
        bar.update(iteration, text)
        out_of_time = max_minutes is not None and time.perf_counter() - began > 60 * max_minutes
        if world > 1:  # every process must stop at the same iteration
            out_of_time = _any_process(out_of_time, dev)
        if rank == 0 and (iteration % cfg.validate_every == 0 or iteration == cfg.iterations or out_of_time):
            losses, accuracies = evaluate_steps(model, theta, validation, test_cfg)
            metric = "accuracy" if cfg.task == "omniglot" else "query_mse"
            values = accuracies[-1] if cfg.task == "omniglot" else losses[-1]
            curve.append({"iteration": iteration, "metric": metric, "value": mean_ci(values)["mean"],
                          "train_loss": running_loss})
            bar.update(iteration, text, force=True)
            elapsed = wall_time + time.perf_counter() - began
            card = {
                "task": cfg.task,
                "algorithm": cfg.algorithm,
                "config": asdict(cfg),
                "data": source.data_card,
                "iterations": iteration,
                "wall_time_s": round(elapsed, 1),
                "device": describe_device(dev) + (f" x{world} processes" if world > 1 else ""),
                "strategy": strategy,
                "metrics": {"validation": {metric: mean_ci(values), "steps": cfg.test_steps,
                                           "tasks": cfg.validation_tasks}},
                "training_curve": curve,
                "git_commit": git_commit(),
                "torch": torch.__version__,
            }
            card = save_checkpoint(out, theta, card)
            torch.save({"iteration": iteration, "theta": {k: v.detach().cpu() for k, v in theta.items()},
                        "optimizer": optimizer.state_dict(), "sampler": sampler.get_state(),
                        "curve": json.dumps(curve), "wall_time_s": elapsed,
                        "config": _resumable(cfg)}, state_path(out))
        if out_of_time:
            break
    bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return card or json.loads(card_path(out).read_text())


def _rows(batch: Task, rows: slice) -> Task:
    """The tasks `rows` of a batch."""
    return Task(batch.x_support[rows], batch.y_support[rows], batch.x_query[rows], batch.y_query[rows])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--algo", choices=TRAIN_ALGORITHMS, default="maml")
    parser.add_argument("--iterations", type=int, required=True, help="meta-iterations")
    parser.add_argument("--out", required=True, help="checkpoint path (PATH.json gets the model card)")
    parser.add_argument("--data", nargs="+", help="Omniglot folders or .zip archives (default: ../shared/data/omniglot)")
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
