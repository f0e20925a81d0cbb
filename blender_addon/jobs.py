"""Running shots without blocking Blender: a client thread per shot, a queue, a main-thread tick.

The thread talks to the backend (backend.client), writes frames to disk as they arrive and
posts plain messages on a queue. `tick()` runs on the main thread (a `bpy.app.timers` timer;
tests and `generate(wait=True)` call it directly), drains the queues, updates the panel and the
status bar, and adds the image strip when a shot is done. bpy data is touched only in `tick()`.
"""
from __future__ import annotations

import os
import queue
import re
import threading
import time
import traceback
from collections import deque

import bpy

from . import deps, resume, vse
from .request import ShotPlan

TICK_INTERVAL_S = 0.1
FRAME_NAME = resume.FRAME_NAME
RECONNECT_DELAYS_S = (1.0, 2.0, 4.0, 8.0)   # waits before each re-attach after the connection dropped
ATTACH_TIMEOUT_S = 5.0                       # each re-attach waits at most this long for an answer
STATUS_CHECK_S = 10.0                        # while following, ask this often whether the backend knows the job

_jobs: list["ShotJob"] = []


class _Stopped(Exception):
    """The thread ends quietly: its outcome was already posted (or nobody listens any more)."""


class _Gone(Exception):
    """The backend answers but no longer knows the job (restarted, or results expired)."""


class ShotJob:
    """One shot: the client thread and what it reported so far.

    A shot whose connection drops (BackendUnavailable) re-attaches to its backend job up to
    len(RECONNECT_DELAYS_S) times, asking only for the frames not yet on disk. A plan with
    `extra["resume_job_id"]` attaches to that job instead of submitting (anix.resume_shot).
    """

    def __init__(self, plan: ShotPlan):
        self.plan = plan
        self.messages: queue.Queue = queue.Queue()
        self.cancel_requested = threading.Event()
        self.detached = threading.Event()        # stop following; the backend job goes on (file closed)
        self.folder = os.path.join(plan.out_dir, plan.shot_name)
        self.num_frames = int(plan.request["num_frames"])
        self.frames: dict[int, str] = {}        # index -> file, written by the thread
        self.resume_job_id = str(plan.extra.get("resume_job_id") or "")
        self.job_id = self.resume_job_id
        self.state = "starting"                  # starting|running|done|error|interrupted|cancelled
        self.error = ""
        self.strip_name = ""
        self.finished = False                    # set by tick() once the end was handled
        self.client_job = None                   # backend.client.Job once submitted or attached
        self._client = None
        self.reconnects = 0                      # times the thread attached again after losing the backend
        self.warnings: list[str] = []            # planning warnings from the backend's done
        self.undo_step = ""                      # the undo step pushed when the strip landed
        self._cancel_lock = threading.Lock()
        self._cancel_sent = False
        self.thread = threading.Thread(target=self._run, name=f"anix-shot-{plan.shot_name}", daemon=True)

    # ---- client thread -----------------------------------------------------------------------

    def start(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.thread.start()

    def _post(self, kind: str, **data) -> None:
        if not self.detached.is_set():
            self.messages.put((kind, data))

    def _run(self) -> None:
        try:
            client_mod = deps.client()
            if self.resume_job_id:
                self.frames.update(resume.frames_on_disk(self.folder, self.num_frames))
                self._post("status", text=f"Resuming: {len(self.frames)}/{self.num_frames} frames on disk")
                job = self._reattach(client_mod, immediate=True)
            else:
                job = self._submit(client_mod)
            while job is not None:
                try:
                    self._follow(job, client_mod)
                    return
                except client_mod.BackendUnavailable as exc:
                    if self.detached.is_set():
                        return
                    self._post("status", text=f"Connection lost ({exc})")
                    job = self._reattach(client_mod)
        except _Stopped:
            pass
        except _Gone:
            self._job_gone()
        except deps.MissingDependency as exc:
            self._post("error", text=str(exc))
        except Exception as exc:  # the user sees the message; unexpected ones also go to the console
            if self.detached.is_set():
                return
            name = type(exc).__name__
            if name not in ("BackendUnavailable", "ProtocolError", "JobFailed"):
                traceback.print_exc()
            text = friendly_error(exc, self.plan.address)
            if self.job_id and name != "ProtocolError":  # the backend still has the shot
                self._post("interrupted", text=text)
            else:
                self._post("error", text=text)
        finally:
            self._close_client()

    def _new_client(self, client_mod, timeout_s: float):
        self._close_client()
        self._client = client_mod.Client(self.plan.address, keys=self.plan.keys_folder or None, timeout=timeout_s)
        return self._client

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    def _submit(self, client_mod):
        self._post("status", text="Connecting to the backend")
        client = self._new_client(client_mod, self.plan.timeout_s)
        info = client.hello()
        self._post("backend", text=backend_status_text(self.plan.address, info))
        self._post("status", text="Sending the splat scene")
        sha = client.ensure_scene(self.plan.scene_path,
                                  on_progress=lambda done, total: self._post("progress", stage="upload",
                                                                             done=done, total=total))
        if self.cancel_requested.is_set():
            self._post("cancelled")
            return None
        request = dict(self.plan.request)
        request["scene"] = sha  # the bytes just uploaded, even if the file changed after the check
        job = client.submit(request, views=self.plan.views)
        self.client_job = job
        self.job_id = str(getattr(job, "id", "") or "")
        self._post("accepted", job_id=self.job_id, position=0)
        if self.cancel_requested.is_set():
            self._send_cancel()
        return job

    def _reattach(self, client_mod, immediate: bool = False):
        """Attach to the backend job again from the first frame missing on disk, retrying with
        RECONNECT_DELAYS_S between tries. Returns the Job, or None once the outcome is posted."""
        delays = ((0.0,) if immediate else ()) + tuple(RECONNECT_DELAYS_S)
        for attempt, delay in enumerate(delays, 1):
            if attempt > 1 or not immediate:
                self._post("reconnecting", attempt=attempt, attempts=len(delays))
            if self.cancel_requested.wait(delay):
                self._cancel_unreachable(client_mod)
                return None
            if self.detached.is_set():
                raise _Stopped
            from_frame = resume.first_missing(self.frames, self.num_frames)
            client = self._new_client(client_mod, min(self.plan.timeout_s, ATTACH_TIMEOUT_S))
            try:
                job = client.attach(self.job_id, from_frame=from_frame)
            except client_mod.BackendUnavailable:
                continue
            except client_mod.ProtocolError as exc:
                if exc.code != "unknown_job":
                    raise
                self._job_gone()
                return None
            self.client_job = job
            self.reconnects += 1
            self._post("attached", from_frame=from_frame)
            if self.cancel_requested.is_set():
                self._send_cancel()
            return job
        self._post("interrupted", text=f"the backend at {self.plan.address} does not answer")
        return None

    def _job_gone(self) -> None:
        """The backend no longer has the job: land what is on disk if it is the whole shot."""
        self.frames.update(resume.frames_on_disk(self.folder, self.num_frames))
        if len(self.frames) == self.num_frames:
            self._post("done", end_anchor=None)
        else:
            self._post("gone")

    def _cancel_unreachable(self, client_mod) -> None:
        """Cancel while reconnecting: one short try to tell the backend, then stop."""
        try:
            client = self._new_client(client_mod, 2.0)
            client.cancel(self.job_id)
        except Exception:  # unreachable: the backend finishes the shot and drops it after 30 minutes
            pass
        self._post("cancelled")

    def request_cancel(self) -> None:
        """Ask for cancellation from the main thread without blocking it."""
        self.cancel_requested.set()
        if self.client_job is not None:
            threading.Thread(target=self._send_cancel, name="anix-cancel", daemon=True).start()

    def detach(self) -> None:
        """Stop following the shot without cancelling it (main thread; the file is being closed):
        the backend finishes it and the scene's record lets Resume Shot fetch it later."""
        self.detached.set()
        self.finished = True
        self.state = "detached"

    def _send_cancel(self) -> None:
        with self._cancel_lock:
            if self._cancel_sent or self.client_job is None:
                return
            self._cancel_sent = True
        try:
            self.client_job.cancel()
        except Exception:  # the job may already have ended; its events say how
            pass

    def _follow(self, job, client_mod) -> None:
        """Handle the job's events until it ends. Raises BackendUnavailable when the backend
        falls silent, _Gone when it answers but no longer knows the job (a restarted backend
        answers heartbeats, so this is asked every STATUS_CHECK_S)."""
        while True:
            started = time.monotonic()
            try:
                for event in job.events(timeout=STATUS_CHECK_S):
                    if self.detached.is_set():
                        raise _Stopped
                    if self._handle_event(event):
                        return
                self._post("interrupted", text="the backend stopped sending before the shot was finished")
                return
            except client_mod.BackendUnavailable:
                if time.monotonic() - started < STATUS_CHECK_S:
                    raise  # silence, not the status check: re-attach
            if self.detached.is_set():
                raise _Stopped
            try:
                job.status()
            except client_mod.ProtocolError as exc:
                if exc.code == "unknown_job":
                    raise _Gone from None
                raise

    def _handle_event(self, event) -> bool:
        """Act on one job event (client thread); True when it ended the shot."""
        kind = type(event).__name__.lower()
        if kind == "accepted":
            self._post("queued", position=getattr(event, "queue_position", 0))
        elif kind == "progress":
            self._post("progress", stage=getattr(event, "stage", ""), done=getattr(event, "done", 0),
                       total=getattr(event, "total", 0))
        elif kind == "frame":
            self._write_frame(event)
        elif kind == "done":
            warnings = getattr(event, "warnings", None) or []  # planning warnings (absent from older backends)
            self._post("done", end_anchor=getattr(event, "end_anchor", None),
                       warnings=[str(w) for w in warnings if w])
            return True
        elif kind == "cancelled":
            self._post("cancelled", reason="" if self.cancel_requested.is_set() else getattr(event, "reason", ""))
            return True
        elif kind == "error":
            code = getattr(event, "code", "")
            field = getattr(event, "field", "")
            msg = getattr(event, "message", "") or str(event)
            self._post("error", text=_error_text(code, field, msg))
            return True
        return False

    def _write_frame(self, event) -> None:
        index = int(event.index)
        if index in self.frames or not 0 <= index < self.num_frames:
            return  # already on disk (sent again after a reconnect)
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
        total_frames = self.num_frames
        if kind == "status":
            _set(props, status=data["text"])
        elif kind == "backend":
            _set(props, backend_status=data["text"])
        elif kind == "accepted":
            self.state = "running"
            if scene is not None and data.get("job_id"):
                blend_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
                record = resume.make_record(self.plan, data["job_id"], self.folder, blend_dir)
                resume.add(scene, record)
                resume.write_folder_record(self.folder, record)  # found again without the .blend
            _set(props, status="Accepted")
        elif kind == "queued":
            self.state = "running"
            position = data.get("position") or 0
            _set(props, status=f"Queued (position {position})" if position else "Accepted")
        elif kind == "reconnecting":
            _set(props, status=f"Connection lost: reconnecting (try {data['attempt']} of {data['attempts']}), "
                               f"{len(self.frames)}/{total_frames} frames kept")
        elif kind == "attached":
            self.state = "running"
            _set(props, status=f"Connected to the shot: frames from {data['from_frame'] + 1} of {total_frames}")
        elif kind == "progress":
            stage, done, total = data["stage"], data["done"], data["total"]
            _set(props, status=stage_text(stage, done, total), progress=min(1.0, done / total) if total else 0.0)
        elif kind == "frame":
            _set(props, status=f"Received frame {len(self.frames)}/{total_frames}",
                 progress=min(1.0, len(self.frames) / max(1, total_frames)))
        elif kind == "done":
            self._finish_done(props, data.get("end_anchor"), data.get("warnings") or [])
        elif kind == "cancelled":
            reason = f" by the backend ({data['reason']})" if data.get("reason") else ""
            self._forget_record(scene)
            kept = self._tidy_folder()
            self._end("cancelled", props, f"Cancelled{reason}" + (f"; {kept}" if kept else ""))
        elif kind == "interrupted":
            self.error = (f"{data['text']}. {len(self.frames)} of {total_frames} frames are in {self.folder}; "
                          "when the backend answers again, Resume Shot fetches the rest (the backend keeps a shot "
                          "30 minutes after it ends, also across a restart; a shot it was running when it restarted is lost)")
            self._end("interrupted", props, "Interrupted: " + headline(data["text"]), fix="anix.resume_shot")
        elif kind == "gone":
            self._forget_record(scene)
            self._tidy_folder()
            self.error = (f"the backend no longer has shot '{self.plan.shot_name}' (job {self.job_id}): it was "
                          "restarted while the shot was queued or running, or the shot ended more than 30 minutes ago. "
                          f"{len(self.frames)} of {total_frames} frames are kept in {self.folder}; Generate again "
                          "to make the whole shot")
            self._end("error", props, "Error: the backend no longer has this shot")
        elif kind == "error":
            self._forget_record(scene)
            kept = self._tidy_folder()
            self.error = data["text"] + (f" ({kept})" if kept else "")
            self._end("error", props, "Error: " + headline(data["text"]))

    def _forget_record(self, scene) -> None:
        if scene is not None and self.job_id:
            resume.remove(scene, self.job_id)
        if self.job_id:
            resume.remove_folder_record(self.folder, self.job_id)

    def _tidy_folder(self) -> str:
        """After a shot that will not land: remove its folder when no frame is in it, else say
        where the frames are."""
        if self.frames:
            return f"{len(self.frames)} frame(s) kept in {self.folder}"
        try:
            if os.path.isdir(self.folder) and not os.listdir(self.folder):
                os.rmdir(self.folder)
        except OSError:
            pass
        return ""

    def _finish_done(self, props, end_anchor=None, warnings=()) -> None:
        files = [self.frames[i] for i in sorted(self.frames)]
        seq_scene = bpy.data.scenes.get(self.plan.sequencer_scene_name) or bpy.data.scenes.get(self.plan.scene_name)
        if not files:
            self._forget_record(bpy.data.scenes.get(self.plan.scene_name))
            self._tidy_folder()
            self.error = "the backend finished without sending any frame"
            self._end("error", props, "Error: " + self.error)
            return
        request = dict(self.plan.request, job_id=self.job_id, shot=self.plan.shot_name)
        if end_anchor:
            request["end_anchor"] = end_anchor  # where the character ended: Continue Shot starts there
        if warnings:
            request["warnings"] = list(warnings)
        strip = vse.add_image_strip(seq_scene, self.plan.shot_name, files, self.plan.frame_start, request,
                                    channel=self.plan.extra.get("channel"),
                                    preview=self.plan.request.get("generator") == "render",
                                    replaces=self.plan.extra.get("replaces", ""))
        self.strip_name = strip.name
        self.warnings = list(warnings)
        self._forget_record(bpy.data.scenes.get(self.plan.scene_name))
        expected = self.num_frames
        note = "" if len(files) == expected else f" (only {len(files)} of {expected} frames arrived)"
        muted = " (muted: it would hide the shot below)" if strip.mute else ""
        self._end("done", props, f"Done: {len(files)} frames in strip '{strip.name}'{note}{muted}")
        for warning in warnings:
            log("WARNING", f"'{strip.name}': {warning}")
        self.undo_step = f"AniX: shot '{strip.name}' landed"
        if not push_undo(self.undo_step):
            self.undo_step = ""

    def _end(self, state: str, props, text: str, fix: str = "") -> None:
        self.state = state
        self.finished = True
        failed = state in ("error", "interrupted")
        _set(props, status=text, running=False, progress=1.0 if state == "done" else (props.progress if props else 0),
             last_error=self.error if failed else "", last_error_fix=fix if failed else "",
             warnings="\n".join(self.warnings) if state == "done" else "")
        if failed:
            log("ERROR", self.error)
        elif state == "cancelled":
            log("INFO", text)

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
            text = "the connection to the backend ended unexpectedly"
            self.handle("interrupted" if self.job_id else "error", {"text": text})


STAGE_NAMES = {  # protocol progress stages -> words for the panel
    "queued": "Queued", "load_scene": "Loading scene", "plan": "Planning the action",
    "render": "Rendering scene", "masks": "Placing the character", "conditioning": "Preparing the generator",
    "generate": "Generating frame", "denoise": "Denoising step", "frames": "Making frame", "encode": "Encoding",
}
MB = 1024 * 1024
HEADLINE_CHARS = 70
reported: deque = deque(maxlen=50)   # (level, text) of what went to the Info log, newest last


def stage_text(stage: str, done: int, total: int) -> str:
    """'Rendering scene 3/24', 'Uploading scene 8.0 of 16.5 MB'; an unknown stage by its name."""
    if stage == "upload":
        return f"Uploading scene {done / MB:.1f} of {total / MB:.1f} MB" if total else "Uploading scene"
    name = STAGE_NAMES.get(stage) or stage.replace("_", " ").strip().capitalize() or "Working"
    if stage in ("queued", "load_scene", "encode") or not total:
        return name
    return f"{name} {done}/{total}"


def headline(text: str, limit: int = HEADLINE_CHARS) -> str:
    """The first clause of a message, for the panel (the whole message goes to the Info log)."""
    text = re.sub(r"^[A-Z]\w*(Error|Exception): ", "", text.strip())
    first = re.split(r"(?<=[a-z0-9)'])[.;:] | \(", text, maxsplit=1)[0].strip()
    if len(first) > limit:
        first = first[: limit - 1].rsplit(" ", 1)[0] + "…"
    return first[:1].upper() + first[1:]


def backend_status_text(address: str, info) -> str:
    generators = info.get("generators") if isinstance(info, dict) else None
    return f"ready ({address})" + (f", generators: {', '.join(generators)}" if generators else "")


def log(level: str, text: str) -> None:
    """Put `text` in Blender's Info log (and the console): from a timer there is no operator
    to report through, so a tiny operator does it."""
    reported.append((level, text))
    print(f"AniX {level.lower()}: {text}")
    try:
        bpy.ops.anix.report_message(level=level, message=text)
    except Exception:  # no window (background), or an ERROR report raised by a script call
        pass


def push_undo(message: str) -> bool:
    """An undo step for data landed from a timer (Ctrl+Z then removes exactly that)."""
    try:
        return "FINISHED" in bpy.ops.ed.undo_push(message=message)
    except Exception:  # background mode has no undo stack
        return False


def _set(props, **values) -> None:
    if props is None:
        return
    for key, value in values.items():
        setattr(props, key, value)


def _error_text(code: str, field: str, message: str) -> str:
    if field == "request.options.continue_from":
        return (f"{message}. The backend keeps a shot's results for 30 minutes after it ends: "
                "Generate the selected strip again (Regenerate with Same Seed), then Continue Shot")
    hints = {
        "unsupported_version": "the backend speaks another protocol version: update AniX Studio or the backend "
                               "so both are the same release",
        "unknown_generator": "the backend does not have that generator: clear Generator in the AniX panel",
        "worker_lost": "the backend's worker died mid-shot: check the backend log, then Generate again",
        "server_stopped": "the backend was stopped during the shot: start it again, then Generate again",
        "queue_full": "the backend is busy: wait for running shots to finish, then Generate again",
    }
    hint = hints.get(code, "")
    message = re.sub(r"^[A-Z]\w*(Error|Exception): ", "", message)  # the backend's exception name is no help
    where = f" ({field})" if field else ""
    return f"{message}{where}" + (f". {hint}" if hint else "")


def friendly_error(exc: Exception, address: str) -> str:
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


def detach_all() -> int:
    """Stop following every shot without cancelling it (another file is being opened): the
    backend finishes them, and the records saved with their .blend let Resume Shot fetch them."""
    running = [j for j in _jobs if not j.finished]
    for job in running:
        job.detach()
    _jobs.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    _update_status_bar()
    return len(running)


def shutdown() -> None:
    """Cancel every shot and stop the timer (unregister)."""
    for job in _jobs:
        job.request_cancel()
    _jobs.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
