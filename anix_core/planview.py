"""plan.png: a top-down picture of a shot's plan, the first thing an animator checks.

The splats seen from above (highest splat wins each pixel), the character's path (orange, a dot
and frame number every `label_every` frames, an arrow for its final heading), the camera's path
(cyan, a short line for where it looks), and the named targets (white rings).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

CHARACTER_COLOUR = (255, 140, 30)
CAMERA_COLOUR = (40, 220, 255)
TARGET_COLOUR = (255, 255, 255)


def draw_plan_image(scene, motion, size: int = 720, margin_m: float = 1.5, label_every: int | None = None) -> np.ndarray:
    """RGB uint8 [size,size,3] top-down view (x right, y up) of the scene and the plan."""
    roots = np.asarray(motion.root_positions, np.float64)
    cams = np.array([c.position for c in motion.cameras])
    pts = [roots[:, :2], cams[:, :2]] + [np.asarray(t, float)[None, :2] for t in motion.targets.values()]
    if scene is not None and scene.count:
        lo_s, hi_s = scene.bounds()
        pts.append(np.array([lo_s[:2], hi_s[:2]], np.float64))
    allp = np.concatenate(pts)
    lo, hi = allp.min(0) - margin_m, allp.max(0) + margin_m
    span = float(max(hi - lo))
    centre = 0.5 * (lo + hi)
    scale = size / span  # pixels per metre

    def to_px(xy):
        xy = np.asarray(xy, np.float64)
        return np.stack([(xy[..., 0] - centre[0]) * scale + size / 2, size / 2 - (xy[..., 1] - centre[1]) * scale], -1)

    img = np.full((size, size, 3), 24, np.uint8)
    if scene is not None and scene.count:
        img = _top_down(scene, to_px, size, scale)
    image = Image.fromarray(img)
    draw = ImageDraw.Draw(image)

    for name, t in motion.targets.items():
        c = to_px(np.asarray(t, float)[:2])
        r = 0.4 * scale
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=TARGET_COLOUR, width=2)
        draw.text((c[0] + r + 3, c[1] - 6), str(name), fill=TARGET_COLOUR)

    f = len(roots)
    every = label_every or max(1, int(round(f / 8)))
    marked = sorted(set(range(0, f, every)) | {f - 1})  # frames whose number is written
    cam_px, root_px = to_px(cams[:, :2]), to_px(roots[:, :2])
    if f > 1:
        draw.line([tuple(p) for p in cam_px], fill=CAMERA_COLOUR, width=2)
    for i in marked:
        look = motion.cameras[i].forward[:2]
        n = np.linalg.norm(look)
        if n > 1e-6:
            tip = cam_px[i] + np.array([look[0], -look[1]]) / n * 0.6 * scale
            draw.line([tuple(cam_px[i]), tuple(tip)], fill=CAMERA_COLOUR, width=1)
        draw.rectangle([cam_px[i][0] - 3, cam_px[i][1] - 3, cam_px[i][0] + 3, cam_px[i][1] + 3], outline=CAMERA_COLOUR)
        draw.text((cam_px[i][0] + 5, cam_px[i][1] + 2), str(i), fill=CAMERA_COLOUR)
    if f > 1:
        draw.line([tuple(p) for p in root_px], fill=CHARACTER_COLOUR, width=3)
    for i in marked:
        p = root_px[i]
        draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=CHARACTER_COLOUR)
        draw.text((p[0] + 6, p[1] - 14), str(i), fill=CHARACTER_COLOUR)
    h = float(motion.headings[-1])
    tip = root_px[-1] + 0.7 * scale * np.array([math.cos(h), -math.sin(h)])
    draw.line([tuple(root_px[-1]), tuple(tip)], fill=CHARACTER_COLOUR, width=2)
    draw.text((8, 8), "character", fill=CHARACTER_COLOUR)
    draw.text((8, 22), "camera", fill=CAMERA_COLOUR)
    bar = 1.0 if span < 20 else 5.0
    draw.line([(8, size - 12), (8 + bar * scale, size - 12)], fill=(230, 230, 230), width=2)
    draw.text((12 + bar * scale, size - 20), f"{bar:g} m", fill=(230, 230, 230))
    return np.asarray(image)


def _top_down(scene, to_px, size: int, scale: float, cell_m: float = 0.08) -> np.ndarray:
    """The splats from above, the highest splat per cell of `cell_m` metres, gaps filled from
    neighbouring cells, dimmed so the paths stand out; [size,size,3] uint8."""
    factor = max(1, int(round(cell_m * scale)))  # output pixels per cell
    small = (size + factor - 1) // factor
    order = np.argsort(scene.means[:, 2])  # low first: the highest splat is written last
    px = (to_px(scene.means[order, :2]) / factor).astype(np.int64)
    ok = (px[:, 0] >= 0) & (px[:, 0] < small) & (px[:, 1] >= 0) & (px[:, 1] < small)
    colours = scene.colors_rgb()[order][ok]
    img = np.zeros((small, small, 3), np.float32)
    filled = np.zeros((small, small), bool)
    img[px[ok, 1], px[ok, 0]] = colours
    filled[px[ok, 1], px[ok, 0]] = True
    for _ in range(2):  # fill one-cell holes from the neighbours
        acc = np.zeros_like(img)
        cnt = np.zeros((small, small), np.float32)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            acc += np.roll(img * filled[..., None], (dy, dx), axis=(0, 1))
            cnt += np.roll(filled, (dy, dx), axis=(0, 1))
        hole = ~filled & (cnt >= 2)
        img[hole] = acc[hole] / cnt[hole, None]
        filled |= hole
    img = np.where(filled[..., None], img * 0.75, 24 / 255.0)
    out = np.asarray(Image.fromarray((img * 255 + 0.5).astype(np.uint8)).resize(
        (small * factor, small * factor), Image.NEAREST))
    return np.ascontiguousarray(out[:size, :size])
