"""core.evaluate --select-inner-lr: a test α per report row, chosen on alphabets the report never uses."""
from __future__ import annotations

import json
import shutil

import pytest

from core import evaluate, evaluation, train, training
from core.checkpoints import card_path, load_checkpoint
from core.device import generator
from core.episodes import EpisodeConfig
from core.registry import inner_config
from core.omniglot import load_omniglot, sample_episodes
from tests.helpers import tool_json
from tests.omniglot_fixtures import write_characters

EPISODES = 4
GRID = [0.1, 0.4, 1.5]


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """One recipe trained twice on a generated 3-alphabet set: holding out 1 alphabet, and 2 (a superset)."""
    root = tmp_path_factory.mktemp("select")
    data = write_characters(root / "images", alphabets=("Alpha", "Beta", "Gamma"), characters=5, drawers=10)
    paths = {}
    for name, held_out in (("checkpoint", 1), ("validation", 2)):
        cfg = training.default_config("omniglot", iterations=2, meta_batch=2, query=1, val_alphabets=held_out,
                                   validation_tasks=2, validate_every=2, strategy="loop")
        paths[name] = root / f"{name}.pt"
        train.train(cfg, paths[name], data=[str(data)], device="cpu", progress=False)
    return paths["checkpoint"], paths["validation"], [str(data)]


def test_each_row_takes_the_best_alpha_on_the_alphabet_only_the_checkpoint_trained_on(nested):
    checkpoint, validation, data = nested
    card = json.loads(card_path(checkpoint).read_text())
    model, theta, validation_card = load_checkpoint(validation)
    only_checkpoint = set(card["data"]["train_alphabets"]) - set(validation_card["data"]["train_alphabets"])
    assert len(only_checkpoint) == 1 and not only_checkpoint & set(card["data"]["val_alphabets"])
    selected = evaluation.select_test_inner_lr(card, (model, theta, validation_card), GRID, data, episodes=EPISODES)
    rows = selected["selection"]["rows"]
    assert [(r["ways"], r["shots"]) for r in rows] == list(evaluation.OMNIGLOT_REPORT)
    steps = card["config"]["test_steps"]
    characters = load_omniglot(data)
    alphabet_only = characters.without_alphabets(set(characters.alphabets) - only_checkpoint)
    for row in rows:
        assert row["alphabets"] == sorted(only_checkpoint)
        means = {float(lr): stat["mean"] for lr, stat in row["accuracy"].items()}
        assert sorted(means) == GRID and means[row["chosen"]] == max(means.values())
        assert selected["test_inner_lr"][f"{row['ways']}x{row['shots']}"] == row["chosen"]
        # the same episodes drawn here from that one alphabet, adapted at each α, give the same accuracies
        batch = sample_episodes(alphabet_only, EpisodeConfig(row["ways"], row["shots"], 5), EPISODES, generator(2024))
        for lr in GRID:
            _, accuracies = evaluation.evaluate_steps(model, theta, batch, inner_config(card["algorithm"], lr, steps))
            assert float(accuracies[steps].mean()) == pytest.approx(means[lr], abs=1e-7)
    assert selected["selection"]["validation_sha256"] == validation_card["sha256"]


def test_the_report_and_paired_runs_use_each_rows_selected_alpha(nested, tmp_path):
    checkpoint, _, data = nested
    copy = tmp_path / "selected.pt"
    shutil.copy(checkpoint, copy)
    card = json.loads(card_path(checkpoint).read_text())
    card["test_inner_lr"] = {"5x5": 0.1, "2x1": 1.5}
    card_path(copy).write_text(json.dumps(card))
    assert evaluate.main(["--checkpoint", str(copy), "--report", "--data", *data, "--report-tasks", str(EPISODES)]) == 0
    model, theta, written = load_checkpoint(copy)
    steps = card["config"]["test_steps"]
    report = {(r["ways"], r["shots"]): r for r in written["metrics"]["report"]}
    assert {shape: row["inner_lr"] for shape, row in report.items()} == {
        (5, 1): 0.4, (5, 5): 0.1, (20, 1): 0.4, (2, 1): 1.5, (10, 1): 0.4}
    for ways, shots, _, batch in evaluation.omniglot_report_episodes(card, data, EPISODES):
        lr = report[(ways, shots)]["inner_lr"]
        _, accuracies = evaluation.evaluate_steps(model, theta, batch, inner_config(card["algorithm"], lr, steps))
        assert float(accuracies[steps].mean()) == pytest.approx(report[(ways, shots)]["accuracy"][str(steps)]["mean"])
    rows = tool_json("bench.paired", checkpoint, copy, "--data", *data, "--episodes", EPISODES)
    for row in rows:
        shape = (row["ways"], row["shots"])
        assert row["accuracy"][str(copy)]["mean"] == pytest.approx(report[shape]["accuracy"][str(steps)]["mean"])
        if report[shape]["inner_lr"] == 0.4:  # the same α: the same adaptation, episode by episode
            assert row["difference"][str(copy)]["mean"] == 0


def test_the_cli_writes_the_choice_into_the_card(nested, tmp_path, capsys):
    checkpoint, validation, data = nested
    copy = tmp_path / "checkpoint.pt"
    shutil.copy(checkpoint, copy)
    shutil.copy(card_path(checkpoint), card_path(copy))
    args = ["--checkpoint", str(copy), "--select-inner-lr", *map(str, GRID), "--validation-checkpoint", str(validation),
            "--data", *data, "--report-tasks", str(EPISODES)]
    assert evaluate.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[0].startswith("5-way 1-shot on ") and "→ α = " in lines[0]
    card = json.loads(card_path(copy).read_text())
    selection = card["metrics"]["test_inner_lr_selection"]
    assert card["test_inner_lr"] == {f"{r['ways']}x{r['shots']}": r["chosen"] for r in selection["rows"]}
    assert set(card["test_inner_lr"].values()) <= set(GRID)
    assert evaluation.report_inner_lr(card, 5, 5) == card["test_inner_lr"]["5x5"]
    assert evaluation.report_inner_lr(card, 3, 2) == card["config"]["inner_lr"]  # no row: the trained α


def test_a_validation_checkpoint_that_breaks_the_protocol_is_refused(nested, tmp_path, capsys):
    checkpoint, validation, data = nested

    def run(validation_path, grid=GRID) -> str:
        args = ["--checkpoint", str(checkpoint), "--select-inner-lr", *map(str, grid), "--data", *data,
                "--report-tasks", str(EPISODES)]
        if validation_path:
            args += ["--validation-checkpoint", str(validation_path)]
        assert evaluate.main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    def variant(name: str, change) -> str:
        path = tmp_path / f"{name}.pt"
        shutil.copy(validation, path)
        card = json.loads(card_path(validation).read_text())
        change(card)
        card_path(path).write_text(json.dumps(card))
        return run(path)

    before = card_path(checkpoint).read_text()
    assert "needs --validation-checkpoint" in run(None)
    assert "positive finite" in run(validation, [0.4, -0.1])
    assert "differs in meta_lr" in variant("recipe", lambda c: c["config"].update(meta_lr=0.5))
    assert "strict subset" in run(checkpoint)  # the checkpoint itself holds out nothing more
    held_out = json.loads(before)["data"]["val_alphabets"]
    assert "also trained on " + held_out[0] in variant("leak", lambda c: c["data"]["train_alphabets"].extend(held_out))
    assert card_path(checkpoint).read_text() == before  # nothing written on refusal
