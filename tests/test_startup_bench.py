"""bench.startup: the one-block Gradio app it compares app.py with really serves, and is timed to its first 200."""
from __future__ import annotations

import sys

import pytest

from bench import startup


def test_the_one_block_floor_is_a_gradio_app_that_answers_200():
    seconds = startup.first_200(startup.ONE_BLOCK)
    assert 0 < seconds < 120  # first_200 raises if "/" never answers 200 within 120 s


def test_a_server_that_never_answers_is_reported_not_waited_on_forever(monkeypatch):
    monkeypatch.setattr(startup.time, "sleep", lambda seconds: None)
    clock = iter(range(0, 10_000, 30))  # each reading of the clock 30 s after the last
    monkeypatch.setattr(startup.time, "perf_counter", lambda: next(clock))
    with pytest.raises(RuntimeError, match="did not answer within 120 s"):
        startup.first_200([sys.executable, "-c", "import time; time.sleep(60)"])
