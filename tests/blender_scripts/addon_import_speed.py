"""Time File > Import > 3D Gaussian Splatting on a big scene against Blender's own PLY importer.
Args: zip, path."""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402
from addon_common import args, emit, install  # noqa: E402

A = args()
out = {"install": install(A["zip"])}
for attempt in range(2):  # the second run sees a warm file cache, like the reference below
    t0 = time.perf_counter()
    bpy.ops.anix.import_splats(filepath=A["path"])
    out.setdefault("anix_seconds", []).append(time.perf_counter() - t0)
obj = bpy.context.view_layer.objects.active
out["count"] = len(obj.data.vertices)
out["attributes"] = sorted(a.name for a in obj.data.attributes)
t0 = time.perf_counter()
bpy.ops.wm.ply_import(filepath=A["path"])
out["blender_ply_seconds"] = time.perf_counter() - t0
emit(out)
