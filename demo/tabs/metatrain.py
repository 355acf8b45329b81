"""Tab "Meta-train": meta-train θ from scratch in the page, one algorithm or two side by side, and watch the
meta-loss fall and f(x; θ) learn to adapt: the sinusoid MLP anywhere, Conv4 on Omniglot episodes on a CUDA device."""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from functools import partial
from typing import TYPE_CHECKING

import gradio as gr

import core
from core.registry import META_GRADIENTS, default_model, inner_config
from demo import inputs, plots
from demo.common import DeviceView, at_once, checked_numbers, gpu, seed_box, slider
from demo.errors import excerpt
from demo.messages import Problem, text
from demo.plot_view import PlotView
from demo.serving import COMPUTE, LIGHT, STATE_TTL_S, computes
from demo.session import RUN_LIMIT_S, Playback, stop
from demo.data import OmniglotImages
from demo.store import CheckpointStore

if TYPE_CHECKING:
    import torch

    from core.training import TrainState

NONE = "none"  # the key of "no second algorithm"
TASKS = ("sinusoid", "omniglot")  # keys of the task families to meta-train
CHARACTER_ALGORITHMS = ("fomaml", "anil", "reptile")  # Conv4 in the page: first order or the head only
CHARACTER_CAPS = {"meta_batch": 16, "steps": 5}  # Conv4's caps, below the sinusoid's sliders
CHARACTER_EPISODES = {"ways": 5, "support": 1, "query": 5, "inner_lr": 0.4}  # 5-way 1-shot, the checkpoints' α
CHUNK = 25  # iterations per streamed update (and per validation)
VALIDATION_TASKS = 20  # fixed validation tasks, validated every CHUNK iterations
SHOWN_TASKS = 3  # validation tasks drawn as f(x; θ) and f(x; φ)
GRID = 100


def algorithms_of(first, second) -> tuple[str, ...]:
    """The algorithms to train: one, or two side by side; a Problem naming an unknown one."""
    for choice in (first, second):
        if choice != NONE and choice not in META_GRADIENTS:
            raise Problem("error.unknown_choice", label=text("control.algorithm"), value=excerpt(choice),
                          choices=", ".join(META_GRADIENTS))
    if first == NONE:
        raise Problem("metatrain.need_one")
    return (first,) if second in (NONE, first) else (first, second)


@gpu
def train_chunk(cfg, algorithms: tuple[str, ...], state: TrainState | None, until: int, device,
                path: list | None = None, data=None) -> dict:
    """Meta-iterations up to `until` (validated there), computed at once: the records' numbers, the state to go
    on from, and for the first algorithm f(x; θ), f(x; φ) on the shown validation tasks and its θ path so far
    (`path`, θ at the end of each earlier chunk, θ_0 first) with this chunk's θ′ over their meta-loss."""
    import torch

    rows, last = [], None
    for record in core.training.meta_train(cfg, algorithms, data=data, device=device, resume=state):
        if record.losses:
            rows.append({"iteration": record.iteration, "losses": record.losses, "seconds": dict(record.seconds)})
        if record.state is not None or record.iteration >= until:
            last = record
            if record.iteration >= until or record.last:
                break
    if cfg.task != "sinusoid":  # Conv4: the validation accuracy says how it goes
        return {"rows": rows, "state": last.state, "validation": last.validation, "iteration": last.iteration,
                "last": last.last, "path": None}
    theta = {key: value.detach().to(device) for key, value in last.state.theta[algorithms[0]].items()}
    model = _model(cfg, algorithms[0], device)
    path = [*(path or [core.models.params(model, device=device)]), theta]
    grid = torch.linspace(*inputs.X_RANGE, GRID, device=device).reshape(-1, 1)
    tasks_of = core.tasks.SinusoidDistribution(support=cfg.support, query=cfg.query)
    shown = tasks_of.sample(SHOWN_TASKS, core.device.generator(cfg.seed + 99))
    inner = inner_config(algorithms[0], cfg.inner_lr, cfg.train_steps)
    curves = []
    for i in range(SHOWN_TASKS):
        task = shown[i].to(device)
        records = list(core.trace.trace_records(model, path[-1], task, inner, grid))
        curves.append({"support": (task.x_support.flatten().tolist(), task.y_support.flatten().tolist()),
                       "before": records[0].predictions, "after": records[-1].predictions})
    landscape = asdict(core.landscape.meta_landscape(model, path, shown.to(device), inner))
    return {"rows": rows, "state": last.state, "validation": last.validation, "iteration": last.iteration,
            "last": last.last, "grid": grid.flatten().tolist(), "curves": curves, "landscape": landscape,
            "path": [{k: v.cpu() for k, v in theta.items()} for theta in path]}


def characters_problem(device: torch.device, algorithms: tuple[str, ...]) -> Problem | None:
    """Why Conv4 cannot be meta-trained here with these algorithms, or None when it can."""
    if device.type != "cuda":
        return Problem("metatrain.characters_cuda", device=core.device.describe_device(device))
    other = [name for name in algorithms if name not in CHARACTER_ALGORITHMS]
    if other:
        return Problem("metatrain.characters_algorithms", algorithm=text(f"algorithm.{other[0]}"),
                       choices=", ".join(text(f"algorithm.{name}") for name in CHARACTER_ALGORITHMS))
    return None


def training_config(task: str, algorithms: tuple[str, ...], meta_batch: int, inner_lr: float, meta_lr: float,
                    steps: int, iterations: int, seed: int):
    """The TrainConfig of a run in the page: the sliders' values, and for Conv4 its caps and episode shape."""
    from core.training import default_config

    common = dict(algorithm=algorithms[0], iterations=iterations, meta_lr=meta_lr, validate_every=CHUNK,
                  validation_tasks=VALIDATION_TASKS, seed=seed, model=default_model(task, algorithms[0]).spec())
    if task == "sinusoid":
        return default_config("sinusoid", meta_batch=meta_batch, inner_lr=inner_lr, train_steps=steps,
                              test_steps=steps, strategy="vmap", **common)
    steps = min(steps, CHARACTER_CAPS["steps"])
    return default_config("omniglot", meta_batch=min(meta_batch, CHARACTER_CAPS["meta_batch"]), train_steps=steps,
                          test_steps=steps, strategy="loop", **CHARACTER_EPISODES, **common)


def _model(cfg, algorithm, device):
    return core.training.build_run_model(replace(cfg, algorithm=algorithm))[0].to(device)


@computes
def meta_train_handler(store: CheckpointStore, first, second, meta_batch, inner_lr, meta_lr, steps, iterations,
                       seed, task="sinusoid", playback: Playback | None = None, omniglot: OmniglotImages | None = None):
    """Stream an update every CHUNK iterations: progress, the meta-loss against iterations and wall time, and
    (sinusoid) θ's path over the meta-loss and f(x; θ), f(x; φ) on fixed validation tasks, or (Omniglot) the
    validation accuracy; the last θ stays in the session."""
    algorithms = algorithms_of(first, second)
    meta_batch, inner_lr, meta_lr, steps, iterations, seed = checked_numbers(
        "metatrain", meta_batch=meta_batch, inner_lr=inner_lr, meta_lr=meta_lr, steps=steps, iterations=iterations,
        seed=seed)
    if task not in TASKS:
        raise Problem("error.unknown_choice", label=text("metatrain.task.label"), value=excerpt(task),
                      choices=", ".join(TASKS))
    device, data = store.device, None
    if task == "omniglot":
        problem = characters_problem(device, algorithms)
        if problem:
            raise problem
        data = (omniglot or OmniglotImages()).characters("background")  # a Problem when they cannot be had
    cfg = training_config(task, algorithms, meta_batch, inner_lr, meta_lr, steps, iterations, seed)
    playback = playback or Playback()
    playback.start()
    labels = {name: text(f"algorithm.{name}") for name in algorithms}
    history = {"iteration": [], "losses": {name: [] for name in algorithms}, "seconds": {name: [] for name in algorithms},
               "validated": [], "accuracy": {name: [] for name in algorithms}}
    state, path, began = None, None, time.perf_counter()
    ending = None
    offset = {name: 0.0 for name in algorithms}  # each chunk counts its own seconds from 0
    while True:
        until = min((state.iteration if state else 0) + CHUNK, iterations)
        chunk = train_chunk(cfg, algorithms, state, until, device, path, data)
        state, path = chunk["state"], chunk["path"]
        for row in chunk["rows"]:
            history["iteration"].append(row["iteration"])
            for name in algorithms:
                history["losses"][name].append(row["losses"][name])
                history["seconds"][name].append(offset[name] + row["seconds"][name])
        offset = {name: history["seconds"][name][-1] for name in algorithms}
        if chunk["validation"]:
            history["validated"].append(chunk["iteration"])
            for name in algorithms:
                history["accuracy"][name].append(chunk["validation"][name]["mean"])
        elapsed = time.perf_counter() - began
        rate = state.iteration / max(elapsed, 1e-9)
        trained = {"theta": state.theta, "algorithm": algorithms[0], "config": vars(cfg),
                   "iterations": state.iteration, "device": core.device.describe_device(device)}
        progress = text("metatrain.progress", bar=progress_bar(state.iteration, iterations), done=state.iteration,
                        total=iterations, rate=rate, eta=(iterations - state.iteration) / max(rate, 1e-9),
                        device=core.device.describe_device(device))
        finished = chunk["last"] or state.iteration >= iterations
        if playback.stopped:
            ending = text("metatrain.stopped", iterations=state.iteration)
        elif time.perf_counter() - playback.started > RUN_LIMIT_S:
            ending = text("metatrain.time_limit", seconds=RUN_LIMIT_S, iterations=state.iteration)
        status = progress + (" " + ending if ending else " " + text("metatrain.done") if finished else "")
        if task == "sinusoid":
            plane = plots.path_figure(chunk["landscape"], len(path), ("θ₀", "θ" + plots.subscript(state.iteration)),
                                      text("figure.meta_path_title", algorithm=labels[algorithms[0]]),
                                      text("figure.meta_loss_surface"))
            shown = plots.validation_figure(chunk, labels[algorithms[0]])
        else:
            plane, shown = None, plots.accuracy_figure(history, labels)
        yield status, plots.training_figure(history, labels), plane, shown, trained
        if finished or ending:
            return


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """done of total as a bar of `width` blocks: ▰▰▰▱▱."""
    filled = round(width * done / max(total, 1))
    return "▰" * filled + "▱" * (width - filled)


def stop_training(playback: Playback) -> None:
    """Stop keeps what was learned: the run ends after the chunk of iterations it is computing."""
    stop(playback)


def use_trained(trained: dict | None):
    """Carry the session's trained θ into the other tabs (their θ choices read it)."""
    if not trained:
        raise Problem("metatrain.nothing_yet")
    return trained, text("metatrain.carried", algorithm=text(f"algorithm.{trained['algorithm']}"),
                         iterations=trained["iterations"])


def caps(device: torch.device | None = None) -> str:
    """The caps of a run in the page; with a device, what it can train on characters (on CUDA) or why it cannot."""
    if device is None:
        return text("metatrain.caps", seconds=RUN_LIMIT_S)
    if device.type == "cuda":
        choices = ", ".join(text(f"algorithm.{name}") for name in CHARACTER_ALGORITHMS)
        return caps() + " " + text("metatrain.characters_caps", choices=choices, **CHARACTER_CAPS, **CHARACTER_EPISODES)
    return caps() + " " + text("metatrain.characters_cuda", device=core.device.describe_device(device))


def device_view(device: torch.device) -> tuple:
    """The choice of task, offered on a CUDA device only, and the caps line for `device`."""
    return gr.update(visible=device.type == "cuda"), caps(device)


def build(store: CheckpointStore, shared: dict) -> DeviceView:
    """The tab's components and events; the θ it carries over goes into `shared`. Returns its choice of task and
    caps line, which a page sets for the server's device once loaded."""
    choices = [(text(f"algorithm.{name}"), name) for name in META_GRADIENTS]
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=400, elem_classes="controls"):
            with gr.Row():
                first = gr.Dropdown(choices, value="maml", label=text("metatrain.first.label"),
                                    elem_id="metatrain-first")
                second = gr.Dropdown([(text("metatrain.none"), NONE), *choices], value="fomaml",
                                     label=text("metatrain.second.label"), elem_id="metatrain-second")
            task = gr.Radio([(text(f"metatrain.task.{key}"), key) for key in TASKS], value=TASKS[0], visible=False,
                            label=text("metatrain.task.label"), elem_id="metatrain-task")
            with gr.Row():
                meta_batch, inner_lr = slider("metatrain.meta_batch"), slider("metatrain.inner_lr")
            with gr.Row():
                meta_lr, steps = slider("metatrain.meta_lr"), slider("metatrain.steps")
            with gr.Row():
                iterations, seed = slider("metatrain.iterations"), seed_box("metatrain.seed")
            with gr.Row():
                train = gr.Button(text("metatrain.train"), variant="primary", elem_id="metatrain-train", min_width=90)
                stop_button = gr.Button(text("control.stop"), variant="stop", elem_id="metatrain-stop", min_width=90)
                use = gr.Button(text("metatrain.use"), elem_id="metatrain-use", min_width=90)
            status = gr.Markdown(elem_id="metatrain-status")
        with gr.Column(scale=1):
            losses = PlotView(plots.empty_figure(text("metatrain.losses.empty")), label=text("metatrain.losses.label"),
                              elem_id="metatrain-losses")
            caps_line = gr.Markdown(caps(), elem_classes="hint", elem_id="metatrain-caps")
    with gr.Row():
        plane = PlotView(label=text("metatrain.plane.label"), elem_id="metatrain-plane", scale=2)
        tasks = PlotView(label=text("metatrain.tasks.label"), elem_id="metatrain-tasks", scale=3)
    with gr.Accordion(text("metatrain.about"), open=False):
        gr.Markdown(text("metatrain.intro") + "\n\n" + text("metatrain.second.info"))
    trained = gr.State(None, time_to_live=STATE_TTL_S)
    carried = shared["trained_theta"]
    playback = gr.State(Playback())
    train.click(partial(meta_train_handler, store, omniglot=shared["omniglot"]),
                [first, second, meta_batch, inner_lr, meta_lr, steps, iterations, seed, task, playback],
                [status, losses, plane, tasks, trained], api_name="meta_train", show_progress="hidden", **COMPUTE)
    stop_button.click(at_once(stop_training), playback, None, api_name=False, queue=False)
    use.click(use_trained, trained, [carried, status], api_name="use_trained", **LIGHT)
    return DeviceView([task, caps_line], device_view)
