"""Pure functions from what a person does (sliders, a drawn curve, clicked points, sketches) to core Tasks.

No Gradio here, so each function is tested on its own. The pictures the page starts with need no
torch; the functions that make tensors import it when first called (see `core`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import core
from demo.messages import Problem, text

if TYPE_CHECKING:
    import torch

    from core.tasks import PointRules, Task

X_RANGE = (-5.0, 5.0)  # the sinusoid task's x-range; the canvas spans it left to right
Y_RANGE = (-6.0, 6.0)  # the canvas spans this y-range bottom to top
CANVAS = (640, 384)  # canvas size in pixels (width, height)
MAX_POINTS = 40  # clicked points per task
QUERY_POINTS = 100  # query points along the known or drawn curve
MAX_ABS_Y = 100.0  # the largest |y| a task's point may have
TRAINING_AMPLITUDE = (0.1, 5.0)
TRAINING_PHASE = (0.0, math.pi)


@dataclass(frozen=True)
class CurveTask:
    """A regression task and what the UI shows about it."""

    task: Task  # support = the K points; query = points along the curve (may be empty)
    curve: tuple[list[float], list[float]] | None  # the true or drawn curve, for plotting
    note: str  # one line: in or out of the training distribution, and why


def pixel_to_xy(px: float, py: float, size: tuple[int, int] = CANVAS) -> tuple[float, float]:
    """Canvas pixel (px right, py down) → (x, y) in the plotted ranges."""
    width, height = size
    x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * px / (width - 1)
    y = Y_RANGE[1] - (Y_RANGE[1] - Y_RANGE[0]) * py / (height - 1)
    return x, y


def xy_to_pixel(x: float, y: float, size: tuple[int, int] = CANVAS) -> tuple[float, float]:
    """(x, y) → canvas pixel, the inverse of `pixel_to_xy`."""
    width, height = size
    px = (x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (width - 1)
    py = (Y_RANGE[1] - y) / (Y_RANGE[1] - Y_RANGE[0]) * (height - 1)
    return px, py


def axes_image(points: list[list[float]] = (), size: tuple[int, int] = CANVAS) -> Image.Image:
    """A light grid with axes and tick labels over the task's x and y ranges, with `points` as dots."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    for x in range(int(X_RANGE[0]), int(X_RANGE[1]) + 1):
        px, _ = xy_to_pixel(x, 0, size)
        draw.line([(px, 0), (px, size[1])], fill=(150, 150, 150) if x == 0 else (228, 228, 228), width=1)
        draw.text((px + 3, xy_to_pixel(0, 0, size)[1] + 2), str(x), fill=(120, 120, 120), font=font)
    for y in range(int(Y_RANGE[0]), int(Y_RANGE[1]) + 1, 2):
        _, py = xy_to_pixel(0, y, size)
        draw.line([(0, py), (size[0], py)], fill=(150, 150, 150) if y == 0 else (228, 228, 228), width=1)
        if y:
            draw.text((xy_to_pixel(0, 0, size)[0] + 3, py - 14), str(y), fill=(120, 120, 120), font=font)
    for x, y in points:
        px, py = xy_to_pixel(x, y, size)
        draw.ellipse([px - 5, py - 5, px + 5, py + 5], fill=(220, 38, 38), outline="white")
    return image


def toggle_point(points: list[list[float]], x: float, y: float, radius: float = 0.25) -> list[list[float]]:
    """Remove the point within `radius` of (x, y) if there is one, else add (x, y)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise Problem("input.point_not_finite", x=x, y=y)
    near = [i for i, (px, py) in enumerate(points) if math.hypot(px - x, py - y) <= radius]
    if near:
        return [p for i, p in enumerate(points) if i != near[0]]
    if len(points) >= MAX_POINTS:
        raise Problem("input.too_many_points", limit=MAX_POINTS)
    return [*points, [round(x, 3), round(y, 3)]]


@functools.cache
def point_rules() -> PointRules:
    """What a task's points must satisfy: x within X_RANGE, at most QUERY_POINTS, |y| ≤ MAX_ABS_Y."""
    return core.tasks.PointRules(x_range=X_RANGE, max_points=QUERY_POINTS, max_abs_y=MAX_ABS_Y)


def sinusoid_fit(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y ≈ A sin(x − φ): (A, φ in [0, 2π), R²). Linear in (A cos φ, −A sin φ)."""
    basis = np.stack([np.sin(xs), np.cos(xs)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, ys, rcond=None)
    residual = ys - basis @ np.array([a, b])
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else 0.0
    return float(math.hypot(a, b)), float(math.atan2(-b, a) % (2 * math.pi)), r2


def distribution_note(xs, ys) -> str:
    """Whether a curve looks like a training task (A sin(x − φ), A ∈ [0.1, 5], φ ∈ [0, π])."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) < 3:
        return text("note.too_few")
    amplitude, phase, r2 = sinusoid_fit(xs, ys)
    if r2 < 0.9:
        return text("note.not_sinusoid", percent=max(r2, 0) * 100)
    reasons = []
    if not TRAINING_AMPLITUDE[0] <= amplitude <= TRAINING_AMPLITUDE[1]:
        reasons.append(text("note.amplitude", value=amplitude))
    if not TRAINING_PHASE[0] <= phase <= TRAINING_PHASE[1]:
        reasons.append(text("note.phase", value=phase))
    if reasons:
        return text("note.shifted", reasons=text("note.and").join(reasons))
    return text("note.inside", amplitude=amplitude, phase=phase)


def sine_task(amplitude: float, phase: float, shots: int, seed: int) -> CurveTask:
    """K support points of y = A sin(x − φ) at random x, and the curve itself as the query set."""
    for name, value in (("amplitude", amplitude), ("phase", phase)):
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not (isinstance(shots, int) and 1 <= shots <= MAX_POINTS):
        raise ValueError(f"K must be an integer from 1 to {MAX_POINTS}, got {shots!r}")
    import torch

    sinusoid = core.tasks.sinusoid
    x_support = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * torch.rand(shots, generator=core.device.generator(seed))
    x_query = torch.linspace(*X_RANGE, QUERY_POINTS)
    task = core.tasks.task_from_points(x_support.tolist(), sinusoid(x_support, amplitude, phase).tolist(),
                                       x_query.tolist(), sinusoid(x_query, amplitude, phase).tolist(), point_rules(),
                                       info={"amplitude": amplitude, "phase": phase})
    note = distribution_note(x_query.numpy(), sinusoid(x_query, amplitude, phase).numpy())
    return CurveTask(task, (x_query.tolist(), sinusoid(x_query, amplitude, phase).tolist()), note)


def points_task(points) -> CurveTask:
    """A task from clicked (or API-given) points [[x, y], ...]; no query set, no true curve."""
    if points is None or (hasattr(points, "__len__") and len(points) == 0):
        raise Problem("input.no_points")
    rows = points.values.tolist() if hasattr(points, "values") else list(points)
    if len(rows) > MAX_POINTS:
        raise Problem("input.points_over", limit=MAX_POINTS, count=len(rows))
    for i, row in enumerate(rows):
        if not hasattr(row, "__len__") or isinstance(row, str) or len(row) != 2:
            raise Problem("input.point_pair", index=i, value=row)
    xs, ys = [row[0] for row in rows], [row[1] for row in rows]
    task = core.tasks.task_from_points(xs, ys, rules=point_rules())
    return CurveTask(task, None, distribution_note(task.x_support.flatten().numpy(), task.y_support.flatten().numpy()))


def _stroke_mask(drawing) -> np.ndarray:
    """The user's ink from an ImageEditor/Sketchpad value: strokes on the layers, True = ink."""
    if drawing is None:
        raise Problem("input.nothing_drawn")
    layers = drawing.get("layers") if isinstance(drawing, dict) else None
    if not layers:
        raise Problem("input.nothing_drawn")
    masks = []
    for layer in layers:
        layer = np.asarray(layer)
        side = core.ink.MAX_SKETCH_SIDE
        if layer.ndim != 3 or layer.shape[0] > side or layer.shape[1] > side:
            raise Problem("input.drawing_size", side=side)
        height, width = layer.shape[:2]
        # the layer spans the whole canvas, so its columns map onto the x-range; a smaller picture would not
        if width < CANVAS[0] // 2 or abs(width * CANVAS[1] - height * CANVAS[0]) > 0.02 * width * CANVAS[1]:
            raise Problem("input.drawing_cover", width=CANVAS[0], height=CANVAS[1], got_width=width, got_height=height)
        masks.append(layer[..., 3] > 32 if layer.shape[2] == 4 else layer.min(axis=2) < 128)
    if len({mask.shape for mask in masks}) > 1:
        raise Problem("input.layers_differ")
    return np.logical_or.reduce(masks)


def drawn_curve(drawing, size: tuple[int, int] = CANVAS) -> tuple[np.ndarray, np.ndarray]:
    """The drawn curve as a function: for each pixel column with ink, y = the mean ink row."""
    mask = _stroke_mask(drawing)
    height, width = mask.shape
    columns = np.flatnonzero(mask.any(axis=0))
    if len(columns) < 0.1 * width:
        raise Problem("input.curve_short")
    rows = np.array([np.flatnonzero(mask[:, c]).mean() for c in columns])
    xs, ys = zip(*(pixel_to_xy(c * size[0] / width, r * size[1] / height, size) for c, r in zip(columns, rows)))
    return np.array(xs), np.array(ys)


def curve_task(drawing, shots: int, seed: int) -> CurveTask:
    """K support points sampled from a drawn curve; the whole curve (≤ 100 points) is the query set."""
    if not (isinstance(shots, int) and 1 <= shots <= MAX_POINTS):
        raise ValueError(f"K must be an integer from 1 to {MAX_POINTS}, got {shots!r}")
    import torch

    xs, ys = drawn_curve(drawing)
    chosen = torch.randperm(len(xs), generator=core.device.generator(seed))[:shots].sort().values.numpy()
    query = np.linspace(0, len(xs) - 1, min(QUERY_POINTS, len(xs))).round().astype(int)
    task = core.tasks.task_from_points(xs[chosen].tolist(), ys[chosen].tolist(), xs[query].tolist(),
                                       ys[query].tolist(), point_rules())
    return CurveTask(task, (xs.tolist(), ys.tolist()), distribution_note(xs, ys))


def editor_image(value, sketch: str = "input.this_sketch") -> np.ndarray:
    """The composite image of a Sketchpad value (what the person sees), as an array; `sketch` names it."""
    if value is None:
        raise Problem("input.sketch_empty", sketch=text(sketch))
    if isinstance(value, dict):
        image = value.get("composite")
        if image is None:
            raise Problem("input.sketch_empty", sketch=text(sketch))
        return np.asarray(image)
    return np.asarray(value)


def character_tensor(value, sketch: str = "input.this_sketch") -> torch.Tensor:
    """A drawn character (Sketchpad value or image) as the model's (1, 28, 28) input; `sketch` names it."""
    return core.ink.sketch_to_tensor(editor_image(value, sketch))


def ink_picture(image) -> Image.Image:
    """A 28×28 input (an array or a CPU tensor, ink = 1) as a greyscale picture, black ink on white."""
    pixels = (255 * (1 - np.clip(np.asarray(image, dtype=np.float32).squeeze(), 0, 1))).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def tensor_picture(image, scale: int = 4) -> Image.Image:
    """The 28×28 input the model sees, enlarged, black ink on white."""
    return ink_picture(image).resize((28 * scale, 28 * scale), Image.NEAREST)


def support_sheet(examples: list[tuple[Image.Image, np.ndarray, int]], ways: int, cell: int = 64) -> Image.Image:
    """One picture of the support set: a row per class, each example as drawn and as the model sees it."""
    per_class = [[(p, t) for p, t, label in examples if label == c] for c in range(ways)]
    columns = max([len(row) for row in per_class] + [1])
    label_width, gap, header = 70, 6, 34  # the header keeps the first row clear of the component's label
    sheet = Image.new("RGB", (label_width + columns * (2 * cell + 3 * gap), header + ways * (cell + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for c, row in enumerate(per_class):
        top = header + gap + c * (cell + gap)
        draw.text((8, top + cell // 2 - 8), text("characters.sheet_class", number=c + 1), fill=(30, 41, 59) if row else (160, 160, 160), font=font)
        for i, (picture, tensor) in enumerate(row):
            left = label_width + i * (2 * cell + 3 * gap)
            thumb = picture.convert("RGBA").copy()
            thumb.thumbnail((cell, cell))
            backdrop = Image.new("RGB", (cell, cell), "white")
            backdrop.paste(thumb, ((cell - thumb.width) // 2, (cell - thumb.height) // 2), thumb)
            sheet.paste(backdrop, (left, top))
            sheet.paste(tensor_picture(tensor, scale=1).resize((cell, cell), Image.NEAREST), (left + cell + gap, top))
            draw.rectangle([left - 1, top - 1, left + 2 * cell + gap, top + cell], outline=(203, 213, 225))
    return sheet


def character_task(support: list[tuple[np.ndarray | torch.Tensor, int]], query: torch.Tensor | None, ways: int,
                   shots: int) -> Task:
    """An N-way K-shot Task from (image, class) pairs (arrays or tensors); exactly K per class, classes 0..N−1."""
    counts = [sum(1 for _, label in support if label == c) for c in range(ways)]
    missing = [text("input.class_count", number=c + 1, count=n, shots=shots) for c, n in enumerate(counts) if n < shots]
    if missing:
        raise Problem("input.need_examples", shots=shots, ways=ways, missing=text("input.list_separator").join(missing))
    import torch

    chosen = [(image, c) for c in range(ways) for image in [img for img, label in support if label == c][:shots]]
    x_support = torch.stack([torch.as_tensor(image) for image, _ in chosen])
    y_support = torch.tensor([label for _, label in chosen])
    x_query = query[None] if query is not None else torch.zeros(0, 1, 28, 28)
    return core.tasks.Task(x_support, y_support, x_query, torch.full((len(x_query),), core.inner.UNLABELLED))


def character_episode(examples: list[dict]) -> tuple[Task | None, int, bool]:
    """An episode from the drawn examples ({"label", "tensor"} dicts) for a meta-gradient: (task, ways, split).

    The classes that have examples become classes 0 … N−1. When every class has two examples or
    more, the last of each is its query (split = True); otherwise the support set is the query too.
    None when fewer than two classes have examples.
    """
    labels = sorted({example["label"] for example in examples})
    if len(labels) < 2:
        return None, len(labels), False
    import torch

    per_class = [[torch.from_numpy(e["tensor"]) for e in examples if e["label"] == label] for label in labels]
    split = all(len(images) >= 2 for images in per_class)
    support = [(image, c) for c, images in enumerate(per_class) for image in (images[:-1] if split else images)]
    query = [(images[-1], c) for c, images in enumerate(per_class)] if split else support
    task = core.tasks.Task(torch.stack([image for image, _ in support]), torch.tensor([c for _, c in support]),
                           torch.stack([image for image, _ in query]), torch.tensor([c for _, c in query]))
    return task, len(labels), split
