"""Viewport display of splat objects: one GPU draw handler, registered only while a splat
object exists.

Each splat is drawn as a round point whose size in pixels is its world radius projected with
the view's own projection matrix (so the focal length and orthographic views are respected):
`size_px = 2 * radius * P[1][1] * viewport_height / 2 / w_clip`. Points are depth-tested and
opaque inside a Gaussian-ish disc, which needs no per-frame depth sort of millions of points.
Nothing here runs in background mode: the shader is built on the first draw.
"""
from __future__ import annotations

import bpy
import numpy as np

from .importer import SPLAT_PATH_KEY

MIN_OPACITY = 0.05   # splats fainter than this are not drawn
RADIUS_SIGMAS = 2.0  # drawn radius in standard deviations of the largest axis
MAX_POINT_PX = 64.0

_handle = None
_shader = None
_batches: dict = {}   # (mesh name, session uid) -> (vertex count, batch)

_VERTEX = """
void main()
{
  gl_Position = ModelViewProjectionMatrix * vec4(pos, 1.0);
  float w = max(gl_Position.w, 1e-6);
  gl_PointSize = clamp(2.0 * radius * world_scale * focal_px / w, 1.0, max_px);
  v_color = color;
}
"""
_FRAGMENT = """
void main()
{
  vec2 d = gl_PointCoord * 2.0 - 1.0;
  float r2 = dot(d, d);
  if (r2 > 1.0) { discard; }
  float a = v_color.a * exp(-2.0 * r2);
  if (a < 0.12) { discard; }
  FragColor = vec4(v_color.rgb, 1.0);
}
"""


def has_splat_objects() -> bool:
    return any(SPLAT_PATH_KEY in obj for obj in bpy.data.objects if obj.type == "MESH")


def sync(*_args) -> None:
    """Add the draw handler when a splat object exists, remove it otherwise."""
    global _handle
    wanted = has_splat_objects()
    if wanted and _handle is None:
        _handle = bpy.types.SpaceView3D.draw_handler_add(_draw, (), "WINDOW", "POST_VIEW")
    elif not wanted and _handle is not None:
        remove()


def remove() -> None:
    global _handle, _shader
    if _handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_handle, "WINDOW")
        _handle = None
    _batches.clear()
    _shader = None


def is_registered() -> bool:
    return _handle is not None


def _build_shader():
    import gpu

    info = gpu.types.GPUShaderCreateInfo()
    info.push_constant("MAT4", "ModelViewProjectionMatrix")
    info.push_constant("FLOAT", "focal_px")
    info.push_constant("FLOAT", "world_scale")
    info.push_constant("FLOAT", "max_px")
    info.vertex_in(0, "VEC3", "pos")
    info.vertex_in(1, "VEC4", "color")
    info.vertex_in(2, "FLOAT", "radius")
    iface = gpu.types.GPUStageInterfaceInfo("anix_splat_iface")
    iface.smooth("VEC4", "v_color")
    info.vertex_out(iface)
    info.fragment_out(0, "VEC4", "FragColor")
    info.vertex_source(_VERTEX)
    info.fragment_source(_FRAGMENT)
    return gpu.shader.create_from_info(info)


def point_arrays(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions [M,3], display colours [M,4] sRGB, radii [M]) of the splats worth drawing."""
    n = len(mesh.vertices)
    pos = np.empty(n * 3, np.float32)
    mesh.attributes["position"].data.foreach_get("vector", pos)
    rgba = np.empty(n * 4, np.float32)
    mesh.attributes["color"].data.foreach_get("color", rgba)
    scale = np.empty(n * 3, np.float32)
    mesh.attributes["scale"].data.foreach_get("vector", scale)
    rgba = rgba.reshape(n, 4)
    keep = rgba[:, 3] >= MIN_OPACITY
    lin = np.clip(rgba[keep, :3], 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    colors = np.concatenate([srgb, rgba[keep, 3:]], axis=1).astype(np.float32)
    radii = (RADIUS_SIGMAS * scale.reshape(n, 3)[keep].max(axis=1)).astype(np.float32)
    return pos.reshape(n, 3)[keep], colors, radii


def _batch_for(obj):
    from gpu_extras.batch import batch_for_shader

    mesh = obj.data
    key = (mesh.name_full, mesh.session_uid)
    cached = _batches.get(key)
    if cached is not None and cached[0] == len(mesh.vertices):
        return cached[1]
    pos, colors, radii = point_arrays(mesh)
    batch = batch_for_shader(_shader, "POINTS", {"pos": pos, "color": colors, "radius": radii})
    _batches[key] = (len(mesh.vertices), batch)
    return batch


def _draw() -> None:
    global _shader
    context = bpy.context
    objects = [o for o in context.visible_objects if o.type == "MESH" and SPLAT_PATH_KEY in o
               and "color" in o.data.attributes and "scale" in o.data.attributes]
    if not objects:
        if not has_splat_objects():
            bpy.app.timers.register(lambda: sync() and None, first_interval=0.0)
        return
    import gpu

    if _shader is None:
        _shader = _build_shader()
    region, rv3d = context.region, context.region_data
    proj = rv3d.window_matrix
    gpu.state.program_point_size_set(True)
    gpu.state.depth_test_set("LESS_EQUAL")
    gpu.state.depth_mask_set(True)
    _shader.bind()
    _shader.uniform_float("focal_px", float(proj[1][1]) * region.height * 0.5)
    _shader.uniform_float("max_px", MAX_POINT_PX)
    for obj in objects:
        mw = obj.matrix_world
        _shader.uniform_float("ModelViewProjectionMatrix", rv3d.perspective_matrix @ mw)
        _shader.uniform_float("world_scale", float(sum(mw.to_scale())) / 3.0)
        _batch_for(obj).draw(_shader)
    gpu.state.program_point_size_set(False)
    gpu.state.depth_mask_set(False)
    gpu.state.depth_test_set("NONE")
