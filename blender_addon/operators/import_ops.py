"""File > Import > 3D Gaussian Splatting (also by dropping .ply/.splat/.spz files on the 3D
viewport), and pointing a splat object at a moved file."""
from __future__ import annotations

import os

import bpy
from bpy.props import CollectionProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .. import deps, display, importer, scene_identity

EXTENSIONS = (".ply", ".splat", ".spz")


class ANIX_OT_import_splats(bpy.types.Operator, ImportHelper):
    """Import a 3D Gaussian Splatting scene (.ply, .compressed.ply, .splat, .spz)"""

    bl_idname = "anix.import_splats"
    bl_label = "Import 3D Gaussian Splatting"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filter_glob: StringProperty(default="*.ply;*.splat;*.spz", options={"HIDDEN"})
    # several files at once, and files dropped on the viewport (ANIX_FH_splats)
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE", "HIDDEN"})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"SKIP_SAVE", "HIDDEN"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.collection is not None

    def invoke(self, context, event):
        if self.directory and len(self.files):  # dropped files: no browser
            return self.execute(context)
        return ImportHelper.invoke(self, context, event)

    def paths(self) -> list[str]:
        if self.directory and len(self.files):
            return [os.path.join(self.directory, f.name) for f in self.files if f.name]
        return [self.filepath]

    def execute(self, context):
        imported = 0
        for path in self.paths():
            imported += self._import_one(context, path)
        if imported and display.show_colours_in_solid_mode(context.screen):
            self.report({"INFO"}, "AniX: Solid mode now colours by attribute, to show the splats' colours")
        return {"FINISHED"} if imported else {"CANCELLED"}

    def _import_one(self, context, path: str) -> bool:
        if not os.path.isfile(path):
            self.report({"ERROR"}, f"AniX: no file at {path}")
            return False
        try:
            obj, info = importer.import_splats(context, path)
        except ValueError as exc:  # SceneFormatError and friends: the message names the file and fault
            self.report({"ERROR"}, f"AniX: cannot import: {exc}")
            return False
        except (OSError, MemoryError) as exc:
            self.report({"ERROR"}, f"AniX: cannot read {path}: {exc}")
            return False
        context.scene.anix.splat_object = obj
        if info["dropped"]:
            self.report({"WARNING"}, f"AniX: dropped {info['dropped']:,} splats with NaN/infinite values")
        shown = "" if info["density"] >= 1.0 else \
            f"; showing {info['density']:.0%} of them to keep the viewport quick (Display > Density)"
        self.report({"INFO"}, f"AniX: imported {info['count']:,} splats into '{obj.name}' in "
                              f"{info['seconds']:.2f} s{shown}")
        return True


class ANIX_OT_relocate_splats(bpy.types.Operator, ImportHelper):
    """Point the splat object at its file's new place (the file's hash is checked)"""

    bl_idname = "anix.relocate_splats"
    bl_label = "Locate Splat File"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.ply;*.splat;*.spz", options={"HIDDEN"})
    object_name: StringProperty(name="Object", default="", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None

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
        scene_identity.remember(obj, path, sha)
        self.report({"INFO"}, f"AniX: '{obj.name}' now uses {path}")
        return {"FINISHED"}


class ANIX_FH_splats(bpy.types.FileHandler):
    """Drop .ply, .splat or .spz files on the 3D viewport to import them as splats."""

    bl_idname = "ANIX_FH_splats"
    bl_label = "3D Gaussian Splatting"
    bl_import_operator = "anix.import_splats"
    bl_file_extensions = ";".join(EXTENSIONS)

    @classmethod
    def poll_drop(cls, context):
        return context.area is not None and context.area.type == "VIEW_3D"


def menu_import(self, _context):
    self.layout.operator(ANIX_OT_import_splats.bl_idname, text="3D Gaussian Splatting (.ply, .splat, .spz)")


CLASSES = (ANIX_OT_import_splats, ANIX_OT_relocate_splats, ANIX_FH_splats)
