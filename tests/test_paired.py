"""bench.paired: per-episode differences between checkpoints on their reports' own episodes."""
from __future__ import annotations

import json
import shutil

import pytest

from core import train, training
from core.checkpoints import card_path, load_checkpoint
from core.evaluation import omniglot_report
from tests.helpers import run_tool, tool_json
from tests.omniglot_fixtures import write_characters

EPISODES = 6


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Conv4 checkpoints after 1 and 2 iterations, one split, on a generated 2-alphabet set (20 classes each)."""
    root = tmp_path_factory.mktemp("paired")
    data = write_characters(root / "images", alphabets=("Alpha", "Beta"), characters=5, drawers=10)
    paths = []
    for iterations in (1, 2):
        cfg = training.default_config("omniglot", iterations=iterations, meta_batch=2, query=1, val_alphabets=1,
                                   validation_tasks=2, validate_every=1, strategy="loop")
        paths.append(root / f"iterations{iterations}.pt")
        train.train(cfg, paths[-1], data=[str(data)], device="cpu", progress=False)
    return [str(p) for p in paths], [str(data)]


def test_paired_means_are_the_reports_and_differences_are_per_episode(checkpoints):
    paths, data = checkpoints
    rows = tool_json("bench.paired", *paths, "--data", *data, "--episodes", EPISODES)
    assert [(r["ways"], r["shots"]) for r in rows] == [(5, 1), (5, 5), (20, 1), (2, 1), (10, 1)]
    for path in paths:  # the same episodes as core.evaluate --report with as many episodes
        model, theta, card = load_checkpoint(path)
        report = omniglot_report(model, theta, card, data, episodes=EPISODES)
        steps = str(card["config"]["test_steps"])
        for row, reported in zip(rows, report):
            assert row["accuracy"][path]["mean"] == pytest.approx(reported["accuracy"][steps]["mean"], abs=1e-7)
    for row in rows:
        difference = row["difference"][paths[1]]
        assert difference["mean"] == pytest.approx(row["accuracy"][paths[1]]["mean"] - row["accuracy"][paths[0]]["mean"],
                                                   abs=1e-6)
        assert difference["n"] == EPISODES
    assert any(row["difference"][paths[1]]["ci95"] > 0 for row in rows)  # the two checkpoints differ
    same = tool_json("bench.paired", paths[0], paths[0], "--data", *data, "--episodes", EPISODES)
    assert all(row["difference"][paths[0]]["mean"] == 0 and row["difference"][paths[0]]["ci95"] == 0 for row in same)


def test_paired_cli_prints_each_row_and_rejects_different_splits(checkpoints, tmp_path):
    paths, data = checkpoints
    result = run_tool("bench.paired", *paths, "--data", *data, "--episodes", EPISODES)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and lines[0].startswith("5-way 1-shot: ") and "points)" in lines[0]
    other = tmp_path / "other.pt"
    shutil.copy(paths[1], other)
    card = json.loads(card_path(paths[1]).read_text())
    card["data"]["train_alphabets"] = card["data"]["val_alphabets"]
    card_path(other).write_text(json.dumps(card))
    refused = run_tool("bench.paired", paths[0], other, "--data", *data, "--episodes", EPISODES)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: these checkpoints held out different alphabets")
    assert "Traceback" not in refused.stderr
    zero = run_tool("bench.paired", *paths, "--data", *data, "--episodes", 0)
    assert zero.returncode == 2 and "--episodes must be >= 1" in zero.stderr
