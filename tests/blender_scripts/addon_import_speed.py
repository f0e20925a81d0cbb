"""Time File > Import > 3D Gaussian Splatting on a big scene, with its display set-up evaluated
(the Geometry Nodes display as the viewport first draws it), against Blender's own PLY importer
(also evaluated) in the same Blender. Args: zip, path."""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402
from addon_common import args, emit, install, submodule  # noqa: E402

A = args()
out = {"install": install(A["zip"])}
display = submodule("display")


def evaluated_seconds() -> float:
    t0 = time.perf_counter()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    bpy.context.view_layer.objects.active.evaluated_get(depsgraph)
    return time.perf_counter() - t0


for attempt in range(3):  # alternate with Blender's importer: both see the same cache and load
    t0 = time.perf_counter()
    bpy.ops.anix.import_splats(filepath=A["path"])
    imported = time.perf_counter() - t0
    shown = evaluated_seconds()  # the operator's own depsgraph update usually did it already
    out.setdefault("anix_import_seconds", []).append(imported)
    out.setdefault("anix_display_seconds", []).append(shown)
    out.setdefault("anix_seconds", []).append(imported + shown)
    obj = bpy.context.view_layer.objects.active
    if attempt == 0:
        out["count"] = len(obj.data.vertices)
        out["attributes"] = sorted(a.name for a in obj.data.attributes)
        out["density"] = display.get_input(obj, "Density")
        out["shown"] = display.shown_count(obj, bpy.context.evaluated_depsgraph_get())
    t0 = time.perf_counter()
    bpy.ops.wm.ply_import(filepath=A["path"])
    imported = time.perf_counter() - t0
    out.setdefault("blender_ply_seconds", []).append(imported + evaluated_seconds())
emit(out)
