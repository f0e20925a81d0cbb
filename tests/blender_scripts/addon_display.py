"""The imported splats as Blender geometry: drawn and rendered without the add-on's help.
Args: zip, fixtures, out, camera (Camera.to_blender() of a known view), size [w, h],
render_size [w, h] and engines (EEVEE and Cycles, kept small)."""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from addon_common import ADDON, Reports, args, emit, install, submodule  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

A = args()
out = {"install": install(A["zip"])}
display = submodule("display")
scene = bpy.context.scene
fx = A["fixtures"]

# ---- import by "dropping" the file: the file handler's operator with directory + files ----------
handlers = [c for c in bpy.types.FileHandler.__subclasses__() if c.__module__.startswith(ADDON)]
out["file_handler"] = [{"import_operator": h.bl_import_operator, "extensions": h.bl_file_extensions}
                       for h in handlers]
res, err = Reports.call(bpy.ops.anix.import_splats, directory=fx, files=[{"name": "courtyard.ply"}])
obj = bpy.context.view_layer.objects.active
out["import"] = {"result": res, "error": err, "object": obj.name, "panel_object": scene.anix.splat_object.name}
mod = display.modifier(obj)
out["modifier"] = {"type": mod.type, "group": mod.node_group.name,
                   "inputs": {name: display.get_input(obj, name) for name in display.INPUTS},
                   "materials": [m.name for m in obj.data.materials]}
t0 = time.perf_counter()
depsgraph = bpy.context.evaluated_depsgraph_get()
evaluated = obj.evaluated_get(depsgraph)
out["evaluate_seconds"] = time.perf_counter() - t0
mesh = evaluated.data
out["evaluated"] = {"vertices": len(mesh.vertices), "faces": len(mesh.polygons),
                    "active_color": mesh.color_attributes.active_color_name,
                    "attributes": sorted(a.name for a in mesh.attributes if not a.name.startswith("."))}
out["shown"] = display.shown_count(obj, depsgraph)
out["count"] = obj["anix_splat_count"]
colour = np.empty(len(mesh.vertices) * 4, np.float32)
mesh.attributes["color"].data.foreach_get("color", colour)
out["evaluated_mean_colour"] = colour.reshape(-1, 4)[:, :3].mean(0).tolist()

# ---- selectable: a ray from above hits the object, as a click in the viewport would -------------
hit, location, _normal, _index, hit_obj, _m = scene.ray_cast(depsgraph, Vector((4.0, 4.0, 10.0)), Vector((0, 0, -1)))
out["ray"] = {"hit": hit, "object": hit_obj.name if hit_obj else None, "z": location.z}

# ---- density: half the splats shown ---------------------------------------------------------------
display.set_input(obj, "Density", 0.5)
out["shown_half"] = display.shown_count(obj, bpy.context.evaluated_depsgraph_get())
display.set_input(obj, "Density", 1.0)

# ---- the known camera -------------------------------------------------------------------------
c = A["camera"]
cam = bpy.data.objects.new("Known", bpy.data.cameras.new("Known"))
scene.collection.objects.link(cam)
scene.camera = cam
cam.matrix_world = Matrix(c["matrix_world"])
cam.data.lens, cam.data.sensor_width, cam.data.sensor_height = c["lens_mm"], c["sensor_width_mm"], c["sensor_height_mm"]
cam.data.sensor_fit, cam.data.shift_x, cam.data.shift_y = c["sensor_fit"], c["shift_x"], c["shift_y"]
cam.data.clip_start, cam.data.clip_end = 0.05, 200.0
scene.render.resolution_x, scene.render.resolution_y = A["size"]
scene.render.resolution_percentage = 100
scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = c["pixel_aspect_x"], c["pixel_aspect_y"]
scene.view_settings.view_transform = "Standard"  # display = sRGB of the scene-linear colours
scene.world = scene.world or bpy.data.worlds.new("World")
scene.world.color = (0.0, 0.0, 0.0)
scene.render.film_transparent = False


def render(engine: str, name: str) -> dict:
    scene.render.engine = engine
    path = os.path.join(A["out"], name)
    scene.render.filepath = path
    t = time.perf_counter()
    try:
        bpy.ops.render.render(write_still=True)
    except Exception as exc:  # reported, not raised: the test says which engine failed
        return {"error": str(exc)}
    img = bpy.data.images.load(path)
    px = np.array(img.pixels[:], np.float32).reshape(img.size[1], img.size[0], 4)
    bpy.data.images.remove(img)
    return {"path": path, "seconds": time.perf_counter() - t, "std": float(px[..., :3].std()),
            "mean": float(px[..., :3].mean())}


shading = scene.display.shading
shading.light, shading.color_type = "FLAT", "VERTEX"   # Solid / Workbench coloured by the splats
shading.show_object_outline = False
scene.display.render_aa = "OFF"
out["workbench"] = render("BLENDER_WORKBENCH", "workbench.png")
scene.render.resolution_x, scene.render.resolution_y = A["render_size"]
out["engines"] = A.get("engines", [])
if "BLENDER_EEVEE" in out["engines"]:
    scene.eevee.taa_render_samples = 1
    out["eevee"] = render("BLENDER_EEVEE", "eevee.png")
if "CYCLES" in out["engines"]:
    display.set_input(obj, "Density", 0.25)  # a quicker BVH; colours are what is checked
    scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.device = 4, False, "CPU"
    out["cycles"] = render("CYCLES", "cycles.png")

# ---- files made before the native display get it when opened ------------------------------------
obj.modifiers.remove(mod)
out["upgraded"] = display.upgrade_file()
out["modifier_after_upgrade"] = display.modifier(obj) is not None
emit(out)
