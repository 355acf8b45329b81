"""The adaptation path θ → φ_1 → … → φ_S in 2-D, over the support loss on that plane.

The plane is spanned by the two principal components of the visited parameters (PCA of
φ_0..φ_S around their mean); where the path has fewer than two directions (S < 2), seeded
random directions complete the basis.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn
from torch.func import vmap

from core.inner import InnerConfig, trajectory, ways_of
from core.models import Params, loss
from core.tasks import Task


@dataclass
class Landscape:
    path: list[list[float]]  # (S+1, 2): φ_k in plane coordinates
    a: list[float]  # grid coordinates along the first direction
    b: list[float]  # grid coordinates along the second direction
    loss: list[list[float]]  # L_support on the grid, loss[j][i] at (a[i], b[j])
    explained: list[float]  # fraction of the path's variance along each direction (0 for random ones)


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


def adaptation_landscape(model: nn.Module, theta: Params, task: Task, cfg: InnerConfig, resolution: int = 25,
                         margin: float = 0.35, seed: int = 0) -> Landscape:
    """Project φ_0..φ_S onto their top-2 principal plane and evaluate L_support on a grid there.

    Reruns the one inner loop (first order: only the values of φ_k matter), so it needs nothing
    from the UI but the task and the config.
    """
    ways = ways_of(task)
    theta = {key: value.detach() for key, value in theta.items()}
    watch = replace(cfg, first_order=True)
    phis = trajectory(model, theta, task.x_support, task.y_support, watch, ways, functional=False).phis
    keys = list(phis[0])
    shapes = [phis[0][k].shape for k in keys]
    flat = torch.stack([torch.cat([phi[k].detach().reshape(-1) for k in keys]) for phi in phis]).double()
    center = flat.mean(0)
    directions, explained = _basis(flat - center, torch.Generator().manual_seed(seed))
    path = (flat - center) @ directions.T  # (S+1, 2)
    low, high = path.min(0).values, path.max(0).values
    span = torch.clamp(high - low, min=max(float(path.abs().max()), 0.05 * float(center.norm()), 1e-3))
    a = torch.linspace(float(low[0] - margin * span[0]), float(high[0] + margin * span[0]), resolution, dtype=torch.float64)
    b = torch.linspace(float(low[1] - margin * span[1]), float(high[1] + margin * span[1]), resolution, dtype=torch.float64)
    grid_b, grid_a = torch.meshgrid(b, a, indexing="ij")
    points = center + grid_a.reshape(-1, 1) * directions[0] + grid_b.reshape(-1, 1) * directions[1]
    dtype = phis[0][keys[0]].dtype

    def support_loss(vector: Tensor) -> Tensor:
        parts = torch.split(vector.to(dtype), [s.numel() for s in shapes])
        params = {k: p.reshape(s) for k, p, s in zip(keys, parts, shapes)}
        return loss(model, params, task.x_support, task.y_support)

    with torch.no_grad():
        surface = vmap(support_loss, chunk_size=128)(points).reshape(resolution, resolution)
    return Landscape(path=path.tolist(), a=a.tolist(), b=b.tolist(), loss=surface.double().tolist(),
                     explained=explained)
