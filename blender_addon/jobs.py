"""Running shots without blocking Blender: a client thread per shot, a queue, a main-thread tick.

The thread talks to the backend (backend.client), writes frames to disk as they arrive and
posts plain messages on a queue. `tick()` runs on the main thread (a `bpy.app.timers` timer;
tests and `generate(wait=True)` call it directly), drains the queues, updates the panel and the
status bar, and adds the image strip when a shot is done. bpy data is touched only in `tick()`.
"""
from __future__ import annotations

import os
import queue
import threading
import time
import traceback

import bpy

from . import deps, vse
from .request import ShotPlan

TICK_INTERVAL_S = 0.1
FRAME_NAME = "frame_{:04d}.png"

_jobs: list["ShotJob"] = []


class ShotJob:
    """One shot: the client thread and what it reported so far."""

    def __init__(self, plan: ShotPlan):
        self.plan = plan
        self.messages: queue.Queue = queue.Queue()
        self.cancel_requested = threading.Event()
        self.folder = os.path.join(plan.out_dir, plan.shot_name)
        self.frames: dict[int, str] = {}        # index -> file, written by the thread
        self.job_id = ""
        self.state = "starting"                  # starting|running|done|error|cancelled
        self.error = ""
        self.strip_name = ""
        self.finished = False                    # set by tick() once the end was handled
        self.client_job = None                   # backend.client.Job once submitted
        self._cancel_lock = threading.Lock()
        self._cancel_sent = False
        self.thread = threading.Thread(target=self._run, name=f"anix-shot-{plan.shot_name}", daemon=True)

    # ---- client thread -----------------------------------------------------------------------

    def start(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.thread.start()

    def _post(self, kind: str, **data) -> None:
        self.messages.put((kind, data))

    def _run(self) -> None:
        client = None
        try:
            client_mod = deps.client()
            keys = self.plan.keys_folder or None
            self._post("status", text="Connecting to the backend")
            client = client_mod.Client(self.plan.address, keys=keys, timeout=self.plan.timeout_s)
            info = client.hello()
            self._post("status", text=f"Backend ready ({info.get('server_version', '?')})")
            self._post("status", text="Sending the splat scene")
            client.ensure_scene(self.plan.scene_path,
                                on_progress=lambda done, total: self._post("progress", stage="upload",
                                                                           done=done, total=total))
            if self.cancel_requested.is_set():
                self._post("cancelled")
                return
            request = dict(self.plan.request)
            job = client.submit(request, views=self.plan.views)
            self.client_job = job
            if self.cancel_requested.is_set():
                self._send_cancel()
            self._follow(job)
        except deps.MissingDependency as exc:
            self._post("error", text=str(exc))
        except Exception as exc:  # the user sees the message; unexpected ones also go to the console
            if type(exc).__name__ not in ("BackendUnavailable", "ProtocolError", "JobFailed"):
                traceback.print_exc()
            self._post("error", text=_friendly(exc, self.plan.address))
        finally:
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass

    def request_cancel(self) -> None:
        """Ask for cancellation from the main thread without blocking it."""
        self.cancel_requested.set()
        if self.client_job is not None:
            threading.Thread(target=self._send_cancel, name="anix-cancel", daemon=True).start()

    def _send_cancel(self) -> None:
        with self._cancel_lock:
            if self._cancel_sent or self.client_job is None:
                return
            self._cancel_sent = True
        try:
            self.client_job.cancel()
        except Exception:  # the job may already have ended; its events say how
            pass

    def _follow(self, job) -> None:
        self.job_id = str(getattr(job, "id", "") or "")
        self._post("accepted", job_id=self.job_id, position=0)
        for event in job.events():
            kind = type(event).__name__.lower()
            if kind == "accepted":
                self.job_id = str(getattr(event, "job_id", self.job_id) or self.job_id)
                self._post("accepted", job_id=self.job_id, position=getattr(event, "queue_position", 0))
            elif kind == "progress":
                self._post("progress", stage=getattr(event, "stage", ""), done=getattr(event, "done", 0),
                           total=getattr(event, "total", 0))
            elif kind == "frame":
                self._write_frame(event)
            elif kind == "done":
                self._post("done", end_anchor=getattr(event, "end_anchor", None))
                return
            elif kind == "cancelled":
                self._post("cancelled")
                return
            elif kind == "error":
                code = getattr(event, "code", "")
                field = getattr(event, "field", "")
                msg = getattr(event, "message", "") or str(event)
                self._post("error", text=_error_text(code, field, msg))
                return
        self._post("error", text="the backend stopped sending before the shot was finished")

    def _write_frame(self, event) -> None:
        index = int(event.index)
        encoding = getattr(event, "encoding", "png")
        if encoding != "png":
            raise ValueError(f"frame {index} arrived as {encoding!r}; the add-on asks for png")
        path = os.path.join(self.folder, FRAME_NAME.format(index))
        tmp = path + ".part"
        with open(tmp, "wb") as f:
            f.write(bytes(event.data))
        os.replace(tmp, path)
        self.frames[index] = path
        self._post("frame", index=index, path=path)

    # ---- main thread ------------------------------------------------------------------------

    def handle(self, kind: str, data: dict) -> None:
        """Apply one message from the thread (main thread only)."""
        scene = bpy.data.scenes.get(self.plan.scene_name)
        props = scene.anix if scene is not None else None
        total_frames = self.plan.request["num_frames"]
        if kind == "status":
            _set(props, status=data["text"])
        elif kind == "accepted":
            self.state = "running"
            position = data.get("position") or 0
            _set(props, status=f"Queued (position {position})" if position else "Accepted")
        elif kind == "progress":
            stage, done, total = data["stage"], data["done"], data["total"]
            label = {"upload": "Uploading scene", "load_scene": "Loading scene", "conditioning": "Conditioning",
                     "generate": "Generating", "encode": "Encoding", "queued": "Queued"}.get(stage, stage)
            _set(props, status=f"{label} {done}/{total}" if total else label,
                 progress=min(1.0, done / total) if total else 0.0)
        elif kind == "frame":
            _set(props, status=f"Frame {len(self.frames)}/{total_frames}",
                 progress=min(1.0, len(self.frames) / max(1, total_frames)))
        elif kind == "done":
            self._finish_done(props, data.get("end_anchor"))
        elif kind == "cancelled":
            self._end("cancelled", props, f"Cancelled; {len(self.frames)} frame(s) kept in {self.folder}")
        elif kind == "error":
            kept = f" ({len(self.frames)} frame(s) received so far are in {self.folder})" if self.frames else ""
            self.error = data["text"] + kept
            self._end("error", props, "Error: " + self.error)

    def _finish_done(self, props, end_anchor=None) -> None:
        files = [self.frames[i] for i in sorted(self.frames)]
        seq_scene = bpy.data.scenes.get(self.plan.sequencer_scene_name) or bpy.data.scenes.get(self.plan.scene_name)
        if not files:
            self.error = "the backend finished without sending any frame"
            self._end("error", props, "Error: " + self.error)
            return
        request = dict(self.plan.request, job_id=self.job_id, shot=self.plan.shot_name)
        if end_anchor:
            request["end_anchor"] = end_anchor  # where the character ended: Continue Shot starts there
        strip = vse.add_image_strip(seq_scene, self.plan.shot_name, files, self.plan.frame_start, request,
                                    channel=self.plan.extra.get("channel"))
        self.strip_name = strip.name
        expected = self.plan.request["num_frames"]
        note = "" if len(files) == expected else f" (only {len(files)} of {expected} frames arrived)"
        self._end("done", props, f"Done: {len(files)} frames in strip '{strip.name}'{note}")

    def _end(self, state: str, props, text: str) -> None:
        self.state = state
        self.finished = True
        _set(props, status=text, running=False, progress=1.0 if state == "done" else (props.progress if props else 0),
             last_error=self.error if state == "error" else "", last_error_fix="")

    def drain(self) -> None:
        while True:
            try:
                kind, data = self.messages.get_nowait()
            except queue.Empty:
                break
            self.handle(kind, data)
            if self.finished:
                break
        if not self.finished and not self.thread.is_alive() and self.messages.empty() and self.thread.ident:
            self.error = "the connection to the backend ended unexpectedly"
            self.handle("error", {"text": self.error})


def _set(props, **values) -> None:
    if props is None:
        return
    for key, value in values.items():
        setattr(props, key, value)


def _error_text(code: str, field: str, message: str) -> str:
    if field == "request.options.continue_from":
        return (f"{message}. The backend keeps a shot's results for 30 minutes and not across restarts: "
                "Generate the selected strip again (Regenerate with Same Seed), then Continue Shot")
    hints = {
        "unsupported_version": "the backend speaks another protocol version: update AniX Studio or the backend "
                               "so both are the same release",
        "unknown_generator": "the backend does not have that generator: clear Generator in the AniX panel",
        "worker_lost": "the backend's worker died mid-shot: check the backend log, then Generate again",
        "queue_full": "the backend is busy: wait for running shots to finish, then Generate again",
    }
    hint = hints.get(code, "")
    where = f" ({field})" if field else ""
    return f"{message}{where}" + (f". {hint}" if hint else "")


def _friendly(exc: Exception, address: str) -> str:
    """A message that says what to do, for errors raised by backend.client."""
    name = type(exc).__name__
    text = str(exc) or name
    if name == "ProtocolError":
        return _error_text(getattr(exc, "code", ""), getattr(exc, "field", ""), getattr(exc, "message", text))
    if name == "BackendUnavailable" or isinstance(exc, TimeoutError):
        return (f"{text}. Start the backend (Start Local Backend in the AniX preferences, or "
                f"`anix serve --bind {address}`) and check the address")
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return f"cannot reach the backend at {address}: {text}"
    return text


# ---- registry and timer -------------------------------------------------------------------------

def start(plan: ShotPlan) -> ShotJob:
    job = ShotJob(plan)
    scene = bpy.data.scenes.get(plan.scene_name)
    if scene is not None:
        _set(scene.anix, running=True, progress=0.0, status="Starting", last_error="", last_error_fix="")
    _jobs.append(job)
    job.start()
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_INTERVAL_S)
    return job


def active(scene_name: str | None = None) -> list[ShotJob]:
    return [j for j in _jobs if not j.finished and (scene_name is None or j.plan.scene_name == scene_name)]


def cancel(scene_name: str | None = None) -> int:
    jobs = active(scene_name)
    for job in jobs:
        job.request_cancel()
    return len(jobs)


def tick():
    """Main-thread pump: apply what the client threads reported. Timer callback (returns the
    next interval, or None when no shot is running)."""
    for job in list(_jobs):
        if not job.finished:
            job.drain()
        if job.finished:
            _jobs.remove(job)
    _update_status_bar()
    return TICK_INTERVAL_S if _jobs else None


def wait(job: ShotJob, timeout_s: float | None = None) -> ShotJob:
    """Block (batch use) until `job` ends, pumping `tick()`; cancels it after timeout_s."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not job.finished:
        tick()
        if job.finished:
            break
        if deadline is not None and time.monotonic() > deadline and not job.cancel_requested.is_set():
            job.request_cancel()
            deadline = time.monotonic() + 30.0
            job.error = f"the shot took longer than {timeout_s:.0f} s and was cancelled"
        time.sleep(0.02)
    tick()
    return job


def _update_status_bar() -> None:
    running = [j for j in _jobs if not j.finished]
    text = None
    if running:
        scene = bpy.data.scenes.get(running[0].plan.scene_name)
        text = f"AniX: {scene.anix.status}" if scene is not None else "AniX: working"
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", []):
        try:
            window.workspace.status_text_set(text)
            for area in window.screen.areas:
                if area.type in ("VIEW_3D", "SEQUENCE_EDITOR"):
                    area.tag_redraw()
        except Exception:
            pass


def shutdown() -> None:
    """Cancel every shot and stop the timer (unregister)."""
    for job in _jobs:
        job.request_cancel()
    _jobs.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
