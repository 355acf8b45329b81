"""Small fixtures shared by the tests: tiny models and task batches in float64."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from core.device import generator
from core.models import Conv4, SinusoidMLP, params
from core.tasks import SinusoidDistribution, Task, stack_tasks


ROOT = Path(__file__).resolve().parents[1]


def figure(value):
    """The plotly figure a gr.Plot output shows: a go.Figure as it is, or the JSON of a PlotData (what the
    streamed figures are) read back by plotly with its validation, so a property plotly does not know fails."""
    import plotly.graph_objects as go
    from gradio.components.plot import PlotData

    if isinstance(value, PlotData):
        assert value.type == "plotly"
        return go.Figure(json.loads(value.plot))
    assert isinstance(value, go.Figure), type(value)
    return value


def is_still(value) -> bool:
    """Whether a streamed figure (a PlotData) is drawn as a still picture: plotly's staticPlot in its config."""
    return bool(json.loads(value.plot).get("config", {}).get("staticPlot", False))


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` from the project root, as a person runs a benchmark tool (the tests do not
    import bench)."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def tool_json(module: str, *args: str):
    """The JSON a tool prints with --json (its exit status must be 0)."""
    result = run_tool(module, *args, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


SHARED_OMNIGLOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"  # beside the checkout


def shared_omniglot() -> list[str]:
    """The real Omniglot archives in ../shared/data/omniglot (empty where they are not beside the project)."""
    return sorted(str(path) for path in SHARED_OMNIGLOT.glob("*.zip"))


def tiny_mlp(seed: int = 0, hidden: int = 8) -> tuple[nn.Module, dict]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SinusoidMLP(hidden=hidden).double()
    return model, params(model)


def tiny_conv(seed: int = 0, filters: int = 4) -> tuple[nn.Module, dict]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Conv4(filters=filters).double()
    return model, params(model)


def sinusoid_batch(tasks: int = 3, seed: int = 0, support: int = 5, query: int = 6) -> Task:
    return SinusoidDistribution(support=support, query=query).sample(tasks, generator(seed), dtype=torch.float64)


def pattern_episodes(tasks: int = 2, ways: int = 3, shots: int = 2, queries: int = 2, seed: int = 0,
                     noise: float = 0.3, dtype: torch.dtype = torch.float64) -> Task:
    """Episodes whose classes are distinct random 28×28 patterns; examples are noisy copies."""
    gen = generator(seed)
    episodes = []
    for _ in range(tasks):
        prototypes = (torch.rand(ways, 1, 28, 28, generator=gen, dtype=torch.float64) > 0.7).to(dtype)

        def examples(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
            labels = torch.arange(ways).repeat_interleave(per_class)
            x = prototypes[labels] + noise * torch.randn(len(labels), 1, 28, 28, generator=gen, dtype=torch.float64).to(dtype)
            return x, labels

        xs, ys = examples(shots)
        xq, yq = examples(queries)
        episodes.append(Task(xs, ys, xq, yq))
    return stack_tasks(episodes)
