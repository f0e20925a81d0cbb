"""3D Gaussian Splatting scene -> a Blender object (a mesh of loose vertices with attributes).

Per point: `color` (FLOAT_COLOR, scene linear, from the SH DC term; alpha = opacity),
`opacity` (FLOAT), `scale` (FLOAT_VECTOR, metres, activated), `rotation` (QUATERNION, w x y z).
The object keeps `anix_splat_path` (relative `//` when the .blend is saved), `anix_splat_sha256`,
`anix_splat_count`, `anix_splat_size` and `anix_splat_mtime` (to notice an edited file, see
scene_identity.py) as custom properties; the backend renders the same file, moved by the
object's matrix_world. display.py makes the splats visible as ordinary geometry.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import bpy
import numpy as np

from . import deps

SPLAT_PATH_KEY = "anix_splat_path"
SPLAT_SHA_KEY = "anix_splat_sha256"
SPLAT_COUNT_KEY = "anix_splat_count"
SPLAT_SIZE_KEY = "anix_splat_size"
SPLAT_MTIME_KEY = "anix_splat_mtime"


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0,1] -> scene linear (Blender stores float colour attributes linear)."""
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c * (1.0 / 12.92), ((c + 0.055) * (1.0 / 1.055)) ** 2.4).astype(np.float32)


def build_splat_mesh(name: str, scene) -> bpy.types.Mesh:
    """A mesh with one loose vertex per splat carrying colour, opacity, scale and rotation."""
    n = scene.count
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(n)
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(scene.means, np.float32).ravel())
    opacity = scene.opacities().astype(np.float32)
    rgba = np.empty((n, 4), np.float32)
    rgba[:, :3] = srgb_to_linear(scene.colors_rgb())
    rgba[:, 3] = opacity
    color = mesh.attributes.new("color", "FLOAT_COLOR", "POINT")
    color.data.foreach_set("color", rgba.ravel())
    mesh.attributes.new("opacity", "FLOAT", "POINT").data.foreach_set("value", opacity)
    mesh.attributes.new("scale", "FLOAT_VECTOR", "POINT").data.foreach_set(
        "vector", np.exp(scene.log_scales).astype(np.float32).ravel())
    mesh.attributes.new("rotation", "QUATERNION", "POINT").data.foreach_set(
        "value", np.ascontiguousarray(scene.quats, np.float32).ravel())
    mesh.color_attributes.active_color_name = "color"
    mesh.color_attributes.default_color_name = "color"
    mesh.update()
    return mesh


def import_splats(context, filepath: str) -> tuple[bpy.types.Object, dict]:
    """Load a splat file into a new object linked to the active collection.

    Returns (object, info) with info = {count, seconds, dropped, density}. Raises the scene
    reader's SceneFormatError (a ValueError) on a bad file.
    """
    from . import display, scene_identity

    splats = deps.splats()
    t0 = time.perf_counter()
    path = os.path.abspath(bpy.path.abspath(filepath))
    # hash while the file is read and the mesh is built (hashlib lets go of the GIL)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="anix-hash") as pool:
        sha = pool.submit(splats.sha256_file, path)
        scene = splats.load(path, max_sh_degree=0)  # the display shows base colour only
        name = os.path.basename(path).split(".")[0] or "Splats"
        mesh = build_splat_mesh(name, scene)
        sha256 = sha.result()
    obj = bpy.data.objects.new(name, mesh)
    scene_identity.remember(obj, path, sha256)
    obj[SPLAT_COUNT_KEY] = scene.count
    display.add_display(obj, scene.count)
    context.collection.objects.link(obj)
    for other in context.view_layer.objects.selected:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    seconds = time.perf_counter() - t0
    dropped = int((scene.metadata or {}).get("dropped_non_finite", 0) or 0)
    return obj, {"count": scene.count, "seconds": seconds, "dropped": dropped,
                 "density": display.default_density(scene.count)}


def splat_objects(scene) -> list:
    return [o for o in scene.objects if o.type == "MESH" and SPLAT_PATH_KEY in o]
