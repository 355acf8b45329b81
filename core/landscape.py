"""Paths through parameter space in 2-D, over an objective on that plane.

`adaptation_landscape`: the inner loop's path θ → φ_1 → … → φ_S over the support loss.
`meta_landscape`: meta-training's path θ_0 → θ_1 → … over the meta-loss 1/T Σ_i L_query,i(φ_i(θ)).
Both planes are spanned by the two principal components of the visited parameters (PCA around
their mean); where the path has fewer than two directions, seeded random directions complete the
basis.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import vmap

from core.inner import InnerConfig, trajectory, ways_of
from core.models import Params, loss
from core.tasks import Task


@dataclass
class Landscape:
    path: list[list[float]]  # (points, 2): the path's parameters in plane coordinates
    a: list[float]  # grid coordinates along the first direction
    b: list[float]  # grid coordinates along the second direction
    loss: list[list[float]]  # the objective on the grid, loss[j][i] at (a[i], b[j])
    explained: list[float]  # fraction of the path's variance along each direction (0 for random ones)
    path_loss: list[float]  # the objective at each point of the path itself


def _basis(centered: Tensor, generator: torch.Generator) -> tuple[Tensor, list[float]]:
    """Two orthonormal directions (2, P): principal components, completed at random."""
    _, singular, vh = torch.linalg.svd(centered, full_matrices=False)
    total = float(singular.square().sum())
    keep = [i for i in range(min(2, len(singular))) if singular[i] > 1e-9 * max(float(singular[0]), 1e-30)]
    directions = [vh[i] for i in keep]
    explained = [float(singular[i].square()) / total for i in keep]
    while len(directions) < 2:
        candidate = torch.randn(centered.shape[1], generator=generator, dtype=centered.dtype)
        for d in directions:
            candidate = candidate - (candidate @ d) * d
        directions.append(candidate / candidate.norm())
        explained.append(0.0)
    return torch.stack(directions), explained


def plane_landscape(points: list[Params], objective: Callable[[Params], Tensor], resolution: int = 25,
                    margin: float = 0.35, seed: int = 0) -> Landscape:
    """Project `points` onto their top-2 principal plane and evaluate `objective` (a function of one
    parameter dict, run under vmap) on a resolution × resolution grid there."""
    keys = list(points[0])
    shapes = [points[0][k].shape for k in keys]
    dtype = points[0][keys[0]].dtype
    flat = torch.stack([torch.cat([p[k].detach().reshape(-1) for k in keys]) for p in points]).double()
    center = flat.mean(0)
    directions, explained = _basis(flat - center, torch.Generator().manual_seed(seed))
    path = (flat - center) @ directions.T  # (points, 2)
    low, high = path.min(0).values, path.max(0).values
    span = torch.clamp(high - low, min=max(float(path.abs().max()), 0.05 * float(center.norm()), 1e-3))
    a = torch.linspace(float(low[0] - margin * span[0]), float(high[0] + margin * span[0]), resolution, dtype=torch.float64)
    b = torch.linspace(float(low[1] - margin * span[1]), float(high[1] + margin * span[1]), resolution, dtype=torch.float64)
    grid_b, grid_a = torch.meshgrid(b, a, indexing="ij")
    grid = center + grid_a.reshape(-1, 1) * directions[0] + grid_b.reshape(-1, 1) * directions[1]

    def at(vector: Tensor) -> Tensor:
        parts = torch.split(vector.to(dtype), [s.numel() for s in shapes])
        return objective({k: part.reshape(s) for k, part, s in zip(keys, parts, shapes)})

    with torch.no_grad():
        surface = vmap(at, chunk_size=128)(grid).reshape(resolution, resolution)
        on_path = vmap(at, chunk_size=128)(flat)
    return Landscape(path=path.tolist(), a=a.tolist(), b=b.tolist(), loss=surface.double().tolist(),
                     explained=explained, path_loss=on_path.double().tolist())


def adaptation_landscape(model: nn.Module, theta: Params, task: Task, cfg: InnerConfig, resolution: int = 25,
                         margin: float = 0.35, seed: int = 0) -> Landscape:
    """φ_0..φ_S on their principal plane, over L_support(φ) of the task.

    Reruns the one inner loop (first order: only the values of φ_k matter), so it needs nothing
    from the UI but the task and the config.
    """
    theta = {key: value.detach() for key, value in theta.items()}
    phis = trajectory(model, theta, task.x_support, task.y_support, replace(cfg, first_order=True), ways_of(task),
                      functional=False).phis
    return plane_landscape(phis, lambda phi: loss(model, phi, task.x_support, task.y_support), resolution, margin,
                           seed)


def meta_landscape(model: nn.Module, thetas: list[Params], batch: Task, cfg: InnerConfig, resolution: int = 21,
                   margin: float = 0.35, seed: int = 0) -> Landscape:
    """θ_0, θ_1, … (meta-training's path) on their principal plane, over the meta-loss of `batch`:

        L_meta(θ) = 1/T Σ_i L_query,i(φ_i(θ)),   φ_i = S inner steps from θ on task i's support set
    """
    ways = ways_of(batch[0])

    def meta_loss(theta: Params) -> Tensor:
        total = 0.0
        for i in range(len(batch)):
            task = batch[i]
            path = trajectory(model, theta, task.x_support, task.y_support, cfg, ways, x_query=task.x_query,
                              keep=())
            total = total + path.query_metrics(cfg.steps, task.y_query)[0]
        return total / len(batch)

    return plane_landscape([{k: v.detach() for k, v in theta.items()} for theta in thetas], meta_loss, resolution,
                           margin, seed)
