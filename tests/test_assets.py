"""The shipped checkpoints: they load safely, match their cards, score what the cards say, and
classify characters drawn in the app as well as dataset images."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.checkpoints import MANIFEST, load_checkpoint, read_manifest, sha256_of
from core.device import generator
from core.episodes import EpisodeConfig
from core.evaluation import evaluate_steps, mean_ci, report_inner_config, report_inner_lr
from core.registry import inner_config
from core.registry import build_model
from core.omniglot import load_omniglot, sample_episodes
from tests.helpers import shared_omniglot
from core.tasks import SinusoidDistribution, Task, stack_tasks
from demo.inputs import character_tensor

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CARDS = sorted(ASSETS.glob("*.pt.json"))
CARD_FIELDS = ("task", "algorithm", "checkpoint", "sha256", "config", "data", "iterations", "wall_time_s",
               "device", "metrics", "git_commit", "training_curve")
EXPECTED = {f"sinusoid_{a}.pt" for a in ("maml", "fomaml", "anil", "reptile", "pretrained", "blackbox")} | {
    f"omniglot_{a}.pt" for a in ("maml", "fomaml", "anil")}


def checkpoint_of(card_file: Path) -> Path:
    return card_file.with_name(card_file.name[:-len(".json")])


def test_the_manifest_lists_exactly_the_shipped_checkpoints():
    assert set(read_manifest(ASSETS / MANIFEST)) == {path.name for path in ASSETS.glob("*.pt")}


def test_every_expected_checkpoint_is_shipped_and_small():
    shipped = {checkpoint_of(card).name for card in CARDS}
    assert EXPECTED <= shipped, f"missing: {sorted(EXPECTED - shipped)}"
    sizes = {name: (ASSETS / name).stat().st_size + (ASSETS / (name + ".json")).stat().st_size
             for name in shipped}
    assert max(sizes.values()) < 1_000_000, sizes  # Spaces sends larger binaries through LFS
    assert sum(sizes.values()) < 8_000_000, sizes


@pytest.mark.parametrize("card_file", CARDS, ids=lambda p: p.name)
def test_checkpoint_loads_weights_only_and_matches_its_card(card_file):
    path = checkpoint_of(card_file)
    card = json.loads(card_file.read_text())
    assert all(field in card for field in CARD_FIELDS), [f for f in CARD_FIELDS if f not in card]
    assert card["checkpoint"] == path.name
    assert card["sha256"] == sha256_of(path) == read_manifest(ASSETS / MANIFEST)[path.name]  # both records agree
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(card["config"]["model"])
    model.load_state_dict(state, strict=True)
    assert all(torch.isfinite(value).all() for value in state.values())
    assert card["training_curve"] and card["training_curve"][-1]["iteration"] == card["iterations"]
    assert card["metrics"]["report"], "the card has no evaluation report (core.evaluate --report)"


def overlap(small: dict, shipped: dict) -> bool:
    """Do the two 95% intervals mean ± ci95 overlap?"""
    return abs(small["mean"] - shipped["mean"]) <= small["ci95"] + shipped["ci95"]


SINUSOID_CARDS = [c for c in CARDS if c.name.startswith("sinusoid_")]
OMNIGLOT_CARDS = [c for c in CARDS if c.name.startswith("omniglot_")]


@pytest.mark.parametrize("card_file", OMNIGLOT_CARDS, ids=lambda p: p.name)
def test_omniglot_report_rows_ran_at_the_alpha_the_card_prescribes(card_file):
    """A test α selected per row (core.evaluate --select-inner-lr) is the α its report row ran at, and
    was chosen on alphabets that the report does not use."""
    card = json.loads(card_file.read_text())
    for row in card["metrics"]["report"]:
        assert row.get("inner_lr", card["config"]["inner_lr"]) == report_inner_lr(card, row["ways"], row["shots"])
    if "test_inner_lr" in card:
        selection = card["metrics"]["test_inner_lr_selection"]
        assert card["test_inner_lr"] == {f"{r['ways']}x{r['shots']}": r["chosen"] for r in selection["rows"]}
        for row in selection["rows"]:
            assert not set(row["alphabets"]) & set(card["data"]["val_alphabets"])
            assert set(row["alphabets"]) <= set(card["data"]["train_alphabets"])
            assert row["accuracy"][f"{row['chosen']:g}"]["mean"] == max(a["mean"] for a in row["accuracy"].values())


@pytest.mark.parametrize("card_file", SINUSOID_CARDS, ids=lambda p: p.name)
def test_sinusoid_card_number_is_reproduced_on_a_fresh_sample(card_file):
    """K=10 in-distribution MSE after 1 step (the black box: its single pass), on 300 new tasks."""
    model, theta, card = load_checkpoint(checkpoint_of(card_file))
    row = next(r for r in card["metrics"]["report"] if r["distribution"] == "in-distribution" and r["K"] == 10)
    step = "1" if "1" in row["mse"] else "0"
    batch = SinusoidDistribution(support=10, query=100).sample(300, generator(77))
    losses, _ = evaluate_steps(model, theta, batch, inner_config(card["algorithm"], card["config"]["inner_lr"], 1))
    small = mean_ci(losses[int(step)])
    assert small["diverged"] == 0
    assert overlap(small, row["mse"][step]), (small, row["mse"][step])


needs_omniglot = pytest.mark.skipif(not shared_omniglot(), reason="../shared/data/omniglot is not beside the project")


@pytest.fixture(scope="module")
def omniglot_characters():
    return load_omniglot(shared_omniglot())


@needs_omniglot
@pytest.mark.parametrize("card_file", OMNIGLOT_CARDS, ids=lambda p: p.name)
def test_omniglot_card_number_is_reproduced_on_a_fresh_sample(card_file, omniglot_characters):
    """5-way 1-shot accuracy after the test steps on the held-out alphabets, 60 new episodes."""
    model, theta, card = load_checkpoint(checkpoint_of(card_file))
    held_out = omniglot_characters.without_alphabets(set(card["data"]["train_alphabets"]))
    assert sorted(set(held_out.alphabets)) == sorted(card["data"]["val_alphabets"])
    row = next(r for r in card["metrics"]["report"] if (r["ways"], r["shots"]) == (5, 1))
    steps = card["config"]["test_steps"]
    batch = sample_episodes(held_out, EpisodeConfig(5, 1, 15), 60, generator(77))
    _, accuracies = evaluate_steps(model, theta, batch, report_inner_config(card, 5, 1))
    small = mean_ci(accuracies[steps])
    assert overlap(small, row["accuracy"][str(steps)]), (small, row["accuracy"][str(steps)])


# ----------------------------------------------------------------------------- drawn characters

def random_character(rng: np.random.Generator) -> list[np.ndarray]:
    """2-3 strokes in the unit square, each a smooth curve through 3-4 random points."""
    strokes = []
    for _ in range(rng.integers(2, 4)):
        anchors = rng.uniform(0.0, 1.0, (rng.integers(3, 5), 2))
        t = np.linspace(0, 1, 40)
        knots = np.linspace(0, 1, len(anchors))
        strokes.append(np.stack([np.interp(t, knots, anchors[:, 0]), np.interp(t, knots, anchors[:, 1])], 1))
    return strokes


def drawer(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One person's rendition: the anchors wobble, and the whole character is slightly rotated and scaled."""
    angle, scale = rng.uniform(-0.15, 0.15), rng.uniform(0.9, 1.1)
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return [((s - 0.5) @ rotation.T + 0.5 + rng.normal(0, 0.02, 2)) for s in strokes]


def render(strokes: list[np.ndarray], size: int, box: tuple[float, float, float], pen: int, mode: str,
           ink, paper) -> Image.Image:
    """The strokes drawn in the square (left, top, side) of a size x size canvas with a round pen."""
    left, top, side = box
    image = Image.new(mode, (size, size), paper)
    canvas = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(left + side * x, top + side * y) for x, y in stroke]
        canvas.line(points, fill=ink, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            canvas.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=ink)
    return image


def synthetic_alphabet(tmp_path: Path, characters: int = 20, drawers: int = 6, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same renditions as dataset images (105x105 PNG, thin black pen, read by load_omniglot) and
    as app drawings (280x280 RGBA Sketchpad composites, the app's 10 px #111111 brush, anywhere on
    the canvas at any size, read by the app's own character_tensor): two (characters, drawers, 28, 28)."""
    rng = np.random.default_rng(seed)
    drawn = []
    for c in range(characters):
        folder = tmp_path / "Synthetic" / f"character{c + 1:02d}"
        folder.mkdir(parents=True)
        shape = random_character(rng)
        row = []
        for d in range(drawers):
            version = drawer(shape, rng)
            render(version, 105, (14, 14, 77), 3, "L", 0, 255).convert("1").save(folder / f"{c:04d}_{d:02d}.png")
            side = rng.uniform(100, 220)
            left, top = rng.uniform(10, 270 - side, 2)
            sketch = render(version, 280, (left, top, side), 10, "RGBA", (17, 17, 17, 255), (0, 0, 0, 0))
            row.append(character_tensor({"composite": np.asarray(sketch), "layers": [], "background": None})[0])
        drawn.append(torch.stack(row))
    return load_omniglot(tmp_path).images, torch.stack(drawn)


def accuracy(model, theta, card, support_images, query_images, episodes: int = 40) -> float:
    """Mean 5-way 1-shot accuracy after the test steps, support and queries from the given images."""
    gen = generator(5)
    tasks = []
    for _ in range(episodes):
        classes = torch.randperm(support_images.shape[0], generator=gen)[:5]
        drawers = torch.randperm(support_images.shape[1], generator=gen)
        support = support_images[classes][:, drawers[:1]].reshape(-1, 1, 28, 28)
        query = query_images[classes][:, drawers[1:]].reshape(-1, 1, 28, 28)
        queries = query.shape[0] // 5
        tasks.append(Task(support, torch.arange(5), query, torch.arange(5).repeat_interleave(queries)))
    batch = stack_tasks(tasks)
    steps = card["config"]["test_steps"]
    _, accuracies = evaluate_steps(model, theta, batch, report_inner_config(card, 5, 1))
    return float(accuracies[steps].mean())


@pytest.fixture(scope="module")
def renditions(tmp_path_factory) -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic_alphabet(tmp_path_factory.mktemp("synthetic"))


@pytest.mark.parametrize("card_file", OMNIGLOT_CARDS, ids=lambda p: p.name)
def test_drawn_characters_are_classified_as_well_as_dataset_images(card_file, renditions):
    model, theta, card = load_checkpoint(checkpoint_of(card_file))
    dataset, drawn = renditions
    both_dataset = accuracy(model, theta, card, dataset, dataset)
    both_drawn = accuracy(model, theta, card, drawn, drawn)
    mixed = accuracy(model, theta, card, dataset, drawn)
    assert both_dataset > 0.7, both_dataset  # the synthetic characters are a meaningful test
    assert both_drawn >= both_dataset - 0.05, (both_drawn, both_dataset)
    assert mixed >= both_dataset - 0.05, (mixed, both_dataset)
