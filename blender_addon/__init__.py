"""AniX Studio: animate a character in a 3D Gaussian Splatting scene, from Blender.

Import splats (File > Import > 3D Gaussian Splatting), place the character's anchor, give four
views and an instruction, and Generate: a backend (`anix serve`) renders the shot while Blender
stays responsive, and the frames land in the Video Sequencer. See docs/ADDON.md.
"""
from __future__ import annotations

import bpy

from . import backend_check, display, jobs, local_backend, operators, preferences, property_groups, ui
from .operators import import_ops

_CLASSES = operators.CLASSES + ui.CLASSES


@bpy.app.handlers.persistent
def _on_load_post(*_args):
    display.upgrade_file()  # splat objects saved before the native display get it


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    jobs.detach_all()  # running shots go on in the backend; their saved records resume them


def register():
    preferences.register()
    property_groups.register()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    ui.register()
    bpy.types.TOPBAR_MT_file_import.append(import_ops.menu_import)
    bpy.app.handlers.load_post.append(_on_load_post)
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister():
    jobs.shutdown()
    backend_check.shutdown()
    local_backend.stop()
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    bpy.types.TOPBAR_MT_file_import.remove(import_ops.menu_import)
    ui.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    property_groups.unregister()
    preferences.unregister()
