"""The UI's pure functions and handlers, run without a server."""
from __future__ import annotations

import json
import math
import time

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.checkpoints import write_manifest
from core.compare import METHODS
from core.omniglot import DownloadFailed
from demo import build_app, inputs, plots
from demo.messages import Problem
from demo.session import FRAME_S, MIN_STEP_S, Playback, last_line, step_once, toggle_pause
from demo.store import CheckpointStore, card_summary
from demo.tabs import characters, sinusoid
from tests.demo_fixtures import character_sketch, make_assets
from tests.helpers import figure, is_still


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> CheckpointStore:
    return CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))


def curve_drawing(fn, size=inputs.CANVAS, width=4) -> dict:
    """An ImageEditor value whose layer holds y = fn(x) drawn as the person would."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    xs = np.linspace(-4.8, 4.8, 200)
    draw.line([inputs.xy_to_pixel(x, fn(x), size) for x in xs], fill=(17, 24, 39, 255), width=width)
    return {"background": np.asarray(inputs.axes_image()), "layers": [np.asarray(layer)], "composite": None}


def test_pixel_and_xy_round_trip():
    for x, y in [(-5, 6), (5, -6), (0, 0), (1.3, -2.2)]:
        assert inputs.pixel_to_xy(*inputs.xy_to_pixel(x, y)) == pytest.approx((x, y))


def test_drawn_sine_is_recovered_and_called_in_distribution():
    xs, ys = inputs.drawn_curve(curve_drawing(lambda x: 3 * math.sin(x - 1)))
    assert np.max(np.abs(ys - 3 * np.sin(xs - 1))) < 0.15
    assert inputs.distribution_note(xs, ys).startswith("In distribution")


def test_drawn_non_sinusoid_is_called_out_of_distribution():
    xs, ys = inputs.drawn_curve(curve_drawing(lambda x: abs(x) - 2))
    assert inputs.distribution_note(xs, ys).startswith("Out of distribution: this curve is not a sinusoid")
    amplitude_note = inputs.sine_task(8.0, 1.0, 5, 0).note
    assert "amplitude 8.00 is outside" in amplitude_note


def test_toggle_point_adds_and_removes():
    points = inputs.toggle_point([], 1.0, 2.0)
    points = inputs.toggle_point(points, -3.0, 0.5)
    assert points == [[1.0, 2.0], [-3.0, 0.5]]
    assert inputs.toggle_point(points, 1.1, 2.05) == [[-3.0, 0.5]]


def test_sinusoid_adapt_streams_every_step_and_ends_with_the_path(store):
    updates = list(sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 4, FRAME_S, 0,
                                           Playback()))
    assert len(updates) == 6  # k = 0..4 (a delay of FRAME_S or more gives every step its frame), then the path
    state = updates[-1][4]
    assert [r["step"] for r in state["trace"]["records"]] == [0, 1, 2, 3, 4]
    assert updates[0][2] is None and updates[-1][2] is not None  # the path figure at the end, none before
    # still pictures while the steps play; the last step's frame interactive, and not sent a second time
    assert [(is_still(curves), is_still(losses)) for curves, losses, *_ in updates[:-1]] == [(True, True)] * 4 + [
        (False, False)]
    assert updates[-1][:2] == (gr.skip(), gr.skip()) and not is_still(updates[-1][2])
    curves = figure(updates[-2][0])
    assert any(trace.name == "f(x; φ_4)" for trace in curves.data)
    assert "In distribution" in updates[-1][3]
    assert last_line(state) == updates[-1][3]  # shown again once the run is over (demo.common.wire_playback)
    replay = sinusoid.scrub(state, 2)
    assert figure(replay[0]).layout.title.text.startswith("step 2")


def test_a_plot_view_sends_its_figures_json():
    import plotly.graph_objects as go
    from gradio.components.plot import PlotData

    from demo.plot_view import PlotView

    view = PlotView(render=False)
    fast = plots.loss_figure({"records": [{"step": 0, "support_loss": 1.0, "query_loss": None}]}, 0)
    assert view.postprocess(fast) == fast.plot
    assert json.loads(view.postprocess(go.Figure(go.Bar(y=[1, 2]))))["data"][0]["type"] == "bar"
    assert view.postprocess(None) is None
    with pytest.raises(ValueError, match="plotly"):
        view.postprocess(PlotData(type="matplotlib", plot="data:image/png;base64,"))


def test_an_empty_plots_title_comes_in_lines_that_fit_the_narrowest_plot():
    title = figure(plots.empty_figure("draw examples and a query, then press Adapt")).layout.title.text
    assert title.split("<br>") == ["draw examples and a query, then", "press Adapt"]


def test_loss_curves_mark_each_step_in_runs_of_up_to_30_steps():
    def modes(steps: int) -> set[str]:
        trace = {"records": [{"step": k, "support_loss": 1.0 / (k + 1), "query_loss": 2.0} for k in range(steps + 1)]}
        return {curve.mode for curve in figure(plots.loss_figure(trace, steps // 2)).data}

    assert modes(30) == {"lines+markers"} and modes(31) == {"lines"}


def test_sinusoid_adapt_from_a_drawing_and_from_points(store):
    drawn = list(sinusoid.adapt_sinusoid(store, "draw", 1, 1, 8, curve_drawing(lambda x: abs(x) - 2), [],
                                         "anil", 0.01, 2, 0.0, 0, Playback()))
    assert "not a sinusoid" in drawn[-1][3]
    clicked = list(sinusoid.adapt_sinusoid(store, "click", 1, 1, 8, None, [[0, 1], [1, 2], [2, 0]],
                                           "maml", 0.01, 1, 0.0, 0, Playback()))
    assert clicked[-1][4]["trace"]["records"][-1]["query_loss"] is None  # no query set from clicks


def test_fast_steps_stream_at_most_one_frame_per_frame_interval(store):
    import time

    start = time.monotonic()
    updates = list(sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 60, 0.0, 0,
                                           Playback()))
    seconds = time.monotonic() - start
    first, *steps = [u[5] for u in updates[:-1]]  # the replay slider: its range once, then the step shown
    assert first["maximum"] == 60 and not first["interactive"] and all(isinstance(step, int) for step in steps)
    shown = [first["value"], *steps]
    assert shown[0] == 0 and shown[-1] == 60 and shown == sorted(set(shown))
    assert 60 * MIN_STEP_S <= seconds < 60 * MIN_STEP_S + 2.0  # delay 0 still plays the steps, briskly
    assert 3 <= len(shown) <= seconds / FRAME_S + 2  # fewer frames than steps, each FRAME_S apart
    losses = figure(updates[-2][1])
    assert len(losses.data[0].x) == 61  # a frame draws the loss of every step up to its own


def test_streamed_figures_send_the_json_plotly_itself_would(store):
    """The streamed figures are JSON written by orjson from plain dicts, with no plotly objects. Oracles: plotly's
    own to_json of the same dicts, and plotly's validation of every streamed figure."""
    import plotly.graph_objects as go
    from gradio.components.plot import PlotData

    from demo import plots

    data, layout = [dict(type="scatter", x=[0, 1, 2], y=[1.5, float("nan"), None], name="φ₁")], dict(title=dict(text="α"))
    ours = plots.fast_figure(data, layout)
    plotlys = go.Figure(data=data, layout={**plots.LAYOUT, "template": plots.TEMPLATE, **layout}, _validate=False)
    assert json.loads(ours.plot) == json.loads(plotlys.to_json())
    still = json.loads(plots.still(ours).plot)  # the same figure, for plotly's staticPlot
    still_config = still.pop("config")
    assert still_config == {"staticPlot": True} and still == json.loads(ours.plot) and not is_still(ours)
    assert json.loads(plots.still(PlotData(type="plotly", plot=plotlys.to_json())).plot)["config"] == still_config
    with pytest.raises(ValueError, match="starts with its data"):  # the JSON is spliced, not parsed: say so
        plots.still(PlotData(type="plotly", plot='{"layout": {}, "data": []}'))
    updates = list(sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 12, 0.0, 0,
                                           Playback()))
    streamed = [value for update in updates for value in update if isinstance(value, PlotData)]
    assert len(streamed) >= 5 and not any(isinstance(value, go.Figure) for update in updates for value in update)
    for value in streamed:  # plotly reads each back with its validation: a property it does not know fails here
        sent, validated = json.loads(value.plot), figure(value)
        assert [trace.get("y") for trace in sent["data"]] == [None if trace.y is None else list(trace.y)
                                                             for trace in validated.data]
    assert updates[0][2] is None and updates[-1][2] is not None  # no path plot until the steps are over


def test_a_paused_run_shows_its_step_interactive_and_each_step_it_lets_through(store):
    """Still pictures only while a run plays: as a pause begins, the step shown comes again as interactive figures
    (hover, zoom), a step let through with Step is interactive too, and a resumed run plays still pictures again."""
    playback = Playback()
    run = sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 6, FRAME_S, 0, playback)
    first = next(run)
    assert is_still(first[0]) and is_still(first[1]) and "Step 0 of 6" in first[3]
    toggle_pause(playback)
    paused = next(run)  # the delay and the pause are slept in the handler; then the step shown, interactive
    assert not is_still(paused[0]) and not is_still(paused[1]) and "Step 0 of 6" in paused[3]
    assert figure(paused[0]).layout.title.text == figure(first[0]).layout.title.text
    step_once(playback)
    stepped = next(run)
    assert not is_still(stepped[0]) and "Step 1 of 6" in stepped[3]
    toggle_pause(playback)  # resume
    resumed = next(run)
    assert is_still(resumed[0]) and "Step 2 of 6" in resumed[3]
    rest = list(run)
    assert [is_still(update[0]) for update in rest[:-1]] == [True] * 3 + [False] and "Done: 6" in rest[-1][3]


def test_black_box_gives_one_prediction(store):
    updates = list(sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "blackbox", 0.01, 10, 0.0,
                                           0, Playback()))
    assert len(updates) == 1 and "one forward pass" in updates[0][3]


def test_stop_keeps_the_steps_so_far(store):
    playback = Playback()
    run = sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 50, 0.0, 0, playback)
    next(run), next(run)
    playback.stopped = True
    rest = list(run)
    assert "Stopped" in rest[-1][3] and len(rest[-1][4]["trace"]["records"]) < 20  # 50 steps at 50 a second
    assert len(rest) == 2 and rest[0][:3] == (gr.skip(),) * 3 and "Stopped" in rest[0][3]  # said before any drawing
    assert not any(map(is_still, rest[-1][:3]))  # then the step it stopped at, interactive, and the path


def test_pause_and_step_release_one_step_at_a_time():
    playback = Playback()
    playback.start()
    assert toggle_pause(playback) == "Resume" and playback.paused
    step_once(playback)
    waiting = playback.hold(0.1, "tick")
    waits = []
    with pytest.raises(StopIteration) as ended:  # the delay, slept in slices; then the one allowed step passes
        while True:
            waits.append(next(waiting))
            time.sleep(waits[-1].seconds)
    assert 2 <= len(waits) <= 3 and all(w.seconds <= 0.05 and w.tick is None for w in waits)
    assert ended.value.value is None and playback.step_budget == 0


@pytest.mark.parametrize("args, message", [
    (dict(shots=0), "K \\(support points\\) must be between"),
    (dict(steps=500), "Inner steps S must be between"),
    (dict(inner_lr=float("nan")), "α \\(inner learning rate\\) must be between"),
    (dict(source="click", points=[]), "no points yet"),
    (dict(source="click", points=[[0, float("nan")]]), "finite number"),
    (dict(source="click", points=[[1e9, 0]]), "outside the allowed x range"),
    (dict(source="click", points=[[0, 0]] * 41), "at most 40 points"),
    (dict(source="draw", drawing=None), "nothing drawn yet"),
    (dict(amplitude="loud"), "Amplitude A must be a number"),
    (dict(inner_lr=0.5), "α \\(inner learning rate\\) must be between 0 and 0.1"),  # the slider's own range
    (dict(source="Sine wave"), "unknown support source 'Sine wave'"),  # a label is not a key
    (dict(algorithm="magic"), "no checkpoint for algorithm 'magic'"),
])
def test_sinusoid_bad_input_gets_a_clear_error(store, args, message):
    call = dict(source="sine", amplitude=2.0, phase=1.0, shots=5, drawing=None, points=[], algorithm="maml",
                inner_lr=0.01, steps=3, delay=0.0, seed=0)
    call.update(args)
    with pytest.raises((gr.Error, Problem), match=message):
        list(sinusoid.adapt_sinusoid(store, **call))


def test_characters_add_and_adapt(store):
    support: list = []
    for label in range(3):
        support, sheet = characters.add_example(character_sketch(label), label + 1, 3, support)
    assert len(support) == 3
    assert Image.open(sheet).height >= 3 * 64  # a row per class
    updates = list(characters.adapt_characters(store, 3, 1, character_sketch(1), "maml", 0.4, 3, FRAME_S, support,
                                               Playback()))
    assert len(updates) == 5  # every step's frame, then the summary
    assert all(map(is_still, updates[1][:3])) and not any(map(is_still, updates[-2][:3]))
    assert updates[-1][:3] == (gr.skip(),) * 3  # the last frame showed step 3's figures already
    probabilities = figure(updates[-2][0])
    assert [bar.name for bar in probabilities.data] == ["θ (before)", "φ_3"]
    assert sum(probabilities.data[1].y) == pytest.approx(1.0, rel=1e-5)
    assert "Done: 3 step(s)" in updates[-1][3] and updates[-1][5]["interactive"]
    assert last_line(updates[-1][6]) == updates[-1][3] and last_line(None) is None
    again = characters.replay(updates[-1][6], 1)  # the replay slider redraws step 1 from the session's state
    assert [bar.name for bar in figure(again[0]).data] == ["θ (before)", "φ_1"] and "Step 1 of 3" in again[3]
    assert figure(again[0]).data[1].y == figure(updates[1][0]).data[1].y
    with pytest.raises(Problem, match="run Adapt first"):
        characters.replay(None, 1)


@pytest.mark.parametrize("sketch, message", [
    (None, "sketch is empty"),
    (np.full((280, 280, 4), 255, dtype=np.uint8), "blank"),
    (np.zeros((10000, 10000), dtype=np.uint8), "too large|at most"),
])
def test_characters_bad_sketches_get_clear_errors(sketch, message):
    with pytest.raises((gr.Error, Problem), match=message):
        characters.add_example(sketch, 1, 3, [])


def test_characters_need_every_class_filled(store):
    support, *_ = characters.add_example(character_sketch(0), 1, 3, [])
    with pytest.raises((gr.Error, Problem), match="need 1 example\\(s\\) for each of the 3 classes"):
        list(characters.adapt_characters(store, 3, 1, character_sketch(1), "maml", 0.4, 3, 0.0, support))


def test_gallery_says_so_in_one_line_when_offline(tmp_path, monkeypatch):
    from demo import data

    def offline(root, background=True):
        from urllib.error import URLError

        raise DownloadFailed(root, "URLError: <urlopen error [Errno -2] Name or service not known>") from URLError(
            "[Errno -2] Name or service not known")

    monkeypatch.setattr("core.omniglot.download_omniglot", offline)  # where demo.data finds it when called
    gallery, picks, note = characters.load_gallery(data.OmniglotImages(sources=[], cache=tmp_path))
    assert picks == [] and note == "Omniglot's images could not be downloaded: this server has no internet connection. " \
                                   "Drawing still works."
    gallery, picks, note = characters.load_gallery(data.OmniglotImages(sources=[tmp_path / "gone.zip"], cache=tmp_path))
    assert "are missing: gone.zip" in note and str(tmp_path) not in note  # no server path


def test_gallery_offers_characters_when_available(tmp_path):
    from demo import data

    folder = tmp_path / "images_evaluation"
    for a in range(2):
        for c in range(3):
            (folder / f"Alpha{a}" / f"character{c:02d}").mkdir(parents=True)
            for drawer in range(2):
                image = Image.new("L", (105, 105), 255)
                ImageDraw.Draw(image).line([(20, 20 + 10 * c), (80, 90 - 20 * a)], fill=0, width=6)
                image.save(folder / f"Alpha{a}" / f"character{c:02d}" / f"{c}_{drawer:02d}.png")
    omniglot = data.OmniglotImages(sources=[folder], cache=tmp_path / "cache")
    gallery, picks, note = characters.load_gallery(omniglot)
    assert len(picks) == 6 and "click one" in note and len(gallery["value"]) == 6
    event = gr.SelectData(None, {"index": 2, "value": None})
    support, sheet = characters.pick_example(omniglot, picks, 2, 3, [], event)
    character, drawer = picks[2]
    assert support[0]["label"] == 1 and support[0]["tensor"].shape == (1, 28, 28)
    original = omniglot.characters("evaluation").images[character, drawer]
    picked = torch.from_numpy(support[0]["tensor"][0])
    assert float((picked - original).abs().mean()) < 0.08  # the picked picture goes back through the ink pipeline


def test_the_app_builds_without_launching(store):
    app = build_app(store)
    public = {d.api_name for d in app.fns.values() if d.api_visibility == "public"}
    assert public == {"adapt_sinusoid", "adapt_characters", "add_example", "clear_examples",
                      "replay_sinusoid", "compare_gradients", "meta_train", "use_trained"}  # as the README lists


def test_the_sinusoid_hints_come_from_the_chosen_card():
    shipped = CheckpointStore()
    _, lr_hint, steps_hint = sinusoid.show_checkpoint(shipped, "reptile")
    config = shipped.card("sinusoid", "reptile")["config"]
    assert f"Reptile meta-trained with α = {config['inner_lr']:g}" in lr_hint["info"]
    assert "trained with 5, tested with" in steps_hint["info"]  # the Makefile trains Reptile with 5 inner steps
    assert "no gradient steps" in sinusoid.show_checkpoint(shipped, "blackbox")[2]["info"]


def test_checkpoint_summary_comes_from_the_card(store):
    assert store.summary("sinusoid", "maml") == ("**MAML** checkpoint: 20 meta-iterations, 1 inner step at "
                                                 "α = 0.01 on K = 10 points in training.")
    assert store.summary("sinusoid", "reptile") == ""  # no such checkpoint in this store
    assert store.summary("omniglot", None) == ""
    shipped = CheckpointStore()
    card = shipped.card("omniglot", "maml")
    row = next(r for r in card["metrics"]["report"] if (r["ways"], r["shots"]) == (5, 1))
    stat = row["accuracy"][str(card["config"]["test_steps"])]
    line = shipped.summary("omniglot", "maml")
    assert f"5-way 1-shot {100 * stat['mean']:.1f} ± {100 * stat['ci95']:.1f}%" in line
    assert f"on {len(card['data']['train_alphabets'])} alphabets" in line and "Balinese" in line
    assert "(5-way 5-shot episodes" in line  # the Makefile trains on 5-way 5-shot episodes
    assert ("mirror images as extra classes" in line) == card["config"].get("mirror_classes", False)
    for algorithm in ("maml", "fomaml", "anil"):  # the Makefile trains all three with mirrored classes
        assert "mirror images as extra classes" in shipped.summary("omniglot", algorithm)
    unmirrored = {**card, "config": {**card["config"], "mirror_classes": False}}
    assert "mirror" not in card_summary(unmirrored)
    warm = card["config"].get("first_order_iterations", 0)  # MAML's first-order warm start (Makefile)
    assert f"{card['iterations']:,} meta-iterations (the first {warm:,} first-order)" in line and warm > 0
    assert "first-order)" not in card_summary({**card, "config": {**card["config"], "first_order_iterations": 0}})
    assert "first-order)" not in shipped.summary("omniglot", "fomaml")
    assert "in one forward pass" in shipped.summary("sinusoid", "blackbox")
    assert "on K = 5 points in training" in shipped.summary("sinusoid", "maml")  # as the Makefile trains it


def test_alpha_slider_follows_the_chosen_checkpoint_and_shape(store, tmp_path):
    card = store.card("omniglot", "maml")
    (tmp_path / "omniglot_maml.pt").write_bytes((store.assets / "omniglot_maml.pt").read_bytes())
    write_manifest(tmp_path)
    (tmp_path / "omniglot_maml.pt.json").write_text(json.dumps({**card, "config": {**card["config"], "inner_lr": 0.15}}))
    summary, slider, _ = characters.show_checkpoint(CheckpointStore(tmp_path), "maml", 3, 1)
    assert slider["value"] == 0.15 and "α = 0.15" in slider["info"] and "at α = 0.15 in training" in summary
    steps = str(card["config"]["test_steps"])
    report = [{"ways": 5, "shots": shots, "alphabets": ["Korean"], "inner_lr": lr,
               "accuracy": {steps: {"mean": 0.98, "ci95": 0.01}}} for shots, lr in ((1, 0.25), (5, 0.3))]
    selected = {**card, "config": {**card["config"], "inner_lr": 0.15},
                "test_inner_lr": {"5x1": 0.25, "5x5": 0.3, "2x1": 0.2}, "metrics": {**card["metrics"], "report": report}}
    (tmp_path / "omniglot_maml.pt.json").write_text(json.dumps(selected))
    chosen = CheckpointStore(tmp_path)
    summary, slider, steps_hint = characters.show_checkpoint(chosen, "maml", 5, 1)
    assert slider["value"] == 0.25 and "α for 5-way 1-shot (MAML trained with 0.15)" in slider["info"]
    assert f"tested with {card['config']['test_steps']}" in steps_hint["info"]
    assert "5-way 5-shot 98.0 ± 1.0% (α = 0.3)" in summary
    assert summary.endswith("Each α in brackets was chosen for its row on a validation alphabet, not on these.")
    for (ways, shots), (lr, row) in {(3, 1): (0.2, "2-way 1-shot"), (4, 5): (0.3, "5-way 5-shot"),
                                     (3, 2): (0.15, None)}.items():  # the nearest N with the same K, else training
        slider = characters.show_checkpoint(chosen, "maml", ways, shots)[1]
        assert slider["value"] == lr and (row is None or row in slider["info"]), (ways, shots, slider)
    no_checkpoint = characters.inner_lr_setting(store, "anil", 3, 1)  # no ANIL character checkpoint in this store
    assert no_checkpoint["value"] == 0.4 and "meta-trained" not in no_checkpoint["info"]
    shipped = CheckpointStore()
    for algorithm in shipped.available("omniglot"):
        expected = shipped.card("omniglot", algorithm).get("test_inner_lr", {}).get("2x1")
        assert characters.show_checkpoint(shipped, algorithm, 3, 1)[1]["value"] == expected  # the page's 3-way 1-shot


def test_a_diverging_run_ends_with_its_finite_steps_a_note_and_a_working_replay():
    # the shipped MAML at the top of the α slider, on a task twice the training amplitude
    updates = list(sinusoid.adapt_sinusoid(CheckpointStore(), "sine", 10.0, 1.0, 20, None, [], "maml", 0.1, 100, 0.0, 0,
                                           Playback()))
    final = updates[-1]
    records = final[4]["trace"]["records"]
    assert "α is too large for this task" in final[3] and f"Done: {len(records) - 1} step(s)" in final[3]
    assert 1 < len(records) < 101
    assert all(math.isfinite(r["support_loss"]) and all(map(math.isfinite, r["predictions"])) for r in records)
    assert final[4]["landscape"] is not None and final[5]["interactive"]
    replay = sinusoid.scrub(final[4], len(records) - 1)
    assert replay[2] is not None  # the path plot too
    growth = records[-1]["support_loss"] / records[0]["support_loss"]
    exponent = round(math.log10(growth))
    superscript = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    assert exponent >= 6 and f"grew ×10{superscript} in {len(records) - 1} step(s)" in final[3]
    last_frame = updates[-2]  # its last finite step, interactive (the last update adds the path)
    assert final[:2] == (gr.skip(), gr.skip()) and not is_still(last_frame[0])
    assert f"Step {len(records) - 1} of" in last_frame[3]
    y_range = figure(last_frame[0]).layout.yaxis.range  # the view stays on the task, not on the diverged curve
    assert -60 < y_range[0] < y_range[1] < 60
    ticks = figure(last_frame[1]).layout.yaxis
    assert ticks.type == "log" and ticks.dtick == 1 and ticks.exponentformat == "power"  # plain decades


def test_full_vs_first_order_on_drawn_characters_and_its_messages(store):
    from demo.tabs import gradients

    support: list = []
    for label in range(3):
        for _ in range(2):
            support, _ = characters.add_example(character_sketch(label), label + 1, 3, support)
    updates = list(gradients.compare_gradients_handler(store, "episode", "random", 1, 0.4, 5, 0.1, 2, 0, None,
                                                       support))
    assert "3-way episode: the last example of each class is its query" in updates[-1][0]
    assert "| Reptile | 0 | – (g = 0) |" in updates[0][1]  # the zero head: step 1 leaves the body where it was
    with pytest.raises(Problem, match="add at least one drawn example of two classes"):
        list(gradients.compare_gradients_handler(store, "episode", "shipped", 1, 0.4, 5, 0.1, 2, 0, None,
                                                 support[:2]))
    with pytest.raises(Problem, match="Inner steps S must be between 1 and 20"):
        list(gradients.compare_gradients_handler(store, "sampled", "shipped", 21, 0.01, 5, 0.1, 2, 0, None, None))


def test_full_vs_first_order_on_sampled_omniglot_episodes(store, tmp_path):
    from demo import data
    from demo.tabs import gradients
    from tests.omniglot_fixtures import write_characters

    omniglot = data.OmniglotImages(sources=[write_characters(tmp_path / "images_evaluation", drawers=6)], cache=tmp_path / "c")
    updates = list(gradients.compare_gradients_handler(store, "omniglot", "shipped", 1, 0.4, 9, 0.03, 1, 0,
                                                       omniglot=omniglot))
    assert "4 sampled 5-way 1-shot Omniglot episode(s), 5 queries per class" in updates[-1][0]  # capped at 4
    assert "Done on CPU" in updates[-1][0] and "| iMAML |" in updates[0][1]
    assert updates[-1][5].data[0].x == (1,)  # the cost sweep's plot
    assert gradients.family_inner_lr(store, "omniglot")["value"] == store.card("omniglot", "maml")["config"]["inner_lr"]
    offline = data.OmniglotImages(sources=[tmp_path / "nowhere"], cache=tmp_path / "c")
    with pytest.raises(Problem, match="are missing: nowhere"):
        list(gradients.compare_gradients_handler(store, "omniglot", "shipped", 1, 0.4, 2, 0.03, 2, 0, omniglot=offline))


def test_the_meta_steps_effect_shows_each_theta_prime_before_and_after_adapting(store):
    from core.models import predict
    from core.tasks import SinusoidDistribution
    from demo.tabs import gradients

    model, theta, _ = store.get("sinusoid", "maml")
    batch = SinusoidDistribution(support=5, query=5).sample(3, torch.Generator().manual_seed(1))
    lr, beta, steps = 0.01, 0.5, 2
    result = gradients.compute_directions(model, theta, batch, lr, steps, beta)
    effect = result["effect"]
    grid = torch.tensor(effect["grid"]).reshape(-1, 1)
    assert len(effect["tasks"]) == 3
    for i, task in enumerate(effect["tasks"]):
        assert set(task["before"]) == set(task["after"]) == {"theta", *METHODS}
        torch.testing.assert_close(torch.tensor(task["before"]["theta"]), predict(model, theta, grid).flatten())
        phi = {key: value.detach().requires_grad_() for key, value in theta.items()}  # two plain SGD steps by hand
        for _ in range(steps):
            support_loss = ((predict(model, phi, batch[i].x_support) - batch[i].y_support) ** 2).mean()
            phi = {key: (value - lr * g).detach().requires_grad_()
                   for (key, value), g in zip(phi.items(), torch.autograd.grad(support_loss, list(phi.values())))}
        torch.testing.assert_close(torch.tensor(task["after"]["theta"]), predict(model, phi, grid).detach().flatten(),
                                   rtol=1e-5, atol=1e-5)
        assert task["before"]["maml"] != task["before"]["theta"]  # β = 0.5 moves θ′ away from θ
    figure = gradients.plots.effect_figure(effect, gradients.method_labels())
    assert len(figure.data) == 2 * 3 * (1 + 1 + len(METHODS))  # 2 rows × 3 tasks × (support, θ, methods)


def test_meta_train_side_by_side_stops_and_keeps_what_it_learned(store):
    from demo.tabs import metatrain

    playback = Playback()
    run = metatrain.meta_train_handler(store, "maml", "anil", 5, 0.01, 0.001, 1, 500, 0, "sinusoid", playback)
    first = next(run)
    assert "Iteration 25 of 500" in first[0]
    assert {trace.name for trace in first[1].data} == {"MAML", "ANIL"}
    playback.stopped = True
    rest = list(run)
    assert len(rest) == 1 and "Stopped at iteration 50; what was learned is kept." in rest[0][0]
    trained = rest[0][4]
    assert trained["iterations"] == 50 and set(trained["theta"]) == {"maml", "anil"}
    with pytest.raises(Problem, match="choose an algorithm to train"):
        next(metatrain.meta_train_handler(store, "none", "maml", 5, 0.01, 0.001, 1, 50, 0))
    with pytest.raises(Problem, match="Meta-iterations must be between 25 and 2,000"):
        next(metatrain.meta_train_handler(store, "maml", "none", 5, 0.01, 0.001, 1, 5000, 0))


def test_meta_train_characters_trains_conv4_where_a_cuda_device_allows_it(store, tmp_path, monkeypatch):
    from demo import data
    from demo.tabs import gradients, metatrain
    from tests.omniglot_fixtures import write_characters

    folder = write_characters(tmp_path / "images_background", alphabets=("Alpha", "Beta", "Gamma", "Delta"), drawers=6)
    omniglot = data.OmniglotImages(sources=[folder], cache=tmp_path / "cache")
    args = ("fomaml", "anil", 2, 0.01, 0.001, 1, 25, 0, "omniglot")
    with pytest.raises(Problem, match=r"Sinusoid only here: .* needs a CUDA device \(this server: CPU\)"):
        next(metatrain.meta_train_handler(store, *args, omniglot=omniglot))
    assert "not offered for characters" in str(metatrain.characters_problem(torch.device("cuda"), ("maml",)))
    assert metatrain.characters_problem(torch.device("cuda"), ("fomaml", "anil")) is None
    monkeypatch.setattr(metatrain, "characters_problem", lambda device, algorithms: None)  # as on a CUDA device
    updates = list(metatrain.meta_train_handler(store, *args, omniglot=omniglot))
    status, losses, plane, accuracy, trained = updates[-1]
    assert len(updates) == 1 and "Iteration 25 of 25" in status and "Done." in status and plane is None
    assert {trace.name for trace in losses.data} == {"First-order MAML", "ANIL"}
    assert [len(trace.y) for trace in accuracy.data] == [1, 1] and all(0 <= t.y[0] <= 1 for t in accuracy.data)
    assert trained["config"]["task"] == "omniglot" and trained["config"]["inner_lr"] == 0.4
    compared = list(gradients.compare_gradients_handler(store, "omniglot", "trained", 1, 0.4, 1, 0.03, 1, 0,
                                                        trained=trained, omniglot=omniglot))
    assert "Done on CPU" in compared[-1][0]
    with pytest.raises(Problem, match="your meta-trained θ is a Conv4 for characters"):
        list(sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, None, "trained", 0.01, 2, 0.0, 0,
                                     trained=trained))


def test_running_mean_against_a_hand_computed_example():
    from demo.plots import running_mean

    assert running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert running_mean([], 3) == []


def test_a_loaded_page_is_told_the_device_and_offered_characters_training_on_cuda_only():
    from demo.tabs import metatrain

    task, line = metatrain.device_view(torch.device("cpu"))
    assert task["visible"] is False
    assert line.startswith("Caps:") and "needs a CUDA device (this server: CPU)" in line
    task, line = metatrain.device_view(torch.device("cuda"))  # no GPU needed: nothing runs on it
    assert task["visible"] is True
    assert "Conv4 on 5-way 1-shot Omniglot episodes" in line and "needs a CUDA device" not in line

