"""Rotations shared by scenes, cameras and camera paths: quaternions (w, x, y, z), rotation
matrices, slerp and the split of a similarity transform. Numpy only (vendored into Blender)."""
from __future__ import annotations

import numpy as np

SIMILARITY_TOLERANCE = 1e-4


def quat_from_matrix(r: np.ndarray) -> np.ndarray:
    """Unit quaternion [4] (w, x, y, z) of a rotation matrix [3,3] (det +1); Shepperd's method,
    branching on the largest diagonal term so the square root never nears zero."""
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


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix [3,3] of a quaternion [4] (w, x, y, z), normalised first."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


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


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical linear interpolation between unit quaternions along the shorter arc."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:  # nearly equal: sin(theta) ~ 0, the linear blend is exact to float precision
        q = q0 + t * (q1 - q0)
    else:
        theta = np.arccos(min(d, 1.0))
        q = (np.sin((1 - t) * theta) * q0 + np.sin(t * theta) * q1) / np.sin(theta)
    return q / np.linalg.norm(q)


def decompose_similarity(matrix) -> tuple[float, np.ndarray, np.ndarray]:
    """(uniform scale s > 0, orthogonal Q [3,3], translation t [3]) with matrix [4,4] = [s Q | t].

    Q may be a reflection (det -1, a mirrored object). Shear, non-uniform scale, zero scale,
    non-finite values or a projective bottom row raise ValueError.
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
    if error > SIMILARITY_TOLERANCE:
        axes = np.linalg.norm(linear, axis=0)
        raise ValueError(
            "transform must be rotation + uniform scale + translation; this one has shear or "
            f"non-uniform scale (column lengths {np.round(axes, 6).tolist()}, orthogonality error {error:.2g})")
    return scale, q, m[:3, 3].copy()
