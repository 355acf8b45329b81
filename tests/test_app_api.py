"""The app launched in-process and driven through gradio_client, reading every streamed update."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from demo import build_app
from demo.serving import COMPUTE_SLOTS, PROCESS
from demo.session import FRAME_S
from demo.store import CheckpointStore
from tests.demo_fixtures import character_sketch, make_assets, served

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))
    with served(build_app(store)) as url:
        yield Client(url, verbose=False)


def sinusoid_args(**changes):
    args = dict(source="sine", amplitude=2.0, phase=1.0, shots=5, drawing=None,
                points={"headers": ["x", "y"], "data": [], "metadata": None}, algorithm="maml", inner_lr=0.01,
                steps=4, delay=FRAME_S, seed=0)  # every step its own update
    args.update(changes)
    return list(args.values())


def test_adapt_sinusoid_streams_each_step(client):
    job = client.submit(*sinusoid_args(), api_name="/adapt_sinusoid")
    job.result(timeout=120)
    updates = job.outputs()  # every streamed update, in order
    assert job.status().success
    statuses = [update[3] for update in updates]
    assert sum("Step" in s for s in statuses) >= 5  # k = 0..4 streamed one by one
    assert "Done: 4 step(s)" in statuses[-1]
    assert "CPU" in updates[-1][-1]  # the device badge (gr.State outputs are not sent to clients)
    curves = json.loads(updates[-2][0])  # a plot's output is its plotly figure's JSON (demo.plot_view.PlotView)
    assert "f(x; φ_4)" in [trace.get("name") for trace in curves["data"]]


def test_the_page_gets_plotly_js_and_no_other_file_beside_it(client):
    """The plot views load the plotly.js of the installed plotly, which Gradio serves as the one allowed file of
    its folder."""
    from demo.plot_view import PLOTLY_JS

    def get(path: Path) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{client.src.rstrip('/')}/gradio_api/file={path.as_posix()}") as response:
                return response.status, response.read(200)
        except urllib.error.HTTPError as error:
            return error.code, b""

    status, start = get(PLOTLY_JS)
    assert status == 200 and b"plotly.js" in start
    assert get(PLOTLY_JS.parent / "widgetbundle.js")[0] in (403, 404)


def test_adapt_sinusoid_from_api_points(client):
    points = {"headers": ["x", "y"], "data": [[-2, 1], [0, 0], [2, -1]], "metadata": None}
    result = client.predict(*sinusoid_args(source="click", points=points), api_name="/adapt_sinusoid")
    assert "Done" in result[3]


def sketch_file(tmp_path, array, name) -> dict:
    path = tmp_path / f"{name}.png"
    Image.fromarray(array).save(path)
    return {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}


def test_characters_through_the_api(client, tmp_path):
    for label in range(3):
        client.predict(sketch_file(tmp_path, character_sketch(label), f"s{label}"), label + 1, 3,
                       api_name="/add_example")
    job = client.submit(3, 1, sketch_file(tmp_path, character_sketch(1), "q"), "maml", 0.4, 3, FRAME_S,
                        api_name="/adapt_characters")
    job.result(timeout=120)
    updates = job.outputs()  # every streamed update, in order
    assert job.status().success and sum("Step" in u[3] for u in updates) >= 4


def readme_snippet() -> str:
    """The Python block of the README's "Driving it from Python" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Driving it from Python"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]


def test_the_readme_api_snippet_runs_as_written(client, tmp_path):
    for name, kind in (("a.png", 0), ("b.png", 1), ("c.png", 2), ("query.png", 1)):
        Image.fromarray(character_sketch(kind)).save(tmp_path / name)
    snippet = readme_snippet()
    assert 'Client("http://127.0.0.1:7860/")' in snippet
    script = tmp_path / "snippet.py"
    script.write_text(snippet.replace("http://127.0.0.1:7860/", client.src))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any("Done: 5 step(s)" in line for line in lines) and any("Step 3 of 3" in line for line in lines)


def compare_args(**changes):
    args = dict(source="sampled", theta="shipped", steps=1, inner_lr=0.01, tasks=3, meta_lr=0.1, sweep=3, seed=0)
    args.update(changes)
    return list(args.values())


def test_compare_gradients_streams_directions_then_costs(client):
    job = client.submit(*compare_args(), api_name="/compare_gradients")
    job.result(timeout=300)
    updates = job.outputs()
    assert job.status().success and len(updates) == 2
    status, table = updates[0][0], updates[0][1]
    assert "measuring the cost at S = 1 … 3" in status and "Done on CPU" in updates[1][0]
    for name in ("MAML", "First-order MAML", "ANIL", "Reptile", "iMAML"):
        assert f"| {name} |" in table
    assert "g_MAML = g_FO − α·H·g_FO" in table and "create_graph=True" in table
    assert "meta-step helped most" in table or "no meta-step helped" in table


def test_compare_gradients_takes_the_sinusoid_tabs_task_in_the_same_session(client):
    with pytest.raises(Exception, match="run Adapt in the Sinusoid tab first"):
        Client(client.src, verbose=False).predict(*compare_args(source="mine"), api_name="/compare_gradients")
    client.predict(*sinusoid_args(steps=2), api_name="/adapt_sinusoid")
    result = client.predict(*compare_args(source="mine", steps=2, sweep=2), api_name="/compare_gradients")
    assert "Done on CPU" in result[0] and "S = 1:" not in result[1]  # the decomposition is shown at S = 1 only


def train_args(**changes):
    args = dict(first="maml", second="fomaml", meta_batch=5, inner_lr=0.01, meta_lr=0.001, steps=1, iterations=50,
                seed=0, task="sinusoid")
    args.update(changes)
    return list(args.values())


def test_meta_train_streams_and_its_theta_reaches_the_other_tabs(client):
    session = Client(client.src, verbose=False)
    with pytest.raises(Exception, match="meta-train first"):
        session.predict(api_name="/use_trained")
    job = session.submit(*train_args(), api_name="/meta_train")
    job.result(timeout=300)
    updates = job.outputs()
    assert job.status().success and len(updates) == 2  # every 25 iterations
    assert "Iteration 25 of 50" in updates[0][0] and "Iteration 50 of 50" in updates[1][0] and "Done" in updates[1][0]
    assert "now offered" in session.predict(api_name="/use_trained")
    compared = session.predict(*compare_args(theta="trained", sweep=1), api_name="/compare_gradients")
    assert "Done on CPU" in compared[0]
    adapted = session.predict(*sinusoid_args(algorithm="trained", steps=2), api_name="/adapt_sinusoid")
    assert "Done: 2 step(s)" in adapted[3]
    with pytest.raises(Exception, match="meta-train a θ first"):  # another session has no θ of its own
        Client(client.src, verbose=False).predict(*sinusoid_args(algorithm="trained"), api_name="/adapt_sinusoid")


def test_meta_train_cancelled_through_the_api_keeps_what_it_learned(client):
    import time

    session = Client(client.src, verbose=False)
    job = session.submit(*train_args(second="none", iterations=2000), api_name="/meta_train")
    deadline = time.monotonic() + 120
    while len(job.outputs()) < 2 and time.monotonic() < deadline:  # two updates: 50 iterations done
        time.sleep(0.05)
    assert len(job.outputs()) >= 2
    slots = PROCESS["compute"]

    def busy_samples() -> int:  # the run takes a slot for every chunk of 25 iterations (~0.3 s each)
        busy = 0
        for _ in range(20):
            busy += slots._value < COMPUTE_SLOTS
            time.sleep(0.1)
        return busy

    assert busy_samples() > 0  # the probe sees the run computing
    job.cancel()
    carried = session.predict(api_name="/use_trained")
    iterations = int(carried.split("(")[1].split(" ")[0].replace(",", ""))
    assert "now offered" in carried and 50 <= iterations < 2000, carried
    time.sleep(1.0)  # a chunk already computing may finish; then nothing computes for the cancelled run
    assert busy_samples() == 0
    assert session.predict(api_name="/use_trained") == carried  # and the session's θ is the one it had


def test_sessions_make_their_block_configs_when_needed_and_list_what_gradios_own_would():
    """A served app's sessions are LazySessions: a client's events make no config of the blocks they set (a
    state, an update, gr.skip()) until one is read, and the full list (a deep link's) equals what Gradio's own
    SessionState makes after the same updates."""
    import gradio as gr
    from gradio.state_holder import SessionState

    from demo.serving import LazySession, LazySessions

    with gr.Blocks() as app:
        count = gr.State(0)
        boxes = [gr.Textbox(f"box {index}") for index in range(20)]
        shown, limit = gr.Number(), gr.Slider(0, 10)
        gr.Button().click(lambda c: (c + 1, c + 1, gr.update(maximum=10 + c), gr.skip()), count,
                          [count, shown, limit, boxes[0]], api_name="count")
    with served(app) as url:
        client = Client(url, verbose=False)
        assert client.predict(api_name="/count")[0] == 1 and client.predict(api_name="/count")[0] == 2  # per session
        assert isinstance(app.server_app.state_holder, LazySessions)
        session = app.server_app.state_holder[client.session_hash]
        assert isinstance(session, LazySession) and len(session.config_values) == 1 < len(app.blocks)  # the Number's
        assert {count._id, limit._id, boxes[0]._id} <= session.outdated  # set, their configs not yet made
        gradios = SessionState(app)
        for key, value in session.state_data.items():
            gradios[key] = value
        for key in (limit._id, boxes[0]._id):  # as Gradio's postprocessing sets an update's block afresh
            gradios[key] = session.blocks_config.blocks[key]
            gradios._update_config(key)
        assert gradios.config_values[limit._id]["props"]["maximum"] == 11
        for key, config in session.config_values.items():
            if "props" in config and "value" in config["props"]:
                gradios._update_value_in_config(key, config["props"]["value"])
        assert list(session.components) == list(gradios.components) and len(list(gradios.components)) > 20
