"""Ground truth from real Blender for tests/test_cameras_blender.py (run in its own process).

Reads a JSON request on stdin: {"projections": [case, ...], "animations": [case, ...]} and
prints one JSON object with the same keys. A projection case sets up a camera (lens, sensor,
fit, shift, resolution, percentage, pixel aspect, matrix_world) and projects world points with
`bpy_extras.object_utils.world_to_camera_view` (and, as the add-on does, with anix_core's
Camera.from_blender fed with Blender's own objects). An animation case keys location, Euler rotation
and lens with LINEAR interpolation and samples matrix_world and lens on every frame.
"""
import json
import sys

import bpy
from bpy_extras import anim_utils
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector


def new_camera(scene, name):
    data = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    return obj


def project(scene, case):
    r = scene.render
    r.resolution_x, r.resolution_y = case["resolution"]
    r.resolution_percentage = case.get("percentage", 100)
    r.pixel_aspect_x, r.pixel_aspect_y = case.get("pixel_aspect", (1.0, 1.0))
    obj = new_camera(scene, "cam_projection")
    cam = obj.data
    cam.lens = case["lens"]
    cam.sensor_width, cam.sensor_height = case["sensor"]
    cam.sensor_fit = case["fit"]
    cam.shift_x, cam.shift_y = case["shift"]
    obj.matrix_world = Matrix(case["matrix_world"])
    bpy.context.view_layer.update()
    ndc = [list(world_to_camera_view(scene, obj, Vector(p))) for p in case["points"]]
    out = {
        "ndc": ndc,
        "uv_in_blender": project_in_blender(scene, obj, case["points"]),
        "matrix_world": [list(row) for row in obj.matrix_world],
        "size": [r.resolution_x * r.resolution_percentage // 100,
                 r.resolution_y * r.resolution_percentage // 100],
    }
    bpy.data.objects.remove(obj)
    return out


def project_in_blender(scene, obj, points):
    """What the add-on does: Camera.from_blender fed with Blender's own values (mathutils
    matrix, enum string) inside Blender's Python."""
    from anix_core.cameras import Camera

    r, cam = scene.render, obj.data
    pct = r.resolution_percentage
    camera = Camera.from_blender(
        obj.matrix_world, cam.lens, cam.sensor_width, cam.sensor_height, cam.sensor_fit,
        cam.shift_x, cam.shift_y, r.resolution_x * pct // 100, r.resolution_y * pct // 100,
        r.pixel_aspect_x, r.pixel_aspect_y)
    uv, _ = camera.project(points)
    return uv.tolist()


def set_linear(id_block):
    anim = id_block.animation_data
    channelbag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
    for fcurve in channelbag.fcurves:
        for point in fcurve.keyframe_points:
            point.interpolation = "LINEAR"


def animate(scene, case):
    obj = new_camera(scene, "cam_animated")
    obj.rotation_mode = "XYZ"
    for key in case["keys"]:
        obj.location = key["location"]
        obj.rotation_euler = key["rotation_euler"]
        obj.keyframe_insert("location", frame=key["frame"])
        obj.keyframe_insert("rotation_euler", frame=key["frame"])
        obj.data.lens = key["lens"]
        obj.data.keyframe_insert("lens", frame=key["frame"])
    set_linear(obj)
    set_linear(obj.data)
    samples = []
    for f in case["frames"]:
        scene.frame_set(f)
        samples.append({"frame": f, "matrix_world": [list(row) for row in obj.matrix_world],
                        "lens": obj.data.lens})
    bpy.data.objects.remove(obj)
    return {"samples": samples}


def main():
    request = json.load(sys.stdin)
    scene = bpy.context.scene
    result = {
        "projections": [project(scene, c) for c in request.get("projections", [])],
        "animations": [animate(scene, c) for c in request.get("animations", [])],
    }
    sys.stdout.write("\nCAMERA_TRUTH " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
