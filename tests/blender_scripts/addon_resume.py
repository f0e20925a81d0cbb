"""Shots that survive what breaks, in real Blender against a real backend process.

Args: zip, fixtures, out (frames folder), blend (where the .blend is saved), address (a running
`anix serve` on a fixed port), server_pid, server_cmd + repo (how to start it again on the same
address and cache folder), pidfile (pids this script starts, for the test to clean up), frames.

1. blip: the backend stops answering mid-shot (SIGSTOP) and comes back: the shot reconnects.
2. reopen: the .blend is saved mid-shot and opened again (Blender closed): Resume Shot.
3. restart: a shot finishes on the backend while Blender is closed, then the backend is restarted
   mid-shot (same cache folder): the running job is gone, reported, frames kept; the finished
   shot and the one that landed earlier are still served, and Resume Shot lands the finished one.
4. down: the backend dies and stays down: interrupted, record kept; Resume fails clearly; Discard.
5. unregister leaves nothing behind.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import bpy  # noqa: E402  (first: it makes addon_utils importable)
import addon_utils  # noqa: E402,I001
from addon_common import ADDON, Reports, emit, start_against_backend, submodule  # noqa: E402

A, out, prefs = start_against_backend(timeout_s=2.0)
fx = A["fixtures"]
jobs = submodule("jobs")
resume = submodule("resume")
vse = submodule("vse")
client_mod = submodule("deps").client()
jobs.RECONNECT_DELAYS_S = (0.2, 0.4)  # short, bounded retries keep the test quick
jobs.STATUS_CHECK_S = 2.0
started_pids: list[int] = []


def setup_scene():
    scene = bpy.context.scene
    props = scene.anix
    bpy.ops.anix.import_splats(filepath=os.path.join(fx, "courtyard_sh0.ply"))
    for view in ("front", "left", "back", "right"):
        setattr(props, f"view_{view}", os.path.join(fx, "character", f"robot_{view}.png"))
    scene.cursor.location = (0.0, -1.5, 0.0)
    bpy.ops.anix.add_anchor()
    bpy.ops.anix.add_camera()
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    props.quality = "SCENE"
    props.instruction = "walks forward"
    props.generator = "render"
    scene.frame_start, scene.frame_end = 1, A["frames"]
    bpy.ops.anix.keyframe_camera(behaviour="ORBIT", degrees=30.0)


def tick_until(done, limit: float, statuses: list | None = None) -> float:
    t0 = time.perf_counter()
    while not done() and time.perf_counter() - t0 < limit:
        jobs.tick()
        status = bpy.context.scene.anix.status
        if statuses is not None and status and (not statuses or statuses[-1] != status):
            statuses.append(status)
        time.sleep(0.02)
    jobs.tick()
    return time.perf_counter() - t0


def start_shot(seed: int, min_frames: int = 2):
    bpy.context.scene.anix.seed = seed
    res, err = Reports.call(bpy.ops.anix.generate, wait=False)
    job = jobs.active()[0]
    tick_until(lambda: len(job.frames) >= min_frames or job.finished, 60)
    return job, res, err


def strip_of(job_id: str):
    editor = bpy.context.scene.sequence_editor
    for strip in (editor.strips_all if editor else []):
        if strip.get("anix_job_id") == job_id:
            return strip
    return None


def strip_info(strip):
    return None if strip is None else {
        "name": strip.name, "channel": strip.channel, "start": strip.frame_final_start, "end": strip.frame_final_end,
        "count": len(strip.elements), "directory": bpy.path.abspath(strip.directory), "files": [e.filename for e in strip.elements],
        "stored": vse.stored_request(strip)}


def server_frames(job_id: str) -> dict:
    """index -> PNG bytes as the backend stored them (attach from frame 0 with a fresh client)."""
    client = client_mod.Client(A["address"], timeout=5.0)
    try:
        job = client.attach(job_id, from_frame=0)
        return {e.index: bytes(e.data) for e in job.events(timeout=60) if type(e).__name__ == "Frame"}
    finally:
        client.close()


def same_bytes_as_server(strip) -> dict:
    theirs = server_frames(strip["anix_job_id"])
    ours = {}
    for i, element in enumerate(strip.elements):
        with open(os.path.join(bpy.path.abspath(strip.directory), element.filename), "rb") as f:
            ours[i] = f.read()
    return {"server_count": len(theirs), "identical": ours == theirs}


def record_of(job_id: str):
    return resume.get(bpy.context.scene, job_id)


def child_pids(pid: int) -> list[int]:
    pids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def wait_state(job_id: str, state: str, limit: float = 60.0) -> str:
    """Poll the backend until the job reaches `state` (or `limit` seconds pass); its last state."""
    client = client_mod.Client(A["address"], timeout=5.0)
    try:
        t0, now = time.perf_counter(), ""
        while time.perf_counter() - t0 < limit:
            now = client.status(job_id)["state"]
            if now == state:
                break
            time.sleep(0.1)
        return now
    finally:
        client.close()


def wait_gone(pid: int, limit: float = 15.0) -> bool:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[-1].startswith("Z"):
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


setup_scene()
bpy.ops.wm.save_as_mainfile(filepath=A["blend"])
server_pid = A["server_pid"]

# ---- 1. network blip: the backend stops answering for a while, then answers again ---------------
job, res, err = start_shot(21)
record_running = record_of(job.job_id)
frames_at_stop = len(job.frames)
os.kill(server_pid, signal.SIGSTOP)
statuses: list = []
t_lost = tick_until(lambda: "reconnecting" in bpy.context.scene.anix.status or job.finished, 20, statuses)
os.kill(server_pid, signal.SIGCONT)
tick_until(lambda: job.finished, 90, statuses)
strip = strip_of(job.job_id)
out["blip"] = {"result": res, "error": err, "frames_at_stop": frames_at_stop, "seconds_to_notice": t_lost,
               "statuses": statuses, "state": job.state, "job_error": job.error, "strip": strip_info(strip),
               "reconnects": job.reconnects,
               "record_running": record_running, "record_after": record_of(job.job_id),
               "bytes": same_bytes_as_server(strip) if strip else None}
blip_job = job.job_id

# ---- 2. Blender closed mid-shot: the saved file resumes it --------------------------------------
job, res, err = start_shot(22)
bpy.ops.wm.save_mainfile()
old_job = job
bpy.ops.wm.open_mainfile(filepath=A["blend"])  # load_pre stops following; the backend goes on
scene = bpy.context.scene
record = resume.get(scene)
folder = os.path.join(A["out"], record["shot_name"]) if record else ""
on_disk = sorted(f for f in os.listdir(folder) if f.endswith(".png")) if folder else []
mtimes = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in on_disk}
poll = bpy.ops.anix.resume_shot.poll()
records_in_file = len(resume.records(scene))
t0 = time.perf_counter()
res2, err2 = Reports.call(bpy.ops.anix.resume_shot, wait=True)
strip = strip_of(record["job_id"]) if record else None
out["reopen"] = {
    "result": res, "error": err, "detached_state": old_job.state, "active_after_open": len(jobs.active()),
    "record": record, "records_in_file": records_in_file, "poll": poll, "on_disk_before": len(on_disk),
    "resume_result": res2, "resume_error": err2, "seconds": time.perf_counter() - t0, "strip": strip_info(strip),
    "rewritten": [f for f, m in mtimes.items() if os.stat(os.path.join(folder, f)).st_mtime_ns != m],
    "record_after": resume.get(scene, record["job_id"]) if record else None, "status": scene.anix.status,
    "poll_after": bpy.ops.anix.resume_shot.poll(), "bytes": same_bytes_as_server(strip) if strip else None}

# ---- 3. a shot finishes while Blender is closed; the backend is restarted mid-shot ---------------
closed, _, _ = start_shot(25)
bpy.ops.wm.save_mainfile()
closed_id = closed.job_id
bpy.ops.wm.open_mainfile(filepath=A["blend"])  # Blender "closed": the backend finishes the shot alone
closed_state = wait_state(closed_id, "done")
closed_on_disk = len([f for f in os.listdir(closed.folder) if f.endswith(".png")])
job, res, err = start_shot(23)
frames_at_restart = len(job.frames)
os.kill(server_pid, signal.SIGKILL)  # a crash: the running shot is lost (SIGTERM would end it with server_stopped)
stopped = wait_gone(server_pid)
new = subprocess.Popen(A["server_cmd"], cwd=A["repo"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
started_pids.append(new.pid)
with open(A["pidfile"], "w") as f:
    f.write(str(new.pid))
t0, line = time.perf_counter(), ""
while "listening on" not in line and time.perf_counter() - t0 < 30:
    if select.select([new.stdout], [], [], 0.2)[0]:
        line = new.stdout.readline()
statuses = []
t_err = tick_until(lambda: job.finished, 60, statuses)
results_dir = os.path.join(A["cache"], "results")
try:
    finished_after_restart = same_bytes_as_server(strip_of(blip_job))
except client_mod.ProtocolError as exc:
    finished_after_restart = exc.code
out["restart"] = {
    "result": res, "error": err, "old_server_stopped": stopped, "new_server": line.strip(),
    "frames_at_restart": frames_at_restart, "seconds": t_err, "statuses": statuses, "state": job.state,
    "job_error": job.error, "last_error": bpy.context.scene.anix.last_error,
    "record_after": record_of(job.job_id), "strip": strip_info(strip_of(job.job_id)),
    "frames_kept": len([f for f in os.listdir(job.folder) if f.endswith(".png")]),
    "finished_job_after_restart": finished_after_restart,
    "results_on_disk": sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else None,
    "lost_job_files": sorted(os.listdir(os.path.join(results_dir, job.job_id)))
    if os.path.isdir(os.path.join(results_dir, job.job_id)) else None,
    "finished_ids": [blip_job, closed_id]}

# the shot that finished while Blender was closed lands from the restarted backend, found from its
# frames folder alone (as if the .blend had never been saved)
folder_record = resume.read_folder_record(closed.folder)
resume.remove(bpy.context.scene, closed_id)
bad_folder = Reports.call(bpy.ops.anix.resume_shot_folder, directory=A["out"])
t0 = time.perf_counter()
res3, err3 = Reports.call(bpy.ops.anix.resume_shot_folder, wait=True, directory=closed.folder + os.sep)
strip = strip_of(closed_id)
out["closed_finished"] = {
    "folder_record": folder_record, "bad_folder": bad_folder,
    "folder_record_after": os.path.exists(os.path.join(closed.folder, resume.FOLDER_RECORD)),
    "backend_state": closed_state, "on_disk_before": closed_on_disk, "resume_result": res3, "resume_error": err3,
    "seconds": time.perf_counter() - t0, "strip": strip_info(strip), "record_after": record_of(closed_id),
    "bytes": same_bytes_as_server(strip) if strip else None}

# ---- 4. the backend dies and stays down ---------------------------------------------------------
job, res, err = start_shot(24)
frames_at_kill = len(job.frames)
workers = child_pids(new.pid)
with open(A["pidfile"], "a") as f:
    f.write("".join(f" {p}" for p in workers))
new.kill()
new.wait()
for pid in workers:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
statuses = []
t_err = tick_until(lambda: job.finished, 60, statuses)
props = bpy.context.scene.anix
down = {"result": res, "error": err, "frames_at_kill": frames_at_kill, "seconds": t_err, "statuses": statuses,
        "state": job.state, "job_error": job.error, "last_error": props.last_error, "fix": props.last_error_fix,
        "record": record_of(job.job_id), "poll": bpy.ops.anix.resume_shot.poll(),
        "frames_kept": len([f for f in os.listdir(job.folder) if f.endswith(".png")])}
t0 = time.perf_counter()
down["resume_result"], down["resume_error"] = Reports.call(bpy.ops.anix.resume_shot, wait=True, job_id=job.job_id)
down["resume_seconds"] = time.perf_counter() - t0
down["record_after_resume"] = record_of(job.job_id) is not None
down["discard"] = Reports.call(bpy.ops.anix.discard_shot, job_id=job.job_id)[0]
down["record_after_discard"] = record_of(job.job_id)
down["records_left"] = props.shot_records
out["down"] = down

# ---- 5. unregister leaves nothing behind --------------------------------------------------------
addon_utils.disable(ADDON, default_set=True)
out["unregistered"] = {
    "scene_prop": hasattr(bpy.types.Scene, "anix"),
    "operators": sorted(n for n in dir(bpy.types) if n.startswith("ANIX_")),
    "handlers": sum(1 for name in ("load_pre", "load_post") for h in getattr(bpy.app.handlers, name)
                    if getattr(h, "__module__", "").startswith(ADDON)),
    "timer": bpy.app.timers.is_registered(jobs.tick)}
emit(out)
