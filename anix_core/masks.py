"""Character masks for conditioning: per-frame box masks from the projected character volume
(AniX's anchor boxes), a shape-agnostic variant (Animate Anyone 2) for training, and the
first-frame-only mode. Numpy only.

The character volume is an upright box around the root: `height_m` tall, `width_ratio * height_m`
wide and deep, turned to the character's heading. Each frame's mask is the 2D bounding box of the
box's corners projected through that frame's camera (the part behind the near plane clipped
away), clipped to the image.
"""
from __future__ import annotations

import numpy as np

NEAR_M = 0.05
# The box's edges as index pairs into `character_box_corners`' 8 corners.
_BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
              (0, 4), (1, 5), (2, 6), (3, 7))
MASK_MODES = ("per_frame", "first_frame", "none")


def check_mask_mode(mode: str) -> str:
    """`mode` when it is one of MASK_MODES, else a ValueError naming them."""
    if mode not in MASK_MODES:
        raise ValueError(f"mask mode must be one of {', '.join(MASK_MODES)}, not {mode!r}")
    return mode


def character_box_corners(root: np.ndarray, heading_rad: float, height_m: float,
                          width_ratio: float = 0.45) -> np.ndarray:
    """The 8 world corners [8,3] of the upright box around a character standing at `root` [3]
    (feet), facing `heading_rad` (0 = +X, counter-clockwise about +Z)."""
    half = 0.5 * width_ratio * height_m
    c, s = np.cos(heading_rad), np.sin(heading_rad)
    forward, left = np.array([c, s, 0.0]), np.array([-s, c, 0.0])
    up = np.array([0.0, 0.0, height_m])
    base = [root + a * half * forward + b * half * left for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    return np.array(base + [p + up for p in base], dtype=np.float64)


def project_box(camera, corners: np.ndarray) -> tuple[float, float, float, float] | None:
    """Pixel bounding box (x0, y0, x1, y1) of the corners [8,3] seen by `camera`, the part behind
    the near plane clipped away; None when the whole box is behind the camera. Not clipped to the
    image."""
    world_to_camera = np.asarray(camera.world_to_camera, dtype=np.float64)
    cam = corners @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    front = cam[:, 2] >= NEAR_M
    if not front.any():
        return None
    points = [cam[front]]
    for a, b in _BOX_EDGES:
        za, zb = cam[a, 2], cam[b, 2]
        if (za >= NEAR_M) != (zb >= NEAR_M):
            t = (NEAR_M - za) / (zb - za)
            points.append((cam[a] + t * (cam[b] - cam[a]))[None])
    pts = np.concatenate(points)
    K = np.asarray(camera.K, dtype=np.float64)
    uvw = pts @ K.T
    uv = uvw[:, :2] / uvw[:, 2:3]
    return float(uv[:, 0].min()), float(uv[:, 1].min()), float(uv[:, 0].max()), float(uv[:, 1].max())


def box_to_pixels(box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A float pixel box -> integer slice bounds (x0, y0, x1, y1) clipped to the image; None if
    nothing of it is inside."""
    if box is None:
        return None
    x0, y0 = int(np.floor(max(box[0], 0.0))), int(np.floor(max(box[1], 0.0)))
    x1, y1 = int(np.ceil(min(box[2], width))), int(np.ceil(min(box[3], height)))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def box_masks(cameras, root_positions, headings, height_m: float, width_ratio: float = 0.45,
              mode: str = "per_frame") -> np.ndarray:
    """Mask video [F,H,W] float32 in {0,1}: 1 inside the character's projected box.

    mode: "per_frame" (AniX), "first_frame" (only frame 0 carries the box, as the paper's
    ablation), "none" (all zeros)."""
    check_mask_mode(mode)
    width, height = cameras[0].width, cameras[0].height
    masks = np.zeros((len(cameras), height, width), np.float32)
    for i, (cam, root, heading) in enumerate(zip(cameras, root_positions, headings)):
        masks[i] = box_mask(i, cam, root, heading, height_m, width_ratio, mode)
    return masks


def box_mask(index: int, camera, root, heading_rad: float, height_m: float, width_ratio: float = 0.45,
             mode: str = "per_frame") -> np.ndarray:
    """Frame `index`'s mask [H,W] float32 in {0,1} of `box_masks` (for streaming one frame at a time)."""
    check_mask_mode(mode)
    width, height = camera.width, camera.height
    mask = np.zeros((height, width), np.float32)
    if mode == "none" or (mode == "first_frame" and index > 0):
        return mask
    box = project_box(camera, character_box_corners(np.asarray(root, np.float64), float(heading_rad), height_m,
                                                    width_ratio))
    px = box_to_pixels(box, width, height)
    if px is not None:
        x0, y0, x1, y1 = px
        mask[y0:y1, x0:x1] = 1.0
    return mask


def shape_agnostic_masks(masks: np.ndarray, seed: int = 0, blocks: tuple[int, int] = (8, 4),
                         max_dilation: float = 0.15, jag_probability: float = 0.35) -> np.ndarray:
    """Animate Anyone 2's shape-agnostic masks [F,H,W] from any masks [F,H,W] (boxes or silhouettes).

    Per frame: the mask's bounding box is grown by a random fraction (up to `max_dilation` of its
    size, per side), cut into `blocks` = (rows, cols) cells; a cell is foreground when it touches
    the mask, and cells on the border are randomly added or dropped so the outline is jagged and
    never the character's own shape. Seeded: the same seed gives the same masks."""
    rng = np.random.default_rng(seed)
    masks = np.asarray(masks, np.float32)
    out = np.zeros_like(masks)
    f, height, width = masks.shape
    rows, cols = blocks
    for i in range(f):
        ys, xs = np.nonzero(masks[i] > 0.5)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        bh, bw = y1 - y0, x1 - x0
        grow = rng.uniform(0.0, max_dilation, size=4)
        y0 = max(0, int(y0 - grow[0] * bh)); y1 = min(height, int(np.ceil(y1 + grow[1] * bh)))
        x0 = max(0, int(x0 - grow[2] * bw)); x1 = min(width, int(np.ceil(x1 + grow[3] * bw)))
        ye = np.linspace(y0, y1, rows + 1).round().astype(int)
        xe = np.linspace(x0, x1, cols + 1).round().astype(int)
        cells = np.zeros((rows, cols), bool)
        for r in range(rows):
            for c in range(cols):
                cells[r, c] = masks[i, ye[r]:ye[r + 1], xe[c]:xe[c + 1]].any()
        border = np.zeros_like(cells)
        border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
        flip = border & (rng.random(cells.shape) < jag_probability)
        cells = np.where(flip, ~cells, cells)
        if not cells.any():
            cells[rows // 2, cols // 2] = True
        for r in range(rows):
            for c in range(cols):
                if cells[r, c]:
                    out[i, ye[r]:ye[r + 1], xe[c]:xe[c + 1]] = 1.0
    return out


def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """Centroid (x, y) [F,2] in pixels of each mask; NaN for an empty one."""
    masks = np.asarray(masks, np.float32)
    f, height, width = masks.shape
    total = masks.sum(axis=(1, 2))
    xs = (masks.sum(axis=1) * (np.arange(width) + 0.5)).sum(axis=1)
    ys = (masks.sum(axis=2) * (np.arange(height) + 0.5)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([xs / total, ys / total], axis=1)
