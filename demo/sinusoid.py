"""Tab "Sinusoid": pick, draw or click a support set and watch f(x; φ_k) fit it step by step."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import gradio as gr
import torch

from core.blackbox import BlackBoxRegressor, blackbox_trace
from core.inner import AdaptationTrace, trace_adaptation
from core.landscape import adaptation_landscape
from core.meta import inner_config
from demo import inputs, plots
from demo.common import badge, checked_number, gpu, picture_file
from demo.errors import excerpt
from demo.playback import ENDINGS, MAX_DELAY_S, PAUSE_LIMIT_S, Playback, divergence_note, step_once, stop, toggle_pause
from demo.serving import COMPUTE, LIGHT, STATE_TTL_S, computes
from demo.store import LABELS, CheckpointStore, CheckpointUnavailable

SOURCES = ("Sine wave", "Draw a curve", "Click points")
MAX_STEPS = 100
GRID = 200  # points of the plotted x-grid
OUTPUTS = 7  # curves, losses, path, status, run state, replay slider, device badge
NO_CHANGE = (gr.skip(),) * OUTPUTS  # what a paused run streams while it waits

INTRO = r"""
### Few-shot regression: θ adapts to a task in a few gradient steps
Each task is a curve; the model sees only **K support points** of it. Starting from the meta-learned
initialisation $\theta$, the inner loop takes gradient steps on the support loss,
$$\phi_{k+1} = \phi_k - \alpha \nabla_{\phi} \mathcal{L}_{\text{support}}(\phi_k), \qquad \phi_0 = \theta,$$
and the query loss measures how well $\phi_k$ fits the rest of the curve. MAML chose $\theta$ so that
*this* loop works after one step (Finn et al., 2017): amplitudes 0.1–5, phases 0–π, x in [−5, 5].
"""


def build_task(source: str, amplitude, phase, shots, drawing, points, seed) -> inputs.CurveTask:
    """The task the person set up, or a gr.Error that says what to fix."""
    shots = checked_number(shots, "K (support points)", 1, 20, integer=True)
    seed = checked_number(seed, "seed", 0, 2**31 - 1, integer=True)
    try:
        if source == SOURCES[0]:
            amplitude = checked_number(amplitude, "amplitude", 0.1, 10.0)
            phase = checked_number(phase, "phase", 0.0, 2 * math.pi)
            return inputs.sine_task(amplitude, phase, shots, seed)
        if source == SOURCES[1]:
            return inputs.curve_task(drawing, shots, seed)
        if source == SOURCES[2]:
            return inputs.points_task(points)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    raise gr.Error(f"unknown support source {excerpt(source)}; choose one of {', '.join(SOURCES)}")


def render(trace: dict, step: int, support, curve, landscape: dict | None):
    """The three figures of `trace` at step k (used while streaming and when scrubbing)."""
    records = trace["records"]
    step = max(0, min(int(step), len(records) - 1))
    record = records[step]
    title = f"step {record['step']}: support loss {record['support_loss']:.3f}"
    if record["query_loss"] is not None:
        title += f", query loss {record['query_loss']:.3f}"
    curves = plots.sinusoid_figure(trace, step, support, curve, title)
    path = plots.landscape_figure(landscape, step) if landscape else None
    return curves, plots.loss_figure(trace, step), path


@gpu
@computes
def adapt_sinusoid(store: CheckpointStore, source, amplitude, phase, shots, drawing, points, algorithm,
                   inner_lr, steps, delay, seed, playback: Playback | None = None):
    """Stream one update per inner step: curves, losses, then the path over the loss surface."""
    curve_task = build_task(source, amplitude, phase, shots, drawing, points, seed)
    steps = checked_number(steps, "inner steps", 0, MAX_STEPS, integer=True)
    inner_lr = checked_number(inner_lr, "α (inner learning rate)", 0.0, 1.0)
    delay = checked_number(delay, "delay", 0.0, MAX_DELAY_S)
    try:
        model, theta, card = store.get("sinusoid", algorithm)
    except CheckpointUnavailable as error:
        raise gr.Error(str(error)) from None
    playback = playback or Playback()
    playback.start()
    task = curve_task.task.to(store.device)
    grid = torch.linspace(*inputs.X_RANGE, GRID, device=store.device).reshape(-1, 1)
    support = (task.x_support.flatten().tolist(), task.y_support.flatten().tolist())
    state = {"support": support, "curve": curve_task.curve, "landscape": None, "trace": None}
    status = f"{curve_task.note}"
    if isinstance(model, BlackBoxRegressor):
        trace = blackbox_trace(model, theta, task, grid).to_dict()
        state["trace"] = trace
        curves, losses, _ = render(trace, 0, support, curve_task.curve, None)
        yield (curves, losses, None, status + " The black box predicts in one forward pass: no inner steps.",
               state, gr.update(maximum=1, value=0, interactive=False), badge(store.device, None))
        return
    cfg = inner_config(algorithm, inner_lr, steps)
    trace = AdaptationTrace(config={"algorithm": algorithm, "inner_lr": inner_lr, "steps": steps},
                            grid=grid.flatten().tolist()).to_dict()
    state["trace"] = trace
    times, ending = [], None
    for record in trace_adaptation(model, theta, task, cfg, grid):
        trace["records"].append(record.__dict__.copy())
        if record.step:
            times.append(record.wall_time_s)
        curves, losses, _ = render(trace, record.step, support, curve_task.curve, None)
        yield (curves, losses, gr.skip(), status + f" Step {record.step} of {steps}.", state,
               gr.update(maximum=max(record.step, 1), value=record.step, interactive=False),
               badge(store.device, sum(times) / len(times) if times else None))
        if record.step < steps:
            ending = yield from playback.hold(delay, NO_CHANGE)
            if ending:
                status += " " + ENDINGS[ending]
                break
    done = len(trace["records"]) - 1
    if ending is None and done < steps:
        status += " " + divergence_note(trace["records"], "this task")
    landscape = adaptation_landscape(model, theta, task, replace(cfg, steps=done)).__dict__
    state["landscape"] = landscape
    curves, losses, path = render(trace, done, support, curve_task.curve, landscape)
    yield (curves, losses, path, status + f" Done: {done} step(s). Drag the slider to replay.", state,
           gr.update(maximum=max(done, 1), value=done, interactive=done > 0),
           badge(store.device, sum(times) / len(times) if times else None))


def scrub(state: dict | None, step):
    """Redraw the finished run at step k from the session's state, without recomputing."""
    if not state or not state.get("trace"):
        raise gr.Error("run Adapt first; the slider replays a finished run")
    step = checked_number(step, "step", 0, MAX_STEPS, integer=True)
    return render(state["trace"], step, state["support"], state["curve"], state["landscape"])


def click_point(points, event: gr.SelectData):
    """Add a point where the person clicked on the axes image, or remove the one clicked on."""
    rows = points.values.tolist() if hasattr(points, "values") else list(points or [])
    rows = [[float(x), float(y)] for x, y in rows if str(x) != "" and str(y) != ""]
    if event is None or not isinstance(event.index, (list, tuple)) or len(event.index) != 2:
        raise gr.Error("click on the plot to add a point")
    x, y = inputs.pixel_to_xy(*event.index)
    try:
        rows = inputs.toggle_point(rows, x, y)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return picture_file(inputs.axes_image(rows)), rows


def clear_points():
    return picture_file(inputs.axes_image([])), []


def show_source(source: str):
    return [gr.update(visible=source == name) for name in SOURCES]


def build(store: CheckpointStore) -> None:
    """The tab's components and events, rendered into the current Blocks."""
    algorithms = store.available("sinusoid")
    gr.Markdown(INTRO, latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                         {"left": "$", "right": "$", "display": False}])
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Support set",
                              info="A sine wave from the sliders, a curve you draw, or points you click.")
            with gr.Group(visible=True) as sine_box:
                with gr.Row():
                    amplitude = gr.Slider(0.1, 10.0, value=2.5, step=0.1, label="Amplitude A",
                                          info="Training range: 0.1 to 5. Above 5 is out of distribution.")
                    phase = gr.Slider(0.0, round(2 * math.pi, 2), value=1.0, step=0.05, label="Phase φ",
                                      info="Training range: 0 to π (3.14). Above is out of distribution.")
            with gr.Group(visible=False) as draw_box:
                canvas = gr.ImageEditor(
                    value={"background": inputs.axes_image(), "layers": [], "composite": None},
                    label="Draw a curve from left to right (any shape)",
                    sources=(), transforms=(), layers=False, canvas_size=inputs.CANVAS, fixed_canvas=True,
                    brush=gr.Brush(colors=["#111827"], default_color="#111827", default_size=4, color_mode="fixed"),
                    type="numpy", image_mode="RGBA", elem_id="curve-canvas")
            with gr.Group(visible=False) as click_box:
                click_image = gr.Image(inputs.axes_image(), label="Click to add a point; click a point to remove it",
                                      interactive=False, type="pil", elem_id="click-canvas", buttons=[])
                with gr.Row():
                    points = gr.Dataframe(headers=["x", "y"], datatype=["number", "number"], value=[], label="Points",
                                          column_count=(2, "fixed"), interactive=False, max_height=180)
                    clear = gr.Button("Clear points", size="sm")
            shots = gr.Slider(1, 20, value=10, step=1, label="K (support points)",
                              info="How many points the model may see. Click mode uses all clicked points.")
        with gr.Column(scale=2):
            algorithm = gr.Dropdown([(LABELS[a], a) for a in algorithms], value=algorithms[0] if algorithms else None,
                                    label="Algorithm", info="Which meta-trained initialisation θ to adapt.")
            checkpoint_note = gr.Markdown(store.note("sinusoid", algorithms[0] if algorithms else None),
                                          elem_id="sinusoid-checkpoint")
            inner_lr = gr.Slider(0.001, 0.1, value=0.01, step=0.001, label="α (inner learning rate)",
                                 info="Step size of each inner gradient step. MAML trained with 0.01.")
            steps = gr.Slider(0, MAX_STEPS, value=10, step=1, label="Inner steps S", elem_id="sinusoid-steps",
                              info="Gradient steps on the support set. MAML trained with 1.")
            with gr.Row():
                delay = gr.Slider(0.0, MAX_DELAY_S, value=0.15, step=0.05, label="Delay per step (s)",
                                  elem_id="sinusoid-delay",
                                  info=f"Slow the stream down. Pausing over {PAUSE_LIMIT_S:.0f} s ends the run.")
                seed = gr.Number(0, precision=0, minimum=0, label="Seed", info="Where the K points fall.")
            with gr.Row():
                adapt = gr.Button("Adapt", variant="primary", elem_id="sinusoid-adapt")
                pause = gr.Button("Pause", elem_id="sinusoid-pause")
                step_button = gr.Button("Step", elem_id="sinusoid-step")
                stop_button = gr.Button("Stop", variant="stop", elem_id="sinusoid-stop")
            status = gr.Markdown(elem_id="sinusoid-status")
            device = gr.Markdown(badge(store.device), elem_id="sinusoid-device")
    with gr.Row():
        curves = gr.Plot(label="f(x; φ_k)", elem_id="sinusoid-curves")
        losses = gr.Plot(label="losses", elem_id="sinusoid-losses")
    with gr.Row():
        path = gr.Plot(label="path", elem_id="sinusoid-path")
        with gr.Column():
            scrub_slider = gr.Slider(0, 1, value=0, step=1, label="Replay: inner step k", interactive=False,
                                     info="After a run, drag to see any step again (no recomputation).")
    run_state = gr.State(None, time_to_live=STATE_TTL_S)
    playback = gr.State(Playback())

    algorithm.change(partial(store.note, "sinusoid"), algorithm, checkpoint_note, api_name=False, **LIGHT)
    source.change(show_source, source, [sine_box, draw_box, click_box], api_name=False, **LIGHT)
    click_image.select(click_point, points, [click_image, points], api_name=False, **LIGHT)
    clear.click(clear_points, None, [click_image, points], api_name=False, **LIGHT)
    adapt.click(partial(adapt_sinusoid, store),
                [source, amplitude, phase, shots, canvas, points, algorithm, inner_lr, steps, delay, seed, playback],
                [curves, losses, path, status, run_state, scrub_slider, device], api_name="adapt_sinusoid",
                show_progress="hidden", **COMPUTE)  # the stream itself shows progress, step by step
    pause.click(toggle_pause, playback, pause, api_name=False, queue=False)
    step_button.click(step_once, playback, pause, api_name=False, queue=False)
    stop_button.click(stop, playback, pause, api_name=False, queue=False)
    scrub_slider.release(scrub, [run_state, scrub_slider], [curves, losses, path], api_name="replay_sinusoid",
                         **LIGHT)
