"""Generate shots from real Blender against a real backend process. Args: zip, fixtures, out,
address (a running `anix serve`), dead_address (nothing listens), wrong_version_address (a server
that answers in protocol version 2), frames, slow_frames. A backend that dies or restarts
mid-shot: addon_resume.py."""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402
from addon_common import Reports, emit, start_against_backend, submodule  # noqa: E402

A, out, prefs = start_against_backend(timeout_s=3.0)
fx = A["fixtures"]
import shutil  # noqa: E402

# the scene file lives in the project: it is edited later (scene identity)
splat_path = os.path.join(A["out"], "scene.ply")
shutil.copyfile(os.path.join(fx, "courtyard_sh0.ply"), splat_path)
jobs = submodule("jobs")
vse = submodule("vse")

scene = bpy.context.scene
props = scene.anix
bpy.ops.anix.import_splats(filepath=splat_path)
for view in ("front", "left", "back", "right"):
    setattr(props, f"view_{view}", os.path.join(fx, "character", f"robot_{view}.png"))
bpy.context.scene.cursor.location = (0.0, -1.5, 0.0)
bpy.ops.anix.add_anchor()
bpy.ops.anix.add_camera()
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
scene.render.fps = 24
props.quality = "SCENE"
props.instruction = "walks forward"
props.seed = 7
props.generator = "pattern"
scene.frame_start, scene.frame_end = 1, A["frames"]
bpy.ops.anix.keyframe_camera(behaviour="ORBIT", degrees=30.0)


def strip_info(strip):
    return None if strip is None else {
        "name": strip.name, "channel": strip.channel, "start": strip.frame_final_start,
        "end": strip.frame_final_end, "count": len(strip.elements), "directory": bpy.path.abspath(strip.directory),
        "files": [e.filename for e in strip.elements], "stored": vse.stored_request(strip), "mute": strip.mute,
        "stored_directory": strip.directory,
        "props": {k: strip[k] for k in strip.keys() if k.startswith("anix_") and k != "anix_request"}}


def strips():
    editor = scene.sequence_editor
    return {} if editor is None else {s.name: strip_info(s) for s in editor.strips_all}


# ---- 1. batch: wait=True -----------------------------------------------------------------------
t0 = time.perf_counter()
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
out["wait"] = {"result": res, "error": err, "seconds": time.perf_counter() - t0, "strips": strips(),
               "status": props.status, "running": props.running, "backend_status": props.backend_status}

# ---- 2. UI path: the timer tick does the work ----------------------------------------------------
props.seed = 8
res, err = Reports.call(bpy.ops.anix.generate, wait=False)
timer_registered = bpy.app.timers.is_registered(jobs.tick)
statuses, ticks, t0 = [], 0, time.perf_counter()
while jobs.active() and time.perf_counter() - t0 < 60:
    jobs.tick()
    ticks += 1
    if props.status and (not statuses or statuses[-1] != props.status):
        statuses.append(props.status)
    time.sleep(0.01)
last = jobs.tick()
out["tick"] = {"result": res, "error": err, "timer_registered": timer_registered, "ticks": ticks,
               "statuses": statuses, "progress": props.progress, "running": props.running,
               "tick_return_when_idle": last, "timer_after": bpy.app.timers.is_registered(jobs.tick),
               "strips": strips()}

# ---- 3. continue and regenerate from the selected strip -----------------------------------------
editor = scene.sequence_editor
seed8 = [s for s in editor.strips_all if s.get("anix_seed") == 8][0]
editor.active_strip = seed8
res, err = Reports.call(bpy.ops.anix.continue_shot, wait=True)
out["continue"] = {"result": res, "error": err, "previous": strip_info(seed8), "strips": strips()}
continued = [s for s in editor.strips_all if s.get("anix_continue_from")]
if continued:
    editor.active_strip = continued[0]
    res, err = Reports.call(bpy.ops.anix.regenerate, wait=True, same_seed=True)
    again = [s for s in editor.strips_all if s.get("anix_continue_from") and s != continued[0]]
    out["regenerate_continued"] = {"result": res, "error": err, "strip": strip_info(again[0]) if again else None}
editor.active_strip = seed8
props.instruction, props.seed = "waves hello", 40  # what the animator has typed for the next shot
res, err = Reports.call(bpy.ops.anix.regenerate, wait=True)
out["regenerate"] = {"result": res, "error": err, "panel_after": [props.instruction, props.seed], "strips": strips()}
props.instruction, props.seed = "walks forward", 9

# ---- 3b. preview conditioning: the scene render with the character's box -------------------------
before = set(strips())
res, err = Reports.call(bpy.ops.anix.preview_conditioning, wait=True)
new_strips = [strips()[n] for n in sorted(set(strips()) - before)]
out["preview"] = {"result": res, "error": err, "strips": new_strips}

# ---- 3c. the .blend saved: frames folders are stored relative to it -----------------------------------
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(A["out"], "project.blend"))
props.seed = 12
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
saved = [s for s in scene.sequence_editor.strips_all if s.get("anix_seed") == 12]
out["saved"] = {"result": res, "error": err, "strip": strip_info(saved[0]) if saved else None,
                "splat_path": scene.anix.splat_object["anix_splat_path"]}

# ---- 3d. the splat file edited after import: re-hashed, uploaded again, the shot uses it -------------
old_sha = scene.anix.splat_object["anix_splat_sha256"]
shutil.copyfile(os.path.join(fx, "courtyard.ply"), splat_path)  # another scene in the same file
props.seed = 13
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
edited = [s for s in scene.sequence_editor.strips_all if s.get("anix_seed") == 13]
import hashlib  # noqa: E402

with open(splat_path, "rb") as f:
    new_sha = hashlib.sha256(f.read()).hexdigest()
out["edited"] = {"result": res, "error": err, "old_sha": old_sha, "new_sha": new_sha,
                 "object_sha": scene.anix.splat_object["anix_splat_sha256"],
                 "sent_sha": vse.stored_request(edited[0])["scene"] if edited else None,
                 "logged": [list(r) for r in jobs.reported]}
os.rename(splat_path, splat_path + ".moved")
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
out["missing"] = {"result": res, "error": err, "fix": props.last_error_fix}
os.rename(splat_path + ".moved", splat_path)

# ---- 4. cancel mid-shot --------------------------------------------------------------------------
props.generator = A.get("slow_generator", "render")
scene.frame_end = A["slow_frames"]
props.seed = 11
before = set(strips())
res, err = Reports.call(bpy.ops.anix.generate, wait=False)
job = jobs.active()[0]
t0 = time.perf_counter()
while jobs.active() and not job.frames and time.perf_counter() - t0 < 120:
    jobs.tick()
    time.sleep(0.02)
frames_at_cancel = len(job.frames)
cancel_res, cancel_err = Reports.call(bpy.ops.anix.cancel)
t1 = time.perf_counter()
while jobs.active() and time.perf_counter() - t1 < 30:
    jobs.tick()
    time.sleep(0.02)
out["cancel"] = {"result": res, "error": err, "cancel_result": cancel_res, "cancel_error": cancel_err,
                 "frames_at_cancel": frames_at_cancel, "seconds_to_stop": time.perf_counter() - t1,
                 "state": job.state, "frames_kept": sorted(os.listdir(job.folder)), "status": props.status,
                 "new_strips": sorted(set(strips()) - before), "still_active": bool(jobs.active())}

# ---- 5. backend down ------------------------------------------------------------------------------
props.generator = "pattern"
scene.frame_end = A["frames"]
props.seed = 14
prefs.backend_address = A["dead_address"]
t0 = time.perf_counter()
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
out["down"] = {"result": res, "error": err, "seconds": time.perf_counter() - t0, "last_error": props.last_error}
out["down"]["folders_left"] = [d for d in os.listdir(A["out"]) if d.startswith("walks_forward_s14")]
t0 = time.perf_counter()
res, err = Reports.call(bpy.ops.anix.check_backend)  # what the panel's button does: returns at once
returned_after = time.perf_counter() - t0
checking = props.backend_status
check_statuses = [checking]
backend_check = submodule("backend_check")
while backend_check.running(scene.name) and time.perf_counter() - t0 < 30:
    backend_check.tick()
    time.sleep(0.02)
out["down_check"] = {"result": res, "error": err, "returned_after": returned_after, "checking": checking,
                     "backend_status": props.backend_status, "last_error": props.last_error}

# ---- 6. remote host without online access ---------------------------------------------------------
prefs.backend_address = "tcp://10.20.30.40:5555"
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
out["remote"] = {"result": res, "error": err, "online_access": bpy.app.online_access}

# ---- 6b. a backend that speaks another protocol version -------------------------------------------
prefs.backend_address = A["wrong_version_address"]
t0 = time.perf_counter()
res, err = Reports.call(bpy.ops.anix.generate, wait=True)
out["version"] = {"result": res, "error": err, "seconds": time.perf_counter() - t0}
res, err = Reports.call(bpy.ops.anix.check_backend, wait=True)
out["version_check"] = {"result": res, "error": err}

emit(out)
