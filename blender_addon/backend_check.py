"""Check Backend without blocking Blender: a short thread says hello, a timer shows the answer.

The panel shows "checking ..." at once; `tick()` (a `bpy.app.timers` timer on the main thread;
tests call it directly) writes the answer into `scene.anix.backend_status` and the Info log.
"""
from __future__ import annotations

import threading

import bpy

from . import deps, jobs

TICK_INTERVAL_S = 0.1

_checks: list["BackendCheck"] = []


class BackendCheck:
    """One hello to `address` on its own thread; `info` or `error` once `done` is set."""

    def __init__(self, scene_name: str, address: str, keys: str, timeout_s: float):
        self.scene_name, self.address, self.keys, self.timeout_s = scene_name, address, keys, timeout_s
        self.info: dict | None = None
        self.error = ""
        self.done = threading.Event()
        self.shown = False
        self.thread = threading.Thread(target=self._run, name="anix-check-backend", daemon=True)

    def _run(self) -> None:
        try:
            client = deps.client().Client(self.address, keys=self.keys or None, timeout=self.timeout_s)
            try:
                self.info = client.hello()
            finally:
                client.close()
        except Exception as exc:  # every failure becomes a message for the animator
            self.error = jobs.friendly_error(exc, self.address)
        finally:
            self.done.set()

    def show(self) -> None:
        """Put the outcome in the panel and the Info log (main thread)."""
        self.shown = True
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is not None:
            scene.anix.backend_status = "not reachable" if self.error else \
                jobs.backend_status_text(self.address, self.info)
            scene.anix.last_error = self.error
            scene.anix.last_error_fix = ""
        if self.error:
            jobs.log("ERROR", self.error)
        else:
            jobs.log("INFO", f"backend {jobs.backend_status_text(self.address, self.info)}")


def start(scene, address: str, keys: str, timeout_s: float) -> BackendCheck:
    check = BackendCheck(scene.name, address, keys, timeout_s)
    scene.anix.backend_status = f"checking {address}..."
    _checks.append(check)
    check.thread.start()
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_INTERVAL_S)
    return check


def running(scene_name: str) -> bool:
    return any(c.scene_name == scene_name and not c.shown for c in _checks)


def tick():
    """Timer: show finished checks; stops itself when none is left."""
    for check in list(_checks):
        if check.done.is_set():
            check.show()
            _checks.remove(check)
    return TICK_INTERVAL_S if _checks else None


def wait(check: BackendCheck) -> BackendCheck:
    """Block until `check` is shown (scripts: `anix.check_backend(wait=True)`)."""
    while not check.shown:
        check.done.wait(0.05)
        tick()
    if not _checks and bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)  # nothing left for it to show
    return check


def shutdown() -> None:
    _checks.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
