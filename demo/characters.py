"""Tab "Characters": draw (or pick) N classes of K examples and a query, and watch φ_k classify it."""
from __future__ import annotations

import random
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from core.inner import AdaptationTrace, trace_adaptation
from core.meta import inner_config
from core.omniglot import download_omniglot
from demo import inputs, plots
from demo.common import badge, checked_number, gpu, picture_file
from demo.errors import excerpt
from demo.playback import ENDINGS, MAX_DELAY_S, Playback, divergence_note, stop
from demo.serving import COMPUTE, LIGHT, computes
from demo.store import LABELS, CheckpointStore, CheckpointUnavailable

MAX_WAYS, MAX_SHOTS, MAX_STEPS = 10, 5, 20
OUTPUTS = 6  # probabilities, losses, distances, status, query picture, device badge
NO_CHANGE = (gr.skip(),) * OUTPUTS  # what a paused run streams while it waits
# after Add, wipe the sketchpad in the browser (setting its value from Python leaves it stuck in Gradio 6)
CLEAR_SKETCH_JS = "() => document.querySelector('#example-sketch button[aria-label=\"Clear canvas\"]')?.click()"
GALLERY_SIZE = 40  # Omniglot characters offered for picking
OMNIGLOT_CACHE = Path.home() / ".cache" / "maml-playground" / "omniglot"

INTRO = r"""
### Few-shot classification: draw N new characters, K times each
Draw an example, choose its class and press **Add**; repeat until every class has K examples
(or pick examples from the Omniglot gallery). Then draw a query character and press **Adapt**.
The head starts at zero, so before adaptation every class is equally likely; each inner step
$\phi_{k+1} = \phi_k - \alpha \nabla_{\phi} \mathcal{L}_{\text{support}}(\phi_k)$ moves the
probabilities. $\mathcal{L}_{\text{support}}$ is the mean cross-entropy over the N·K examples;
Finn et al.'s code sums over the N classes instead, so their α = 0.4 at N = 5 is α = 2.0 here.
The small pictures are the 28×28 inputs the network actually sees.
"""


def class_names(ways: int) -> list[str]:
    return [f"Class {c + 1}" for c in range(ways)]


def _class_index(name, ways: int) -> int:
    if name not in class_names(ways):
        raise gr.Error(f"choose a class from Class 1 to Class {ways}, got {excerpt(name)}")
    return class_names(ways).index(name)


def _check_room(support: list[dict], label: int) -> None:
    """Refuse an example that no N-way K-shot task could use: K examples per class at most."""
    if sum(1 for example in support if example["label"] == label) >= MAX_SHOTS:
        raise gr.Error(f"Class {label + 1} already has {MAX_SHOTS} examples, the most K allows; "
                       f"add to another class or press Clear all")


def _sheet(support: list[dict], ways: int) -> Image.Image:
    return inputs.support_sheet([(e["picture"], torch.from_numpy(e["tensor"]), e["label"]) for e in support], ways)


def _add(support: list[dict] | None, image: np.ndarray, label: int) -> list[dict]:
    try:
        tensor = inputs.sketch_to_tensor(image)
    except (ValueError, TypeError) as error:
        raise gr.Error(str(error)) from None
    picture = Image.fromarray(np.asarray(image)).convert("RGBA")
    picture.thumbnail((96, 96))
    return [*(support or []), {"label": label, "tensor": tensor.numpy(), "picture": picture}]


@computes
def add_example(sketch, class_name, ways, support: list[dict] | None):
    """Add the drawn character to the support set as an example of the chosen class."""
    ways = checked_number(ways, "N (classes)", 2, MAX_WAYS, integer=True)
    label = _class_index(class_name, ways)
    _check_room(support or [], label)
    try:
        image = inputs.editor_image(sketch)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    support = _add(support, image, label)
    return support, picture_file(_sheet(support, ways))


def clear_examples(ways):
    """Empty the session's support set."""
    ways = checked_number(ways, "N (classes)", 2, MAX_WAYS, integer=True)
    return [], picture_file(_sheet([], ways)), None


def set_ways(ways, support: list[dict] | None):
    """New N: the class menu follows, and examples of classes beyond N are dropped."""
    ways = checked_number(ways, "N (classes)", 2, MAX_WAYS, integer=True)
    kept = [example for example in (support or []) if example["label"] < ways]
    return gr.update(choices=class_names(ways), value=class_names(ways)[0]), kept, picture_file(_sheet(kept, ways))


def load_gallery(root: Path = OMNIGLOT_CACHE):
    """Omniglot characters to pick from, downloaded once by torchvision; one line if that fails."""
    try:
        folder = download_omniglot(root, background=False)
    except RuntimeError as error:
        reason = str(error).split(":", 2)[-1].strip()[:120]
        return gr.update(visible=False), [], (f"Omniglot could not be downloaded ({reason}); "
                                             f"drawing still works.")
    files = sorted(folder.glob("*/character*/*.png"))
    if not files:
        return gr.update(visible=False), [], "The Omniglot download holds no images; drawing still works."
    chosen = random.Random(0).sample(files, min(GALLERY_SIZE, len(files)))
    return gr.update(visible=True, value=[str(p) for p in chosen]), [str(p) for p in chosen], \
        f"{len(chosen)} Omniglot characters: click one to add it to the chosen class."


@computes
def pick_example(files: list[str], class_name, ways, support: list[dict] | None, event: gr.SelectData):
    """Add the clicked Omniglot character to the support set."""
    ways = checked_number(ways, "N (classes)", 2, MAX_WAYS, integer=True)
    label = _class_index(class_name, ways)
    _check_room(support or [], label)
    if not files or event is None or not isinstance(event.index, int) or not 0 <= event.index < len(files):
        raise gr.Error("load the Omniglot gallery first, then click one of its characters")
    image = np.asarray(Image.open(files[event.index]).convert("L"))
    support = _add(support, image, label)
    return support, picture_file(_sheet(support, ways))


@gpu
@computes
def adapt_characters(store: CheckpointStore, ways, shots, query_sketch, algorithm, inner_lr, steps, delay,
                     support: list[dict] | None, playback: Playback | None = None):
    """Stream one update per inner step: class probabilities, support loss, per-layer distance."""
    ways = checked_number(ways, "N (classes)", 2, MAX_WAYS, integer=True)
    shots = checked_number(shots, "K (examples per class)", 1, MAX_SHOTS, integer=True)
    steps = checked_number(steps, "inner steps", 0, MAX_STEPS, integer=True)
    inner_lr = checked_number(inner_lr, "α (inner learning rate)", 0.0, 2.0)
    delay = checked_number(delay, "delay", 0.0, MAX_DELAY_S)
    try:
        model, theta, _ = store.get("omniglot", algorithm)
    except CheckpointUnavailable as error:
        raise gr.Error(str(error)) from None
    try:
        query = inputs.character_tensor(query_sketch)
        task = inputs.character_task([(torch.from_numpy(e["tensor"]), e["label"]) for e in support or []],
                                     query, ways, shots)
    except ValueError as error:
        raise gr.Error(str(error).replace("this sketch", "the query sketch")) from None
    playback = playback or Playback()
    playback.start()
    task = task.to(store.device)
    names = class_names(ways)
    trace = AdaptationTrace(config={"algorithm": algorithm, "inner_lr": inner_lr, "steps": steps}).to_dict()
    times = []
    query_picture = picture_file(inputs.tensor_picture(query))
    for record in trace_adaptation(model, theta, task, inner_config(algorithm, inner_lr, steps)):
        trace["records"].append(record.__dict__.copy())
        if record.step:
            times.append(record.wall_time_s)
        probabilities = record.probabilities[0]
        best = max(range(ways), key=probabilities.__getitem__)
        yield (plots.probability_figure(trace, record.step, names), plots.loss_figure(trace, record.step),
               plots.distance_figure(trace, record.step),
               f"Step {record.step} of {steps}: the query looks most like **{names[best]}** "
               f"({probabilities[best]:.0%}).", query_picture if record.step == 0 else gr.skip(),  # send it once
               badge(store.device, sum(times) / len(times) if times else None))
        if record.step < steps:
            ending = yield from playback.hold(delay, NO_CHANGE)
            if ending:
                yield (*NO_CHANGE[:3], f"{ENDINGS[ending]} The query looks most like **{names[best]}** "
                       f"({probabilities[best]:.0%}) after step {record.step}.", *NO_CHANGE[4:])
                return
    if record.step < steps:  # the trace ended early on its own: the adaptation diverged
        yield (*NO_CHANGE[:3], divergence_note(trace["records"], "these examples"), *NO_CHANGE[4:])


def inner_lr_setting(store: CheckpointStore, algorithm: str | None) -> dict:
    """The α slider's value and hint: the α the chosen checkpoint meta-trained with (0.4 when there is none)."""
    if algorithm not in store.available("omniglot"):
        return {"value": 0.4, "info": "Step size of each inner gradient step."}
    lr = store.card("omniglot", algorithm)["config"]["inner_lr"]
    return {"value": lr, "info": f"This checkpoint meta-trained with α = {lr:g}."}


def show_checkpoint(store: CheckpointStore, algorithm: str | None):
    """On a change of algorithm: its card's summary, and the α slider set to the α it trained with."""
    return store.note("omniglot", algorithm), gr.Slider(**inner_lr_setting(store, algorithm))


def build(store: CheckpointStore) -> None:
    """The tab's components and events, rendered into the current Blocks."""
    algorithms = store.available("omniglot")
    gr.Markdown(INTRO, latex_delimiters=[{"left": "$", "right": "$", "display": False}])
    brush = gr.Brush(colors=["#111111"], default_color="#111111", default_size=10, color_mode="fixed")
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                ways = gr.Slider(2, MAX_WAYS, value=3, step=1, label="N (classes)", info="How many new characters.")
                shots = gr.Slider(1, MAX_SHOTS, value=1, step=1, label="K (examples per class)",
                                  info="Examples of each character the model may see.")
            sketch = gr.Sketchpad(label="Draw an example", canvas_size=(280, 280), brush=brush, type="numpy",
                                  image_mode="RGBA", elem_id="example-sketch", layers=False)
            with gr.Row():
                class_choice = gr.Dropdown(class_names(3), value="Class 1", label="Class of this example",
                                           elem_id="class-choice", allow_custom_value=True)  # checked against N
                add = gr.Button("Add", variant="secondary", elem_id="add-example")
                clear = gr.Button("Clear all", size="sm")
            with gr.Accordion("Pick examples from Omniglot", open=False):
                load = gr.Button("Load Omniglot gallery", size="sm")
                gallery_note = gr.Markdown()
                gallery = gr.Gallery(visible=False, columns=8, height=220, object_fit="contain", allow_preview=False,
                                     label="Omniglot (evaluation alphabets)")
        with gr.Column(scale=2):
            sheet = gr.Image(_sheet([], 3), label="Support set: each drawing and the 28×28 input the model sees",
                            interactive=False, type="pil", buttons=[], elem_id="support-sheet")
            with gr.Row():
                query_sketch = gr.Sketchpad(label="Query", canvas_size=(280, 280), brush=brush, type="numpy",
                                            image_mode="RGBA", elem_id="query-sketch", layers=False)
                query_seen = gr.Image(label="query as the model sees it", interactive=False, height=150,
                                     buttons=[], elem_id="query-input")
    with gr.Row():
        algorithm = gr.Dropdown([(LABELS[a], a) for a in algorithms], value=algorithms[0] if algorithms else None,
                                label="Algorithm", info="ANIL adapts only the head; MAML adapts every layer.")
        inner_lr = gr.Slider(0.0, 1.0, step=0.05, label="α (inner learning rate)",
                             **inner_lr_setting(store, algorithms[0] if algorithms else None))
        steps = gr.Slider(0, MAX_STEPS, value=3, step=1, label="Inner steps S",
                          info="Gradient steps on the support set; the checkpoints were tested with 3.")
        delay = gr.Slider(0.0, MAX_DELAY_S, value=0.3, step=0.05, label="Delay per step (s)", elem_id="characters-delay")
    checkpoint_note = gr.Markdown(store.note("omniglot", algorithms[0] if algorithms else None),
                                  elem_id="characters-checkpoint")
    with gr.Row():
        adapt = gr.Button("Adapt", variant="primary", elem_id="characters-adapt")
        stop_button = gr.Button("Stop", variant="stop")
    status = gr.Markdown(elem_id="characters-status")
    device = gr.Markdown(badge(store.device))
    with gr.Row():
        probabilities = gr.Plot(label="class probabilities", elem_id="characters-probabilities")
        losses = gr.Plot(label="support loss")
        distances = gr.Plot(label="per-layer distance")
    support = gr.State([])
    files = gr.State([])
    playback = gr.State(Playback())

    algorithm.change(partial(show_checkpoint, store), algorithm, [checkpoint_note, inner_lr], api_name=False,
                     **LIGHT)
    ways.change(set_ways, [ways, support], [class_choice, support, sheet], api_name=False, **LIGHT)
    add.click(add_example, [sketch, class_choice, ways, support], [support, sheet],
              api_name="add_example", **COMPUTE).success(None, js=CLEAR_SKETCH_JS)
    clear.click(clear_examples, ways, [support, sheet, query_seen], api_name="clear_examples", **LIGHT)
    load.click(load_gallery, None, [gallery, files, gallery_note], api_name=False, **COMPUTE)
    gallery.select(pick_example, [files, class_choice, ways, support], [support, sheet], api_name=False, **COMPUTE)
    adapt.click(partial(adapt_characters, store),
                [ways, shots, query_sketch, algorithm, inner_lr, steps, delay, support, playback],
                [probabilities, losses, distances, status, query_seen, device], api_name="adapt_characters",
                show_progress="hidden", **COMPUTE)  # the stream itself shows progress, step by step
    stop_button.click(stop, playback, None, api_name=False, queue=False)
