"""Runs on the shared store in many threads at once give exactly what each gives alone."""
from __future__ import annotations

import threading

import pytest
import torch

from core.trace import trace_records
from core.registry import inner_config
from demo import inputs
from demo.store import CheckpointStore
from tests.demo_fixtures import character_sketch, make_assets


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> CheckpointStore:
    return CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))


def sinusoid_run(store: CheckpointStore, seed: int) -> list[dict]:
    model, theta, _ = store.get("sinusoid", "maml")
    task = inputs.sine_task(0.5 + seed % 4, 0.3 * (seed % 7), 5, seed).task
    grid = torch.linspace(-5, 5, 50).reshape(-1, 1)
    return [r.__dict__ for r in trace_records(model, theta, task, inner_config("maml", 0.01, 8), grid)]


def characters_run(store: CheckpointStore, seed: int) -> list[dict]:
    model, theta, _ = store.get("omniglot", "maml")
    ways = 2 + seed % 3  # runs differ in N, so a swapped-in head of another run has the wrong shape
    support = [(inputs.character_tensor(character_sketch(c + seed)), c) for c in range(ways)]
    task = inputs.character_task(support, inputs.character_tensor(character_sketch(seed)), ways, 1)
    return [r.__dict__ for r in trace_records(model, theta, task, inner_config("maml", 0.4, 4))]


@pytest.mark.parametrize("run", [sinusoid_run, characters_run])
def test_concurrent_runs_equal_the_same_runs_alone(store, run):
    seeds = list(range(8))
    alone = {seed: run(store, seed) for seed in seeds}
    together: dict[int, list[dict] | BaseException] = {}
    start = threading.Barrier(len(seeds))

    def worker(seed: int) -> None:
        start.wait()
        try:
            together[seed] = run(store, seed)
        except BaseException as error:  # recorded, so the assertion names it
            together[seed] = error

    for _ in range(3):  # the race needs overlapping calls; three rounds of eight threads make it near certain
        threads = [threading.Thread(target=worker, args=(seed,)) for seed in seeds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for seed in seeds:
            result = together[seed]
            assert not isinstance(result, BaseException), f"run {seed} failed: {result!r}"
            assert len(result) == len(alone[seed]), f"run {seed} has {len(result)} records, {len(alone[seed])} alone"
            for a, b in zip(result, alone[seed]):
                assert {k: v for k, v in a.items() if k != "wall_time_s"} == \
                       {k: v for k, v in b.items() if k != "wall_time_s"}, f"run {seed} differs from alone"
