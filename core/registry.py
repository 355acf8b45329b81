"""Every algorithm and model by name, in one place: the inner loop an algorithm adapts with, and the model it trains.

A checkpoint's card names its `task` and `algorithm`; `inner_config` gives the inner loop, and
`default_model` / `build_model` the network. Nothing else in core spells out the algorithms.

Importing it loads no torch (the models and the inner loop are imported where they are built), so the
app can offer the algorithms by name before the engine has loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from core.inner import InnerConfig

TASKS = ("sinusoid", "omniglot")
HEAD_PREFIX = "head."  # the key prefix of a model's head (core.models), the part ANIL adapts


@dataclass(frozen=True)
class Algorithm:
    """How an algorithm adapts: its inner loop, and the task families it meta-trains on."""

    first_order: bool = False  # dφ/dθ treated as I (no Hessian term)
    adapt: tuple[str, ...] | None = None  # key prefixes the inner loop moves (None: all)
    takes_steps: bool = True  # False: adaptation is one forward pass (the black box)
    tasks: tuple[str, ...] = TASKS
    gradient: str | None = None  # the meta-gradient it trains with (None: its own name's)
    trains_with_steps: bool = True  # False: meta-trains with no inner steps (the pretrained baseline)


ALGORITHMS: dict[str, Algorithm] = {
    "maml": Algorithm(),  # second order: the graph of every inner step is kept
    "fomaml": Algorithm(first_order=True),
    "anil": Algorithm(adapt=(HEAD_PREFIX,)),  # second order through the head's steps only
    "reptile": Algorithm(first_order=True),  # its meta-gradient is θ − φ, which needs no second order
    # the paper's baseline: a network regressed on the pooled tasks (MAML's gradient with no inner
    # steps), fine-tuned at test time by the same loop (first order: nothing differentiates through it)
    "pretrained": Algorithm(first_order=True, gradient="maml", trains_with_steps=False),
    "blackbox": Algorithm(adapt=(), takes_steps=False, tasks=("sinusoid",)),
}
META_GRADIENTS = ("maml", "fomaml", "anil", "reptile")  # the meta-gradients of core.meta.meta_gradient (and the
# inner loops `python -m core.evaluate --algo` may run)
QUERY_LOSS = ("maml", "fomaml", "anil")  # meta-gradients of a query loss (Reptile reads no query set)


def algorithm(name: str) -> Algorithm:
    """The registry's entry, or a ValueError naming the known algorithms."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def inner_config(name: str, inner_lr: float, steps: int) -> InnerConfig:
    """The inner loop `name` adapts with: α = inner_lr for S = steps (none for a black box)."""
    from core.inner import InnerConfig

    entry = algorithm(name)
    return InnerConfig(lr=inner_lr, steps=steps if entry.takes_steps else 0, first_order=entry.first_order,
                       adapt=entry.adapt)


def default_model(task: str, name: str) -> nn.Module:
    """The network `name` meta-trains on `task` by default: MLP 1-40-40-1, Conv4, or the black box."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task not in algorithm(name).tasks:
        raise ValueError(f"{name} is for the {' and '.join(algorithm(name).tasks)} task, not {task}")
    if not algorithm(name).takes_steps:
        return build_model({"name": "BlackBoxRegressor"})
    return build_model({"name": "SinusoidMLP" if task == "sinusoid" else "Conv4"})


def build_model(spec: dict) -> nn.Module:
    """The model that `spec` (from `model.spec()`, e.g. in a model card) describes."""
    from core.blackbox import BlackBoxRegressor
    from core.models import Conv4, SinusoidMLP

    models = {"SinusoidMLP": SinusoidMLP, "Conv4": Conv4, "BlackBoxRegressor": BlackBoxRegressor}
    name = spec.get("name")
    if name not in models:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(repr(m) for m in models)}")
    return models[name](**{k: v for k, v in spec.items() if k != "name"})
