"""Tab "Sinusoid": pick, draw or click a support set and watch f(x; φ_k) fit it step by step."""
from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial

import gradio as gr

import core
from core.registry import inner_config
from demo import inputs, plots
from demo.brush import PICK_BRUSH_JS
from demo.common import (DeviceView, badge, checked_number, gpu, mean_step_time, picture_file, playback_buttons,
                         replay_range, seed_box, slider, trained_model, wire_playback)
from demo.errors import excerpt
from demo.messages import Problem, text
from demo.plot_view import PlotView
from demo.serving import COMPUTE, LIGHT, STATE_TTL_S, computes
from demo.session import PAUSE_LIMIT_S, Playback, divergence_note, ending_text, play
from demo.store import CheckpointStore, hints

SOURCES = ("sine", "draw", "click")  # keys of the support-set choices
GRID = 120  # points of the plotted x-grid
OUTPUTS = 7  # curves, losses, path, status, run state, replay slider, device badge
NO_CHANGE = (gr.skip(),) * OUTPUTS  # what a paused run streams while it waits
# the curve canvas without its strokes, its axes grid kept (the editor's own Clear removes the grid too, and setting
# its value from Python stalls it): undo everything, then redo the first step, which put the grid in
UNDO_STROKES_JS = """async () => {
    const button = (name) => document.querySelector(`#curve-canvas button[aria-label='${name}']`);
    const settle = () => new Promise((done) => setTimeout(done, 40));
    let undone = 0;
    while (button('Undo') && !button('Undo').disabled && undone < 500) { button('Undo').click(); undone++; await settle(); }
    if (undone) button('Redo').click(); }"""
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def build_task(source, amplitude, phase, shots, drawing, points, seed) -> inputs.CurveTask:
    """The task the person set up, or an error that says what to fix."""
    shots = checked_number(shots, "sinusoid.shots")
    seed = checked_number(seed, "sinusoid.seed")
    try:
        match source:
            case "sine":
                amplitude = checked_number(amplitude, "sinusoid.amplitude")
                phase = checked_number(phase, "sinusoid.phase")
                return inputs.sine_task(amplitude, phase, shots, seed)
            case "draw":
                return inputs.curve_task(drawing, shots, seed)
            case "click":
                return inputs.points_task(points)
    except Problem:
        raise
    except ValueError as error:  # the engine's check of the points
        raise gr.Error(str(error)) from None
    raise Problem("sinusoid.unknown_source", value=excerpt(source), choices=", ".join(SOURCES))


def render(state: dict, step: int):
    """The three figures of a run at step k (used while streaming and when scrubbing)."""
    trace, landscape = state["trace"], state["landscape"]
    records = trace["records"]
    step = max(0, min(int(step), len(records) - 1))
    record = records[step]
    if record["query_loss"] is None:
        title = text("figure.step", step=record["step"], support=record["support_loss"])
    else:
        title = text("figure.step_query", step=record["step"], support=record["support_loss"], query=record["query_loss"])
    curves = plots.sinusoid_figure(trace, step, state["support"], state["curve"], title)
    path = plots.landscape_figure(landscape, step) if landscape else None
    return curves, plots.loss_figure(trace, step), path


@gpu
def compute_trace(model, theta, task, cfg, grid) -> list[dict]:
    """Every record of the adaptation (computed at once, so playback never holds the GPU)."""
    return [asdict(record) for record in core.trace.trace_records(model, theta, task, cfg, grid)]


@gpu
def compute_landscape(model, theta, task, cfg) -> dict:
    """The path of the steps shown, over the support loss on its principal plane."""
    return asdict(core.landscape.adaptation_landscape(model, theta, task, cfg))


@computes
def adapt_sinusoid(store: CheckpointStore, source, amplitude, phase, shots, drawing, points, algorithm,
                   inner_lr, steps, delay, seed, playback: Playback | None = None, trained: dict | None = None):
    """Stream one update per inner step: curves, losses, then the path over the loss surface."""
    curve_task = build_task(source, amplitude, phase, shots, drawing, points, seed)
    steps = checked_number(steps, "sinusoid.steps")
    inner_lr = checked_number(inner_lr, "sinusoid.inner_lr")
    delay = checked_number(delay, "sinusoid.delay")
    if algorithm == "trained":  # the θ this session meta-trained in the page
        model, theta, algorithm = trained_model(trained, store.device, "sinusoid")
    else:
        model, theta, _ = store.get("sinusoid", algorithm)  # CheckpointUnavailable says why it cannot
    playback = playback or Playback()
    task = curve_task.task.to(store.device)
    import torch

    grid = torch.linspace(*inputs.X_RANGE, GRID, device=store.device).reshape(-1, 1)
    cfg = inner_config(algorithm, inner_lr, steps)
    records = compute_trace(model, theta, task, cfg, grid)
    trace = {"config": {"algorithm": algorithm, "inner_lr": inner_lr, "steps": cfg.steps},
             "grid": grid.flatten().tolist(), "records": []}
    state = {"support": (task.x_support.flatten().tolist(), task.y_support.flatten().tolist()),
             "query": (task.x_query.flatten().tolist(), task.y_query.flatten().tolist()),
             "curve": curve_task.curve, "landscape": None, "trace": trace}
    status = curve_task.note
    if model.reads_support:  # one record: the black box's forward pass
        trace["records"] = records
        curves, losses, _ = render(state, 0)
        state["status"] = f"{status} {text('sinusoid.blackbox')}"
        yield (curves, losses, None, state["status"], state,
               replay_range(0), badge(store.device))
        return

    def frame(k: int):  # no path plot until the steps are over (an empty output costs Gradio less than a no-op);
        trace["records"] = records[: k + 1]  # the replay slider's range is sent once, then its step
        curves, losses, _ = render(state, k)
        return (curves, losses, None, f"{status} {text('sinusoid.step_status', step=k, steps=steps)}", state,
                replay_range(len(records) - 1) if k == 0 else k, badge(store.device, mean_step_time(records[:k + 1])))

    done, ending = yield from play(playback, len(records), frame, delay, NO_CHANGE)
    trace["records"] = records[: done + 1]
    if ending:
        status += " " + ending_text(ending)
        yield (*NO_CHANGE[:3], status, *NO_CHANGE[4:])  # say so at once; the path plot follows
    elif done < steps:
        status += " " + divergence_note(trace["records"], text("sinusoid.subject"))
    state["landscape"] = compute_landscape(model, theta, task, replace(cfg, steps=done))
    # a run that ran to its end showed step `done` in play's last frame, interactive; one that ended early did not
    curves, losses, path = (render(state, done) if ending else
                            (gr.skip(), gr.skip(), plots.landscape_figure(state["landscape"], done)))
    state["status"] = f"{status} {text('sinusoid.done', steps=done)}"
    yield (curves, losses, path, state["status"], state,
           gr.update(maximum=max(done, 1), value=done, interactive=done > 0),
           badge(store.device, mean_step_time(trace["records"])))


def scrub(state: dict | None, step):
    """Redraw the finished run at step k from the session's state, without recomputing."""
    if not state or not state.get("trace"):
        raise Problem("sinusoid.replay_first")
    return render(state, checked_number(step, "sinusoid.replay"))


def click_point(points, event: gr.SelectData):
    """Add a point where the person clicked on the axes image, or remove the one clicked on."""
    rows = points.values.tolist() if hasattr(points, "values") else list(points or [])
    rows = [[float(x), float(y)] for x, y in rows if str(x) != "" and str(y) != ""]
    if event is None or not isinstance(event.index, (list, tuple)) or len(event.index) != 2:
        raise Problem("sinusoid.click_on_plot")
    x, y = inputs.pixel_to_xy(*event.index)
    rows = inputs.toggle_point(rows, x, y)
    return picture_file(inputs.axes_image(rows)), rows


def cleared() -> tuple:
    """What a failed run leaves on screen: empty plots and status (the error itself is shown apart), no replay."""
    return (plots.empty_figure(text("sinusoid.curves.empty")), None, None, "",
            replay_range(0))


def clear_points():
    return picture_file(inputs.axes_image([])), []


def show_source(source: str):
    return [gr.update(visible=source == key) for key in SOURCES]


def show_checkpoint(store: CheckpointStore, algorithm: str | None):
    """On a change of algorithm: its card's summary, and the α and S hints read from that card."""
    hint = hints(store, "sinusoid", algorithm)
    return (store.note("sinusoid", algorithm), gr.update(info=hint["inner_lr_info"]),
            gr.update(info=hint["steps_info"]))


def build(store: CheckpointStore, shared: dict) -> DeviceView:
    """The tab's components and events, rendered into the current Blocks; its last run goes into `shared`. Returns
    its device badge, which a page fills once loaded."""
    algorithms = store.available("sinusoid")
    first = algorithms[0] if algorithms else None
    hint = hints(store, "sinusoid", first)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=400, elem_classes="controls"):  # what a teacher uses, beside the plot
            source = gr.Radio([(text(f"source.{key}"), key) for key in SOURCES], value=SOURCES[0],
                              label=text("sinusoid.source.label"), elem_id="sinusoid-source")
            with gr.Group(visible=True) as sine_box:
                with gr.Row():
                    amplitude = slider("sinusoid.amplitude")
                    phase = slider("sinusoid.phase")
            with gr.Group(visible=False) as draw_box:
                with gr.Row(equal_height=True):  # one line above the canvas, so the controls below stay in view
                    gr.Markdown(text("sinusoid.canvas.hint"), elem_classes="hint")
                    clear_drawing = gr.Button(text("sinusoid.clear_drawing"), size="sm", elem_id="curve-clear",
                                              scale=0, min_width=200)
                canvas = gr.ImageEditor(
                    value={"background": inputs.axes_image(), "layers": [], "composite": None},
                    label=text("sinusoid.canvas.label"), show_label=False,  # the line above says it
                    sources=(), transforms=(), layers=False, canvas_size=inputs.CANVAS, fixed_canvas=True,
                    brush=gr.Brush(colors=["#111827"], default_color="#111827", default_size=4, color_mode="fixed"),
                    type="numpy", image_mode="RGBA", height=230, elem_id="curve-canvas")
            with gr.Group(visible=False) as click_box:
                click_image = gr.Image(inputs.axes_image(), label=text("sinusoid.click.label"),
                                       interactive=False, type="pil", elem_id="click-canvas", buttons=[])
                with gr.Row():
                    points = gr.Dataframe(headers=["x", "y"], datatype=["number", "number"], value=[],
                                          label=text("sinusoid.points.label"), column_count=(2, "fixed"),
                                          interactive=False, max_height=180)
                    clear = gr.Button(text("sinusoid.clear_points"), size="sm")
            with gr.Row():  # the controls a teacher uses most, then the buttons; K, delay and seed below them
                algorithm = gr.Dropdown([(text(f"algorithm.{a}"), a) for a in (*algorithms, "trained")],
                                        value=first, label=text("control.algorithm"), elem_id="sinusoid-algorithm")
                inner_lr = slider("sinusoid.inner_lr", info=hint["inner_lr_info"])
                steps = slider("sinusoid.steps", info=hint["steps_info"])
            adapt, pause, step_button, stop_button = playback_buttons("sinusoid", min_width=90)
            status = gr.Markdown(elem_id="sinusoid-status")
            with gr.Row():
                shots = slider("sinusoid.shots")
                delay = slider("sinusoid.delay")
                seed = seed_box("sinusoid.seed")
            device = gr.Markdown(elem_id="sinusoid-device")
        with gr.Column(scale=1):
            curves = PlotView(plots.empty_figure(text("sinusoid.curves.empty")), label=text("sinusoid.curves.label"),
                              elem_id="sinusoid-curves")
            losses = PlotView(label=text("sinusoid.losses.label"), elem_id="sinusoid-losses")
    with gr.Row():
        path = PlotView(label=text("sinusoid.path.label"), elem_id="sinusoid-path")
        with gr.Column():
            scrub_slider = gr.Slider(0, 1, value=0, step=1, label=text("sinusoid.replay.label"), interactive=False,
                                     info=text("sinusoid.replay.info"), elem_id="sinusoid-replay")
            checkpoint_note = gr.Markdown(store.note("sinusoid", first), elem_id="sinusoid-checkpoint")
    with gr.Accordion(text("sinusoid.about"), open=False):
        gr.Markdown(text("sinusoid.intro") + "\n\n" + text("sinusoid.details", seconds=PAUSE_LIMIT_S),
                    latex_delimiters=LATEX)
    run_state = gr.State(None, time_to_live=STATE_TTL_S)
    shared["sinusoid_run"] = run_state  # the "Full vs first-order" tab can take this task
    playback = gr.State(Playback())

    algorithm.change(partial(show_checkpoint, store), algorithm, [checkpoint_note, inner_lr, steps], api_name=False,
                     **LIGHT)
    source.change(show_source, source, [sine_box, draw_box, click_box], api_name=False, **LIGHT).then(
        None, js=PICK_BRUSH_JS)
    click_image.select(click_point, points, [click_image, points], api_name=False, **LIGHT)
    clear.click(clear_points, None, [click_image, points], api_name=False, **LIGHT)
    run = adapt.click(partial(adapt_sinusoid, store),
                      [source, amplitude, phase, shots, canvas, points, algorithm, inner_lr, steps, delay, seed,
                       playback, shared["trained_theta"]],
                      [curves, losses, path, status, run_state, scrub_slider, device], api_name="adapt_sinusoid",
                      show_progress="hidden", **COMPUTE)  # the stream itself shows progress, step by step
    run.failure(cleared, None, [curves, losses, path, status, scrub_slider], api_name=False, queue=False)
    wire_playback(run, playback, pause, step_button, stop_button, status, run_state)
    scrub_slider.release(scrub, [run_state, scrub_slider], [curves, losses, path], api_name="replay_sinusoid",
                         **LIGHT)
    scrub_slider.input(scrub, [run_state, scrub_slider], [curves, losses, path], api_name=False,
                       trigger_mode="always_last", **LIGHT)  # typing a step and Enter, or the arrow keys
    clear_drawing.click(None, js=UNDO_STROKES_JS)  # in the page: setting the editor's value from Python stalls it
    return DeviceView([device], lambda on_device: (badge(on_device),))
