"""SuperSplat / PlayCanvas compressed PLY (read).

`chunk` element: one row per 256 splats with float min/max of position and log-scale, and
optionally of colour (min_r..max_b). `vertex`: uint32 packed_position (11/10/11 bits lerped in
the chunk range), packed_rotation (2-bit index of the largest component, then three 10-bit
values `(u - 0.5) * sqrt(2)`), packed_scale (11/10/11, log-scale range), packed_color
(8/8/8/8, RGB of the DC term and A = sigmoid(opacity)). Optional `sh` element of uchar f_rest_*
(channel-major): byte b -> n = 0 if b == 0, 1 if b == 255, else (b + 0.5) / 256; value (n - 0.5) * 8.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import SceneFormatError
from .ply_header import PlyHeader, binary_layout, read_header
from .sanitize import build_scene, logit
from .scene import SH_C0, SH_REST_TO_DEGREE, GaussianScene

CHUNK_SIZE = 256
_CHUNK_REQUIRED = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
                   "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z")
_CHUNK_COLOUR = ("min_r", "min_g", "min_b", "max_r", "max_g", "max_b")
_VERTEX_REQUIRED = ("packed_position", "packed_rotation", "packed_scale", "packed_color")
_REST_TO_K = {0: 0, 9: 3, 24: 8, 45: 15}


def is_compressed_ply(header: PlyHeader) -> bool:
    vertex = header.element("vertex")
    return header.element("chunk") is not None and vertex is not None and "packed_position" in vertex.names()


def _unpack_111011(v: np.ndarray) -> np.ndarray:
    out = np.empty((len(v), 3), dtype=np.float32)
    out[:, 0] = (v >> 21) / 2047.0
    out[:, 1] = ((v >> 11) & 1023) / 1023.0
    out[:, 2] = (v & 2047) / 2047.0
    return out


def _unpack_8888(v: np.ndarray) -> np.ndarray:
    shifts = np.array([24, 16, 8, 0], dtype=np.uint32)
    return ((v[:, None] >> shifts) & 255).astype(np.float32) / 255.0


def _unpack_rotation(v: np.ndarray) -> np.ndarray:
    largest = (v >> 30).astype(np.intp)
    norm = np.float32(np.sqrt(2.0))
    small = np.empty((len(v), 3), dtype=np.float32)
    for j, shift in enumerate((20, 10, 0)):
        small[:, j] = (((v >> shift) & 1023) / 1023.0 - 0.5) * norm
    m = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", small, small)))
    quats = np.empty((len(v), 4), dtype=np.float32)
    others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]
    rows = np.arange(len(v))[:, None]
    quats[rows, others] = small
    quats[np.arange(len(v)), largest] = m
    return quats


def read_compressed_ply(path, header: PlyHeader | None = None) -> GaussianScene:
    """Read a SuperSplat compressed PLY into a `GaussianScene` (in the file's splat order)."""
    header = header or read_header(path)
    if header.format == "ascii":
        raise SceneFormatError(path, "compressed PLY must be binary, not ASCII")
    chunk, vertex, sh = header.element("chunk"), header.element("vertex"), header.element("sh")
    for element, required in ((chunk, _CHUNK_REQUIRED), (vertex, _VERTEX_REQUIRED)):
        missing = [n for n in required if n not in element.names()]
        if missing:
            raise SceneFormatError(path, f"compressed PLY element {element.name!r} lacks the properties {', '.join(missing)}")
    n = vertex.count
    if chunk.count != -(-n // CHUNK_SIZE):
        raise SceneFormatError(path, f"compressed PLY has {chunk.count} chunks for {n} splats; expected {-(-n // CHUNK_SIZE)} (256 per chunk)")
    rest_names = []
    if sh is not None:
        rest_names = [f"f_rest_{i}" for i in range(len(sh.names()))]
        if sh.names() != rest_names or len(rest_names) not in _REST_TO_K:
            raise SceneFormatError(path, f"compressed PLY 'sh' element must hold f_rest_0..f_rest_{{8,23,44}}, found {len(sh.names())} properties")
        if sh.count != n:
            raise SceneFormatError(path, f"compressed PLY 'sh' element has {sh.count} rows for {n} splats")
    k = _REST_TO_K[len(rest_names)]
    if n == 0:
        return GaussianScene.empty(SH_REST_TO_DEGREE[k])

    needed = ("chunk", "vertex") + (("sh",) if sh is not None else ())
    layout = binary_layout(path, header, os.path.getsize(path), needed)
    chunks = np.memmap(path, dtype=layout["chunk"][1], mode="r", offset=layout["chunk"][0], shape=(chunk.count,))
    packed = np.memmap(path, dtype=layout["vertex"][1], mode="r", offset=layout["vertex"][0], shape=(n,))

    def chunk_columns(names):
        table = np.stack([np.asarray(chunks[name], dtype=np.float32) for name in names], axis=1)
        return np.repeat(table, CHUNK_SIZE, axis=0)[:n]

    def field(name):
        return np.asarray(packed[name], dtype=np.uint32)

    lo, hi = chunk_columns(_CHUNK_REQUIRED[0:3]), chunk_columns(_CHUNK_REQUIRED[3:6])
    means = lo + _unpack_111011(field("packed_position")) * (hi - lo)
    lo, hi = chunk_columns(_CHUNK_REQUIRED[6:9]), chunk_columns(_CHUNK_REQUIRED[9:12])
    log_scales = lo + _unpack_111011(field("packed_scale")) * (hi - lo)
    quats = _unpack_rotation(field("packed_rotation"))
    colour = _unpack_8888(field("packed_color"))
    rgb = colour[:, :3]
    if all(name in chunk.names() for name in _CHUNK_COLOUR):
        lo, hi = chunk_columns(_CHUNK_COLOUR[0:3]), chunk_columns(_CHUNK_COLOUR[3:6])
        rgb = lo + rgb * (hi - lo)
    sh0 = (rgb - 0.5) / np.float32(SH_C0)
    opacities = logit(colour[:, 3])
    shN = np.zeros((n, k, 3), dtype=np.float32)
    if k:
        table = np.memmap(path, dtype=np.uint8, mode="r", offset=layout["sh"][0], shape=(n, 3 * k))
        b = np.asarray(table, dtype=np.float32)
        unit = (b + 0.5) / 256.0
        unit[b == 0] = 0.0
        unit[b == 255] = 1.0
        shN[...] = ((unit - 0.5) * 8.0).reshape(n, 3, k).transpose(0, 2, 1)
    return build_scene(path, means, quats, log_scales, opacities, sh0, shN)
