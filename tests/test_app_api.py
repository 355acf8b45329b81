"""The app launched in-process and driven through gradio_client, reading every streamed update."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from demo import build_app
from demo.store import CheckpointStore
from tests.demo_fixtures import make_assets, served
from tests.test_demo_handlers import character_sketch


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))
    with served(build_app(store)) as url:
        yield Client(url, verbose=False)


def sinusoid_args(**changes):
    args = dict(source="Sine wave", amplitude=2.0, phase=1.0, shots=5, drawing=None,
                points={"headers": ["x", "y"], "data": [], "metadata": None}, algorithm="maml", inner_lr=0.01,
                steps=4, delay=0.0, seed=0)
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


def test_adapt_sinusoid_from_api_points(client):
    points = {"headers": ["x", "y"], "data": [[-2, 1], [0, 0], [2, -1]], "metadata": None}
    result = client.predict(*sinusoid_args(source="Click points", points=points), api_name="/adapt_sinusoid")
    assert "Done" in result[3]


@pytest.mark.parametrize("changes, message", [
    (dict(source="Click points", points={"headers": ["x", "y"], "data": [], "metadata": None}), "no points yet"),
    (dict(source="Click points", points={"headers": ["x", "y"], "data": [[0, "NaN"]], "metadata": None}),
     "finite|number"),
    (dict(source="Click points", points={"headers": ["x", "y"], "data": [[1e12, 0]], "metadata": None}),
     "outside the allowed x range"),
    (dict(source="Click points", points={"headers": ["x", "y"], "data": [[0, 0]] * 41, "metadata": None}),
     "at most 40 points"),
    (dict(steps=1000), "greater than maximum value 100"),  # Gradio checks slider ranges itself
    (dict(inner_lr=-1), "less than minimum value"),
    (dict(amplitude="loud"), "amplitude|number"),
    (dict(shots=0), "less than minimum value 1"),
])
def test_bad_sinusoid_input_is_an_error_result_and_the_server_stays_up(client, changes, message):
    with pytest.raises(Exception, match=message):
        client.predict(*sinusoid_args(**changes), api_name="/adapt_sinusoid")
    assert "Done" in client.predict(*sinusoid_args(steps=1), api_name="/adapt_sinusoid")[3]


def sketch_file(tmp_path, array, name) -> dict:
    path = tmp_path / f"{name}.png"
    Image.fromarray(array).save(path)
    return {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}


def test_characters_through_the_api(client, tmp_path):
    for label in range(3):
        client.predict(sketch_file(tmp_path, character_sketch(label), f"s{label}"), f"Class {label + 1}", 3,
                       api_name="/add_example")
    job = client.submit(3, 1, sketch_file(tmp_path, character_sketch(1), "q"), "maml", 0.4, 3, 0.0,
                        api_name="/adapt_characters")
    job.result(timeout=120)
    updates = job.outputs()  # every streamed update, in order
    assert job.status().success and sum("Step" in u[3] for u in updates) >= 4


@pytest.mark.parametrize("array, message", [
    (np.full((200, 200, 3), 255, np.uint8), "blank"),
    (np.pad(np.full((3, 3, 3), 0, np.uint8), ((98, 99), (98, 99), (0, 0)), constant_values=255), "dot|blank|small"),
])
def test_bad_sketches_through_the_api(client, tmp_path, array, message):
    with pytest.raises(Exception, match=message):
        client.predict(sketch_file(tmp_path, array, "bad"), "Class 1", 3, api_name="/add_example")


def test_huge_image_through_the_api(client, tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (10000, 10000), 255).save(path)
    with pytest.raises(Exception, match="too large|at most|pixels"):
        client.predict({"background": None, "layers": [], "composite": handle_file(str(path)), "id": None},
                       "Class 1", 3, api_name="/add_example")
    assert "Done" in client.predict(*sinusoid_args(steps=1), api_name="/adapt_sinusoid")[3]


def test_wrong_type_through_the_api(client):
    with pytest.raises(Exception, match="N \\(classes\\): expected a number, got 'three'"):
        client.predict(None, "Class 1", "three", api_name="/add_example")


def test_too_few_drawings_through_the_api(tmp_path, client):
    fresh = Client(client.src, verbose=False)  # a new session: its support set is empty
    with pytest.raises(Exception, match="need 1 example\\(s\\) for each of the 3 classes"):
        fresh.predict(3, 1, sketch_file(tmp_path, character_sketch(1), "q"), "maml", 0.4, 3, 0.0,
                      api_name="/adapt_characters")
