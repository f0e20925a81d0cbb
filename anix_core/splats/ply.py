"""INRIA 3DGS PLY: read (binary LE/BE memory-mapped, ASCII; properties found by name) and write.

Layout (graphdeco-inria `gaussian_model.py`): one `vertex` element with x y z, optional
nx ny nz, f_dc_0..2, f_rest_* (channel-major: f_rest_{c*K + k} is colour c, coefficient k+1),
opacity (logit), scale_0..2 (log), rot_0..3 (w, x, y, z, unnormalised).
A file with scale_0, scale_1 and no scale_2 is 2DGS (surfels): it loads as flat 3D Gaussians
whose third log-scale is the smaller of the other two plus log(1e-3), with a warning.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import SceneFormatError
from .ply_header import PlyHeader, binary_layout, read_header
from .sanitize import build_scene
from .scene import SH_REST_TO_DEGREE, GaussianScene

REQUIRED = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
            "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
_REST_TO_K = {0: 0, 9: 3, 24: 8, 45: 15, 72: 24}
_DEGREE_TO_K = {d: k for k, d in SH_REST_TO_DEGREE.items()}
_FLAT_2DGS_LOG_RATIO = float(np.log(1e-3))


class _Columns:
    """Float32 columns of the vertex element, gathered by property name from a 2D table
    (one shared scalar type) or a structured array (mixed types)."""

    def __init__(self, names: list[str], table: np.ndarray):
        self.index = {name: i for i, name in enumerate(names)}
        self.table = table
        self.count = len(table)

    def get(self, names) -> np.ndarray:
        out = np.empty((self.count, len(names)), dtype=np.float32)
        self.fill(out, names)
        return out

    def fill(self, out: np.ndarray, names) -> None:
        if not names:
            return
        if self.table.dtype.names is None:
            cols = [self.index[n] for n in names]
            if cols == list(range(cols[0], cols[0] + len(cols))):
                out[...] = self.table[:, cols[0]: cols[0] + len(cols)]
            else:
                out[...] = self.table[:, cols]
        else:
            for j, name in enumerate(names):
                out[:, j] = self.table[name]


def read_ply(path, header: PlyHeader | None = None, max_sh_degree: int = 3) -> GaussianScene:
    """Read an INRIA-layout 3DGS PLY file, keeping SH coefficients up to `max_sh_degree`."""
    header = header or read_header(path)
    vertex = header.element("vertex")
    if vertex is None:
        raise SceneFormatError(path, "PLY has no 'vertex' element, so it holds no splats")
    names = vertex.names()
    present = set(names)
    two_d = "scale_2" not in present and {"scale_0", "scale_1"} <= present
    missing = [n for n in REQUIRED if n not in present and not (two_d and n == "scale_2")]
    if missing:
        raise SceneFormatError(
            path, "not a 3D Gaussian Splatting PLY: the vertex element lacks the properties "
            + ", ".join(missing) + (" (it looks like a plain point cloud)" if {"x", "y", "z"} <= present else ""))
    list_props = [p.name for p in vertex.properties if p.type == "list"]
    if list_props:
        raise SceneFormatError(path, f"vertex element has list properties ({', '.join(list_props)}); splat properties must be scalars")
    rest = sorted((n for n in names if n.startswith("f_rest_")), key=lambda n: int(n[7:]) if n[7:].isdigit() else -1)
    if rest != [f"f_rest_{i}" for i in range(len(rest))]:
        raise SceneFormatError(path, f"f_rest properties are not numbered 0..{len(rest) - 1}")
    if len(rest) not in _REST_TO_K:
        raise SceneFormatError(path, f"{len(rest)} f_rest properties do not match SH degree 1, 2 or 3 (9, 24 or 45 expected)")

    n = vertex.count
    k_file = _REST_TO_K[len(rest)]
    k = min(k_file, _DEGREE_TO_K[max(0, min(int(max_sh_degree), 3))])
    if k_file > 15 and max_sh_degree >= 3:
        warnings.warn(f"{path}: SH degree 4 coefficients dropped (degree 3 is the highest supported)", stacklevel=3)
    if n == 0:
        scene = GaussianScene.empty(SH_REST_TO_DEGREE[k])
        scene.antialiased = header.antialiased
        return scene

    columns = _Columns(names, _vertex_table(path, header, vertex))
    means = columns.get(("x", "y", "z"))
    sh0 = columns.get(("f_dc_0", "f_dc_1", "f_dc_2"))
    opacities = columns.get(("opacity",))[:, 0]
    if two_d:
        warnings.warn(f"{path}: 2DGS file (no scale_2); loading surfels as flat 3D Gaussians", stacklevel=3)
        log_scales = np.empty((n, 3), dtype=np.float32)
        columns.fill(log_scales[:, :2], ("scale_0", "scale_1"))
        log_scales[:, 2] = log_scales[:, :2].min(axis=1) + _FLAT_2DGS_LOG_RATIO
    else:
        log_scales = columns.get(("scale_0", "scale_1", "scale_2"))
    quats = columns.get(("rot_0", "rot_1", "rot_2", "rot_3"))
    shN = np.empty((n, k, 3), dtype=np.float32)
    for c in range(3):  # channel-major in the file, coefficient-major in memory
        columns.fill(shN[:, :, c], [f"f_rest_{c * k_file + i}" for i in range(k)])
    columns = None
    return build_scene(path, means, quats, log_scales, opacities, sh0, shN, antialiased=header.antialiased,
                       metadata={"source_kind": "2dgs"} if two_d else None)


def _vertex_table(path, header: PlyHeader, vertex) -> np.ndarray:
    if header.format == "ascii":
        return _ascii_table(path, header, vertex)
    offset, dtype = binary_layout(path, header, os.path.getsize(path), ("vertex",))[vertex.name]
    types = {p.type for p in vertex.properties}
    if len(types) == 1:  # one scalar type: a 2D memory-mapped table, column gathers are contiguous
        return np.memmap(path, dtype=header.format + types.pop(), mode="r", offset=offset,
                         shape=(vertex.count, len(vertex.properties)))
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(vertex.count,))


def _ascii_table(path, header: PlyHeader, vertex) -> np.ndarray:
    """The vertex rows of an ASCII PLY as a float64 [N, P] table."""
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        body = f.read()
    skip = sum(e.count for e in header.elements[: header.elements.index(vertex)])
    if (skip + vertex.count) * 2 > len(body) + 1:  # every row needs at least one digit and a newline
        raise SceneFormatError(path, f"header claims {vertex.count} splats but only {len(body)} bytes of ASCII data follow")
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) < skip + vertex.count:
        raise SceneFormatError(path, f"header claims {vertex.count} splats but the ASCII data holds {max(len(lines) - skip, 0)} rows")
    rows = lines[skip: skip + vertex.count]
    width = len(vertex.properties)
    try:
        table = np.array(b" ".join(rows).split(), dtype=np.float64)
    except ValueError:
        raise SceneFormatError(path, "ASCII vertex data contains a value that is not a number") from None
    if table.size != vertex.count * width:
        raise SceneFormatError(path, f"ASCII vertex data holds {table.size} values; {vertex.count} rows of {width} properties need {vertex.count * width}")
    return table.reshape(vertex.count, width)


def ply_header_text(count: int, sh_rest: int, antialiased: bool) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0"]
    if antialiased:
        lines.append("comment antialiased 1")
    lines.append(f"element vertex {count}")
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(sh_rest)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    lines += [f"property float {name}" for name in names]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def write_ply(scene: GaussianScene, path) -> None:
    """Write the INRIA layout, binary little-endian float32, without normals."""
    n, k = scene.count, scene.shN.shape[1]
    table = np.empty((n, 14 + 3 * k), dtype="<f4")
    table[:, 0:3] = scene.means
    table[:, 3:6] = scene.sh0
    table[:, 6: 6 + 3 * k] = scene.shN.transpose(0, 2, 1).reshape(n, 3 * k)
    o = 6 + 3 * k
    table[:, o] = scene.logit_opacities
    table[:, o + 1: o + 4] = scene.log_scales
    table[:, o + 4: o + 8] = scene.quats
    with open(path, "wb") as f:
        f.write(ply_header_text(n, 3 * k, scene.antialiased))
        table.tofile(f)
