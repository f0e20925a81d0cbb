"""Install the built extension into a clean Blender, then check import, camera export, the VSE
helper and register/unregister. Args: zip, fixtures, out."""
from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402  (first: it sets up Blender's own modules)
import addon_utils  # noqa: E402
import numpy as np  # noqa: E402
from addon_common import ADDON, Reports, args, emit, install, submodule  # noqa: E402
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402


def anim_fcurves(action, obj):
    """The F-curves of `action` for `obj` (Blender 5.0's slotted actions)."""
    from bpy_extras import anim_utils

    slot = next((s for s in action.slots if s.target_id_type == "OBJECT"), None)
    bag = anim_utils.action_get_channelbag_for_slot(action, slot) if slot else None
    return list(bag.fcurves) if bag else []

A = args()
out: dict = {}
out["install"] = install(A["zip"])
site = os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".local", "lib",
                    f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
out["wheel_site"] = sorted(os.listdir(site)) if os.path.isdir(site) else []
wheel_tags = {}
for entry in out["wheel_site"]:
    if entry.endswith(".dist-info") and os.path.isfile(os.path.join(site, entry, "WHEEL")):
        with open(os.path.join(site, entry, "WHEEL")) as f:
            wheel_tags[entry] = [line.split(":", 1)[1].strip() for line in f if line.startswith("Tag:")]
out["wheel_tags"] = wheel_tags
fx = A["fixtures"]

# ---- what the install put where -------------------------------------------------------------
addon = sys.modules[ADDON]
out["addon_file"] = addon.__file__
import zmq  # noqa: E402
import msgpack  # noqa: E402

out["zmq_file"] = zmq.__file__
out["msgpack_file"] = msgpack.__file__
deps = submodule("deps")
out["vendored"] = deps._VENDORED
out["splats_module"] = deps.splats().__file__
out["client_module"] = deps.client().__file__
out["operators"] = {name: hasattr(bpy.types, f"ANIX_OT_{name}") for name in (
    "import_splats", "add_anchor", "generate", "cancel", "continue_shot", "preview_conditioning", "regenerate",
    "keyframe_camera", "load_views_folder", "relocate_splats")}
out["import_menu"] = any(getattr(f, "__name__", "") == "menu_import"
                         for f in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize())
out["python"] = f"cp{sys.version_info[0]}{sys.version_info[1]}"
out["blender_version"] = list(bpy.app.version)

# ---- import every fixture format ---------------------------------------------------------------
imports = {}
for name in ("courtyard.ply", "courtyard_sh0.ply", "courtyard.compressed.ply", "courtyard.splat", "courtyard.spz",
             "valid_big_endian.ply", "valid_ascii.ply"):
    res, err = Reports.call(bpy.ops.anix.import_splats, filepath=os.path.join(fx, name))
    obj = bpy.context.view_layer.objects.active
    entry = {"result": res, "error": err}
    if res == ["FINISHED"]:
        mesh = obj.data
        n = len(mesh.vertices)
        rgba = np.empty(n * 4, np.float32)
        mesh.attributes["color"].data.foreach_get("color", rgba)
        rgba = rgba.reshape(n, 4)
        pos = np.empty(n * 3, np.float32)
        mesh.attributes["position"].data.foreach_get("vector", pos)
        opacity = np.empty(n, np.float32)
        mesh.attributes["opacity"].data.foreach_get("value", opacity)
        scale = np.empty(n * 3, np.float32)
        mesh.attributes["scale"].data.foreach_get("vector", scale)
        entry.update(
            count=n, object=obj.name, path=obj["anix_splat_path"], sha256=obj["anix_splat_sha256"],
            mean_linear_rgb=rgba[:, :3].mean(0, dtype=np.float64).tolist(), first_linear_rgb=rgba[:50, :3].tolist(),
            first_positions=pos.reshape(n, 3)[:50].tolist(), mean_opacity=float(opacity.mean(dtype=np.float64)),
            alpha_equals_opacity=bool(np.allclose(rgba[:, 3], opacity)),
            mean_scale=scale.reshape(n, 3).mean(0, dtype=np.float64).tolist(), active_color=mesh.color_attributes.active_color_name)
    imports[name] = entry
out["imports"] = imports

bad = {}
for name in sorted(os.listdir(os.path.join(fx, "bad"))):
    res, err = Reports.call(bpy.ops.anix.import_splats, filepath=os.path.join(fx, "bad", name))
    bad[name] = {"result": res, "error": err}
out["bad"] = bad

# ---- camera export from keyframes, animated lens -----------------------------------------------
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
scene.frame_start, scene.frame_end = 1, 5
cam_data = bpy.data.cameras.new("TestCam")
cam = bpy.data.objects.new("TestCam", cam_data)
scene.collection.objects.link(cam)
scene.camera = cam
cam_data.sensor_fit = "AUTO"
cam_data.shift_x, cam_data.shift_y = 0.05, -0.02
for frame, loc, rot, lens in ((1, (6, -6, 2), (80, 0, 45), 35.0), (5, (2, -8, 3), (75, 0, 20), 70.0)):
    cam.location, cam.rotation_euler, cam_data.lens = loc, [math.radians(a) for a in rot], lens
    cam.keyframe_insert("location", frame=frame)
    cam.keyframe_insert("rotation_euler", frame=frame)
    cam_data.keyframe_insert("lens", frame=frame)
scene.frame_set(3)
camera_export = submodule("camera_export")
exported = camera_export.export_camera_dicts(scene, cam, range(1, 6), 64, 48)
out["frame_after_export"] = scene.frame_current
points = [Vector(p) for p in ((0, 0, 0.5), (4, 4, 3), (-4, -4, 1), (0, -3, 0.45), (1.5, 0.5, 1.0))]
raw, blender_px = [], []
for f in range(1, 6):
    scene.frame_set(f)
    raw.append({"matrix_world": [list(r) for r in cam.matrix_world], "lens": cam_data.lens,
                "sensor_width": cam_data.sensor_width, "sensor_height": cam_data.sensor_height,
                "sensor_fit": cam_data.sensor_fit, "shift_x": cam_data.shift_x, "shift_y": cam_data.shift_y})
    px = []
    for p in points:
        v = world_to_camera_view(scene, cam, p)
        px.append([v.x * 64, (1.0 - v.y) * 48, v.z])
    blender_px.append(px)
out["camera"] = {"exported": exported, "raw": raw, "points": [list(p) for p in points], "blender_px": blender_px}

# ---- VSE strip helper: free channel, stored request ---------------------------------------------
vse = submodule("vse")
frames_dir = A["out"]
files = []
for i in range(3):
    img = bpy.data.images.new(f"f{i}", 8, 8)
    path = os.path.join(frames_dir, f"frame_{i:04d}.png")
    img.filepath_raw, img.file_format = path, "PNG"
    img.save()
    files.append(path)
seq_scene = vse.sequencer_scene(bpy.context)
s1 = vse.add_image_strip(seq_scene, "shot_a", files, 1, {"instruction": "walks", "seed": 3, "job_id": "j1",
                                                           "num_frames": 3, "cameras": [1, 2]})
s2 = vse.add_image_strip(seq_scene, "shot_b", files, 2, {"instruction": "waves", "seed": 4, "job_id": "j2",
                                                           "num_frames": 3})
s3 = vse.add_image_strip(seq_scene, "shot_c", files, 4, {"instruction": "runs", "seed": 5, "job_id": "j3",
                                                           "num_frames": 3})
out["vse"] = {
    "channels": [s1.channel, s2.channel, s3.channel],
    "range": [s1.frame_final_start, s1.frame_final_end],
    "elements": [e.filename for e in s1.elements],
    "stored": vse.stored_request(s1),
    "props": {k: s1[k] for k in ("anix_instruction", "anix_seed", "anix_job_id")},
}

# ---- the splat file moved ----------------------------------------------------------------------
request = submodule("request")
obj = bpy.data.objects[imports["courtyard_sh0.ply"]["object"]]
scene.anix.splat_object = obj
obj["anix_splat_path"] = os.path.join(A["out"], "moved_away.ply")
try:
    request.splat_object(bpy.context)
    out["moved"] = None
except request.AnixError as exc:
    out["moved"] = {"message": str(exc), "fix": exc.fix}

# ---- missing views / anchor / camera checks before anything is sent -----------------------------
problems = {}
obj["anix_splat_path"] = os.path.join(fx, "courtyard_sh0.ply")
scene.anix.quality = "SCENE"
for step in ("views", "anchor", "camera"):
    res, err = Reports.call(bpy.ops.anix.generate)
    problems[step] = {"result": res, "error": err, "fix": scene.anix.last_error_fix}
    if step == "views":
        for view in ("front", "left", "back", "right"):
            setattr(scene.anix, f"view_{view}", os.path.join(fx, "character", f"robot_{view}.png"))
    elif step == "anchor":
        bpy.ops.anix.add_anchor()
        scene.camera = None
out["problems"] = problems

# ---- camera helpers keep the animator's keys ------------------------------------------------------
scene.camera = cam
own_action = cam.animation_data.action.name
bpy.context.scene.anix.anchor = None
res_orbit, err_orbit = Reports.call(bpy.ops.anix.keyframe_camera, behaviour="ORBIT", degrees=45.0)
helper_action = cam.animation_data.action
parked = bpy.data.actions.get(own_action)
restore_poll = bpy.ops.anix.restore_camera_keys.poll()
res_restore, err_restore = Reports.call(bpy.ops.anix.restore_camera_keys)
out["camera_keys"] = {
    "orbit": res_orbit, "orbit_error": err_orbit, "own_action": own_action, "helper_action": helper_action.name,
    "own_kept": parked is not None and parked.use_fake_user,
    "own_keys": sorted({int(k.co[0]) for fc in anim_fcurves(parked, cam) for k in fc.keyframe_points}),
    "helper_keys": sorted({int(k.co[0]) for fc in anim_fcurves(helper_action, cam) for k in fc.keyframe_points}),
    "restore_poll": restore_poll, "restore": res_restore, "restore_error": err_restore,
    "after_restore": cam.animation_data.action.name, "remembered": cam.get("anix_previous_action"),
}

# ---- output size follows the scene's aspect ------------------------------------------------------
sizes = {}
for rx, ry, pax in ((1920, 1080, 1.0), (1080, 1920, 1.0), (1000, 1000, 1.0), (1440, 1080, 1.333)):
    scene.render.resolution_x, scene.render.resolution_y, scene.render.pixel_aspect_x = rx, ry, pax
    for quality in ("DRAFT", "STANDARD", "HIGH"):
        scene.anix.quality = quality
        sizes[f"{rx}x{ry}@{pax}/{quality}"] = list(request.shot_size(scene))
scene.render.resolution_x, scene.render.resolution_y, scene.render.pixel_aspect_x = 64, 48, 1.0
scene.anix.quality = "SCENE"
out["sizes"] = sizes

# ---- planning warnings from the backend's done land in the panel, the strip and the Info log --------
jobs_mod = submodule("jobs")
plan = request.ShotPlan(address="tcp://127.0.0.1:9", keys_folder="", scene_path="", scene_sha256="",
                        request={"num_frames": 3, "instruction": "florps", "seed": 1}, views={},
                        out_dir=os.path.dirname(frames_dir), shot_name=os.path.basename(frames_dir),
                        scene_name=scene.name, sequencer_scene_name=scene.name, frame_start=20)
job = jobs_mod.ShotJob(plan)
job.frames = dict(enumerate(files))
warnings = ["unknown verb 'florp' kept as a gesture", "character not visible in frames 10-24"]
job.handle("done", {"end_anchor": None, "warnings": warnings})
landed = scene.sequence_editor.strips_all[job.strip_name]
out["warnings"] = {"panel": scene.anix.warnings, "stored": vse.stored_request(landed).get("warnings"),
                   "logged": [list(r) for r in jobs_mod.reported], "status": scene.anix.status,
                   "undo_step": job.undo_step}
job2 = jobs_mod.ShotJob(plan)
job2.frames = dict(enumerate(files))
job2.handle("done", {"end_anchor": None})  # a backend that sends no warnings
out["no_warnings"] = {"panel": scene.anix.warnings, "state": job2.state}

# ---- words: stages, sizes, one-line errors ------------------------------------------------------------
out["words"] = {
    "stages": [jobs_mod.stage_text(*a) for a in (("render", 3, 24), ("plan", 0, 1), ("upload", 8388608, 17276676),
                                                  ("load_scene", 0, 1), ("masks", 2, 24), ("frames", 5, 24),
                                                  ("something_new", 1, 2))],
    "headline": jobs_mod.headline("InstructionError: the instruction names no action the planner knows: say what "
                                  "the character does, for example 'walks to the fountain' or 'waves'. Known verbs: "
                                  "walk, run, jog, wave, bow, sit, turn, dance, jump, point"),
    "error_text": jobs_mod._error_text("invalid_field", "request.instruction", "InstructionError: no verb"),
}

# ---- view thumbnails ----------------------------------------------------------------------------
thumbnails = submodule("ui.thumbnails")
front = scene.anix.view_front
out["thumbnails"] = {"size": list(thumbnails.preview(front).image_size), "again": thumbnails.preview(front) is not None,
                     "count": thumbnails.count(), "missing": thumbnails.icon_id("/nowhere/x.png")}

# ---- undo and poll ---------------------------------------------------------------------------------
out["operators_undo"] = {name: "UNDO" in getattr(bpy.types, f"ANIX_OT_{name}").bl_options for name in (
    "generate", "regenerate", "continue_shot", "preview_conditioning", "import_splats", "keyframe_camera",
    "restore_camera_keys", "add_anchor", "add_camera", "discard_shot", "resume_shot")}
out["operators_poll"] = {name: hasattr(getattr(bpy.types, f"ANIX_OT_{name}"), "poll") for name in (
    "generate", "regenerate", "continue_shot", "preview_conditioning", "check_backend", "keyframe_camera",
    "add_camera", "add_anchor", "import_splats", "cancel", "resume_shot", "discard_shot", "restore_camera_keys",
    "start_local_backend", "stop_local_backend", "load_views_folder", "relocate_splats", "resume_shot_folder")}
editor = scene.sequence_editor
editor.active_strip = None
out["poll_without_strip"] = {"regenerate": bpy.ops.anix.regenerate.poll(), "continue": bpy.ops.anix.continue_shot.poll(),
                             "generate": bpy.ops.anix.generate.poll()}

# ---- a local backend started from the preferences -------------------------------------------------
import time  # noqa: E402

prefs = bpy.context.preferences.addons[ADDON].preferences
prefs.python_path = A.get("backend_python", sys.executable)  # a Python with AniX installed
prefs.backend_address = f"tcp://127.0.0.1:{A['port']}"
local_backend = submodule("local_backend")
res, err = Reports.call(bpy.ops.anix.start_local_backend)
t0, log = time.perf_counter(), ""
while time.perf_counter() - t0 < 60 and "listening" not in log:
    time.sleep(0.2)
    log = local_backend.log_text()
bpy.ops.anix.show_backend_log()
res_check, err_check = Reports.call(bpy.ops.anix.check_backend, wait=True)
out["local_backend"] = {"result": res, "error": err, "log": log[-500:], "running": local_backend.is_running(),
                        "log_text": bpy.data.texts["AniX Backend Log"].as_string()[-500:],
                        "check": res_check, "check_error": err_check,
                        "backend_status": bpy.context.scene.anix.backend_status}
process = local_backend._process

# ---- register / unregister twice ---------------------------------------------------------------
jobs = submodule("jobs")
backend_check = submodule("backend_check")


def footprint():
    return {
        "scene_prop": hasattr(bpy.types.Scene, "anix"),
        "operators": sorted(n for n in dir(bpy.types) if n.startswith("ANIX_")),
        "load_post": sum(1 for h in bpy.app.handlers.load_post if getattr(h, "__module__", "").startswith(ADDON)),
        "load_pre": sum(1 for h in bpy.app.handlers.load_pre if getattr(h, "__module__", "").startswith(ADDON)),
        "menu": sum(1 for f in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()
                    if getattr(f, "__module__", "").startswith(ADDON)),
        "timer": bpy.app.timers.is_registered(jobs.tick),
        "check_timer": bpy.app.timers.is_registered(backend_check.tick),
    }


cycles = [footprint()]
for _ in range(2):
    addon_utils.disable(ADDON, default_set=True)
    cycles.append(footprint())
    if process is not None:
        out["local_backend"]["exit_code_after_disable"] = process.poll()
        process = None
    addon_utils.enable(ADDON, default_set=True)
    jobs = submodule("jobs")
    backend_check = submodule("backend_check")
    cycles.append(footprint())
addon_utils.disable(ADDON, default_set=True)
cycles.append(footprint())
out["cycles"] = cycles
emit(out)
