"""Tab "Full vs first-order": five meta-gradients from one θ and one batch, their directions, sizes, one
meta-step's effect, and their cost measured live."""
from __future__ import annotations

import math
import time
from functools import partial
from typing import TYPE_CHECKING

import gradio as gr

import core
from core.episodes import EpisodeConfig
from core.registry import build_model, inner_config
from demo import inputs, plots
from demo.common import checked_numbers, gpu, seed_box, slider, trained_model
from demo.errors import excerpt
from demo.limits import LIMITS
from demo.messages import Problem, text
from demo.plot_view import PlotView
from demo.serving import COMPUTE, LIGHT, computes
from demo.data import OmniglotImages
from demo.store import CheckpointStore

if TYPE_CHECKING:
    from core.tasks import Task

BATCHES = ("sampled", "mine", "omniglot", "episode")  # keys of the task-batch choices
FAMILIES = {"sampled": "sinusoid", "mine": "sinusoid", "omniglot": "omniglot", "episode": "omniglot"}
EPISODE = EpisodeConfig(ways=5, shots=1, queries=5)  # the sampled character episodes
MAX_EPISODES = 4  # sampled character episodes in one batch
THETAS = ("shipped", "random", "trained")  # keys of the θ choices
MAX_EPISODE_SWEEP = 5  # the characters' cost sweep stops at this S
EFFECT_TASKS = 3  # tasks drawn in the meta-step's effect
GRID = 100  # x-grid of the effect's curves
OUTPUTS = 8  # status, table, cosines, plane, effect, cost, graph, agreement


def method_labels() -> dict[str, str]:
    return {"theta": text("method.theta"), "imaml": text("method.imaml"),
            **{name: text(f"algorithm.{name}") for name in core.compare.METHODS if name != "imaml"}}


def task_batch(source, tasks, seed, sinusoid_run, character_support, omniglot: OmniglotImages | None = None
               ) -> tuple[str, Task, str]:
    """(task family, batch, a note about it) from the person's choice, or a Problem saying what is missing."""
    match source:
        case "sampled":
            tasks_of = core.tasks.SinusoidDistribution(support=10, query=10)
            batch = tasks_of.sample(tasks, core.device.generator(seed))
            return "sinusoid", batch, ""
        case "omniglot":
            chars = (omniglot or OmniglotImages()).characters("evaluation")  # a Problem when they cannot be had
            count = min(tasks, MAX_EPISODES)
            batch = core.omniglot.sample_episodes(chars, EPISODE, count, core.device.generator(seed))
            return "omniglot", batch, text("gradients.sampled_episodes", count=count, ways=EPISODE.ways,
                                           shots=EPISODE.shots, queries=EPISODE.queries)
        case "mine":
            if not sinusoid_run or not sinusoid_run.get("query"):
                raise Problem("gradients.no_task")
            support, query = sinusoid_run["support"], sinusoid_run["query"]
            note = "" if query[0] else text("gradients.click_task")
            query = query if query[0] else support
            task = core.tasks.task_from_points(*support, *query, inputs.point_rules())
            return "sinusoid", core.tasks.stack_tasks([task]), note
        case "episode":
            episode, ways, split = inputs.character_episode(character_support or [])
            if episode is None:
                raise Problem("gradients.no_episode")
            note = text("gradients.episode_note", ways=ways,
                        note=text("gradients.episode_split" if split else "gradients.episode_same"))
            return "omniglot", core.tasks.stack_tasks([episode]), note
    raise Problem("error.unknown_choice", label=text("gradients.batch.label"), value=excerpt(source),
                  choices=", ".join(BATCHES))


def starting_theta(store: CheckpointStore, family: str, choice, seed: int, trained: dict | None):
    """(model, θ) from the shipped MAML checkpoint of the family, a fresh initialisation from `seed`, or the θ
    this session meta-trained for that family."""
    if choice == "trained":
        return trained_model(trained, store.device, family)[:2]
    model, theta, card = store.get(family, "maml")
    if choice == "shipped":
        return model, theta
    if choice != "random":
        raise Problem("error.unknown_choice", label=text("gradients.theta.label"), value=excerpt(choice),
                      choices=", ".join(THETAS))
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = build_model(card["config"]["model"])
    return fresh.to(store.device), core.models.params(fresh, device=store.device)


def family_inner_lr(store: CheckpointStore, source):
    """α moves to the shipped MAML checkpoint's α of the chosen batch's task family (0.01 or 0.4)."""
    family = FAMILIES.get(source)
    if family is None or "maml" not in store.available(family):
        return gr.skip()
    return gr.update(value=store.card(family, "maml")["config"]["inner_lr"])


@gpu
def compute_directions(model, theta, batch: Task, inner_lr: float, steps: int, meta_lr: float) -> dict:
    """Everything but the sweeps: each method's gradient, its comparison with MAML's, one meta-step, the graph."""
    from core.compare import (METHODS, autograd_graph, compare_gradients, hessian_term, measure_cost, meta_gradients,
                              meta_step_effect)
    from core.device import describe_device
    from core.tasks import stack_tasks

    device = next(iter(theta.values())).device
    gradients, costs = {}, {}
    for name in METHODS:
        gradients[name], costs[name] = measure_cost(lambda: meta_gradients(model, theta, batch, inner_lr, steps,
                                                                           (name,))[name], device, repeats=1)
    comparison = {name: vars(row) for name, row in compare_gradients(gradients).items()}
    effect = meta_step_effect(model, theta, batch, gradients, meta_lr, inner_lr, steps)
    result = {"comparison": comparison, "costs": {name: vars(cost) for name, cost in costs.items()},
              "query_loss": {name: row["query_loss"] for name, row in effect.items()},
              "plane": _plane(gradients), "device": describe_device(device)}
    if steps == 1:
        parts = hessian_term(model, theta, batch[0], inner_lr)
        single = meta_gradients(model, theta, stack_tasks([batch[0]]), inner_lr, 1, ("maml",))["maml"]
        result["decomposition"] = {
            "gap": max(float((parts["maml"][k] - single[k]).abs().max()) for k in single),
            "scale": max(float(v.abs().max()) for v in single.values()),
            "term": math.sqrt(sum(float(v.double().square().sum()) for v in parts["hessian_term"].values()))}
    result["graph"] = {"steps": steps, **{label: vars(autograd_graph(model, theta, batch[0], inner_lr, steps, flag))
                                          for label, flag in (("with", True), ("without", False))}}
    if model.task_kind == "regression":
        result["effect"] = _effect_curves(model, effect, batch, inner_lr, steps, device)
    return result


@gpu
def compute_sweeps(model, theta, batch: Task, inner_lr: float, max_steps: int) -> dict:
    """The cost of every method at S = 1 … max_steps, and cos(g_MAML, g_FO) over S and α."""
    from core.compare import cost_sweep, first_order_agreement

    steps = list(range(1, max_steps + 1))
    sweep = cost_sweep(model, theta, batch, inner_lr, steps,
                       strategy="vmap" if model.task_kind == "regression" else "loop")
    lrs = sorted({inner_lr / 4, inner_lr, min(4 * inner_lr, LIMITS["gradients.inner_lr"].high)} - {0.0})
    agreement = {"inner_lrs": lrs, "steps": steps, "cosines": first_order_agreement(model, theta, batch, lrs, steps)}
    return {"sweep": {"steps": sweep.steps, "seconds": sweep.seconds, "peak_bytes": sweep.peak_bytes,
                      "memory_slope": sweep.memory_slope}, "agreement": agreement}


def _plane(gradients: dict) -> dict[str, tuple[float, float]]:
    """Each gradient's coordinates on the orthonormal basis of span(g_MAML, g_FO) (Gram–Schmidt)."""
    import torch

    keys = list(gradients["maml"])
    flat = {name: torch.cat([g[k].double().reshape(-1) for k in keys]) for name, g in gradients.items()}
    first = flat["maml"] / flat["maml"].norm().clamp_min(1e-300)
    rest = flat["fomaml"] - (flat["fomaml"] @ first) * first
    second = rest / rest.norm() if float(rest.norm()) > 1e-12 * float(flat["fomaml"].norm()) else torch.zeros_like(rest)
    return {name: (float(v @ first), float(v @ second)) for name, v in flat.items()}


def _effect_curves(model, effect: dict, batch: Task, inner_lr: float, steps: int, device) -> dict:
    """f(grid; θ′) before adapting and f(grid; φ′) after S steps from it, for each θ′, on the first
    EFFECT_TASKS tasks of the batch."""
    import torch

    grid = torch.linspace(*inputs.X_RANGE, GRID, device=device, dtype=batch.x_support.dtype).reshape(-1, 1)
    cfg = inner_config("maml", inner_lr, steps)
    tasks = []
    for i in range(min(EFFECT_TASKS, len(batch))):
        task = batch[i]
        records = {name: list(core.trace.trace_records(model, row["theta"], task, cfg, grid))
                   for name, row in effect.items()}
        tasks.append({"support": (task.x_support.flatten().tolist(), task.y_support.flatten().tolist()),
                      "before": {name: steps[0].predictions for name, steps in records.items()},
                      "after": {name: steps[-1].predictions for name, steps in records.items()}})
    return {"grid": grid.flatten().tolist(), "tasks": tasks}


def table(result: dict) -> str:
    """The numbers behind the plots, as a Markdown table and the decomposition and graph lines."""
    labels = method_labels()
    rows = [text("gradients.table_head"),
            text("gradients.theta_row", method=labels["theta"], loss=result["query_loss"]["theta"])]
    for name, row in result["comparison"].items():
        cost = result["costs"][name]
        cosine = f"{row['cosine']:.4f}" if math.isfinite(row["cosine"]) else text("gradients.no_cosine")
        rows.append(text("gradients.table_row", method=labels[name], norm=row["norm"], cosine=cosine,
                         difference=row["difference_norm"], loss=result["query_loss"][name],
                         ms=1000 * cost["seconds"], kib=cost["peak_bytes"] / 1024))
    lines = ["\n".join(rows)]
    theta_loss = result["query_loss"]["theta"]
    losses = {k: v for k, v in result["query_loss"].items() if k != "theta" and math.isfinite(v)}
    best = min(losses, key=losses.get, default=None)
    lines.append(text("gradients.best_step", method=labels[best], loss=losses[best], theta_loss=theta_loss)
                 if best and losses[best] < theta_loss else text("gradients.no_step_helped", theta_loss=theta_loss))
    decomposition = result.get("decomposition")
    lines.append(text("gradients.decomposition", **decomposition) if decomposition
                 else text("gradients.decomposition_only_one"))
    graph = result["graph"]
    lines.append(text("gradients.graph_numbers", steps=graph["steps"], with_nodes=graph["with"]["nodes"],
                      with_kib=graph["with"]["saved_bytes"] / 1024, without_nodes=graph["without"]["nodes"],
                      without_kib=graph["without"]["saved_bytes"] / 1024))
    return "\n\n".join(lines)


@computes
def compare_gradients_handler(store: CheckpointStore, source, theta_choice, steps, inner_lr, tasks, meta_lr,
                              sweep_steps, seed, sinusoid_run=None, character_support=None, trained=None,
                              omniglot: OmniglotImages | None = None):
    """Stream two updates: directions, sizes, the meta-step and the graph; then the cost sweeps."""
    steps, inner_lr, tasks, meta_lr, sweep_steps, seed = checked_numbers(
        "gradients", steps=steps, inner_lr=inner_lr, tasks=tasks, meta_lr=meta_lr, sweep=sweep_steps, seed=seed)
    family, batch, note = task_batch(source, tasks, seed, sinusoid_run, character_support, omniglot)
    if family == "omniglot":
        sweep_steps = min(sweep_steps, MAX_EPISODE_SWEEP)
    model, theta = starting_theta(store, family, theta_choice, seed, trained)
    batch = batch.to(store.device, next(iter(theta.values())).dtype)
    labels = method_labels()
    began = time.perf_counter()
    result = compute_directions(model, theta, batch, inner_lr, steps, meta_lr)
    first = time.perf_counter() - began
    effect = plots.effect_figure(result["effect"], labels) if "effect" in result else None
    yield (f"{note} {text('gradients.working', seconds=first, steps=sweep_steps)}".strip(), table(result),
           plots.cosine_figure(result["comparison"], labels), plots.arrows_figure(result["plane"], labels), effect,
           gr.skip(), plots.graph_figure(result["graph"]), gr.skip())
    sweeps = compute_sweeps(model, theta, batch, inner_lr, sweep_steps)
    total = time.perf_counter() - began
    yield (f"{note} {text('gradients.done', device=result['device'], seconds=total, sweep=total - first)}".strip(),
           gr.skip(), gr.skip(), gr.skip(), gr.skip(), plots.cost_figure(sweeps["sweep"], labels), gr.skip(),
           plots.agreement_figure(sweeps["agreement"]))


def build(store: CheckpointStore, shared: dict) -> None:
    """The tab's components and events; `shared` holds the other tabs' session states it reads."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=400, elem_classes="controls"):
            source = gr.Radio([(text(f"batch.{key}"), key) for key in BATCHES], value=BATCHES[0],
                              label=text("gradients.batch.label"), elem_id="gradients-batch")
            theta = gr.Radio([(text(f"theta.{key}"), key) for key in THETAS], value=THETAS[0],
                             label=text("gradients.theta.label"), elem_id="gradients-theta")
            with gr.Row():
                steps, inner_lr = slider("gradients.steps"), slider("gradients.inner_lr")
            with gr.Row():
                tasks, meta_lr = slider("gradients.tasks"), slider("gradients.meta_lr")
            with gr.Row():
                sweep, seed = slider("gradients.sweep"), seed_box("gradients.seed")
                run = gr.Button(text("gradients.compare"), variant="primary", elem_id="gradients-compare",
                                min_width=120, scale=0)
            status = gr.Markdown(elem_id="gradients-status")
        with gr.Column(scale=1):
            cosines = PlotView(plots.empty_figure(text("gradients.cosines.empty")),
                               label=text("gradients.cosines.label"), elem_id="gradients-cosines")
            gr.Markdown(text("gradients.caps", steps=LIMITS["gradients.steps"].high,
                             tasks=LIMITS["gradients.tasks"].high, episodes=MAX_EPISODES,
                             sweep=LIMITS["gradients.sweep"].high, episode_sweep=MAX_EPISODE_SWEEP), elem_classes="hint")
    summary = gr.Markdown(elem_id="gradients-table")
    with gr.Row():
        plane = PlotView(label=text("gradients.plane.label"), elem_id="gradients-plane")
        graph = PlotView(label=text("gradients.graph.label"), elem_id="gradients-graph")
    effect = PlotView(label=text("gradients.effect.label"), elem_id="gradients-effect")
    with gr.Row():
        cost = PlotView(label=text("gradients.cost.label"), elem_id="gradients-cost", scale=3)
        agreement = PlotView(label=text("gradients.agreement.label"), elem_id="gradients-agreement", scale=2)
    gr.Markdown(text("gradients.graph_note"))
    with gr.Accordion(text("gradients.about"), open=False):
        gr.Markdown(text("gradients.intro") + "\n\n" + text("gradients.batch.info"),
                    latex_delimiters=[{"left": "$", "right": "$", "display": False}])
    source.change(partial(family_inner_lr, store), source, inner_lr, api_name=False, **LIGHT)
    run.click(partial(compare_gradients_handler, store, omniglot=shared["omniglot"]),
              [source, theta, steps, inner_lr, tasks, meta_lr, sweep, seed, shared["sinusoid_run"],
               shared["character_support"], shared["trained_theta"]],
              [status, summary, cosines, plane, effect, cost, graph, agreement], api_name="compare_gradients",
              show_progress="minimal", **COMPUTE)
