"""Meta-training as a generator: batches of tasks → meta-gradient → Adam on θ → validation when due.

`meta_train` yields one IterationRecord per meta-iteration, for one algorithm or several trained
side by side from the same initial θ on the same task stream. Stopping the iteration stops the
run. `python -m core.train` turns the records into a progress bar, checkpoints and a model card;
the Meta-train tab turns them into plots. Under torchrun each process takes a slice of every
meta-batch and the meta-gradients are averaged with torch.distributed, so the same seed gives the
same θ.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import torch

from core.blackbox import blackbox_gradient
from core.checkpoints import sha256_of
from core.device import describe_device, generator, resolve_device
from core.episodes import EpisodeConfig, parse_episode_shape
from core.evaluation import evaluate_steps, mean_ci
from core.meta import choose_strategy, meta_gradient, parse_strategy
from core.models import Params, params
from core.omniglot import (CLASS_AUGMENT, AugmentConfig, OmniglotCharacters, augment_episodes, load_omniglot,
                           sample_episodes, split_alphabets)
from core.registry import ALGORITHMS, QUERY_LOSS, TASKS, build_model, default_model, inner_config
from core.tasks import SinusoidDistribution, Task


TRAIN_ALGORITHMS = tuple(ALGORITHMS)
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
        if self.multi_step_loss and (self.algorithm not in QUERY_LOSS or self.train_steps < 2):
            raise ValueError(f"multi_step_loss weighs the query loss of every inner step: it needs maml, fomaml "
                             f"or anil and train_steps >= 2 (got {self.algorithm}, {self.train_steps} steps)")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.task not in ALGORITHMS[self.algorithm].tasks:
            raise ValueError(f"{self.algorithm} is for the {' and '.join(ALGORITHMS[self.algorithm].tasks)} task, "
                             f"not {self.task}")
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
    return "fomaml" if iteration <= cfg.first_order_iterations else (ALGORITHMS[cfg.algorithm].gradient or cfg.algorithm)


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

    def __init__(self, cfg: TrainConfig, data: list[str] | OmniglotCharacters | None):
        """`data`: Omniglot's folders or .zip archives, or characters already loaded (read once by the caller)."""
        self.cfg = cfg
        self.jitter = CLASS_AUGMENT if cfg.class_augment else AugmentConfig()  # for augment=True batches
        self.data_card: dict = {}
        if cfg.task == "sinusoid":
            self.distribution = SinusoidDistribution(support=cfg.support, query=cfg.query)
            self.data_card = {"distribution": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in asdict(self.distribution).items()}}
            return
        loaded = isinstance(data, OmniglotCharacters)
        paths = [] if loaded else data or []
        if not loaded and not paths:
            raise ValueError("Omniglot training needs --data (folders or .zip archives)")
        characters = data if loaded else load_omniglot(paths)
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


@dataclass
class TrainState:
    """What continues a run where it stopped: per algorithm θ and Adam's state, and the task sampler."""

    iteration: int  # meta-iterations done
    theta: dict[str, Params]  # algorithm → θ (detached, on the CPU)
    optimizer: dict[str, dict]  # algorithm → Adam's state_dict
    sampler: torch.Tensor  # the task sampler's generator state
    wall_time_s: float  # wall time of the iterations done


@dataclass
class RunInfo:
    """How a run is set up, in the record of iteration `start` (before any meta-iteration of this call)."""

    device: str  # e.g. 'CPU' or 'CUDA: NVIDIA H200'
    world: int  # processes (torchrun), 1 otherwise
    rank: int  # this process's rank
    models: dict[str, dict]  # algorithm → model spec
    strategies: dict[str, str]  # algorithm → how its meta-batch is computed ('loop', 'vmap', …)
    strategy_reasons: dict[str, str]  # algorithm → why (measured by choose_strategy, or 'given')
    data: dict  # the task source, as a model card describes it


@dataclass
class IterationRecord:
    """One meta-iteration; iteration `start` (0 for a fresh run) is θ before this call's iterations."""

    iteration: int
    losses: dict[str, float]  # algorithm → this iteration's meta-loss (mean L_query(φ_i); NaN for Reptile)
    seconds: dict[str, float]  # algorithm → wall time of its own meta-gradients and updates so far
    wall_time_s: float  # wall time of the run so far (resumed runs include the earlier part)
    meta_lr: float  # β of this iteration
    validation: dict[str, dict] | None = None  # when due: algorithm → mean_ci of the validation metric
    metric: str = ""  # what `validation` measures: 'query_mse' (sinusoid) or 'accuracy' (Omniglot)
    theta: dict[str, Params] | None = None  # on request (theta_every) and with every validation: detached copies
    state: TrainState | None = None  # with every validation: what resumes the run from here
    info: RunInfo | None = None  # in the first record only
    last: bool = False  # the run ends with this record (its last iteration, or out of time)


def _rows(batch: Task, rows: slice) -> Task:
    """The tasks `rows` of a batch."""
    return Task(batch.x_support[rows], batch.y_support[rows], batch.x_query[rows], batch.y_query[rows])


def build_run_model(cfg: TrainConfig) -> tuple[torch.nn.Module, dict]:
    """The model `cfg` trains (cfg.model, else the registry's default), initialised from cfg.seed without
    touching the global RNG."""
    spec = cfg.model or default_model(cfg.task, cfg.algorithm).spec()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(spec)
    return model, spec


def meta_train(cfg: TrainConfig, algorithms: tuple[str, ...] | None = None,
               data: list[str] | OmniglotCharacters | None = None,
               device: str | torch.device = "auto", resume: TrainState | None = None,
               theta_every: int | None = None, deadline_s: float | None = None) -> Iterator[IterationRecord]:
    """Meta-train θ for each of `algorithms` (default: cfg.algorithm) as `cfg` says, one record per iteration.

    Every algorithm starts from its model initialised with cfg.seed and sees the same batch of tasks
    at every iteration. Per algorithm and iteration t = 1..T:

        g = meta-gradient of the batch (core.meta.meta_gradient; a black box: ∇ of its query MSE)
        θ ← Adam(θ, g, β_t)            (β_t: meta_lr_at)

    Validation on the fixed validation tasks runs every cfg.validate_every iterations, at the last
    one, and when `deadline_s` seconds have passed (the run then ends there). `theta_every` adds
    copies of θ to every n-th record. Under torchrun only rank 0 validates.
    """
    algorithms = tuple(dict.fromkeys(algorithms or (cfg.algorithm,)))
    configs = {name: replace(cfg, algorithm=name) for name in algorithms}  # each checked by TrainConfig
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    rank, world = _distributed(dev)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if cfg.meta_batch % world:
        raise ValueError(f"meta_batch {cfg.meta_batch} must split evenly over {world} processes")
    source = TaskSource(cfg, data)
    models, specs, theta, optimizers = {}, {}, {}, {}
    for name, config in configs.items():
        model, specs[name] = build_run_model(config)
        models[name] = model.to(dev)
        theta[name] = {key: value.requires_grad_() for key, value in params(model, device=dev).items()}
        optimizers[name] = torch.optim.Adam(theta[name].values(), lr=cfg.meta_lr)
    sampler = generator(cfg.seed)
    validation = source.sample(cfg.validation_tasks, generator(cfg.seed + 1_000_003), dev, validation=True)
    start, wall_time = 0, 0.0
    if resume is not None:
        if set(resume.theta) != set(algorithms):
            raise ValueError(f"the saved run trained {', '.join(resume.theta)}, not {', '.join(algorithms)}")
        with torch.no_grad():
            for name in algorithms:
                for key, value in resume.theta[name].items():
                    theta[name][key].copy_(value)
        for name in algorithms:
            optimizers[name].load_state_dict(resume.optimizer[name])
        sampler.set_state(resume.sampler)
        start, wall_time = resume.iteration, resume.wall_time_s
    share = cfg.meta_batch // world
    local = slice(rank * share, (rank + 1) * share)
    strategies, reasons = {}, {}
    for name, config in configs.items():
        entry = ALGORITHMS[name]
        strategies[name], reasons[name] = cfg.strategy, "given"
        if cfg.strategy == "auto" and entry.takes_steps:
            choice = choose_strategy(models[name], {k: v.detach() for k, v in theta[name].items()},
                                     _rows(source.sample(cfg.meta_batch, generator(cfg.seed + 7), dev), local),
                                     entry.gradient or name, cfg.inner_lr, _train_steps(config))
            strategies[name], reasons[name] = choice.strategy, choice.reason
    info = RunInfo(describe_device(dev), world, rank, specs, strategies, reasons, source.data_card)
    metric = "accuracy" if cfg.task == "omniglot" else "query_mse"
    seconds = {name: 0.0 for name in algorithms}

    def copies() -> dict[str, Params]:
        return {name: {k: v.detach().clone() for k, v in theta[name].items()} for name in algorithms}

    yield IterationRecord(start, {}, dict(seconds), wall_time, meta_lr_at(cfg, start + 1), metric=metric,
                          theta=copies() if theta_every else None, info=info, last=start >= cfg.iterations)
    began = time.perf_counter()
    for iteration in range(start + 1, cfg.iterations + 1):
        batch = source.sample(cfg.meta_batch, sampler, dev, augment=cfg.augment, iteration=iteration)
        if any(not ALGORITHMS[name].takes_steps for name in algorithms):  # the black box reads any K in 1..K_max
            shots = int(torch.randint(1, cfg.support + 1, (), generator=sampler))
        losses = {}
        for name, config in configs.items():
            clock = time.perf_counter()
            detached = {k: v.detach() for k, v in theta[name].items()}
            for group in optimizers[name].param_groups:
                group["lr"] = meta_lr_at(cfg, iteration)
            if ALGORITHMS[name].takes_steps:
                result = meta_gradient(models[name], detached, _rows(batch, local), algorithm_at(config, iteration),
                                       cfg.inner_lr, _train_steps(config), strategies[name],
                                       step_weights_at(config, iteration))
                grads, loss = result.grads, result.query_loss
            else:
                fewer = Task(batch.x_support[:, :shots], batch.y_support[:, :shots], batch.x_query, batch.y_query)
                grads, loss = blackbox_gradient(models[name], detached, _rows(fewer, local))
            grads, loss = _mean_over_processes(grads, loss, share, cfg.meta_batch, world)
            for key, value in theta[name].items():
                value.grad = grads[key]
            optimizers[name].step()
            seconds[name] += time.perf_counter() - clock
            losses[name] = loss
        out_of_time = deadline_s is not None and time.perf_counter() - began > deadline_s
        if world > 1:  # every process must stop at the same iteration
            out_of_time = _any_process(out_of_time, dev)
        last = iteration == cfg.iterations or out_of_time
        record = IterationRecord(iteration, losses, dict(seconds), wall_time + time.perf_counter() - began,
                                 meta_lr_at(cfg, iteration), metric=metric, last=last)
        if rank == 0 and (iteration % cfg.validate_every == 0 or last):
            record.validation = {}
            for name, config in configs.items():
                test_cfg = inner_config(name, cfg.inner_lr, cfg.test_steps)
                losses_k, accuracies_k = evaluate_steps(models[name], theta[name], validation, test_cfg)
                record.validation[name] = mean_ci(accuracies_k[-1] if metric == "accuracy" else losses_k[-1])
            record.wall_time_s = wall_time + time.perf_counter() - began
            record.theta = copies()
            record.state = TrainState(iteration, {n: {k: v.cpu() for k, v in t.items()} for n, t in record.theta.items()},
                                      {n: optimizers[n].state_dict() for n in algorithms}, sampler.get_state(),
                                      record.wall_time_s)
        elif theta_every and iteration % theta_every == 0:
            record.theta = copies()
        yield record
        if out_of_time:
            break
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def _train_steps(cfg: TrainConfig) -> int:
    """Inner steps while meta-training (none for the pretrained baseline, whose gradient is MAML's at S = 0)."""
    return cfg.train_steps if ALGORITHMS[cfg.algorithm].trains_with_steps else 0
