"""antimatter15 `.splat`: headerless 32-byte records (read and write).

Each record: 3 float32 position, 3 float32 LINEAR scale, RGBA uint8 (RGB of the DC term,
A = sigmoid(opacity)), 4 uint8 rotation `q / |q| * 128 + 128` in w, x, y, z. No SH beyond DC.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import SceneFormatError
from .sanitize import build_scene, logit
from .scene import SH_C0, GaussianScene

RECORD = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
assert RECORD.itemsize == 32


def read_splat(path) -> GaussianScene:
    """Read .splat records in file order; linear scales become log-scales, 8-bit alphas logits."""
    size = os.path.getsize(path)
    if size % RECORD.itemsize:
        raise SceneFormatError(path, f".splat files are 32-byte records, but this one holds {size} bytes "
                               f"({size % RECORD.itemsize} bytes left over): truncated or not a .splat file")
    n = size // RECORD.itemsize
    if n == 0:
        return GaussianScene.empty()
    records = np.memmap(path, dtype=RECORD, mode="r", shape=(n,))
    means = np.array(records["position"], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_scales = np.log(np.asarray(records["scale"], dtype=np.float32))
    rgba = np.asarray(records["rgba"], dtype=np.float32) / 255.0
    sh0 = (rgba[:, :3] - 0.5) / np.float32(SH_C0)
    opacities = logit(rgba[:, 3])
    quats = (np.asarray(records["rot"], dtype=np.float32) - 128.0) / 128.0
    return build_scene(path, means, quats, log_scales, opacities, sh0, np.zeros((n, 0, 3), np.float32))


def write_splat(scene: GaussianScene, path) -> None:
    """Write records in the scene's order (SH bands above the DC term are not stored)."""
    records = np.empty(scene.count, dtype=RECORD)
    records["position"] = scene.means
    records["scale"] = np.exp(scene.log_scales)
    rgba = np.empty((scene.count, 4), dtype=np.float32)
    rgba[:, :3] = 0.5 + SH_C0 * scene.sh0
    rgba[:, 3] = scene.opacities()
    records["rgba"] = np.clip(np.rint(rgba * 255.0), 0, 255)
    quats = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    records["rot"] = np.clip(np.rint(quats * 128.0 + 128.0), 0, 255)
    with open(path, "wb") as f:
        f.write(records.tobytes())
