"""Hostile input through gradio_client, table-driven over every public endpoint.

Each case must come back as an error result whose message is specific (it matches the case's
pattern) and clean (no traceback, server path, library internals or long echo); after it the
server still answers a normal request.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from demo import build_app
from demo.data import OmniglotImages
from demo.errors import MESSAGE_CHARS
from demo.store import CheckpointStore
from tests.demo_fixtures import EMPTY_POINTS, character_sketch, make_assets, served
from tests.demo_fixtures import sinusoid_request as sinusoid

INTERNALS = re.compile(r"Traceback|File \"|/tmp/|/root/|site-packages|object at 0x|Could not preprocess|"
                       r"Original error|miniz|linalg|NoneType|inhomogeneous|pydantic|validation error for")
LONG = "x" * 20_000_000  # a 20 MB string


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Image files of every awkward kind, written once."""
    folder = tmp_path_factory.mktemp("hostile")

    def save(name: str, image: Image.Image) -> str:
        image.save(folder / name)
        return str(folder / name)

    paths = {
        "huge": save("huge.png", Image.new("L", (10_000, 10_000), 255)),  # 10⁸ pixels, a small file
        "wide": save("wide.png", Image.new("L", (9_000, 1), 0)),
        "tiny_layer": save("tiny.png", Image.new("RGBA", (1, 1), (0, 0, 0, 255))),
        "blank": save("blank.png", Image.new("RGB", (200, 200), "white")),
        "dot": save("dot.png", Image.fromarray(np.pad(np.zeros((3, 3, 3), np.uint8), ((98, 99), (98, 99), (0, 0)),
                                                      constant_values=255))),
        "sketch": save("sketch.png", Image.fromarray(character_sketch(1))),
    }
    (folder / "not_an_image.png").write_bytes(b"%PDF-1.4 this is not a picture" * 100)
    paths["bytes"] = str(folder / "not_an_image.png")
    return paths


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))
    omniglot = OmniglotImages(sources=[Path("/nowhere/images_evaluation.zip")], cache=tmp_path_factory.mktemp("o"))
    with served(build_app(store, omniglot)) as url:
        yield Client(url, verbose=False)


def points(rows) -> dict:
    return {"headers": ["x", "y"], "data": rows, "metadata": None}


def editor(composite=None, layers=()) -> dict:
    return {"background": None, "layers": list(layers), "composite": composite, "id": None}


def characters(**changes) -> list:
    args = dict(ways=3, shots=1, query=editor("sketch"), algorithm="maml", inner_lr=0.4, steps=2, delay=0.0)
    args.update(changes)
    return list(args.values())



def compare(**changes) -> list:
    args = dict(source="sampled", theta="shipped", steps=1, inner_lr=0.01, tasks=2, meta_lr=0.1, sweep=1, seed=0)
    args.update(changes)
    return list(args.values())


def train(**changes) -> list:
    args = dict(first="maml", second="none", meta_batch=2, inner_lr=0.01, meta_lr=0.001, steps=1, iterations=25,
                seed=0, task="sinusoid")
    args.update(changes)
    return list(args.values())


# (endpoint, arguments (file names stand for uploads), the message pattern). NaN and inf go as the strings
# "nan" and "inf": the client's JSON encoder refuses the floats, and the server parses both alike.
CASES = [
    # wrong types and shapes
    ("adapt_sinusoid", sinusoid(source="Bogus"), "Support set|choices|source"),
    ("adapt_sinusoid", sinusoid(source=None), "Support set|choices|source"),
    ("adapt_sinusoid", sinusoid(source=7), "Support set|choices|source"),
    ("adapt_sinusoid", sinusoid(amplitude="loud"), "Amplitude A: expected a number"),
    ("adapt_sinusoid", sinusoid(amplitude=[1, 2]), "Amplitude A: expected a number"),
    ("adapt_sinusoid", sinusoid(amplitude=None), "amplitude must be a number|Amplitude A"),
    ("adapt_sinusoid", sinusoid(shots="ten"), "K \\(support points\\): expected a number"),
    ("adapt_sinusoid", sinusoid(shots=2.5), "K \\(support points\\) must be a whole number"),
    ("adapt_sinusoid", sinusoid(steps=1.5), "Inner steps S must be a whole number"),
    ("adapt_sinusoid", sinusoid(seed="x"), "Seed: expected a number"),
    ("adapt_sinusoid", sinusoid(algorithm=None), "no checkpoint for algorithm None|Algorithm"),
    ("adapt_sinusoid", sinusoid(algorithm=["maml"]), "no checkpoint for algorithm|Algorithm"),
    ("adapt_sinusoid", sinusoid(source="click", points="1,2;3,4"), "Points: expected a table"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[1, 2, 3]])), "Points|pair|x, y"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([["a", "b"]])), "finite|number|Points"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[1], [2, 3]])), "Points|pair|finite"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[0, 0]] * 10_000)), "at most 40 points"),
    ("adapt_sinusoid", sinusoid(source="click", points=EMPTY_POINTS), "no points yet"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing=None), "nothing drawn yet"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing="a curve"), "Draw a curve|drawing"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing=editor()), "nothing drawn yet"),
    # NaN, inf, huge and negative numbers
    ("adapt_sinusoid", sinusoid(amplitude="nan"), "Amplitude A: expected a number|amplitude must be between"),
    ("adapt_sinusoid", sinusoid(amplitude="inf"), "Amplitude A: expected a number|maximum value"),
    ("adapt_sinusoid", sinusoid(amplitude=-5), "less than minimum value 0.1"),
    ("adapt_sinusoid", sinusoid(amplitude=1e308), "greater than maximum value 10"),
    ("adapt_sinusoid", sinusoid(phase="nan"), "Phase b: expected a number|phase must be between"),
    ("adapt_sinusoid", sinusoid(shots=0), "less than minimum value 1"),
    ("adapt_sinusoid", sinusoid(shots=10**9), "greater than maximum value 20"),
    ("adapt_sinusoid", sinusoid(steps=-1), "less than minimum value 0"),
    ("adapt_sinusoid", sinusoid(steps=1000), "greater than maximum value 100"),
    ("adapt_sinusoid", sinusoid(inner_lr=-1), "less than minimum value"),
    ("adapt_sinusoid", sinusoid(inner_lr="nan"), "inner learning rate\\)(: expected a number| must be between)"),
    ("adapt_sinusoid", sinusoid(inner_lr=1e9), "greater than maximum value"),
    ("adapt_sinusoid", sinusoid(delay=-1), "less than minimum value 0"),
    ("adapt_sinusoid", sinusoid(delay=100), "greater than maximum value"),
    ("adapt_sinusoid", sinusoid(seed=-1), "less than minimum value 0"),
    ("adapt_sinusoid", sinusoid(seed=2**40), "Seed must be between 0 and 2,147,483,647"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[0, "nan"]])), "finite"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[0, "inf"]])), "finite|outside"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[1e12, 0]])), "outside the allowed x range"),
    ("adapt_sinusoid", sinusoid(source="click", points=points([[0, -1e300]])), "outside|at most|y"),
    # unknown and path-like names, long strings
    ("adapt_sinusoid", sinusoid(algorithm="magic"), "Algorithm: 'magic' is not one of the choices"),
    ("adapt_sinusoid", sinusoid(algorithm="../../etc/passwd"), "Algorithm: .* is not one of the choices"),
    ("adapt_sinusoid", sinusoid(algorithm="/etc/passwd"), "Algorithm: .* is not one of the choices"),
    ("adapt_sinusoid", sinusoid(algorithm=LONG), "Algorithm: 'x+\\.\\.\\.x+' is not one of the choices"),
    ("adapt_sinusoid", sinusoid(source=LONG), "Support set|choices|source"),
    # giant, degenerate and foreign images
    ("adapt_sinusoid", sinusoid(source="draw", drawing=editor(layers=["huge"])), "more than .* pixels"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing=editor(layers=["wide"])), "at most 4096 pixels a side"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing=editor(layers=["tiny_layer"])), "must cover the"),
    ("adapt_sinusoid", sinusoid(source="draw", drawing=editor(layers=["bytes"])), "not an image"),
    ("replay_sinusoid", [0], "run Adapt first"),
    ("replay_sinusoid", [3], "greater than maximum value 1"),
    ("replay_sinusoid", ["abc"], "expected a number"),
    ("replay_sinusoid", [-5], "less than minimum value|step must be between"),
    ("replay_sinusoid", ["nan"], "step must be between|expected a number"),
    ("add_example", [None, 1, 3], "sketch is empty"),
    ("add_example", [editor("blank"), 1, 3], "blank"),
    ("add_example", [editor("dot"), 1, 3], "dot|blank|small"),
    ("add_example", [editor("huge"), 1, 3], "more than .* pixels"),
    ("add_example", [editor("bytes"), 1, 3], "not an image"),
    ("add_example", ["a drawing", 1, 3], "Draw an example|drawing"),
    ("add_example", [editor("sketch"), 99, 3], "choose a class from 1 to 3"),
    ("add_example", [editor("sketch"), "../../x", 3], "choose a class|Class of this example"),
    ("add_example", [editor("sketch"), LONG, 3], "choose a class|Class of this example"),
    ("add_example", [editor("sketch"), 1, "three"], "N \\(classes\\): expected a number"),
    ("add_example", [editor("sketch"), 1, 0], "less than minimum value 2"),
    ("add_example", [editor("sketch"), 1, 1e9], "greater than maximum value 10"),
    ("add_example", [editor("sketch"), 1, "nan"], "N \\(classes\\)(: expected a number| must be between)"),
    ("compare_gradients", compare(source="Sampled sinusoid tasks"), "Tasks: .* is not one of the choices"),
    ("compare_gradients", compare(theta="../../etc/passwd"), "θ: .* is not one of the choices"),
    ("compare_gradients", compare(steps=21), "greater than maximum value 20|Inner steps S must be between"),
    ("compare_gradients", compare(source="omniglot"), "sources named in MAML_PLAYGROUND_OMNIGLOT are missing: "
                                                      "images_evaluation.zip"),
    ("compare_gradients", compare(steps=0), "less than minimum value 1|Inner steps S must be between"),
    ("compare_gradients", compare(inner_lr="nan"), "α \\(inner learning rate\\)"),
    ("compare_gradients", compare(tasks=10**6), "greater than maximum value 25|Meta-batch"),
    ("compare_gradients", compare(sweep=1.5), "Cost sweep up to S must be a whole number"),
    ("compare_gradients", compare(source="mine"), "run Adapt in the Sinusoid tab first"),
    ("compare_gradients", compare(source="episode"), "add at least one drawn example of two classes"),
    ("meta_train", train(first="Reptile"), "Algorithm: .* is not one of the choices"),
    ("meta_train", train(task="../omniglot"), "Tasks: .* is not one of the choices"),
    ("meta_train", train(task="omniglot"), "needs a CUDA device \\(this server: CPU\\)"),
    ("meta_train", train(iterations=10**7), "greater than maximum value 2000|Meta-iterations"),
    ("meta_train", train(meta_batch=0), "less than minimum value 1|Meta-batch"),
    ("meta_train", train(steps="nan"), "Inner steps S"),
    ("meta_train", train(meta_lr=-1), "less than minimum value|β"),
    ("use_trained", [], "meta-train first"),
    ("clear_examples", ["three"], "N \\(classes\\): expected a number"),
    ("clear_examples", [0], "less than minimum value 2"),
    ("clear_examples", [10**9], "greater than maximum value 10"),
    ("adapt_characters", characters(), "need 1 example\\(s\\) for each of the 3 classes"),
    ("adapt_characters", characters(ways=100), "greater than maximum value 10"),
    ("adapt_characters", characters(shots=0), "less than minimum value 1"),
    ("adapt_characters", characters(query=None), "sketch is empty|need 1 example"),
    ("adapt_characters", characters(query=editor("huge")), "more than .* pixels"),
    ("adapt_characters", characters(algorithm="nope"), "Algorithm: 'nope' is not one of the choices \\(maml\\)"),
    ("adapt_characters", characters(inner_lr="nan"), "inner learning rate\\)(: expected a number| must be between)"),
    ("adapt_characters", characters(steps=999), "greater than maximum value 20"),
    ("adapt_characters", characters(delay="inf"), "Delay per step \\(s\\): expected a number|greater than maximum"),
]


def upload(value, files: dict):
    """Replace file names in an argument by uploads of those files."""
    if isinstance(value, str) and value in files:
        return handle_file(files[value])
    if isinstance(value, dict):
        return {k: upload(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [upload(v, files) for v in value]
    return value


@pytest.mark.parametrize("endpoint, args, pattern", CASES,
                         ids=[f"{i}-{case[0]}" for i, case in enumerate(CASES)])
def test_hostile_input_gets_a_specific_clean_message_and_the_server_stays_up(client, files, endpoint, args, pattern):
    fresh = Client(client.src, verbose=False)  # its own session: nothing left from another case
    with pytest.raises(Exception) as refused:
        fresh.predict(*upload(args, files), api_name=f"/{endpoint}")
    message = str(refused.value)
    assert re.search(pattern, message), message[:500]
    assert not INTERNALS.search(message), message[:500]
    assert len(message) <= MESSAGE_CHARS + 200, len(message)  # the client may add a short preamble
    assert "Done" in client.predict(*sinusoid(steps=0), api_name="/adapt_sinusoid")[3]


def test_there_are_at_least_sixty_cases_over_every_endpoint(client):
    api = client.view_api(print_info=False, return_format="dict")
    endpoints = {name.lstrip("/") for name in api["named_endpoints"]}
    assert len(CASES) >= 60 and {case[0] for case in CASES} == endpoints


def raw_call(url: str, api_name: str, data: list) -> dict:
    """One event sent as the browser sends it (JSON over /queue/join, the result read from the SSE stream).

    gradio_client would upload a file dict from the client's own disk; this sends the path itself.
    """
    import json
    import uuid

    import httpx

    config = httpx.get(f"{url}config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex[:10]
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = httpx.post(f"{url}gradio_api/queue/join", timeout=30, headers={"content-type": "application/json"},
                        content=json.dumps(body))  # json.dumps writes NaN and Infinity, as a browser could send
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the stream ended without a result")


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd", "/proc/self/environ", "assets/x.pt"])
def test_a_file_path_the_server_did_not_hand_out_is_refused(client, path):
    drawing = editor(composite={"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.png"})
    result = raw_call(client.src, "add_example", [drawing, 1, 3, None])
    message = result["output"]["error"]
    assert not result["success"] and "not uploaded to this server" in message and path not in message
    assert "Done" in client.predict(*sinusoid(steps=0), api_name="/adapt_sinusoid")[3]


def test_nan_and_inf_sent_as_json_numbers_are_refused_by_name(client):
    for value in (float("nan"), float("inf"), -float("inf")):
        result = raw_call(client.src, "adapt_sinusoid", [*sinusoid(amplitude=value), None, None])  # two states
        refused = "Amplitude A must be between|(greater|less) than (maximum|minimum) value"
        assert not result["success"] and re.search(refused, result["output"]["error"])
