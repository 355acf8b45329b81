"""The shape of few-shot episodes, and the Omniglot training episodes a model card describes.

Plain Python (no torch), so the app can read its model cards before the engine loads.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EpisodeConfig:
    """Shape of an N-way K-shot episode."""

    ways: int = 5  # classes per episode
    shots: int = 1  # support images per class
    queries: int = 15  # query images per class
    rotations: bool = True  # each character's rotations by 0/90/180/270 degrees are distinct classes
    mirrors: bool = False  # each class's mirror image (flipped left-right, then turned) is a class too

    def __post_init__(self) -> None:
        """Refuse episode shapes that make no sense whatever the data."""
        if self.ways < 2:
            raise ValueError(f"ways must be at least 2, got {self.ways}")
        if self.shots < 1:
            raise ValueError(f"shots must be at least 1, got {self.shots}")
        if self.queries < 0:
            raise ValueError(f"queries must be at least 0, got {self.queries}")


def parse_episode_shape(text: str) -> EpisodeConfig:
    """"NxK:Q" → N-way K-shot episodes with Q queries per class, e.g. "20x1:1"."""
    try:
        shape, queries = text.split(":")
        ways, shots = shape.lower().split("x")
        n, k, q = int(ways), int(shots), int(queries)
    except ValueError:
        raise ValueError(f"episode shape {text!r} is not NxK:Q (N-way, K-shot, Q queries per class), "
                         "e.g. 5x1:5 or 20x1:1") from None
    if n < 2 or k < 1 or q < 1:
        raise ValueError(f"episode shape {text!r} needs N >= 2, K >= 1 and Q >= 1")
    return EpisodeConfig(ways=n, shots=k, queries=q)


def training_episode_shapes(config: dict) -> list[tuple[int, int]]:
    """A card config's Omniglot training episodes, one (ways, shots) per meta-iteration of the cycle."""
    shapes = [(e.ways, e.shots) for e in map(parse_episode_shape, config.get("episode_mix") or ())]
    return shapes or [(config["ways"], config["support"])]


def describe_training_episodes(config: dict) -> str:
    """A card config's Omniglot training episodes in words, e.g. '5-way 1-shot', or for a mix
    '5-way 1-shot (2 of 4), 5-way 5-shot, 20-way 1-shot, in turn'."""
    shapes = training_episode_shapes(config)
    counts = {shape: shapes.count(shape) for shape in shapes}  # first-seen order
    if len(counts) == 1:
        return f"{shapes[0][0]}-way {shapes[0][1]}-shot"
    words = [f"{n}-way {k}-shot" + (f" ({c} of {len(shapes)})" if c > 1 else "") for (n, k), c in counts.items()]
    return ", ".join(words) + ", in turn"


def describe_training_data(config: dict) -> str:
    """A card config's Omniglot training data in words, e.g. '5-way 1-shot episodes, mirror images as extra classes'."""
    mirrors = ", mirror images as extra classes" if config.get("mirror_classes") else ""
    return f"{describe_training_episodes(config)} episodes{mirrors}"
