"""Format detection by content, and `load` / `save` dispatch to one module per format."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import SceneFormatError
from .scene import GaussianScene

FORMATS = ("ply", "compressed_ply", "splat", "spz")
_EXTENSIONS = {".ply": "ply", ".splat": "splat", ".spz": "spz"}


def _check_file(path) -> int:
    if not os.path.exists(path):
        raise SceneFormatError(path, "no such file")
    if os.path.isdir(path):
        raise SceneFormatError(path, "is a directory, not a scene file")
    size = os.path.getsize(path)
    if size == 0:
        raise SceneFormatError(path, "file is empty")
    return size


def _looks_like_splat(path, size: int) -> bool:
    """A headerless file is taken as .splat when its size and first records are plausible."""
    if size % 32:
        return False
    from .splat_file import RECORD

    first = np.fromfile(path, dtype=RECORD, count=min(size // 32, 64))
    with np.errstate(all="ignore"):
        return bool(np.isfinite(first["position"]).all() and (first["scale"] > 0).all()
                    and (first["scale"] < 1e6).all())


def detect_format(path) -> str:
    """"ply", "compressed_ply", "splat" or "spz", from the file's first bytes (its extension only
    breaks the tie for headerless .splat data)."""
    size = _check_file(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        from .compressed_ply import is_compressed_ply
        from .ply_header import read_header

        return "compressed_ply" if is_compressed_ply(read_header(path)) else "ply"
    if head[:2] == b"\x1f\x8b" or head[:4] == b"NGSP":
        return "spz"
    suffix = Path(path).suffix.lower()
    if suffix == ".splat" or (suffix not in _EXTENSIONS and _looks_like_splat(path, size)):
        return "splat"
    if suffix == ".ply":
        raise SceneFormatError(path, "not a PLY file: it does not start with the line 'ply'")
    if suffix == ".spz":
        raise SceneFormatError(path, "not an SPZ file: it starts neither with gzip bytes 1f 8b nor with 'NGSP'")
    raise SceneFormatError(path, "unrecognised scene format (expected INRIA or compressed PLY, .splat or .spz)")


def load(path, max_sh_degree: int = 3) -> GaussianScene:
    """Read a 3DGS scene file of any supported format, detected by content.

    `max_sh_degree` drops view-dependent colour above that degree (0: base colour only, which
    spares a PLY reader gathering 45 coefficients a splat that a viewport never shows).
    Raises `SceneFormatError` (a ValueError naming the file and the fault) on bad input.
    Non-finite splats are dropped with a warning; quaternions come out unit length.
    """
    path = os.fspath(path)
    fmt = detect_format(path)
    if fmt == "ply":
        from .ply import read_ply

        def reader(p):
            return read_ply(p, max_sh_degree=max_sh_degree)
    elif fmt == "compressed_ply":
        from .compressed_ply import read_compressed_ply as reader
    elif fmt == "splat":
        from .splat_file import read_splat as reader
    else:
        from .spz import read_spz as reader
    scene = reader(path)
    keep = {0: 0, 1: 3, 2: 8}.get(max_sh_degree)
    if keep is not None and scene.shN.shape[1] > keep:
        scene.shN = np.ascontiguousarray(scene.shN[:, :keep])
    scene.metadata["source_format"] = fmt
    return scene


def save(scene: GaussianScene, path, format: str | None = None) -> None:
    """Write `scene` as "ply" (INRIA, binary), "splat" or "spz" (version 3); the format comes
    from the extension when not given. Writes to a temporary file first, then renames."""
    path = os.fspath(path)
    fmt = format or _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the format from the extension; pass format='ply', 'splat' or 'spz'")
    if fmt == "ply":
        from .ply import write_ply as writer
    elif fmt == "splat":
        from .splat_file import write_splat as writer
    elif fmt == "spz":
        from .spz import write_spz as writer
    elif fmt == "compressed_ply":
        raise ValueError("writing compressed PLY is not supported; save as 'ply', 'splat' or 'spz'")
    else:
        raise ValueError(f"unknown scene format {fmt!r}; expected one of 'ply', 'splat', 'spz'")
    tmp = f"{path}.partial"
    try:
        writer(scene, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
