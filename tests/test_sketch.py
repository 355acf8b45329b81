"""Tests of the shared ink pipeline (preprocess_ink) and of sketch_to_tensor on generated drawings."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.ink import preprocess_ink, preprocess_ink_batch, sketch_to_tensor, skeletonize_batch


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[tuple[float, float]]:
    """Points along an elliptic arc from `start` to `end` degrees."""
    return [(cx + rx * math.cos(math.radians(start + (end - start) * i / 24)),
             cy + ry * math.sin(math.radians(start + (end - start) * i / 24))) for i in range(25)]


# Characters as polylines in the unit square.
CHARACTERS = {
    "tau": [[(0.1, 0.15), (0.5, 0.1), (0.9, 0.18)], [(0.5, 0.1), (0.47, 0.9)], arc(0.72, 0.72, 0.13, 0.16, 0, 360)],
    "ka": [[(0.2, 0.2), (0.8, 0.2), (0.7, 0.85)], [(0.45, 0.05), (0.35, 0.6), (0.15, 0.9)]],
    "hook": [arc(0.5, 0.4, 0.3, 0.3, 180, 450), [(0.5, 0.7), (0.5, 0.95)]],
}


def draw(strokes, size: int, pen: int, ink=0, paper=255, mode: str = "L") -> Image.Image:
    """The strokes drawn with a round pen `pen` pixels wide on a `size` x `size` canvas."""
    image = Image.new(mode, (size, size), paper)
    canvas = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(size * (0.1 + 0.8 * x), size * (0.1 + 0.8 * y)) for x, y in stroke]
        canvas.line(points, fill=ink, width=pen, joint="curve")
        for x, y in points:
            canvas.ellipse([x - pen / 2 + 0.5, y - pen / 2 + 0.5, x + pen / 2 - 0.5, y + pen / 2 - 0.5], fill=ink)
    return image


def naive_28(image: Image.Image) -> np.ndarray:
    """Crop to the ink, pad to a square and box-resize to 28x28, without stroke-width normalisation."""
    ink = 1.0 - np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero((ink > 0.5).any(axis=1)), np.flatnonzero((ink > 0.5).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    side = max(crop.shape)
    square = np.zeros((side, side), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    return np.asarray(Image.fromarray(square).resize((28, 28), Image.BOX))


def ink_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the pixels above 0.5."""
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / (a | b).sum())


def as_array(image: Image.Image) -> np.ndarray:
    """sketch_to_tensor's (28, 28) output as an array."""
    return sketch_to_tensor(image)[0].numpy()


def test_output_shape_type_and_range():
    out = sketch_to_tensor(draw(CHARACTERS["tau"], 300, 8))
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and out.max() > 0.99
    assert out[0, 0].max() == 0 and out[0, :, 0].max() == 0  # background 0, margin at the border


@pytest.mark.parametrize("name", sorted(CHARACTERS))
def test_thin_and_thick_pens_give_nearly_the_same_image(name):
    thin, thick = draw(CHARACTERS[name], 400, 3), draw(CHARACTERS[name], 400, 25)
    # Measured: mean abs diff 0.017-0.026, IoU 0.85-0.90; without width normalisation 0.13-0.22.
    assert np.abs(naive_28(thin) - naive_28(thick)).mean() > 0.1  # the pens really differ
    assert np.abs(as_array(thin) - as_array(thick)).mean() < 0.05
    assert ink_iou(as_array(thin), as_array(thick)) > 0.7


def test_position_and_size_on_the_canvas_do_not_matter():
    small = Image.new("L", (600, 400), 255)
    small.paste(draw(CHARACTERS["ka"], 150, 4), (400, 30))
    big = draw(CHARACTERS["ka"], 400, 10)
    assert np.abs(as_array(small) - as_array(big)).mean() < 0.05


def test_inverted_colours_give_the_same_result():
    dark_on_light = draw(CHARACTERS["tau"], 400, 9)
    light_on_dark = draw(CHARACTERS["tau"], 400, 9, ink=255, paper=0)
    assert torch.equal(sketch_to_tensor(dark_on_light), sketch_to_tensor(light_on_dark))


def test_transparent_layers_and_array_inputs_match_rgb():
    rgb = sketch_to_tensor(draw(CHARACTERS["hook"], 256, 7, ink=(0, 0, 0), paper=(255, 255, 255), mode="RGB"))
    strokes_on_transparent = draw(CHARACTERS["hook"], 256, 7, ink=(20, 20, 20, 255), paper=(0, 0, 0, 0), mode="RGBA")
    light_strokes_on_transparent = draw(CHARACTERS["hook"], 256, 7, ink=(255, 255, 255, 255), paper=(0, 0, 0, 0),
                                        mode="RGBA")
    white_layer = draw(CHARACTERS["hook"], 256, 7, ink=(0, 0, 0, 255), paper=(255, 255, 255, 255), mode="RGBA")
    la = draw(CHARACTERS["hook"], 256, 7, ink=(0, 255), paper=(0, 0), mode="LA")
    grey = draw(CHARACTERS["hook"], 256, 7)
    for other in (strokes_on_transparent, light_strokes_on_transparent, white_layer, la, grey):
        assert torch.equal(sketch_to_tensor(other), rgb), other.mode
    assert torch.equal(sketch_to_tensor(np.asarray(strokes_on_transparent)), rgb)
    assert torch.equal(sketch_to_tensor(np.asarray(grey)), rgb)
    assert torch.equal(sketch_to_tensor(np.asarray(grey)[..., None]), rgb)
    assert torch.equal(sketch_to_tensor(np.asarray(grey, dtype=np.float64) / 255.0), rgb)


def test_coloured_strokes_on_grey_paper_are_ink():
    coloured = draw(CHARACTERS["ka"], 300, 6, ink=(255, 220, 0), paper=(128, 128, 128), mode="RGB")
    plain = draw(CHARACTERS["ka"], 300, 6)
    assert torch.equal(sketch_to_tensor(coloured), sketch_to_tensor(plain))


@pytest.mark.parametrize("name", sorted(CHARACTERS))
def test_dataset_image_and_big_sketch_are_similar(name):
    dataset_like = draw(CHARACTERS[name], 105, 5).convert("1")  # 105x105 mode 1, black on white
    ink = 1.0 - np.asarray(dataset_like.convert("L"), dtype=np.float32) / 255.0
    from_dataset = preprocess_ink(ink)
    from_sketch = as_array(draw(CHARACTERS[name], 400, 12))
    # Measured: mean abs diff 0.014-0.037, IoU 0.78-0.90.
    assert np.abs(from_dataset - from_sketch).mean() < 0.06
    assert ink_iou(from_dataset, from_sketch) > 0.65


def test_blank_and_dot_are_refused():
    with pytest.raises(ValueError, match="blank"):
        sketch_to_tensor(Image.new("RGB", (400, 400), "white"))
    with pytest.raises(ValueError, match="blank"):
        sketch_to_tensor(Image.new("RGBA", (400, 400), (0, 0, 0, 0)))
    speck = np.ones((400, 400), np.float32)
    speck[200, 200:202] = 0
    with pytest.raises(ValueError, match="blank"):
        sketch_to_tensor(speck)
    for pen in (3, 6, 25, 60):
        with pytest.raises(ValueError, match="too small: the drawing is only a dot"):
            sketch_to_tensor(draw([[(0.5, 0.5)]], 400, pen))


def test_huge_sketch_is_refused_fast():
    for huge in (np.zeros((10_000, 10_000), np.uint8), Image.new("L", (10_000, 10_000))):
        start = time.perf_counter()
        with pytest.raises(ValueError, match="too large: 10000x10000 pixels"):
            sketch_to_tensor(huge)
        assert time.perf_counter() - start < 1.0


def test_bad_sketch_inputs_are_refused():
    grey = np.asarray(draw(CHARACTERS["ka"], 64, 3), dtype=np.float32) / 255.0
    with pytest.raises(TypeError, match="PIL image or a numpy array"):
        sketch_to_tensor(grey.tolist())
    with pytest.raises(ValueError, match="NaN"):
        sketch_to_tensor(np.where(grey > 0.5, grey, np.nan))
    with pytest.raises(ValueError, match="empty"):
        sketch_to_tensor(np.zeros((0, 0), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        sketch_to_tensor(grey[None, ..., None])
    with pytest.raises(ValueError, match="channels"):
        sketch_to_tensor(np.stack([grey] * 5, axis=-1))
    with pytest.raises(ValueError, match="lie in \\[0, 1\\]"):
        sketch_to_tensor(grey * 255)
    with pytest.raises(ValueError, match="uint8"):
        sketch_to_tensor((grey * 255).astype(np.int32))
    with pytest.raises(ValueError, match="mode must be one of"):
        sketch_to_tensor(Image.new("CMYK", (64, 64)))


def test_preprocess_ink_batch_matches_single_images():
    inks = np.stack([1.0 - np.asarray(draw(strokes, 105, 5), dtype=np.float32) / 255.0
                     for strokes in CHARACTERS.values()])
    batch = preprocess_ink_batch(inks)
    assert batch.shape == (3, 28, 28) and batch.dtype == np.float32
    for ink, out in zip(inks, batch):
        assert np.array_equal(preprocess_ink(ink), out)


def test_preprocess_ink_errors():
    with pytest.raises(ValueError, match="2-D"):
        preprocess_ink(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="NaN"):
        preprocess_ink(np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="lie in \\[0, 1\\]"):
        preprocess_ink(np.full((28, 28), 2.0))
    with pytest.raises(ValueError, match="image 1 is blank"):
        preprocess_ink_batch(np.stack([1.0 - np.asarray(draw(CHARACTERS["ka"], 105, 5)) / 255.0,
                                       np.zeros((105, 105))]))


def test_skeleton_of_a_thick_bar_is_one_pixel_wide():
    bars = np.zeros((2, 40, 60), bool)
    bars[0, 15:26, 10:50] = True  # horizontal, 11 pixels thick
    bars[1, 5:35, 25:34] = True  # vertical, 9 pixels thick
    skeletons = skeletonize_batch(bars)
    assert (skeletons[0].sum(axis=0)[18:42] == 1).all()
    assert (skeletons[1].sum(axis=1)[10:30] == 1).all()
    assert not (skeletons & ~bars).any()


def symmetric_shape(kind: str, width: int, size: int) -> np.ndarray:
    """A symmetric shape drawn black on white on a 280×280 canvas, as a person would with a `width` px pen."""
    image = Image.new("RGB", (280, 280), "white")
    draw = ImageDraw.Draw(image)
    c, h = 140, size // 2
    lines = {"x": [((c - h, c - h), (c + h, c + h)), ((c - h, c + h), (c + h, c - h))],
             "plus": [((c - h, c), (c + h, c)), ((c, c - h), (c, c + h))],
             "diamond": [((c, c - h), (c + h, c)), ((c + h, c), (c, c + h)), ((c, c + h), (c - h, c)),
                         ((c - h, c), (c, c - h))],
             "asterisk": [((c - h, c - h), (c + h, c + h)), ((c - h, c + h), (c + h, c - h)),
                          ((c - h, c), (c + h, c))]}[kind]
    for line in lines:
        draw.line(line, fill="black", width=width)
    return np.asarray(image)


@pytest.mark.parametrize("kind", ["x", "plus", "diamond", "asterisk"])
def test_thin_and_thick_symmetric_shapes_are_strokes_not_dots(kind):
    for width in (4, 6, 8, 10, 14, 20):
        for size in (60, 100, 140, 180, 220, 260):
            image = sketch_to_tensor(symmetric_shape(kind, width, size))[0].numpy()
            if kind == "x":  # both diagonals reach all four corners of the drawing's box
                rows, cols = np.nonzero(image > 0.2)
                top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
                corners = [image[r0:r0 + 6, c0:c0 + 6].max() for r0 in (top, bottom - 5) for c0 in (left, right - 5)]
                assert min(corners) > 0.2, (width, size, corners)


def test_zhang_suen_keeps_diagonals_only_when_asked():
    bar = np.zeros((1, 40, 40), dtype=bool)
    for i in range(4, 36):  # a two-pixel-thick diagonal
        bar[0, i, i] = bar[0, i, i + 1] = True
    assert skeletonize_batch(bar).sum() < 8  # plain Zhang-Suen erodes it to almost nothing
    kept = skeletonize_batch(bar, keep_diagonals=True)
    assert kept.sum() >= 28 and kept[0].any(axis=1).sum() >= 28  # Lü and Wang's correction keeps its length
