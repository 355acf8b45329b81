"""Tests of core.omniglot: loading, splitting, episodes and one-shot runs, on generated data."""
from __future__ import annotations

import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from core import omniglot
from tests.helpers import SHARED_OMNIGLOT
from tests.omniglot_fixtures import (ALPHABETS, CHARACTERS_PER_ALPHABET, DRAWERS, character_drawing, write_characters,
                                     write_runs, zip_folder)
from core.episodes import EpisodeConfig
from core.ink import preprocess_ink
from core.omniglot import (OmniglotCharacters, download_omniglot, load_omniglot, read_omniglot_runs, sample_episode,
                           sample_episodes, split_alphabets)



@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """The generated folder `images_background_test` (3 alphabets x 3 characters x 4 drawers)."""
    return write_characters(tmp_path_factory.mktemp("omniglot") / "images_background_test")


@pytest.fixture(scope="module")
def chars(dataset_dir) -> OmniglotCharacters:
    """The generated characters, loaded from the folder."""
    return load_omniglot(dataset_dir)


def test_load_folder_and_zip_agree(dataset_dir, chars, tmp_path):
    archive = zip_folder(dataset_dir, tmp_path / "images_background_test.zip")
    from_zip = load_omniglot(archive)
    assert torch.equal(from_zip.images, chars.images)
    assert from_zip.names == chars.names and from_zip.alphabets == chars.alphabets


def test_loaded_shapes_labels_and_ink(chars):
    n_characters = len(ALPHABETS) * CHARACTERS_PER_ALPHABET
    assert chars.images.shape == (n_characters, DRAWERS, 28, 28)
    assert chars.images.dtype == torch.float32
    assert chars.alphabets == tuple(a for a in ALPHABETS for _ in range(CHARACTERS_PER_ALPHABET))
    assert chars.names[:2] == ("Alpha/character01", "Alpha/character02")
    assert chars.images.min() >= 0 and chars.images.max() <= 1
    ink_per_image = (chars.images > 0.5).sum(dim=(2, 3))
    assert ink_per_image.min() >= 20  # every image has strokes ...
    assert chars.images.mean() < 0.3  # ... on an empty (0) background
    assert chars.images[..., 0, :].max() < 0.05  # the crop leaves a margin at the border
    flat = chars.images.reshape(-1, 28 * 28)
    assert len(torch.unique(flat, dim=0)) == len(flat)  # every drawer's image differs


def test_dataset_image_goes_through_preprocess_ink(dataset_dir, chars):
    png = dataset_dir / "Beta" / "character02" / "0102_03.png"
    ink = 1.0 - np.asarray(Image.open(png).convert("L"), dtype=np.float32) / 255.0
    assert np.array_equal(preprocess_ink(ink), chars.images[chars.names.index("Beta/character02"), 2].numpy())


def test_duplicate_characters_across_sources_are_loaded_once(dataset_dir, chars, tmp_path):
    other = write_characters(tmp_path / "images_background_other", alphabets=("Beta", "Delta"))
    merged = load_omniglot([zip_folder(dataset_dir, tmp_path / "first.zip"), other])
    assert len(merged.names) == len(set(merged.names)) == 4 * CHARACTERS_PER_ALPHABET
    assert sorted(set(merged.alphabets)) == ["Alpha", "Beta", "Delta", "Gamma"]
    beta = merged.names.index("Beta/character01")
    assert torch.equal(merged.images[beta], chars.images[chars.names.index("Beta/character01")])


def test_nested_copies_in_one_folder_are_loaded_once(dataset_dir, tmp_path):
    shutil.copytree(dataset_dir, tmp_path / "a" / "images_background_test")
    shutil.copytree(dataset_dir, tmp_path / "b" / "images_background_test")
    assert len(load_omniglot(tmp_path).names) == len(ALPHABETS) * CHARACTERS_PER_ALPHABET


def test_cache_stores_and_reloads(dataset_dir, chars, tmp_path, monkeypatch):
    first = load_omniglot(dataset_dir, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1

    def fail(sources):
        raise AssertionError("the cached characters should have been reloaded")

    monkeypatch.setattr(omniglot, "_read_characters", fail)
    again = load_omniglot(dataset_dir, cache_dir=tmp_path / "cache")
    assert torch.equal(again.images, chars.images) and again.names == first.names == chars.names
    assert again.alphabets == chars.alphabets


def test_cache_key_changes_with_the_sources(dataset_dir, tmp_path):
    copy = shutil.copytree(dataset_dir, tmp_path / "copy" / "images_background_test")
    load_omniglot(copy, cache_dir=tmp_path / "cache")
    character_drawing(7, 7).save(copy / "Alpha" / "character01" / "0001_01.png")
    load_omniglot(copy, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_omniglot(tmp_path / "missing.zip")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="must be a .zip file or a folder"):
        load_omniglot(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no <Alphabet>/characterNN/\\*.png images found"):
        load_omniglot(tmp_path / "empty")
    with pytest.raises(ValueError, match="at least one source"):
        load_omniglot([])
    uneven = write_characters(tmp_path / "uneven", alphabets=("Alpha",), characters=2)
    (uneven / "Alpha" / "character02" / "0002_04.png").unlink()
    with pytest.raises(ValueError, match="different numbers of drawers"):
        load_omniglot(uneven)


def test_download_failure_is_one_line_runtime_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure\nin name resolution")

    monkeypatch.setattr(torchvision.datasets, "Omniglot", offline)
    with pytest.raises(RuntimeError, match="Omniglot could not be downloaded") as error:
        download_omniglot(tmp_path)
    assert "\n" not in str(error.value) and "name resolution" in str(error.value)


def test_download_returns_extracted_folder(tmp_path, monkeypatch):
    class FakeOmniglot:
        def __init__(self, root, background, download):
            assert download
            self.target_folder = f"{root}/omniglot-py/images_{'background' if background else 'evaluation'}"

    monkeypatch.setattr(torchvision.datasets, "Omniglot", FakeOmniglot)
    assert download_omniglot(tmp_path, background=False) == tmp_path / "omniglot-py" / "images_evaluation"


def test_split_alphabets_keeps_alphabets_whole_and_is_seeded(chars):
    train, val = split_alphabets(chars, n_val_alphabets=1, seed=3)
    assert not set(train.alphabets) & set(val.alphabets)
    assert len(set(val.alphabets)) == 1 and len(set(train.alphabets)) == 2
    assert sorted(train.names + val.names) == sorted(chars.names)
    for part in (train, val):
        for name, images in zip(part.names, part.images):
            assert torch.equal(images, chars.images[chars.names.index(name)])
    again_train, again_val = split_alphabets(chars, n_val_alphabets=1, seed=3)
    assert again_val.names == val.names and torch.equal(again_train.images, train.images)
    chosen = {split_alphabets(chars, 1, seed)[1].alphabets[0] for seed in range(20)}
    assert len(chosen) > 1  # the seed matters


def test_without_alphabets_drops_exactly_those_alphabets(chars):
    train, val = split_alphabets(chars, n_val_alphabets=1, seed=3)
    held_out = chars.without_alphabets(set(train.alphabets))
    assert held_out.names == val.names and torch.equal(held_out.images, val.images)
    with pytest.raises(ValueError, match="no alphabet is left"):
        chars.without_alphabets(set(chars.alphabets))


def test_split_alphabets_errors(chars):
    with pytest.raises(ValueError, match="at least 1"):
        split_alphabets(chars, 0, seed=0)
    with pytest.raises(ValueError, match="leaves no training alphabet"):
        split_alphabets(chars, len(ALPHABETS), seed=0)


def drawer_of(chars: OmniglotCharacters, character: int, rotation_degrees: int, image: torch.Tensor,
              mirrored: bool = False) -> int:
    """Index of the drawer whose image, flipped left-right if `mirrored` and then rotated, is exactly `image`."""
    drawings = chars.images[character].flip(-1) if mirrored else chars.images[character]
    rotated = torch.rot90(drawings, rotation_degrees // 90, dims=(-2, -1))
    matches = [d for d in range(len(rotated)) if torch.equal(rotated[d], image[0])]
    assert len(matches) == 1
    return matches[0]


@pytest.mark.parametrize("rotations", [True, False])
def test_episode_shapes_labels_classes_and_drawers(chars, rotations):
    cfg = EpisodeConfig(ways=4, shots=2, queries=2, rotations=rotations)
    task = sample_episode(chars, cfg, torch.Generator().manual_seed(0))
    assert task.x_support.shape == (8, 1, 28, 28) and task.x_support.dtype == torch.float32
    assert task.x_query.shape == (8, 1, 28, 28)
    assert task.y_support.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and task.y_support.dtype == torch.int64
    assert task.y_query.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and task.y_query.dtype == torch.int64
    classes = task.info["classes"]
    assert len(classes) == len(set(classes)) == 4
    for label, class_name in enumerate(classes):
        name, degrees = class_name.split("@")
        assert int(degrees) in ((0, 90, 180, 270) if rotations else (0,))
        images = torch.cat([task.x_support[2 * label:2 * label + 2], task.x_query[2 * label:2 * label + 2]])
        drawers = [drawer_of(chars, chars.names.index(name), int(degrees), image) for image in images]
        assert len(set(drawers)) == 4


def test_rotated_classes_are_exact_rot90s(chars):
    cfg = EpisodeConfig(ways=30, shots=1, queries=0, rotations=True)
    task = sample_episode(chars, cfg, torch.Generator().manual_seed(1))
    degrees_seen = {name.split("@")[1] for name in task.info["classes"]}
    assert degrees_seen == {"0", "90", "180", "270"}
    for image, class_name in zip(task.x_support, task.info["classes"]):
        name, degrees = class_name.split("@")
        drawer_of(chars, chars.names.index(name), int(degrees), image)
    assert task.x_query.shape == (0, 1, 28, 28) and task.y_query.shape == (0,)


def test_mirrored_classes_are_flips_then_rot90s_and_double_the_classes(chars):
    cfg = EpisodeConfig(ways=60, shots=1, queries=1, mirrors=True)  # 9 characters x 4 turns x 2 = 72 classes
    task = sample_episode(chars, cfg, torch.Generator().manual_seed(2))
    classes = task.info["classes"]
    assert len(set(classes)) == 60
    mirrored = [name.endswith(" mirrored") for name in classes]
    assert 0 < sum(mirrored) < 60
    for label, (class_name, flipped) in enumerate(zip(classes, mirrored)):
        name, degrees = class_name.removesuffix(" mirrored").split("@")
        support = drawer_of(chars, chars.names.index(name), int(degrees), task.x_support[label], flipped)
        query = drawer_of(chars, chars.names.index(name), int(degrees), task.x_query[label], flipped)
        assert support != query
    with pytest.raises(ValueError, match="more than the 72 classes"):
        sample_episode(chars, EpisodeConfig(ways=73, shots=1, queries=0, mirrors=True), torch.Generator())
    with pytest.raises(ValueError, match="more than the 18 classes"):
        sample_episode(chars, EpisodeConfig(ways=19, shots=1, queries=0, rotations=False, mirrors=True),
                       torch.Generator())


def test_episodes_are_seeded_and_stacked(chars):
    cfg = EpisodeConfig(ways=3, shots=1, queries=3)
    batch = sample_episodes(chars, cfg, 5, torch.Generator().manual_seed(4))
    assert batch.x_support.shape == (5, 3, 1, 28, 28) and batch.y_query.shape == (5, 9)
    assert len(batch.info["classes"]) == 5
    again = sample_episodes(chars, cfg, 5, torch.Generator().manual_seed(4))
    assert torch.equal(batch.x_query, again.x_query) and batch.info == again.info
    assert len({tuple(classes) for classes in batch.info["classes"]}) > 1


def test_episode_errors(chars):
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="ways must be at least 2"):
        EpisodeConfig(ways=1)
    with pytest.raises(ValueError, match="shots must be at least 1"):
        EpisodeConfig(shots=0)
    with pytest.raises(ValueError, match="queries must be at least 0"):
        EpisodeConfig(queries=-1)
    with pytest.raises(ValueError, match="more than the 9 classes"):
        sample_episode(chars, EpisodeConfig(ways=10, shots=1, queries=1, rotations=False), generator)
    with pytest.raises(ValueError, match="more than the 4 drawers"):
        sample_episode(chars, EpisodeConfig(ways=2, shots=2, queries=3), generator)
    with pytest.raises(ValueError, match="at least 1 episode"):
        sample_episodes(chars, EpisodeConfig(queries=1), 0, generator)


def test_read_runs(tmp_path):
    labels = write_runs(tmp_path)
    tasks = read_omniglot_runs(tmp_path)
    assert [task.info["run"] for task in tasks] == ["run01", "run02"]
    for task in tasks:
        assert task.x_support.shape == (3, 1, 28, 28) and task.x_query.shape == (3, 1, 28, 28)
        assert task.y_support.tolist() == [0, 1, 2]
        assert task.y_query.tolist() == labels[task.info["run"]]
        for query, label in zip(task.x_query, task.y_query):
            assert torch.equal(query, task.x_support[label])


def test_read_runs_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs folder not found"):
        read_omniglot_runs(tmp_path / "missing")
    with pytest.raises(ValueError, match="no runNN folders"):
        read_omniglot_runs(tmp_path)
    write_runs(tmp_path, n_runs=1)
    labels_file = tmp_path / "run01" / "class_labels.txt"
    labels_file.write_text(labels_file.read_text() + "run01/test/item09.png run01/training/class01.png\n")
    with pytest.raises(FileNotFoundError, match="line 4 names a missing file"):
        read_omniglot_runs(tmp_path)
    labels_file.write_text("run01/test/item01.png\n")
    with pytest.raises(ValueError, match="line 1: expected"):
        read_omniglot_runs(tmp_path)
    labels_file.unlink()
    with pytest.raises(FileNotFoundError, match="class_labels.txt not found"):
        read_omniglot_runs(tmp_path)


@pytest.mark.skipif(not SHARED_OMNIGLOT.is_dir(), reason="the real Omniglot archives are not here")
def test_real_background_small_archives():
    chars = load_omniglot(sorted(SHARED_OMNIGLOT.glob("images_background_small*.zip")))
    assert chars.images.shape == (242, 20, 28, 28)
    assert len(set(chars.alphabets)) == 8
    assert chars.images.mean() < 0.25 and (chars.images > 0.5).sum(dim=(2, 3)).min() > 20
