"""Scene edits: similarity transforms (with SH rotation), axis-aligned crop, decimation."""
from __future__ import annotations

import numpy as np

from .sh_rotation import rotate_sh

_TOLERANCE = 1e-4


def decompose_similarity(matrix) -> tuple[float, np.ndarray, np.ndarray]:
    """(uniform scale s > 0, orthogonal Q [3,3], translation t [3]) with matrix = [s Q | t].

    Q may be a reflection (det -1, a mirrored object). Shear, non-uniform scale, zero scale or a
    projective bottom row raise ValueError.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"transform must be a 4x4 matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("transform matrix holds NaN or infinite values")
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise ValueError(f"transform bottom row must be (0, 0, 0, 1), got {m[3].tolist()}: projective matrices are not similarity transforms")
    linear = m[:3, :3]
    scale = float(np.cbrt(abs(np.linalg.det(linear))))
    if scale <= 1e-12:
        raise ValueError("transform has zero scale")
    q = linear / scale
    error = float(np.abs(q.T @ q - np.eye(3)).max())
    if error > _TOLERANCE:
        axes = np.linalg.norm(linear, axis=0)
        raise ValueError(
            "transform must be rotation + uniform scale + translation; this one has shear or "
            f"non-uniform scale (column lengths {np.round(axes, 6).tolist()}, orthogonality error {error:.2g})")
    return scale, q, m[:3, 3].copy()


def quat_from_matrix(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix [3,3] (det +1)."""
    r = np.asarray(r, dtype=np.float64)
    trace = np.trace(r)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (w, x, y, z) quaternions; a [4] or [N,4], b [N,4]."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


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
