"""The ink pipeline: any drawing of a character, a user's sketch or an Omniglot image, as a 28x28 ink image.

One pipeline (`preprocess_ink_batch`) serves the data set, the Lake et al. (2015) one-shot runs and
the user's sketches, so that a sketch looks like the images a model was trained on: find the ink,
crop it, skeletonise it (so that the pen's width does not matter), redraw the skeleton with the
width of a typical Omniglot stroke, and average down to 28x28 (ink = 1).
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

IMAGE_SIZE = 28  # side of every preprocessed image, in pixels
INK_THRESHOLD = 0.5  # an input pixel is ink when its ink value is above this
MIN_INK_PIXELS = 5  # fewer ink pixels than this: the image is blank
WORK_SIZE = 112  # side of the square in which the ink is skeletonised
WORK_MARGIN = 2  # empty pixels around the ink in the working square
WORK_THRESHOLD = 0.3  # a resampled pixel is ink above this times the resampling scale (if < 1)
# Mean stroke width (ink pixels / skeleton pixels) over the ink's extent above which the drawing is
# a dot: real Omniglot images reach at most 0.21, round dots 0.57 or more, a 4:1 dash 0.42.
DOT_FRACTION = 0.5
SUPERSAMPLE = 3  # the skeleton is redrawn at SUPERSAMPLE x IMAGE_SIZE, then area-averaged
SKELETON_SPAN = 22.0  # the skeleton's longer side spans this many output pixels
# Stroke width in output (28x28) pixels. Measured on the 5,840 images of the two background
# "small" archives as ink pixels / skeleton pixels at 105x105, scaled by this crop (SKELETON_SPAN
# / skeleton extent): median 1.89 output pixels (quartiles 1.66, 2.20). The same measure on this
# pipeline's output (ink mass / skeleton pixels) gives median 1.93 with STROKE_WIDTH = 1.8.
STROKE_WIDTH = 1.8
PREPROCESS_VERSION = "ink-v1"  # part of the cache key; change it whenever the pipeline changes
MAX_SKETCH_SIDE = 4096  # sketches with a longer side are refused before any processing
SKELETON_CHUNK = 256  # images skeletonised at once (bounds the memory of the batch)
SKETCH_MODES = ("L", "LA", "RGB", "RGBA")  # PIL modes sketch_to_tensor reads


# ----------------------------------------------------------------------------- image pipeline


def preprocess_ink(ink: np.ndarray) -> np.ndarray:
    """One ink image (H, W), ink = 1, background = 0, as a normalised (28, 28) float32 image.

    See `preprocess_ink_batch` for the steps and the errors.
    """
    ink = np.asarray(ink)
    if ink.ndim != 2:
        raise ValueError(f"ink must be a 2-D array (height, width), got shape {ink.shape}")
    return preprocess_ink_batch(ink[None])[0]


def preprocess_ink_batch(inks: np.ndarray) -> np.ndarray:
    """Ink images (n, H, W), ink = 1, background = 0, as normalised (n, 28, 28) float32 images.

    Steps: threshold the ink; crop to its bounding box and pad to a centred square; resample
    to WORK_SIZE and binarise; skeletonise (Zhang-Suen); crop to the skeleton and redraw it with
    strokes STROKE_WIDTH wide so that thin and thick pens give the same image; area-average to
    28x28. An image whose Zhang-Suen skeleton looks like a dot (below) is thinned again with the
    diagonals kept (`skeletonize_batch`): a symmetric X drawn with a 6–20 px pen lost all but a few
    pixels of its arms otherwise. Every image the plain thinning accepts is unchanged, so the
    preprocessed Omniglot images (and the checkpoints trained on them) are too. Raises ValueError
    for a blank image (fewer than MIN_INK_PIXELS ink pixels) and for a drawing that is only a dot:
    its mean stroke width (ink pixels / skeleton pixels) is over DOT_FRACTION of its extent, i.e. a
    blob rather than strokes.
    """
    inks = np.asarray(inks)
    if inks.ndim != 3:
        raise ValueError(f"inks must be a 3-D array (images, height, width), got shape {inks.shape}")
    if inks.size == 0:
        raise ValueError(f"inks must not be empty, got shape {inks.shape}")
    if not (np.issubdtype(inks.dtype, np.floating) or inks.dtype == np.bool_):
        raise ValueError(f"inks must be a float array in [0, 1], got dtype {inks.dtype}")
    if not np.isfinite(inks).all():
        raise ValueError("inks contain NaN or infinite values")
    if inks.min() < 0 or inks.max() > 1:
        raise ValueError(f"ink values must lie in [0, 1], got [{inks.min()}, {inks.max()}]")
    masks = inks > INK_THRESHOLD
    work = np.stack([_ink_to_work_square(mask, index) for index, mask in enumerate(masks)])
    skeletons = np.concatenate([skeletonize_batch(work[start:start + SKELETON_CHUNK])
                                for start in range(0, len(work), SKELETON_CHUNK)])
    is_dot = _looks_like_a_dot(work, skeletons)
    if is_dot.any():  # Zhang-Suen erases two-pixel-thick diagonals (an X): thin those images keeping them
        skeletons[is_dot] = skeletonize_batch(work[is_dot], keep_diagonals=True)
        is_dot = _looks_like_a_dot(work, skeletons)
    if is_dot.any():
        raise ValueError(f"image {int(np.flatnonzero(is_dot)[0])} is too small: the drawing is only a dot "
                         f"(draw strokes, not a blob)")
    drawn = _draw_skeletons(skeletons)
    return drawn.reshape(len(drawn), IMAGE_SIZE, SUPERSAMPLE, IMAGE_SIZE, SUPERSAMPLE).mean(axis=(2, 4))


def _looks_like_a_dot(work: np.ndarray, skeletons: np.ndarray) -> np.ndarray:
    """Per image: no skeleton, or a mean stroke width (ink pixels / skeleton pixels) over DOT_FRACTION of the
    working square's extent, i.e. a blob rather than strokes."""
    stroke_width = work.sum(axis=(1, 2)) / np.maximum(skeletons.sum(axis=(1, 2)), 1)
    return ~skeletons.any(axis=(1, 2)) | (stroke_width > DOT_FRACTION * (WORK_SIZE - 2 * WORK_MARGIN))


def _ink_to_work_square(mask: np.ndarray, index: int) -> np.ndarray:
    """The ink of one boolean image cropped, padded to a centred square and binarised at WORK_SIZE."""
    n_ink = int(mask.sum())
    if n_ink < MIN_INK_PIXELS:
        raise ValueError(f"image {index} is blank: {n_ink} ink pixels, fewer than {MIN_INK_PIXELS}")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    side = max(crop.shape)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square = np.zeros((side, side), np.float32)
    square[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    inner = WORK_SIZE - 2 * WORK_MARGIN
    resized = F.interpolate(torch.from_numpy(square)[None, None], size=(inner, inner), mode="bilinear",
                            antialias=True, align_corners=False)[0, 0].numpy()
    # Shrinking thins a stroke's peak by the scale: lower the threshold with it to keep it whole.
    return np.pad(resized > WORK_THRESHOLD * min(1.0, inner / side), WORK_MARGIN)


def skeletonize_batch(masks: np.ndarray, keep_diagonals: bool = False) -> np.ndarray:
    """Zhang-Suen thinning of binary images (n, H, W) into one-pixel-wide skeletons (bool).

    A pixel is deleted when it has 2 to 6 ink neighbours (with `keep_diagonals`, 3 to 6: Lü and Wang's
    1986 correction, which keeps the two-pixel-thick diagonal lines that plain Zhang-Suen erases to
    nothing, at the cost of slightly thicker joints). Vectorised over the whole batch; images stop
    being updated once they no longer change.
    """
    if masks.ndim != 3:
        raise ValueError(f"masks must be a 3-D array (images, height, width), got shape {masks.shape}")
    image = np.pad(masks.astype(np.uint8), ((0, 0), (1, 1), (1, 1)))
    active = np.arange(len(image))
    while active.size:
        batch = image[active]
        changed = np.zeros(len(active), dtype=bool)
        for first_subiteration in (True, False):
            centre = batch[:, 1:-1, 1:-1]
            # Neighbours P2..P9, clockwise from north.
            p2, p3, p4 = batch[:, :-2, 1:-1], batch[:, :-2, 2:], batch[:, 1:-1, 2:]
            p5, p6, p7 = batch[:, 2:, 2:], batch[:, 2:, 1:-1], batch[:, 2:, :-2]
            p8, p9 = batch[:, 1:-1, :-2], batch[:, :-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            n_neighbours = sum(ring[:-1])
            n_transitions = sum((1 - a) * b for a, b in zip(ring[:-1], ring[1:]))
            if first_subiteration:
                open_side = ((p2 * p4 * p6) == 0) & ((p4 * p6 * p8) == 0)
            else:
                open_side = ((p2 * p4 * p8) == 0) & ((p2 * p6 * p8) == 0)
            delete = ((centre == 1) & (n_neighbours >= (3 if keep_diagonals else 2)) & (n_neighbours <= 6)
                      & (n_transitions == 1)
                      & open_side)
            centre[delete] = 0
            changed |= delete.any(axis=(1, 2))
        image[active] = batch
        active = active[changed]
    return image[:, 1:-1, 1:-1].astype(bool)


def _draw_skeletons(skeletons: np.ndarray) -> np.ndarray:
    """Non-empty skeletons (n, WORK_SIZE, WORK_SIZE) cropped, centred, redrawn STROKE_WIDTH wide at 84x84.

    The skeleton's points, and points along the links between 8-neighbours (so that an enlarged
    skeleton has no gaps), are mapped so that its longer side spans SKELETON_SPAN output pixels,
    then every point is stamped with an anti-aliased disc.
    """
    size = IMAGE_SIZE * SUPERSAMPLE
    n_images = len(skeletons)
    rows_any, cols_any = skeletons.any(axis=2), skeletons.any(axis=1)
    top, left = rows_any.argmax(axis=1), cols_any.argmax(axis=1)
    bottom = skeletons.shape[1] - 1 - rows_any[:, ::-1].argmax(axis=1)
    right = skeletons.shape[2] - 1 - cols_any[:, ::-1].argmax(axis=1)
    extent = np.maximum(np.maximum(bottom - top, right - left), 1)
    scale = SKELETON_SPAN * SUPERSAMPLE / extent
    steps = max(1, math.ceil(scale.max()))

    padded = np.pad(skeletons, ((0, 0), (1, 1), (1, 1)))
    point_lists = [np.nonzero(skeletons)]
    for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):
        linked = skeletons & padded[:, 1 + d_row:1 + d_row + skeletons.shape[1],
                                    1 + d_col:1 + d_col + skeletons.shape[2]]
        image, row, col = np.nonzero(linked)
        for step in range(1, steps):
            point_lists.append((image, row + d_row * step / steps, col + d_col * step / steps))
    point_image, point_row, point_col = (np.concatenate(axis) for axis in zip(*point_lists))
    centre = (size - 1) / 2
    point_scale = scale[point_image]
    out_row = np.rint((point_row - (top + bottom)[point_image] / 2) * point_scale + centre).astype(np.int64)
    out_col = np.rint((point_col - (left + right)[point_image] / 2) * point_scale + centre).astype(np.int64)

    radius = STROKE_WIDTH * SUPERSAMPLE / 2
    reach = math.ceil(radius + 0.5)
    stamps = sorted((min(1.0, radius + 0.5 - math.hypot(dr, dc)), dr, dc)
                    for dr in range(-reach, reach + 1) for dc in range(-reach, reach + 1)
                    if math.hypot(dr, dc) < radius + 0.5)
    canvas = np.zeros((n_images, size + 2 * reach, size + 2 * reach), np.float32)
    # Stamps go from faint to full, so each pixel ends with the strongest value that reaches it.
    for weight, dr, dc in stamps:
        canvas[point_image, out_row + reach + dr, out_col + reach + dc] = weight
    return canvas[:, reach:reach + size, reach:reach + size]


# ----------------------------------------------------------------------------- user sketches


def sketch_to_tensor(image: Image.Image | np.ndarray) -> Tensor:
    """A user's sketch (PIL image or array, any size) as a (1, 28, 28) float32 tensor, ink = 1.

    Modes L, LA, RGB, RGBA (arrays (H, W), (H, W, 1|2|3|4), uint8 0..255 or float 0..1).
    Transparent pixels are composited over the colour that contrasts with the painted ones
    (dark strokes on a transparent layer become dark on white). The background colour is the
    median of the border pixels; ink is how far a pixel's colour is from it, so dark-on-light
    and light-on-dark drawings give the same result. Sketches with a side over MAX_SKETCH_SIDE
    are refused before any processing.
    """
    pixels = _sketch_pixels(image)
    if pixels.shape[-1] in (2, 4):
        colour, alpha = pixels[..., :-1], pixels[..., -1:]
        painted = float(alpha.sum())
        painted_colour = float((colour * alpha).sum() / (painted * colour.shape[-1])) if painted else 1.0
        backdrop = 1.0 if painted_colour < 0.5 else 0.0
        pixels = colour * alpha + backdrop * (1.0 - alpha)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    ink = (np.abs(pixels - background) / np.maximum(background, 1.0 - background)).max(axis=-1)
    return torch.from_numpy(preprocess_ink(np.clip(ink, 0.0, 1.0)))[None]


def _sketch_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    """The sketch as a float32 array (H, W, channels) in [0, 1], after the size and type checks."""
    if isinstance(image, Image.Image):
        _check_sketch_size(image.height, image.width)
        if image.mode not in SKETCH_MODES:
            raise ValueError(f"sketch mode must be one of {SKETCH_MODES}, got {image.mode!r}")
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"sketch must be a PIL image or a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"sketch array must have shape (H, W) or (H, W, channels), got {image.shape}")
    _check_sketch_size(image.shape[0], image.shape[1])
    if image.size == 0:
        raise ValueError(f"sketch array is empty, shape {image.shape}")
    pixels = image[..., None] if image.ndim == 2 else image
    if pixels.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"sketch must have 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels, "
                         f"got {pixels.shape[-1]}")
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ValueError(f"sketch array must be uint8 (0..255) or float (0..1), got dtype {pixels.dtype}")
    pixels = pixels.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ValueError("sketch contains NaN or infinite values")
    if pixels.min() < 0 or pixels.max() > 1:
        raise ValueError(f"float sketch values must lie in [0, 1], got [{pixels.min()}, {pixels.max()}]")
    return pixels


def _check_sketch_size(height: int, width: int) -> None:
    """Refuse a sketch whose longer side exceeds MAX_SKETCH_SIDE."""
    if max(height, width) > MAX_SKETCH_SIDE:
        raise ValueError(f"sketch is too large: {width}x{height} pixels, the limit is "
                         f"{MAX_SKETCH_SIDE}x{MAX_SKETCH_SIDE}")


def png_ink(data: bytes) -> np.ndarray:
    """A black-on-white PNG (bytes) as an ink array (ink = 1 - brightness)."""
    with Image.open(io.BytesIO(data)) as image:
        return 1.0 - np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def preprocess_mixed_sizes(inks: list[np.ndarray]) -> np.ndarray:
    """preprocess_ink_batch over images that may differ in size, one batch per size, order kept."""
    result = np.empty((len(inks), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for shape in {ink.shape for ink in inks}:
        indices = [i for i, ink in enumerate(inks) if ink.shape == shape]
        result[indices] = preprocess_ink_batch(np.stack([inks[i] for i in indices]))
    return result
