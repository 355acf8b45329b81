"""Models whose parameters live in a dict and are used through `torch.func.functional_call`.

- `SinusoidMLP`: 1 → 40 → 40 → 1 with ReLU (Finn et al. 2017, regression).
- `Conv4`: 4 × [3×3 conv 64, BatchNorm with batch statistics, ReLU, 2×2 max-pool] on 28×28,
  then a linear head over the 64 features (Finn et al. 2017, Omniglot).

Both split their parameters into a body (`body.*`) and a head (`head.*`), so ANIL can adapt the
head alone. θ is `params(model)`; nothing is mutated in place.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

Params = dict[str, Tensor]


@runtime_checkable
class MetaModel(Protocol):
    """What core needs of a model (an `nn.Module` used through `functional_call`): MLP, Conv4, black box.

    A model that adapts by gradient steps splits its parameters into `body.*` and `head.*` and takes
    `forward(x, context_size=None, part="all")`. A model that `reads_support` (the black box) takes
    `forward(x_support, y_support, x)` instead and adapts in that one forward pass.
    """

    task_kind: str  # 'regression' (MSE) or 'classification' (cross-entropy)
    context_norm: bool  # BatchNorm moments come from the support set, so predictions take it as context
    static_first_step: tuple[str, ...]  # key prefixes whose support gradient at φ_0 is exactly zero
    reads_support: bool  # predictions read the support pairs themselves (no inner steps)

    def task_params(self, theta: Params, ways: int | None = None) -> Params:
        """φ_0: the parameters a task starts from (θ, plus any per-task parameters)."""

    def spec(self) -> dict:
        """Constructor arguments, for model cards (`core.registry.build_model` reads them back)."""


class SinusoidMLP(nn.Module):
    """f(x) = W₃ ReLU(W₂ ReLU(W₁x + b₁) + b₂) + b₃, sizes 1 → hidden → hidden → 1."""

    task_kind = "regression"
    context_norm = False  # no BatchNorm: predictions need no support context
    static_first_step: tuple[str, ...] = ()  # key prefixes with ∇L_support(φ_0) ≡ 0 (none here)
    reads_support = False

    def __init__(self, hidden: int = 40):
        super().__init__()
        self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor, context_size: int | None = None, part: str = "all") -> Tensor:
        """(n, 1) → (n, 1); part='body' stops at the features h, part='head' takes x as h (see `predict`)."""
        h = x if part == "head" else self.body(x)
        return h if part == "body" else self.head(h)

    def task_params(self, theta: Params, ways: int | None = None) -> Params:
        """The parameters a task starts from: θ itself."""
        return theta

    def spec(self) -> dict:
        """Constructor arguments, for model cards."""
        return {"name": "SinusoidMLP", "hidden": self.hidden}


class BatchStatNorm(nn.Module):
    """BatchNorm from batch statistics only, written from primitive ops so it is exact under vmap.

    y = γ (x − μ) / √(σ² + ε) + β, with μ and σ² (biased) taken over the (rows, H, W) axes of
    the first `context_size` rows (all rows when None) and applied to every row. There are no
    running statistics: `F.batch_norm` with batch statistics gives wrong second-order gradients
    under vmap (pytorch/functorch#534); mean and var from primitives do not.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, context_size: int | None = None) -> Tensor:  # (n, C, H, W)
        context = x if context_size is None else x[:context_size]
        mean = context.mean(dim=(0, 2, 3), keepdim=True)
        var = (context - mean).square().mean(dim=(0, 2, 3), keepdim=True)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


class ConvBlock(nn.Module):
    """3×3 conv → BatchStatNorm → ReLU → 2×2 max-pool (computed as pool then ReLU: they commute).

    Plain tensors run in channels-last layout (N, H, W, C in memory): on a CPU its max-pool is
    over 10× faster than the default layout's (80 images of 64 × 28 × 28: 0.6 ms vs 8.6 ms).
    Under torch.func transforms the layout is left alone, since vmap cannot express memory
    formats. The values are the same either way, up to rounding.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = BatchStatNorm(out_channels)

    def forward(self, x: Tensor, context_size: int | None = None) -> Tensor:
        y = self.conv(x)
        if not torch._C._functorch.is_functorch_wrapped_tensor(y):  # not under vmap or grad
            y = y.contiguous(memory_format=torch.channels_last)  # a no-op after the first block
        return F.relu(F.max_pool2d(self.norm(y, context_size), 2))  # = pool(relu(·)), 4× less ReLU


class ZeroInitHead(nn.Module):
    """Linear head whose weights are not part of θ: each task starts it at zero, for any N.

    A checkpoint must serve N = 2…20 classes, so the head cannot have a fixed number of rows.
    Following Triantafillou et al. (2020) and Ye & Chao (2021), every task starts from
    W = 0 (N × features) and b = 0, created by `Conv4.task_params`. Then all logits are 0, the
    prediction is uniform, and the first inner step sets

        W_c = α/n · Σ_i (y_ic − 1/N) h_i,   i.e. W_c ∝ (mean feature of class c − mean feature),

    a prototype classifier that later steps refine. A learned shared init would not help:
    a row shared by all classes adds the same number to every logit and cancels in the softmax.
    """

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.register_buffer("weight", None, persistent=False)  # (N, features), set per task
        self.register_buffer("bias", None, persistent=False)  # (N,), set per task

    def forward(self, h: Tensor) -> Tensor:  # (n, features) → (n, N)
        return F.linear(h, self.weight, self.bias)


# How Conv4's conv weights start. 'default': PyTorch's (uniform, std 1/√(3·fan_in)); 'he': normal with
# std √(2/fan_in) (He et al. 2015), 2.45× larger. Each conv is followed by BatchNorm, so scaling a
# conv's weights by c leaves the function unchanged but scales its gradient by 1/c: an inner step
# of a fixed α then moves those weights 1/c² as far relative to their size. So the init sets how far
# the body adapts per step, and training (Adam at β = 1e-3) changes the weights' scale only slowly.
CONV_INITS = ("default", "he")


class Conv4(nn.Module):
    """4 × [3×3 conv, BatchStatNorm, ReLU, 2×2 max-pool] on (n, 1, 28, 28), then a zero-init head.

    Spatial size 28 → 14 → 7 → 3 → 1, so the head sees `filters` features. With
    `context_size`, BatchNorm moments come from the first `context_size` rows (the support set)
    and are applied to the rest (MetaBN of Bronskill et al. 2020): a query's prediction then does
    not depend on which other queries share its batch, so one drawn character can be classified.
    """

    task_kind = "classification"
    context_norm = True  # BatchNorm moments come from the support set (see class docstring)
    # With the head at zero, ∂L/∂h = Wᵀ(p − y) = 0, so the body's support gradient at φ_0 is
    # exactly zero for every θ (and so is its derivative): the first inner step moves the head only.
    static_first_step: tuple[str, ...] = ("body.",)
    reads_support = False

    def __init__(self, filters: int = 64, in_channels: int = 1, init: str = "default"):
        super().__init__()
        if init not in CONV_INITS:
            raise ValueError(f"unknown init {init!r}; expected one of {', '.join(CONV_INITS)}")
        self.filters = filters
        self.in_channels = in_channels
        self.init = init
        channels = [in_channels, filters, filters, filters, filters]
        self.body = nn.ModuleList(ConvBlock(c_in, c_out) for c_in, c_out in zip(channels, channels[1:]))
        if init == "he":
            for block in self.body:
                nn.init.kaiming_normal_(block.conv.weight, nonlinearity="relu")
        self.head = ZeroInitHead(filters)

    def features(self, x: Tensor, context_size: int | None = None) -> Tensor:  # (n, 1, 28, 28) → (n, F)
        for block in self.body:
            x = block(x, context_size)
        return x.flatten(1)

    def forward(self, x: Tensor, context_size: int | None = None, part: str = "all") -> Tensor:
        """(n, 1, 28, 28) → (n, N) logits; part='body' stops at the features, part='head' takes x as them."""
        h = x if part == "head" else self.features(x, context_size)
        return h if part == "body" else self.head(h)

    def task_params(self, theta: Params, ways: int | None = None) -> Params:
        """θ plus the zero head of an N-way task: W = 0 (N × F), b = 0 (N)."""
        if ways is None or ways < 2:
            raise ValueError(f"a classification task needs ways >= 2, got {ways}")
        reference = next(iter(theta.values()))
        zeros = dict(dtype=reference.dtype, device=reference.device)
        return {**theta, "head.weight": torch.zeros(ways, self.filters, **zeros),
                "head.bias": torch.zeros(ways, **zeros)}

    def spec(self) -> dict:
        """Constructor arguments, for model cards."""
        return {"name": "Conv4", "filters": self.filters, "in_channels": self.in_channels, "init": self.init}


def params(model: nn.Module, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Params:
    """θ: the model's parameters as a dict of plain tensors (detached copies)."""
    return {k: v.detach().to(device=device, dtype=dtype).clone() for k, v in model.named_parameters()}


PARTS = ("all", "body", "head")


def predict(model: nn.Module, params: Params, x: Tensor, context: Tensor | None = None, part: str = "all"
            ) -> Tensor:
    """f(x; params) = head(h(x)). With `context` (support inputs) BatchNorm moments come from the context.

    part='body' returns the features h(x); part='head' takes `x` to be features and applies the
    head alone, so a loop that adapts only the head can compute h once (ANIL).
    """
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    selected = {} if part == "all" else {"part": part}  # a model with no parts needs no such argument
    if context is None or not model.context_norm or part == "head":
        return functional_call(model, params, (x,), selected)
    joined = torch.cat([context, x])
    return functional_call(model, params, (joined,), {"context_size": context.shape[0], **selected}
                           )[context.shape[0]:]


def joint_features(model: nn.Module, params: Params, x_support: Tensor, x_query: Tensor) -> tuple[Tensor, Tensor]:
    """The body's features (h(x_support), h(x_query)) from one pass over [support; query].

    BatchNorm moments come from the support rows, so both equal what `predict(..., part='body')`
    gives for each set (the support alone; the query with the support as context).
    """
    joined = torch.cat([x_support, x_query])
    options = {"part": "body", **({"context_size": x_support.shape[0]} if model.context_norm else {})}
    features = functional_call(model, params, (joined,), options)
    return features[:x_support.shape[0]], features[x_support.shape[0]:]


def loss(model: nn.Module, params: Params, x: Tensor, y: Tensor, context: Tensor | None = None,
         part: str = "all") -> Tensor:
    """Mean squared error (regression) or cross-entropy (classification) of f(x; params) on y."""
    return task_loss(predict(model, params, x, context, part), y, model.task_kind)


def task_predict(model: nn.Module, params: Params, x_support: Tensor, y_support: Tensor, x: Tensor) -> Tensor:
    """f(x; params) on one task whose support set is (x_support, y_support).

    BatchNorm moments come from the support inputs (`x` may be `x_support` itself); a model that
    `reads_support` (the black box) reads the support pairs, ŷ = f(x | {(x_i, y_i)}).
    """
    if model.reads_support:
        return functional_call(model, params, (x_support[None], y_support[None], x[None]))[0]
    return predict(model, params, x, context=None if x is x_support else x_support)


def task_loss(prediction: Tensor, y: Tensor, task_kind: str) -> Tensor:
    """Mean squared error (regression) or cross-entropy (classification) of a prediction."""
    return F.mse_loss(prediction, y) if task_kind == "regression" else F.cross_entropy(prediction, y)


def layer_of(key: str) -> str:
    """The layer a parameter belongs to: 'body.0.conv.weight' → 'body.0.conv'."""
    return key.rsplit(".", 1)[0]
