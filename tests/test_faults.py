"""Faults: an expiring pause, an out-of-memory request, and bad, corrupt or tampered checkpoints."""
from __future__ import annotations

import json
import re
import shutil
import time

import pytest
import torch
from gradio_client import Client

import core.landscape
import core.trace
from core.checkpoints import card_path, sha256_of, write_manifest
from demo import build_app, session
from demo.session import PAUSE_EXPIRED, TIME_LIMIT, Playback
from demo.tabs import sinusoid
from demo.store import CheckpointStore, CheckpointUnavailable
from tests.demo_fixtures import make_assets, served
from tests.demo_fixtures import sinusoid_request as sinusoid_args
from tests.helpers import figure


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return make_assets(tmp_path_factory.mktemp("assets"))


def copy_assets(assets, tmp_path):
    folder = tmp_path / "assets"
    shutil.copytree(assets, folder)
    return folder


def test_a_pause_expires_and_hands_control_back_while_it_waits(monkeypatch):
    monkeypatch.setattr(session, "PAUSE_LIMIT_S", 0.6)
    monkeypatch.setattr(session, "TICK_S", 0.05)
    controls = Playback()
    controls.start()
    controls.paused = True
    waiting = controls.hold(0.0, "tick")
    ticks = 0
    with pytest.raises(StopIteration) as ended:
        while True:
            wait = next(waiting)  # sleep as demo.serving.computes would
            time.sleep(wait.seconds)
            ticks += wait.tick == "tick"
    assert ended.value.value == PAUSE_EXPIRED and ticks >= 3  # it handed control back while it waited


def test_a_run_ends_at_its_time_limit(monkeypatch):
    monkeypatch.setattr(session, "RUN_LIMIT_S", 0.0)
    controls = Playback()
    controls.start()
    waiting = controls.hold(0.01, "tick")
    wait = next(waiting)
    assert wait.seconds <= 0.01 and wait.tick is None  # not paused: the delay alone, no tick
    time.sleep(0.01)
    with pytest.raises(StopIteration) as ended:
        next(waiting)
    assert ended.value.value == TIME_LIMIT


def test_an_expired_pause_keeps_the_steps_and_the_replay(assets, monkeypatch):
    monkeypatch.setattr(session, "PAUSE_LIMIT_S", 0.2)
    monkeypatch.setattr(session, "TICK_S", 0.05)
    controls = Playback()
    run = sinusoid.adapt_sinusoid(CheckpointStore(assets, torch.device("cpu")), "sine", 2.0, 1.0, 5, None, [],
                                  "maml", 0.01, 50, 0.0, 0, controls)
    next(run), next(run)  # steps 0 and 1
    controls.paused = True
    updates = list(run)
    final = updates[-1]
    assert "Paused for over" in final[3] and "Done: " in final[3]
    records = final[4]["trace"]["records"]
    assert 2 <= len(records) < 51 and final[4]["landscape"] is not None
    assert figure(sinusoid.scrub(final[4], 1)[0]).layout.title.text.startswith("step 1")


def test_out_of_memory_in_one_request_frees_the_cache_and_the_next_request_works(assets, monkeypatch):
    released = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: released.append(True))
    real = core.trace.trace_records
    calls = []

    def out_of_memory_once(*args, **kwargs):
        calls.append(True)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(core.trace, "trace_records", out_of_memory_once)  # where the tab finds it when it runs
    store = CheckpointStore(assets, torch.device("cpu"))
    with served(build_app(store)) as url:
        client = Client(url, verbose=False)
        with pytest.raises(Exception, match="ran out of memory for this request") as refused:
            client.predict(*sinusoid_args(), api_name="/adapt_sinusoid")
        assert "20.00 GiB" not in str(refused.value) and released == [True]
        assert "Done: 2 step(s)" in client.predict(*sinusoid_args(), api_name="/adapt_sinusoid")[3]


def test_a_bad_model_card_disables_that_checkpoint_and_the_app_still_starts(assets, tmp_path):
    folder = copy_assets(assets, tmp_path)
    card_path(folder / "sinusoid_anil.pt").write_text("{ not json")
    card = json.loads(card_path(folder / "sinusoid_blackbox.pt").read_text())
    card_path(folder / "sinusoid_blackbox.pt").write_text(json.dumps({k: v for k, v in card.items() if k != "config"}))
    store = CheckpointStore(folder, torch.device("cpu"))
    assert store.available("sinusoid") == ["maml"]
    problems = " ".join(store.problems("sinusoid"))
    assert "ANIL is unavailable: its model card is not valid JSON." in problems
    assert "Black box (transformer) is unavailable: its model card lacks the field config." in problems
    assert str(folder) not in problems
    app = build_app(store)  # the app builds, and the tab says which checkpoints are off and why
    notes = [block.value for block in app.blocks.values() if getattr(block, "elem_id", None) == "sinusoid-checkpoint"]
    assert "not valid JSON" in notes[0] and "**MAML** checkpoint" in notes[0]


def test_a_corrupt_checkpoint_is_disabled_with_a_message_not_the_loaders_text(assets, tmp_path):
    folder = copy_assets(assets, tmp_path)
    path = folder / "sinusoid_maml.pt"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)  # a broken zip, with the card and manifest made to agree
    card = json.loads(card_path(path).read_text())
    card_path(path).write_text(json.dumps({**card, "sha256": sha256_of(path)}))
    write_manifest(folder)
    store = CheckpointStore(folder, torch.device("cpu"))
    assert "maml" in store.available("sinusoid")  # its hashes agree: only loading finds the damage
    with pytest.raises(CheckpointUnavailable, match="MAML is unavailable: checkpoint sinusoid_maml.pt is not a "
                                                    "readable state dict of tensors") as refused:
        store.get("sinusoid", "maml")
    assert "miniz" not in str(refused.value) and "zip" not in str(refused.value).lower()
    assert "maml" not in store.available("sinusoid")
    with served(build_app(store)) as url:
        with pytest.raises(Exception, match="is not one of the choices|MAML is unavailable"):
            Client(url, verbose=False).predict(*sinusoid_args(), api_name="/adapt_sinusoid")


@pytest.mark.parametrize("edit_card", [False, True])
def test_a_tampered_checkpoint_is_refused_even_with_its_card_edited_to_match(assets, tmp_path, edit_card):
    folder = copy_assets(assets, tmp_path)
    path = folder / "sinusoid_maml.pt"
    state = torch.load(path, weights_only=True)
    torch.save({key: value + 0.5 for key, value in state.items()}, path)  # other weights, a valid file
    if edit_card:  # the attacker also rewrites the card's sha256; SHA256SUMS still has the published one
        card = json.loads(card_path(path).read_text())
        card_path(path).write_text(json.dumps({**card, "sha256": sha256_of(path)}))
    store = CheckpointStore(folder, torch.device("cpu"))
    reason = "its model card and SHA256SUMS give different sha256s" if edit_card else \
        "its file does not match the sha256 published for it"
    with pytest.raises(CheckpointUnavailable, match=reason):
        store.get("sinusoid", "maml")
    assert "maml" not in store.available("sinusoid") and "anil" in store.available("sinusoid")


def test_a_checkpoint_missing_from_the_manifest_is_not_offered(assets, tmp_path):
    folder = copy_assets(assets, tmp_path)
    manifest = folder / "SHA256SUMS"
    kept = [line for line in manifest.read_text().splitlines() if "sinusoid_anil" not in line]
    manifest.write_text("".join(line + "\n" for line in kept))
    store = CheckpointStore(folder, torch.device("cpu"))
    assert "anil" not in store.available("sinusoid")
    assert "ANIL is unavailable: it is not listed in SHA256SUMS." in store.problems("sinusoid")


def test_past_the_queue_size_a_request_is_told_the_app_is_busy(assets):
    store = CheckpointStore(assets, torch.device("cpu"))
    with served(build_app(store), runs=1, queue_size=2) as url:
        jobs = [Client(url, verbose=False).submit(*sinusoid_args(steps=20, delay=0.3), api_name="/adapt_sinusoid")
                for _ in range(5)]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(job.result(timeout=120)[3])
            except Exception as error:  # noqa: BLE001 -- the refusals are what this test counts
                outcomes.append(f"refused: {error}")
    refused = [o for o in outcomes if o.startswith("refused")]
    assert refused and all("Queue is full" in o and "try again" in o for o in refused), outcomes
    assert sum("Done: 20 step(s)" in o for o in outcomes) >= 2, outcomes


def test_a_cancelled_run_frees_its_slot_at_once(assets):
    store = CheckpointStore(assets, torch.device("cpu"))
    with served(build_app(store), runs=1) as url:
        client = Client(url, verbose=False)
        long_run = client.submit(*sinusoid_args(steps=100, delay=1.0), api_name="/adapt_sinusoid")
        deadline = time.time() + 60
        while not long_run.outputs() and time.time() < deadline:  # it holds the only slot
            time.sleep(0.05)
        assert long_run.outputs(), "the long run never started"
        long_run.cancel()
        cancelled = time.time()
        assert "Done: 0 step(s)" in Client(url, verbose=False).predict(*sinusoid_args(steps=0),
                                                                       api_name="/adapt_sinusoid")[3]
        assert time.time() - cancelled < 10


def test_a_fault_reaches_the_user_as_a_reference_and_the_log_as_a_traceback(assets, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail at /srv/secret/path.py")

    monkeypatch.setattr(core.landscape, "adaptation_landscape", broken)
    store = CheckpointStore(assets, torch.device("cpu"))
    with served(build_app(store)) as url:
        with pytest.raises(Exception) as refused:
            Client(url, verbose=False).predict(*sinusoid_args(), api_name="/adapt_sinusoid")
    message = str(refused.value)
    reference = re.search(r"reference ([0-9a-f]{8})", message).group(1)
    assert "internal detail" not in message and "/srv" not in message
    faults = [r for r in caplog.records if r.name == "maml_playground" and reference in r.getMessage()]
    assert faults and faults[0].exc_info and "internal detail" in str(faults[0].exc_info[1])
