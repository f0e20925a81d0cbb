"""Start / stop a backend on this machine and show its log."""
from __future__ import annotations

import bpy

from .. import local_backend, request

LOG_TEXT_NAME = "AniX Backend Log"


class ANIX_OT_start_local_backend(bpy.types.Operator):
    """Start `anix serve` on this machine at the configured address (127.0.0.1 only)"""

    bl_idname = "anix.start_local_backend"
    bl_label = "Start Local Backend"

    @classmethod
    def poll(cls, _context):
        return not local_backend.is_running()

    def execute(self, context):
        prefs = request.preferences(context)
        try:
            proc = local_backend.start(prefs.python_path if prefs else "",
                                       prefs.backend_address if prefs else "tcp://127.0.0.1:5555")
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, f"AniX: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"AniX: local backend started (pid {proc.pid}); log: {local_backend.log_path()}")
        return {"FINISHED"}


class ANIX_OT_stop_local_backend(bpy.types.Operator):
    """Stop the backend started from Blender"""

    bl_idname = "anix.stop_local_backend"
    bl_label = "Stop Local Backend"

    @classmethod
    def poll(cls, _context):
        return local_backend.is_running()

    def execute(self, _context):
        local_backend.stop()
        return {"FINISHED"}


class ANIX_OT_show_backend_log(bpy.types.Operator):
    """Copy the local backend's log into the text editor (text 'AniX Backend Log')"""

    bl_idname = "anix.show_backend_log"
    bl_label = "Show Backend Log"
    bl_options = {"REGISTER", "UNDO"}  # it writes a text data-block (always available: an empty log says so)

    def execute(self, context):
        text = bpy.data.texts.get(LOG_TEXT_NAME) or bpy.data.texts.new(LOG_TEXT_NAME)
        text.from_string(local_backend.log_text() or "(the local backend has written nothing yet)")
        for area in getattr(context.screen, "areas", []):
            if area.type == "TEXT_EDITOR":
                area.spaces.active.text = text
                break
        else:
            self.report({"INFO"}, f"AniX: the log is in the text '{LOG_TEXT_NAME}' (Text Editor)")
        return {"FINISHED"}


CLASSES = (ANIX_OT_start_local_backend, ANIX_OT_stop_local_backend, ANIX_OT_show_backend_log)
