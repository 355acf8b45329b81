"""Tab "Characters": draw (or pick) N classes of K examples and a query, and watch φ_k classify it."""
from __future__ import annotations

import random
from dataclasses import asdict
from functools import partial

import gradio as gr
import numpy as np
from PIL import Image

import core
from core.registry import inner_config
from demo import inputs, plots
from demo.data import OmniglotImages
from demo.common import (DeviceView, badge, checked_number, gpu, mean_step_time, picture_file, playback_buttons,
                         replay_range, slider, wire_playback)
from demo.errors import excerpt
from demo.limits import LIMITS
from demo.messages import Problem, text
from demo.plot_view import PlotView
from demo.serving import COMPUTE, LIGHT, computes
from demo.session import Playback, divergence_note, ending_text, play
from demo.store import CheckpointStore, hints

OUTPUTS = 8  # probabilities, losses, distances, status, query picture, replay slider, run state, device badge
NO_CHANGE = (gr.skip(),) * OUTPUTS  # what a paused run streams while it waits
# after Add, wipe the sketchpad in the browser (setting its value from Python leaves it stuck in Gradio 6)
CLEAR_SKETCH_JS = """() => { const sketch = document.querySelector('#example-sketch');
    sketch?.querySelector("button[aria-label='Clear canvas']")?.click();
    setTimeout(() => sketch?.querySelector("button[aria-label='Brush']")?.click(), 250); }"""  # the brush again
GALLERY_SIZE = 40  # Omniglot characters offered for picking


def class_choices(ways: int) -> list[tuple[str, int]]:
    """The class menu for N classes: (label, key), keys 1 … N."""
    return [(text("characters.class_name", number=c), c) for c in range(1, ways + 1)]


def class_names(ways: int) -> list[str]:
    return [label for label, _ in class_choices(ways)]


def class_index(choice, ways: int) -> int:
    """The 0-based class of a class key 1 … N (an int, or its digits from the API)."""
    keys = [key for _, key in class_choices(ways)]
    number = choice if isinstance(choice, int) and not isinstance(choice, bool) else None
    if isinstance(choice, str) and choice.strip().isdigit():
        number = int(choice)
    if number not in keys:
        raise Problem("characters.choose_class", ways=ways, value=excerpt(choice))
    return number - 1


def _check_room(support: list[dict], label: int) -> None:
    """Refuse an example that no N-way K-shot task could use: K examples per class at most."""
    shots = LIMITS["characters.shots"].high
    if sum(1 for example in support if example["label"] == label) >= shots:
        raise Problem("characters.class_full", number=label + 1, shots=shots)


def _sheet(support: list[dict], ways: int) -> Image.Image:
    return inputs.support_sheet([(e["picture"], e["tensor"], e["label"]) for e in support], ways)


def _add(support: list[dict] | None, image: np.ndarray, label: int) -> list[dict]:
    try:
        tensor = core.ink.sketch_to_tensor(image)
    except Problem:
        raise
    except (ValueError, TypeError) as error:  # the ink pipeline's check of the sketch
        raise gr.Error(str(error)) from None
    picture = Image.fromarray(np.asarray(image)).convert("RGBA")
    picture.thumbnail((96, 96))
    return [*(support or []), {"label": label, "tensor": tensor.numpy(), "picture": picture}]


@computes
def add_example(sketch, class_choice, ways, support: list[dict] | None):
    """Add the drawn character to the support set as an example of the chosen class."""
    ways = checked_number(ways, "characters.ways")
    label = class_index(class_choice, ways)
    _check_room(support or [], label)
    support = _add(support, inputs.editor_image(sketch), label)
    return support, picture_file(_sheet(support, ways))


def clear_examples(ways):
    """Empty the session's support set."""
    ways = checked_number(ways, "characters.ways")
    return [], picture_file(_sheet([], ways)), None


def set_ways(ways, support: list[dict] | None):
    """New N: the class menu follows, and examples of classes beyond N are dropped."""
    ways = checked_number(ways, "characters.ways")
    kept = [example for example in (support or []) if example["label"] < ways]
    return gr.update(choices=class_choices(ways), value=1), kept, picture_file(_sheet(kept, ways))


def gallery_picture(character) -> np.ndarray:
    """A preprocessed 28×28 character (ink = 1) as a picture to show and to add: black ink on white, 84×84."""
    return np.asarray(inputs.ink_picture(character).resize((84, 84), Image.Resampling.BILINEAR))


def load_gallery(omniglot: OmniglotImages):
    """Omniglot characters of the evaluation alphabets to pick from; one plain line when they cannot be had."""
    try:
        chars = omniglot.characters("evaluation")
    except Problem as problem:
        return gr.update(visible=False), [], text("characters.gallery_failed", reason=str(problem))
    count, drawers = chars.images.shape[:2]
    picks = [(c, random.Random(c).randrange(drawers)) for c in random.Random(0).sample(range(count),
                                                                                      min(GALLERY_SIZE, count))]
    return (gr.update(visible=True, value=[gallery_picture(chars.images[c, d]) for c, d in picks]), picks,
            text("characters.gallery_ready", count=len(picks)))


@computes
def pick_example(omniglot: OmniglotImages, picks: list, class_choice, ways, support: list[dict] | None,
                 event: gr.SelectData):
    """Add the clicked Omniglot character to the support set."""
    ways = checked_number(ways, "characters.ways")
    label = class_index(class_choice, ways)
    _check_room(support or [], label)
    if not picks or event is None or not isinstance(event.index, int) or not 0 <= event.index < len(picks):
        raise Problem("characters.gallery_first")
    character, drawer = picks[event.index]
    image = gallery_picture(omniglot.characters("evaluation").images[character, drawer])
    support = _add(support, image, label)
    return support, picture_file(_sheet(support, ways))


@gpu
def compute_trace(model, theta, task, cfg) -> list[dict]:
    """Every record of the adaptation (computed at once, so playback never holds the GPU)."""
    return [asdict(record) for record in core.trace.trace_records(model, theta, task, cfg)]


@computes
def adapt_characters(store: CheckpointStore, ways, shots, query_sketch, algorithm, inner_lr, steps, delay,
                     support: list[dict] | None, playback: Playback | None = None):
    """Stream one update per inner step: class probabilities, support loss, per-layer distance."""
    ways = checked_number(ways, "characters.ways")
    shots = checked_number(shots, "characters.shots")
    steps = checked_number(steps, "characters.steps")
    inner_lr = checked_number(inner_lr, "characters.inner_lr")
    delay = checked_number(delay, "characters.delay")
    model, theta, _ = store.get("omniglot", algorithm)  # CheckpointUnavailable says why it cannot
    try:
        query = inputs.character_tensor(query_sketch, sketch="characters.query_sketch")
    except Problem:
        raise
    except (ValueError, TypeError) as error:  # the ink pipeline's check of the sketch
        raise gr.Error(str(error)) from None
    task = inputs.character_task([(e["tensor"], e["label"]) for e in support or []], query, ways, shots)
    playback = playback or Playback()
    task = task.to(store.device)
    records = compute_trace(model, theta, task, inner_config(algorithm, inner_lr, steps))
    state = {"names": class_names(ways), "steps": steps,
             "trace": {"config": {"algorithm": algorithm, "inner_lr": inner_lr, "steps": steps}, "records": records}}
    query_picture = picture_file(inputs.tensor_picture(query))

    def frame(k: int):  # the query picture and the replay slider's range are sent once, then the slider's step
        return (*render(state, k), query_picture if k == 0 else gr.skip(),
                replay_range(len(records) - 1) if k == 0 else k, state,
                badge(store.device, mean_step_time(records[:k + 1])))

    done, ending = yield from play(playback, len(records), frame, delay, NO_CHANGE)
    state["trace"]["records"] = records[: done + 1]
    name, probability = best(state, done)
    if ending:
        note = text("characters.ended", ending=ending_text(ending), name=name, probability=probability, step=done)
    elif done < steps:  # the trace ended early on its own: the adaptation diverged
        note = divergence_note(records, text("characters.subject"))
    else:
        note = text("characters.done", steps=done, name=name, probability=probability)
    state["status"] = note
    # a run that ran to its end showed step `done` in play's last frame, interactive; one that ended early did not
    figures = render(state, done)[:3] if ending else NO_CHANGE[:3]
    yield (*figures, note, gr.skip(), gr.update(maximum=max(done, 1), value=done, interactive=done > 0),
           state, badge(store.device, mean_step_time(records[: done + 1])))


def best(state: dict, k: int) -> tuple[str, float]:
    """The class the query looks most like at step k, and its probability."""
    probabilities = state["trace"]["records"][k]["probabilities"][0]
    top = max(range(len(probabilities)), key=probabilities.__getitem__)
    return state["names"][top], probabilities[top]


def render(state: dict, step: int) -> tuple:
    """The three figures and the status line of a run at step k (while streaming and when replaying)."""
    trace, names = state["trace"], state["names"]
    step = max(0, min(int(step), len(trace["records"]) - 1))
    name, probability = best(state, step)
    return (plots.probability_figure(trace, step, names), plots.loss_figure({"records": trace["records"][: step + 1]}, step),
            plots.distance_figure(trace, step),
            text("characters.step_status", step=step, steps=state["steps"], name=name, probability=probability))


def cleared() -> tuple:
    """What a failed run leaves on screen: empty plots and status (the error itself is shown apart), no replay."""
    return (plots.empty_figure(text("characters.probabilities.empty")), None, None, "",
            replay_range(0))


def replay(state: dict | None, step):
    """Redraw the finished run at step k from the session's state, without recomputing."""
    if not state or not state.get("trace"):
        raise Problem("characters.replay_first")
    return render(state, checked_number(step, "characters.replay"))


def inner_lr_setting(store: CheckpointStore, algorithm: str | None, ways: int, shots: int) -> dict:
    """The α slider's value and hint for N-way K-shot: the test α the chosen card selected for that shape, or
    for the nearest N with the same K, else the α it meta-trained with (the limit's default without a card)."""
    hint = hints(store, "omniglot", algorithm)
    if hint["inner_lr"] is None:
        return {"value": LIMITS["characters.inner_lr"].value, "info": hint["inner_lr_info"]}
    selected = store.card("omniglot", algorithm).get("test_inner_lr", {})
    rows = [(abs(int(n) - ways), int(n), alpha) for n, k, alpha in
            ((*row.split("x"), alpha) for row, alpha in selected.items()) if int(k) == shots]
    if not rows:
        return {"value": hint["inner_lr"], "info": hint["inner_lr_info"]}
    _, nearest, alpha = min(rows)
    return {"value": alpha, "info": text("hint.inner_lr.selected", algorithm=text(f"algorithm.{algorithm}"), lr=alpha,
                                         ways=nearest, shots=shots, trained=hint["inner_lr"])}


def show_checkpoint(store: CheckpointStore, algorithm: str | None, ways, shots):
    """On a change of algorithm or shape: its card's summary, the α slider set to the card's α for the shape, and
    the S hint."""
    ways, shots = checked_number(ways, "characters.ways"), checked_number(shots, "characters.shots")
    return (store.note("omniglot", algorithm), gr.update(**inner_lr_setting(store, algorithm, ways, shots)),
            gr.update(info=hints(store, "omniglot", algorithm)["steps_info"]))


def build(store: CheckpointStore, shared: dict) -> DeviceView:
    """The tab's components and events; its drawn examples go into `shared`. Returns its device badge, which a page
    fills once loaded."""
    algorithms = store.available("omniglot")
    first = algorithms[0] if algorithms else None
    ways_start, shots_start = LIMITS["characters.ways"].value, LIMITS["characters.shots"].value
    brush = gr.Brush(colors=["#111111"], default_color="#111111", default_size=10, color_mode="fixed")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320, elem_classes="controls"):
            with gr.Row():
                ways = slider("characters.ways")
                shots = slider("characters.shots")
            sketch = gr.Sketchpad(label=text("characters.sketch.label"), canvas_size=(240, 240), brush=brush,
                                  type="numpy", image_mode="RGBA", elem_id="example-sketch",
                                  layers=False)
            with gr.Row():
                class_choice = gr.Dropdown(class_choices(ways_start), value=1, label=text("characters.class.label"),
                                           elem_id="class-choice", allow_custom_value=True)  # checked against N
                add = gr.Button(text("characters.add"), variant="secondary", elem_id="add-example", min_width=70)
                clear = gr.Button(text("characters.clear"), size="sm", min_width=70)
        with gr.Column(scale=1, min_width=320):
            query_sketch = gr.Sketchpad(label=text("characters.query.label"), canvas_size=(200, 200), height=240,
                                        brush=brush,
                                        type="numpy", image_mode="RGBA", elem_id="query-sketch",
                                        layers=False)
            probabilities = PlotView(plots.empty_figure(text("characters.probabilities.empty"), height=280),
                                     label=text("characters.probabilities.label"), elem_id="characters-probabilities")
        with gr.Column(scale=1, min_width=320, elem_classes="controls"):
            algorithm = gr.Dropdown([(text(f"algorithm.{a}"), a) for a in algorithms], value=first,
                                    label=text("control.algorithm"), elem_id="characters-algorithm")
            inner_lr = slider("characters.inner_lr", **inner_lr_setting(store, first, ways_start, shots_start))
            steps = slider("characters.steps", info=hints(store, "omniglot", first)["steps_info"])
            delay = slider("characters.delay")
            adapt, pause, step_button, stop_button = playback_buttons("characters", min_width=70)
            status = gr.Markdown(elem_id="characters-status")
            device = gr.Markdown(elem_id="characters-device")
            gr.Markdown(text("characters.brush_hint"), elem_classes="hint")
            query_seen = gr.Image(label=text("characters.query_seen.label"), interactive=False, height=120,
                                  buttons=[], elem_id="query-input")
    sheet = gr.Image(_sheet([], ways_start), label=text("characters.sheet.label"), interactive=False, type="pil",
                     buttons=[], elem_id="support-sheet")
    with gr.Row():
        losses = PlotView(label=text("characters.losses.label"), elem_id="characters-losses")
        distances = PlotView(label=text("characters.distances.label"), elem_id="characters-distances")
    with gr.Row():
        replay_slider = gr.Slider(0, 1, value=0, step=1, label=text("characters.replay.label"), interactive=False,
                                  info=text("characters.replay.info"), elem_id="characters-replay")
        checkpoint_note = gr.Markdown(store.note("omniglot", first), elem_id="characters-checkpoint")
    with gr.Accordion(text("characters.gallery.accordion"), open=False):
        load = gr.Button(text("characters.gallery.load"), size="sm")
        gallery_note = gr.Markdown()
        gallery = gr.Gallery(visible=False, columns=10, height=220, object_fit="contain", allow_preview=False,
                             label=text("characters.gallery.label"))
    with gr.Accordion(text("characters.about"), open=False):
        gr.Markdown(text("characters.intro"), latex_delimiters=[{"left": "$", "right": "$", "display": False}])
    support = gr.State([])
    shared["character_support"] = support  # the "Full vs first-order" tab can take these examples
    picks = gr.State([])  # (character, drawer) of each gallery picture
    run_state = gr.State(None)
    playback = gr.State(Playback())

    for control in (algorithm, ways, shots):
        control.change(partial(show_checkpoint, store), [algorithm, ways, shots], [checkpoint_note, inner_lr, steps],
                       api_name=False, **LIGHT)
    ways.change(set_ways, [ways, support], [class_choice, support, sheet], api_name=False, **LIGHT)
    add.click(add_example, [sketch, class_choice, ways, support], [support, sheet],
              api_name="add_example", **COMPUTE).success(None, js=CLEAR_SKETCH_JS)
    clear.click(clear_examples, ways, [support, sheet, query_seen], api_name="clear_examples", **LIGHT)
    load.click(partial(load_gallery, shared["omniglot"]), None, [gallery, picks, gallery_note], api_name=False,
               **COMPUTE)
    def pick(picks_made: list, choice, n: int, examples: list[dict] | None, event: gr.SelectData):
        """pick_example with this app's Omniglot (a closure: Gradio reads SelectData from the signature)."""
        return pick_example(shared["omniglot"], picks_made, choice, n, examples, event)

    gallery.select(pick, [picks, class_choice, ways, support], [support, sheet], api_name=False, **COMPUTE)
    run = adapt.click(partial(adapt_characters, store),
                      [ways, shots, query_sketch, algorithm, inner_lr, steps, delay, support, playback],
                      [probabilities, losses, distances, status, query_seen, replay_slider, run_state, device],
                      api_name="adapt_characters", show_progress="hidden", **COMPUTE)  # the stream shows progress
    run.failure(cleared, None, [probabilities, losses, distances, status, replay_slider], api_name=False,
                queue=False)
    wire_playback(run, playback, pause, step_button, stop_button, status, run_state)
    for event in (replay_slider.release, replay_slider.input):  # dragging; typing a step and Enter; arrow keys
        event(replay, [run_state, replay_slider], [probabilities, losses, distances, status], api_name=False,
              trigger_mode="always_last", **LIGHT)
    return DeviceView([device], lambda on_device: (badge(on_device),))
