"""Checks every reader applies to its arrays: finite values and unit quaternions."""
from __future__ import annotations

import warnings

import numpy as np

from .scene import GaussianScene

_ZERO_QUAT = 1e-12


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask [N] of rows where every value of every array is finite."""
    n = len(arrays[0])
    keep = np.ones(n, dtype=bool)
    for array in arrays:
        if array.size:
            keep &= np.isfinite(array.reshape(n, -1)).all(axis=1)
    return keep


def normalise_quats(quats: np.ndarray, source) -> np.ndarray:
    """Unit quaternions [N,4] (in place when float32); zero ones become identity, with a warning."""
    norms = np.sqrt(np.einsum("ij,ij->i", quats, quats, dtype=np.float64)).astype(np.float32)
    zero = norms < _ZERO_QUAT
    if zero.any():
        warnings.warn(f"{source}: {int(zero.sum())} splats have a zero rotation quaternion; using identity", stacklevel=3)
        quats[zero] = (1.0, 0.0, 0.0, 0.0)
        norms[zero] = 1.0
    quats /= norms[:, None]
    return quats


def build_scene(source, means, quats, log_scales, logit_opacities, sh0, shN, *,
                antialiased: bool = False, metadata: dict | None = None) -> GaussianScene:
    """A `GaussianScene` from reader arrays: drops non-finite splats (warning with their count)
    and normalises quaternions."""
    keep = finite_rows(means, quats, log_scales, logit_opacities, sh0, shN)
    dropped = int(len(keep) - keep.sum())
    if dropped:
        warnings.warn(f"{source}: dropped {dropped} splats with non-finite values (NaN or infinity)", stacklevel=3)
        means, quats, log_scales = means[keep], quats[keep], log_scales[keep]
        logit_opacities, sh0, shN = logit_opacities[keep], sh0[keep], shN[keep]
    quats = normalise_quats(np.asarray(quats, dtype=np.float32), source)
    meta = dict(metadata or {})
    if dropped:
        meta["dropped_non_finite"] = dropped
    return GaussianScene(means, quats, log_scales, logit_opacities, sh0, shN,
                         antialiased=antialiased, metadata=meta)


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Inverse sigmoid with p clamped to [eps, 1-eps] (8-bit alphas of 0 or 255 stay finite)."""
    p = np.clip(np.asarray(p, dtype=np.float32), eps, 1.0 - eps)
    return np.log(p / (1.0 - p)).astype(np.float32)
