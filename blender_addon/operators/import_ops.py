"""File > Import > 3D Gaussian Splatting, and pointing a splat object at a moved file."""
from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .. import deps, importer


class ANIX_OT_import_splats(bpy.types.Operator, ImportHelper):
    """Import a 3D Gaussian Splatting scene (.ply, .compressed.ply, .splat, .spz)"""

    bl_idname = "anix.import_splats"
    bl_label = "Import 3D Gaussian Splatting"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filter_glob: StringProperty(default="*.ply;*.splat;*.spz", options={"HIDDEN"})

    def execute(self, context):
        if not os.path.isfile(self.filepath):
            self.report({"ERROR"}, f"AniX: no file at {self.filepath}")
            return {"CANCELLED"}
        try:
            obj, info = importer.import_splats(context, self.filepath)
        except ValueError as exc:  # SceneFormatError and friends: the message names the file and fault
            self.report({"ERROR"}, f"AniX: cannot import: {exc}")
            return {"CANCELLED"}
        except (OSError, MemoryError) as exc:
            self.report({"ERROR"}, f"AniX: cannot read {self.filepath}: {exc}")
            return {"CANCELLED"}
        if info["dropped"]:
            self.report({"WARNING"}, f"AniX: dropped {info['dropped']} splats with NaN/infinite values")
        self.report({"INFO"}, f"AniX: imported {info['count']:,} splats into '{obj.name}' in {info['seconds']:.2f} s")
        return {"FINISHED"}


class ANIX_OT_relocate_splats(bpy.types.Operator, ImportHelper):
    """Point the splat object at its file's new place (the file's hash is checked)"""

    bl_idname = "anix.relocate_splats"
    bl_label = "Locate Splat File"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.ply;*.splat;*.spz", options={"HIDDEN"})
    object_name: StringProperty(name="Object", default="", options={"HIDDEN"})

    def _target(self, context):
        obj = bpy.data.objects.get(self.object_name) if self.object_name else None
        if obj is None:
            obj = context.scene.anix.splat_object
        if obj is None:
            found = importer.splat_objects(context.scene)
            obj = found[0] if found else None
        return obj

    def execute(self, context):
        obj = self._target(context)
        if obj is None:
            self.report({"ERROR"}, "AniX: no splat object to relocate")
            return {"CANCELLED"}
        path = os.path.abspath(bpy.path.abspath(self.filepath))
        if not os.path.isfile(path):
            self.report({"ERROR"}, f"AniX: no file at {path}")
            return {"CANCELLED"}
        sha = deps.splats().sha256_file(path)
        if sha != obj.get(importer.SPLAT_SHA_KEY):
            self.report({"WARNING"}, f"AniX: {os.path.basename(path)} is not the file '{obj.name}' was imported "
                                     "from (different content); using it anyway, re-import to refresh the display")
        obj[importer.SPLAT_PATH_KEY] = path
        obj[importer.SPLAT_SHA_KEY] = sha
        self.report({"INFO"}, f"AniX: '{obj.name}' now uses {path}")
        return {"FINISHED"}


def menu_import(self, _context):
    self.layout.operator(ANIX_OT_import_splats.bl_idname, text="3D Gaussian Splatting (.ply, .splat, .spz)")


CLASSES = (ANIX_OT_import_splats, ANIX_OT_relocate_splats)
