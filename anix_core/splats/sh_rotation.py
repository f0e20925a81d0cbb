"""Rotation of real spherical-harmonic colour coefficients (bands 1..3), numpy only.

The basis and its signs are those of the INRIA / gsplat renderers (`eval_sh`), with
directions pointing from the camera to the splat. A function f(d) = sum c_i Y_i(d) rotated by
R is f'(d) = f(R^T d); because each band is closed under rotation, its coefficients map by a
(2l+1)x(2l+1) matrix, found here by least squares on fixed sample directions (exact up to
float rounding: the fit has no residual). Works for any orthogonal R, reflections included.
"""
from __future__ import annotations

import numpy as np

from .scene import SH_C0, SH_REST_TO_DEGREE

C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
      -0.4570457994644658, 1.445305721320277, -0.5900435899266435)
BANDS = {1: slice(0, 3), 2: slice(3, 8), 3: slice(8, 15)}  # positions inside shN [N, 15, 3]


def sh_basis(dirs: np.ndarray, degree: int = 3) -> np.ndarray:
    """Real SH basis [M, (degree+1)^2] at unit directions [M,3] (DC term first)."""
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    cols = [np.full_like(x, SH_C0)]
    if degree >= 1:
        cols += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        cols += [C2[0] * xy, C2[1] * yz, C2[2] * (2 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
    if degree >= 3:
        cols += [C3[0] * y * (3 * xx - yy), C3[1] * xy * z, C3[2] * y * (4 * zz - xx - yy),
                 C3[3] * z * (2 * zz - 3 * xx - 3 * yy), C3[4] * x * (4 * zz - xx - yy),
                 C3[5] * z * (xx - yy), C3[6] * x * (xx - 3 * yy)]
    return np.stack(cols, axis=1)


def _sample_directions(count: int = 64) -> np.ndarray:
    """Deterministic, well-spread unit directions (Fibonacci sphere)."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    r = np.sqrt(1.0 - z * z)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_DIRS = _sample_directions()
_BASIS = sh_basis(_DIRS, 3)


def sh_rotation_matrices(rotation: np.ndarray, degree: int = 3) -> dict[int, np.ndarray]:
    """Per band l (1..degree), the matrix D_l with c'_l = D_l @ c_l for orthogonal `rotation` [3,3]."""
    rotation = np.asarray(rotation, dtype=np.float64)
    rotated = sh_basis(_DIRS @ rotation, degree)  # rows: Y(R^T d) for each sample d
    out = {}
    for band in range(1, degree + 1):
        cols = slice(band * band, (band + 1) * (band + 1))
        solution, *_ = np.linalg.lstsq(_BASIS[:, cols], rotated[:, cols], rcond=None)
        out[band] = solution
    return out


def rotate_sh(shN: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Coefficients shN [N, K, 3] (K = 0, 3, 8, 15; coefficient-major) rotated by `rotation` [3,3]."""
    k = shN.shape[1]
    if k == 0:
        return shN.copy()
    degree = SH_REST_TO_DEGREE[k]
    out = np.empty_like(shN)
    for band, matrix in sh_rotation_matrices(rotation, degree).items():
        sl = BANDS[band]
        out[:, sl] = np.einsum("ij,njc->nic", matrix.astype(np.float32), shN[:, sl])
    return out
