"""The floor under the character: a robust plane fit of the scene's splats. Numpy only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Ground:
    """The floor as a plane n . p = offset (n unit, n_z > 0), fitted under the anchor."""

    normal: np.ndarray
    offset: float
    inliers: int = 0

    def height_at(self, xy) -> np.ndarray:
        """Floor height z at xy [...,2]."""
        xy = np.asarray(xy, np.float64)
        n = self.normal
        return (self.offset - n[0] * xy[..., 0] - n[1] * xy[..., 1]) / n[2]


def fit_ground(scene, anchor_position, radius_m: float = 2.0, seed: int = 0) -> Ground:
    """Robust floor fit under the anchor: the splats (opacity > 0.2) within `radius_m` in xy
    (widened until there are enough) and not far above the anchor; the lowest dense layer of
    them (low percentile of z) is fitted with a RANSAC plane that must be near horizontal.
    Falls back to a flat floor at the anchor's own height when the scene has nothing there."""
    anchor = np.asarray(anchor_position, np.float64)
    flat = Ground(np.array([0.0, 0.0, 1.0]), float(anchor[2]))
    if scene is None or scene.count == 0:
        return flat
    means = scene.means.astype(np.float64)
    solid = scene.opacities() > 0.2
    below = means[:, 2] <= anchor[2] + 0.5
    d = np.hypot(means[:, 0] - anchor[0], means[:, 1] - anchor[1])
    pts = np.zeros((0, 3))
    for r in (radius_m, 2 * radius_m, 4 * radius_m, 8 * radius_m):
        pts = means[solid & below & (d <= r)]
        if len(pts) >= 30:
            break
    if len(pts) < 3:
        return flat
    low = np.percentile(pts[:, 2], 10.0)
    cand = pts[pts[:, 2] <= low + 0.15]
    if len(cand) < 3:
        return Ground(flat.normal, float(np.median(pts[:, 2])), len(pts))
    rng = np.random.default_rng(seed)
    best, best_count = None, -1
    for _ in range(64):
        a, b, c = cand[rng.choice(len(cand), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm * np.sign(n[2] or 1.0)
        if n[2] < 0.9:  # floors are near horizontal
            continue
        count = int((np.abs(cand @ n - n @ a) < 0.03).sum())
        if count > best_count:
            best, best_count = (n, float(n @ a)), count
    if best is None:
        return Ground(flat.normal, float(np.median(cand[:, 2])), len(cand))
    n, off = best
    inl = cand[np.abs(cand @ n - off) < 0.03]
    if len(inl) >= 3:  # least-squares refinement z = ax + by + c
        A = np.c_[inl[:, 0], inl[:, 1], np.ones(len(inl))]
        (ga, gb, gc), *_ = np.linalg.lstsq(A, inl[:, 2], rcond=None)
        n = np.array([-ga, -gb, 1.0])
        norm = np.linalg.norm(n)
        n, off = n / norm, gc / norm
    return Ground(n, float(off), len(inl))
