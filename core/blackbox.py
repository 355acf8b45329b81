"""A black-box meta-learner: a transformer that reads the support pairs and predicts y at query x.

No gradient steps at test time: adaptation is one forward pass, ŷ_q = f(x_q | {(x_i, y_i)}).
It is the comparison for MAML off the training distribution (Finn & Levine 2018): inside the
training range both fit, outside it MAML's gradient steps keep improving while a black box
can only interpolate what it has seen.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value

from core.models import Params
from core.tasks import Task


class BlackBoxRegressor(nn.Module):
    """Transformer over tokens: support (x, y, 1) and query (x, 0, 0); queries see support only.

    Every token attends to all support tokens and to itself, so a query's prediction does not
    depend on which other queries are asked, and the set of support pairs has no order.
    """

    task_kind = "regression"
    context_norm = False
    static_first_step: tuple[str, ...] = ()
    reads_support = True  # adaptation is this forward pass: no inner steps

    def task_params(self, theta: Params, ways: int | None = None) -> Params:
        """The parameters a task uses: θ itself (they never change)."""
        return theta

    def __init__(self, width: int = 64, heads: int = 4, layers: int = 3):
        super().__init__()
        self.width, self.heads, self.layers = width, heads, layers
        self.embed = nn.Linear(3, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, 1)

    def forward(self, x_support: Tensor, y_support: Tensor, x_query: Tensor) -> Tensor:
        """(tasks, K, 1), (tasks, K, 1), (tasks, Q, 1) → ŷ_query (tasks, Q, 1)."""
        k, q = x_support.shape[-2], x_query.shape[-2]
        ones, zeros = torch.ones_like(x_support), torch.zeros_like(x_query)
        tokens = torch.cat([torch.cat([x_support, y_support, ones], -1),
                            torch.cat([x_query, zeros, zeros], -1)], -2)  # (tasks, K+Q, 3)
        index = torch.arange(k + q, device=tokens.device)
        blocked = (index[None, :] >= k) & (index[:, None] != index[None, :])  # (K+Q, K+Q)
        hidden = self.encoder(self.embed(tokens), mask=blocked)
        return self.head(hidden[..., k:, :])

    def spec(self) -> dict:
        return {"name": "BlackBoxRegressor", "width": self.width, "heads": self.heads, "layers": self.layers}


def blackbox_predict(model: BlackBoxRegressor, params: Params, x_support: Tensor, y_support: Tensor,
                     x_query: Tensor) -> Tensor:
    """ŷ at x_query for one task (2-D inputs) or a batch (3-D), from θ in a dict."""
    single = x_support.dim() == 2
    if single:
        x_support, y_support, x_query = x_support[None], y_support[None], x_query[None]
    prediction = functional_call(model, params, (x_support, y_support, x_query))
    return prediction[0] if single else prediction


def blackbox_query_losses(model: BlackBoxRegressor, params: Params, batch: Task) -> Tensor:
    """MSE on each task's query set: (tasks,)."""
    prediction = blackbox_predict(model, params, batch.x_support, batch.y_support, batch.x_query)
    return (prediction - batch.y_query).square().mean(dim=(-2, -1))


def blackbox_gradient(model: BlackBoxRegressor, theta: Params, batch: Task) -> tuple[Params, float]:
    """(∇_θ 1/T Σ_i MSE_query,i, that mean loss): plain supervised learning over tasks."""
    grads, value = grad_and_value(lambda p: blackbox_query_losses(model, p, batch).mean())(theta)
    return grads, float(value)
