"""Generated Omniglot-shaped data for the tests: character folders, zip archives and Lake-style one-shot runs."""
from __future__ import annotations

import random
import shutil
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

ALPHABETS = ("Alpha", "Beta", "Gamma")
CHARACTERS_PER_ALPHABET = 3
DRAWERS = 4


def character_drawing(character_seed: int, drawer_seed: int) -> Image.Image:
    """A 105x105 mode-1 PNG image, black strokes on white: one character, one drawer's jitter."""
    shape = random.Random(character_seed)
    jitter = random.Random(1000 * character_seed + drawer_seed)
    image = Image.new("L", (105, 105), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(shape.randint(2, 3)):
        points = [(shape.uniform(15, 90) + jitter.uniform(-4, 4), shape.uniform(15, 90) + jitter.uniform(-4, 4))
                  for _ in range(3)]
        draw.line(points, fill=0, width=4, joint="curve")
    if shape.random() < 0.5:
        x, y = shape.uniform(25, 60), shape.uniform(25, 60)
        draw.ellipse([x, y, x + 20 + jitter.uniform(-3, 3), y + 25 + jitter.uniform(-3, 3)], outline=0, width=4)
    return image.convert("1")


def write_characters(root: Path, alphabets=ALPHABETS, characters=CHARACTERS_PER_ALPHABET,
                     drawers=DRAWERS) -> Path:
    """An Omniglot-shaped folder root/<Alphabet>/characterNN/<id>_<drawer>.png; returns root."""
    for a, alphabet in enumerate(alphabets):
        for c in range(1, characters + 1):
            folder = root / alphabet / f"character{c:02d}"
            folder.mkdir(parents=True)
            for d in range(1, drawers + 1):
                character_drawing(100 * a + c, d).save(folder / f"{100 * a + c:04d}_{d:02d}.png")
    return root


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip `folder` so that its entries lie under `<folder name>/` like the real archives."""
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def write_runs(root: Path, n_runs: int = 2, n_classes: int = 3) -> dict[str, list[int]]:
    """Lake-style runs under root; each test item is a copy of one class image. Returns the labels."""
    labels = {}
    for r in range(1, n_runs + 1):
        run = f"run{r:02d}"
        (root / run / "training").mkdir(parents=True)
        (root / run / "test").mkdir()
        for c in range(1, n_classes + 1):
            character_drawing(50 * r + c, 1).save(root / run / "training" / f"class{c:02d}.png")
        order = list(range(n_classes))[::-1] if r == 1 else [1, 2, 0][:n_classes]
        lines = []
        for item, target in enumerate(order, start=1):
            shutil.copy(root / run / "training" / f"class{target + 1:02d}.png", root / run / "test" / f"item{item:02d}.png")
            lines.append(f"{run}/test/item{item:02d}.png {run}/training/class{target + 1:02d}.png")
        (root / run / "class_labels.txt").write_text("\n".join(lines) + "\n")
        labels[run] = order
    return labels
