"""Scene edits: similarity transforms (with SH rotation), axis-aligned crop, decimation."""
from __future__ import annotations

import numpy as np

from ..rotations import decompose_similarity, quat_from_matrix, quat_multiply
from .sh_rotation import rotate_sh


def transformed_arrays(scene, matrix) -> dict:
    """The scene's arrays under a similarity transform (see `GaussianScene.transformed`)."""
    scale, q, t = decompose_similarity(matrix)
    # A reflection Q = -P (P a rotation) maps each Gaussian's covariance like P does.
    rotation = q if np.linalg.det(q) > 0 else -q
    means = (scene.means.astype(np.float64) @ (scale * q).T + t).astype(np.float32)
    quats = quat_multiply(quat_from_matrix(rotation).astype(np.float32), scene.quats)
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    return dict(
        means=means,
        quats=quats.astype(np.float32),
        log_scales=scene.log_scales + np.float32(np.log(scale)),
        logit_opacities=scene.logit_opacities.copy(),
        sh0=scene.sh0.copy(),
        shN=rotate_sh(scene.shN, q),  # view directions map by Q itself, reflection included
    )


def crop_mask(means: np.ndarray, lo, hi) -> np.ndarray:
    """Boolean mask of centres inside the closed box [lo, hi]."""
    lo = np.asarray(lo, dtype=np.float32).reshape(3)
    hi = np.asarray(hi, dtype=np.float32).reshape(3)
    if (lo > hi).any():
        raise ValueError(f"crop box is empty: lo {lo.tolist()} exceeds hi {hi.tolist()} on some axis")
    return ((means >= lo) & (means <= hi)).all(axis=1)


def decimate_index(scene, max_count: int | None = None, fraction: float | None = None,
                   seed: int | None = 0, method: str = "importance") -> np.ndarray:
    """Sorted indices of the splats kept when reducing to `max_count` (or `fraction` of the count).

    "importance" keeps the largest opacity * volume (exp of summed log-scales); "random" draws
    uniformly with `seed`.
    """
    if (max_count is None) == (fraction is None):
        raise ValueError("decimate needs exactly one of max_count or fraction")
    n = scene.count
    if fraction is not None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"decimate fraction must lie in [0, 1], got {fraction}")
        keep = int(round(n * fraction))
    else:
        if max_count < 0:
            raise ValueError(f"decimate max_count must be >= 0, got {max_count}")
        keep = int(max_count)
    if keep >= n:
        return np.arange(n)
    if method == "importance":
        score = np.log(scene.opacities() + 1e-12) + scene.log_scales.sum(axis=1)
        index = np.argpartition(-score, keep - 1)[:keep] if keep else np.zeros(0, dtype=np.intp)
    elif method == "random":
        index = np.random.default_rng(seed).choice(n, size=keep, replace=False)
    else:
        raise ValueError(f"unknown decimate method {method!r}; use 'importance' or 'random'")
    return np.sort(index)
