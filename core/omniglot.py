"""Omniglot data: characters from folders, zip archives or torchvision, few-shot episodes (with
augmentation), and Lake et al.'s (2015) one-shot runs.

Every image goes through the ink pipeline of `core.ink`, the same one as the user's sketches.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from core.episodes import EpisodeConfig
from core.ink import IMAGE_SIZE, PREPROCESS_VERSION, png_ink, preprocess_mixed_sizes
from core.tasks import Task, stack_tasks

PathLike = Union[str, os.PathLike]

ROTATIONS_DEGREES = (0, 90, 180, 270)  # counter-clockwise rotations that make new classes
CHARACTER_DIR = re.compile(r"character\d+")  # name of a character's folder
RUN_DIR = re.compile(r"run\d+")  # name of one of Lake et al.'s one-shot runs


@dataclass(frozen=True)
class OmniglotCharacters:
    """Preprocessed Omniglot characters, each drawn by the same number of drawers."""

    images: Tensor  # (n_characters, n_drawers, 28, 28) float32 in [0, 1], ink = 1
    alphabets: tuple[str, ...]  # alphabet of each character, e.g. "Greek"
    names: tuple[str, ...]  # "<alphabet>/<character folder>" of each character, e.g. "Greek/character05"

    def __post_init__(self) -> None:
        """Check that the images and the per-character labels agree."""
        if self.images.dtype != torch.float32:
            raise ValueError(f"images must be float32, got {self.images.dtype}")
        if self.images.ndim != 4 or tuple(self.images.shape[2:]) != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (characters, drawers, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                             f"got {tuple(self.images.shape)}")
        if not len(self.alphabets) == len(self.names) == self.images.shape[0]:
            raise ValueError(f"{self.images.shape[0]} characters of images but {len(self.alphabets)} "
                             f"alphabets and {len(self.names)} names")

    def without_alphabets(self, excluded: set[str]) -> "OmniglotCharacters":
        """The characters of every alphabet not in `excluded` (e.g. those a checkpoint trained on)."""
        kept = [i for i, alphabet in enumerate(self.alphabets) if alphabet not in excluded]
        if not kept:
            raise ValueError(f"no alphabet is left once {sorted(excluded)} are excluded")
        return _select_characters(self, kept)


# ----------------------------------------------------------------------------- reading Omniglot


def load_omniglot(source: PathLike | Sequence[PathLike], cache_dir: PathLike | None = None
                  ) -> OmniglotCharacters:
    """Omniglot characters from a .zip, an extracted folder, or a list of them, preprocessed.

    Images are found as `<Alphabet>/characterNN/*.png` at any depth. A character met again
    (same alphabet and folder name, in a later source or under another root) is skipped: the
    first copy wins. Characters are sorted by name; each character's drawers by file name.
    All characters must have the same number of drawers (ValueError otherwise). With
    `cache_dir`, the result is stored there as a .pt keyed by the sha256 of the sources and
    PREPROCESS_VERSION, and reloaded on the next call.
    """
    sources = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    if not sources:
        raise ValueError("load_omniglot needs at least one source")
    for path in sources:
        if not path.exists():
            raise FileNotFoundError(f"Omniglot source not found: {path}")
        if not (path.is_dir() or (path.is_file() and path.suffix == ".zip")):
            raise ValueError(f"Omniglot source must be a .zip file or a folder, got {path}")
    if cache_dir is None:
        return _read_characters(sources)
    cache_file = Path(cache_dir) / f"omniglot-{_sources_digest(sources)[:32]}.pt"
    if cache_file.exists():
        saved = torch.load(cache_file, weights_only=True)
        return OmniglotCharacters(saved["images"], tuple(saved["alphabets"]), tuple(saved["names"]))
    chars = _read_characters(sources)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_file.parent, suffix=".tmp", delete=False) as handle:
        torch.save({"images": chars.images, "alphabets": list(chars.alphabets),
                    "names": list(chars.names)}, handle)
    os.replace(handle.name, cache_file)
    return chars


def _read_characters(sources: list[Path]) -> OmniglotCharacters:
    """Read, de-duplicate and preprocess the characters of all sources."""
    files_by_character: dict[tuple[str, str], list[bytes]] = {}
    for path in sources:
        for key, images in _character_files(path).items():
            files_by_character.setdefault(key, images)
    if not files_by_character:
        raise ValueError(f"no <Alphabet>/characterNN/*.png images found in {[str(s) for s in sources]}")
    keys = sorted(files_by_character)
    drawer_counts = {len(files_by_character[key]) for key in keys}
    if len(drawer_counts) > 1:
        counts = {f"{a}/{c}": len(files_by_character[(a, c)]) for a, c in keys}
        raise ValueError(f"characters have different numbers of drawers {sorted(drawer_counts)}: {counts}")
    inks = [png_ink(data) for key in keys for data in files_by_character[key]]
    images = preprocess_mixed_sizes(inks)
    n_drawers = drawer_counts.pop()
    return OmniglotCharacters(torch.from_numpy(images).reshape(len(keys), n_drawers, IMAGE_SIZE, IMAGE_SIZE),
                              tuple(a for a, _ in keys), tuple(f"{a}/{c}" for a, c in keys))


def _character_files(source: Path) -> dict[tuple[str, str], list[bytes]]:
    """PNG bytes of each (alphabet, character) in one zip or folder, drawers sorted by file name.

    Only the first root (in path order) that holds a character is kept.
    """
    if source.is_dir():
        paths = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.png") if p.is_file())
        return _group_character_files(paths, lambda name: (source / name).read_bytes())
    with zipfile.ZipFile(source) as archive:
        return _group_character_files(sorted(archive.namelist()), archive.read)


def _group_character_files(paths: list[str], read: Callable[[str], bytes]
                           ) -> dict[tuple[str, str], list[bytes]]:
    """Group the posix `paths` that look like `<root>/<Alphabet>/characterNN/<file>.png`."""
    roots: dict[tuple[str, str], str] = {}
    grouped: dict[tuple[str, str], list[bytes]] = {}
    for name in paths:
        parts = name.split("/")
        if (len(parts) < 3 or not parts[-1].endswith(".png") or parts[-1].startswith(".")
                or not CHARACTER_DIR.fullmatch(parts[-2]) or "__MACOSX" in parts):
            continue
        key, root = (parts[-3], parts[-2]), "/".join(parts[:-3])
        if roots.setdefault(key, root) == root:
            grouped.setdefault(key, []).append(read(name))
    return grouped


def _sources_digest(sources: list[Path]) -> str:
    """sha256 of the preprocessing version and every source's files (names and bytes), in order."""
    digest = hashlib.sha256(PREPROCESS_VERSION.encode())
    for source in sources:
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            digest.update(path.relative_to(source).as_posix().encode() if source.is_dir() else b"zip")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class DownloadFailed(RuntimeError):
    """Omniglot could not be downloaded; `reason` is the failure in one line."""

    def __init__(self, root: PathLike, reason: str):
        self.reason = reason
        super().__init__(f"Omniglot could not be downloaded to {root}: {reason}")


def download_omniglot(root: PathLike, background: bool = True) -> Path:
    """Download (or find already downloaded) Omniglot with torchvision; the extracted image folder.

    background=True gives `images_background` (964 characters), False `images_evaluation`.
    Raises DownloadFailed, with a one-line `reason`, when the download fails (e.g. offline).
    """
    try:
        import torchvision  # only for the download: keeps `import core` lean

        dataset = torchvision.datasets.Omniglot(str(root), background=background, download=True)
    except Exception as error:  # noqa: BLE001 - any failure means the same thing to the caller
        raise DownloadFailed(root, " ".join(f"{type(error).__name__}: {error}".split())) from error
    return Path(dataset.target_folder)


def split_alphabets(chars: OmniglotCharacters, n_val_alphabets: int, seed: int
                    ) -> tuple[OmniglotCharacters, OmniglotCharacters]:
    """(train, validation) characters; `n_val_alphabets` whole alphabets, chosen by `seed`, go to validation."""
    alphabets = sorted(set(chars.alphabets))
    if n_val_alphabets < 1:
        raise ValueError(f"n_val_alphabets must be at least 1, got {n_val_alphabets}")
    if n_val_alphabets >= len(alphabets):
        raise ValueError(f"n_val_alphabets={n_val_alphabets} leaves no training alphabet "
                         f"(there are {len(alphabets)} alphabets)")
    order = torch.randperm(len(alphabets), generator=torch.Generator().manual_seed(seed))
    validation = {alphabets[i] for i in order[:n_val_alphabets].tolist()}
    in_validation = [alphabet in validation for alphabet in chars.alphabets]
    return (_select_characters(chars, [i for i, v in enumerate(in_validation) if not v]),
            _select_characters(chars, [i for i, v in enumerate(in_validation) if v]))


def _select_characters(chars: OmniglotCharacters, indices: list[int]) -> OmniglotCharacters:
    """The characters at `indices`, in that order."""
    return OmniglotCharacters(chars.images[indices], tuple(chars.alphabets[i] for i in indices),
                              tuple(chars.names[i] for i in indices))


# ----------------------------------------------------------------------------- episodes


def sample_episode(chars: OmniglotCharacters, cfg: EpisodeConfig, generator: torch.Generator) -> Task:
    """One N-way K-shot episode: `ways` distinct classes, `shots + queries` distinct drawers each.

    A class is a character, or with cfg.rotations a (character, rotation) pair, and with
    cfg.mirrors also a (character, mirror, rotation) triple: the mirror image is flipped
    left-right before the counter-clockwise rotation (torch.rot90). Labels 0..ways-1 follow the
    order of info["classes"], and support and query sets are ordered class by class.
    """
    n_characters, n_drawers = chars.images.shape[:2]
    n_rotations = len(ROTATIONS_DEGREES) if cfg.rotations else 1
    n_variants = n_rotations * (2 if cfg.mirrors else 1)  # class ids run character by character
    n_classes = n_characters * n_variants
    if cfg.ways > n_classes:
        raise ValueError(f"ways={cfg.ways} is more than the {n_classes} classes available")
    if cfg.shots + cfg.queries > n_drawers:
        raise ValueError(f"shots + queries = {cfg.shots + cfg.queries} is more than the {n_drawers} "
                         f"drawers of each character")
    classes = torch.randperm(n_classes, generator=generator)[:cfg.ways].tolist()
    per_class, names = [], []
    for class_id in classes:
        character, variant = divmod(class_id, n_variants)
        mirrored, rotation = divmod(variant, n_rotations)
        drawers = torch.randperm(n_drawers, generator=generator)[:cfg.shots + cfg.queries]
        images = chars.images[character, drawers]
        images = images.flip(-1) if mirrored else images
        per_class.append(torch.rot90(images, rotation, dims=(-2, -1)))
        names.append(f"{chars.names[character]}@{ROTATIONS_DEGREES[rotation]}" + (" mirrored" if mirrored else ""))
    images = torch.stack(per_class).unsqueeze(2)  # (ways, shots + queries, 1, 28, 28)
    labels = torch.arange(cfg.ways)
    return Task(images[:, :cfg.shots].reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).contiguous(),
                labels.repeat_interleave(cfg.shots),
                images[:, cfg.shots:].reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).contiguous(),
                labels.repeat_interleave(cfg.queries),
                {"classes": names})


def sample_episodes(chars: OmniglotCharacters, cfg: EpisodeConfig, n: int, generator: torch.Generator
                    ) -> Task:
    """`n` episodes from `sample_episode`, stacked into one batch Task."""
    if n < 1:
        raise ValueError(f"n must be at least 1 episode, got {n}")
    return stack_tasks([sample_episode(chars, cfg, generator) for _ in range(n)])


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine jitter of every training image (support and query alike).

    With `class_shear` or `class_stretch` set, each class of an episode first gets one linear map
    of its own, the same for all its support and query images: the jitter then varies a character
    within its class, and the class map makes a new variant of the character (as the 90° turns
    and mirror images do, but continuous).
    """

    degrees: float = 10.0  # rotation ~ U[−degrees, degrees] (90° turns are classes, not noise)
    shift: float = 0.1  # translation ~ U[−shift, shift] of the image side, in x and y
    scale: tuple[float, float] = (0.85, 1.15)  # zoom ~ U[low, high]
    shear: float = 0.15  # shear factor ~ U[−shear, shear]
    class_shear: float = 0.0  # per class: shear factor ~ U[−class_shear, class_shear]
    class_stretch: float = 1.0  # per class: one axis stretched by s, the other by 1/s, log s ~ U[±log class_stretch]

    def __post_init__(self):
        if not self.class_stretch >= 1.0:
            raise ValueError(f"class_stretch must be >= 1 (1: none), got {self.class_stretch}")

    @property
    def per_class(self) -> bool:
        return self.class_shear != 0.0 or self.class_stretch != 1.0


CLASS_AUGMENT = AugmentConfig(class_shear=0.3, class_stretch=1.3)  # core.train --class-augment


def class_maps(tasks: int, classes: int, cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """One linear map C = [[1, h], [0, 1]] · diag(s, 1/s) = [[s, h/s], [0, 1/s]] per class of each task.

    s = exp(u), u ~ U[−log cfg.class_stretch, log cfg.class_stretch], h ~ U[−cfg.class_shear, cfg.class_shear];
    det C = 1, so the area is kept. C maps the sampling grid (see `augment_images`); the image goes
    through C⁻¹ = diag(1/s, s) · [[1, −h], [0, 1]], a map of the same family. Shape (tasks, classes, 2, 2).
    """
    log_stretch = math.log(cfg.class_stretch)
    s = torch.exp(log_stretch * (2 * torch.rand(tasks, classes, generator=generator) - 1))
    h = cfg.class_shear * (2 * torch.rand(tasks, classes, generator=generator) - 1)
    zero = torch.zeros_like(s)
    return torch.stack([torch.stack([s, h / s], -1), torch.stack([zero, 1 / s], -1)], -2)


def augment_images(images: Tensor, cfg: AugmentConfig, generator: torch.Generator,
                   linear: Tensor | None = None) -> Tensor:
    """Each image (…, 1, 28, 28) under its own random affine map: output pixel p reads the input at
    A p + t (bilinear, zero fill), i.e. the image goes through the inverse map.

    With `linear` (…, 2, 2), one map C per image (on any device), output pixel p reads the input at
    C (A p + t): the image goes through C⁻¹, then its jitter.
    """
    flat = images.reshape(-1, *images.shape[-3:])
    n = flat.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = torch.deg2rad(uniform(-cfg.degrees, cfg.degrees))
    zoom = uniform(*cfg.scale)
    shear = uniform(-cfg.shear, cfg.shear)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + shear * cos, uniform(-2 * cfg.shift, 2 * cfg.shift)], -1),
                         torch.stack([sin, cos + shear * sin, uniform(-2 * cfg.shift, 2 * cfg.shift)], -1)], -2)
    if linear is not None:
        theta = linear.reshape(n, 2, 2).to(theta.device) @ theta
    grid = F.affine_grid(theta.to(flat.dtype).to(flat.device), list(flat.shape), align_corners=False)
    return F.grid_sample(flat, grid, align_corners=False, padding_mode="zeros").reshape(images.shape)


def augment_episodes(batch: Task, cfg: AugmentConfig, generator: torch.Generator) -> Task:
    """The episodes of `batch` with every support and query image jittered by `augment_images`,
    after each class's own map from `class_maps` when `cfg.per_class`."""
    support_maps = query_maps = None
    if cfg.per_class:
        y_support, y_query = batch.y_support.cpu(), batch.y_query.cpu()  # the maps stay with the generator
        maps = class_maps(len(y_support), int(y_support.max()) + 1, cfg, generator)
        rows = torch.arange(len(y_support))[:, None]
        support_maps, query_maps = maps[rows, y_support], maps[rows, y_query]
    return Task(augment_images(batch.x_support, cfg, generator, support_maps), batch.y_support,
                augment_images(batch.x_query, cfg, generator, query_maps), batch.y_query, batch.info)


# ----------------------------------------------------------------------------- one-shot runs


def read_omniglot_runs(directory: PathLike) -> list[Task]:
    """Lake et al. (2015) 20-way one-shot runs: one Task per `runNN` folder of `directory`.

    Layout: runNN/training/classMM.png (one image per class), runNN/test/itemMM.png and
    runNN/class_labels.txt with lines `runNN/test/itemMM.png runNN/training/classKK.png`
    (paths relative to `directory`). Support = training images sorted by name with labels
    0..n-1; queries = test items in the order of class_labels.txt, labelled by their class.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"one-shot runs folder not found: {directory}")
    runs = sorted(p for p in directory.iterdir() if p.is_dir() and RUN_DIR.fullmatch(p.name))
    if not runs:
        raise ValueError(f"no runNN folders in {directory}")
    return [_read_run(directory, run) for run in runs]


def _read_run(directory: Path, run: Path) -> Task:
    """The Task of one run folder."""
    labels_file = run / "class_labels.txt"
    if not labels_file.is_file():
        raise FileNotFoundError(f"{labels_file} not found")
    training = sorted((run / "training").glob("*.png"))
    if not training:
        raise ValueError(f"no training images in {run / 'training'}")
    class_of = {path.resolve(): index for index, path in enumerate(training)}
    queries, labels = [], []
    for number, line in enumerate(labels_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{labels_file} line {number}: expected 'test_image training_image', got {line!r}")
        query, target = (directory / field for field in fields)
        for path in (query, target):
            if not path.is_file():
                raise FileNotFoundError(f"{labels_file} line {number} names a missing file: {path}")
        if target.resolve() not in class_of:
            raise ValueError(f"{labels_file} line {number}: {target} is not a training image of {run.name}")
        queries.append(query)
        labels.append(class_of[target.resolve()])
    if not queries:
        raise ValueError(f"{labels_file} lists no test images")
    images = preprocess_mixed_sizes([png_ink(path.read_bytes()) for path in training + queries])
    images = torch.from_numpy(images).unsqueeze(1)
    return Task(images[:len(training)], torch.arange(len(training)), images[len(training):],
                torch.tensor(labels, dtype=torch.int64), {"run": run.name})
