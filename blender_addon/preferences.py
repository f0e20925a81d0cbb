"""Add-on preferences: backend address, keys, output folder and a local backend launcher."""
from __future__ import annotations

import bpy
from bpy.props import FloatProperty, StringProperty

from . import local_backend

ADDON_ID = __package__


class ANIX_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_address: StringProperty(
        name="Backend Address", default="tcp://127.0.0.1:5555",
        description="tcp://HOST:PORT of the AniX backend. This machine (127.0.0.1) always works; another "
                    "machine needs Allow Online Access")
    key_folder: StringProperty(
        name="Key Folder", subtype="DIR_PATH", default="",
        description="Folder with the CURVE keys made by `anix keys` (needed for a backend on another machine)")
    output_folder: StringProperty(
        name="Output Folder", subtype="DIR_PATH", default="",
        description="Where frames are written (empty: //anix/ next to the .blend file)")
    python_path: StringProperty(
        name="Backend Python", subtype="FILE_PATH", default="",
        description="Python with AniX Studio installed, used by Start Local Backend (empty: the `anix` command)")
    timeout_s: FloatProperty(name="Timeout", default=10.0, min=1.0, max=600.0, unit="TIME_ABSOLUTE",
                             description="Seconds without an answer before the backend counts as gone")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        col = layout.column()
        col.prop(self, "backend_address")
        col.prop(self, "key_folder")
        col.prop(self, "output_folder")
        col.prop(self, "timeout_s")
        if not bpy.app.online_access:
            col.label(text="Online access is off: only a backend on this machine can be used", icon="INFO")
        box = layout.box()
        box.label(text="Local Backend")
        box.prop(self, "python_path")
        row = box.row()
        if local_backend.is_running():
            row.operator("anix.stop_local_backend", icon="CANCEL")
        else:
            row.operator("anix.start_local_backend", icon="PLAY")
        row.operator("anix.show_backend_log", icon="TEXT")
        box.label(text=local_backend.status_line())


CLASSES = (ANIX_AddonPreferences,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
