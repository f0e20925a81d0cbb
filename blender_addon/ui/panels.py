"""The AniX sidebar tab. draw() only reads properties; all work happens in operators."""
from __future__ import annotations

import bpy

from .. import display, importer, jobs, resume, vse
from ..importer import SPLAT_COUNT_KEY
from ..property_groups import VIEW_NAMES
from . import thumbnails


class _AnixPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "AniX"


class ANIX_PT_main(_AnixPanel, bpy.types.Panel):
    bl_label = "AniX Studio"
    bl_idname = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.anix
        row = layout.row(align=True)
        row.label(text=f"Backend: {props.backend_status}", icon="LINKED")
        row.operator("anix.check_backend", text="", icon="FILE_REFRESH")
        splats = importer.splat_objects(context.scene)
        if not splats:
            layout.operator("anix.import_splats", text="Import Splats", icon="IMPORT")
            return
        layout.prop(props, "splat_object")
        obj = active_splats(context)
        if obj is not None:
            layout.label(text=f"Splats: {int(obj.get(SPLAT_COUNT_KEY, len(obj.data.vertices))):,}", icon="POINTCLOUD_DATA")


def active_splats(context):
    """The splat object shots use: the panel's choice, else the first in the scene."""
    obj = context.scene.anix.splat_object
    if obj is None or obj.name not in context.scene.objects:
        found = importer.splat_objects(context.scene)
        obj = found[0] if found else None
    return obj


class ANIX_PT_display(_AnixPanel, bpy.types.Panel):
    """How the splats show in the viewport and in Blender's renders (never in the shot)."""

    bl_label = "Display"
    bl_parent_id = "ANIX_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        obj = active_splats(context)
        return obj is not None and display.modifier(obj) is not None

    def draw(self, context):
        layout = self.layout
        mod = display.modifier(active_splats(context))
        col = layout.column(align=True)
        for name in display.INPUTS:
            col.prop(*display.input_owner(mod, name), text=name)
        layout.label(text="The backend always renders every splat", icon="INFO")


class ANIX_PT_character(_AnixPanel, bpy.types.Panel):
    bl_label = "Character"
    bl_parent_id = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.anix
        col = layout.column(align=True)
        for name in VIEW_NAMES:
            col.prop(props, f"view_{name}")
        icons = [thumbnails.icon_id(getattr(props, f"view_{name}")) for name in VIEW_NAMES]
        if any(icons):
            grid = layout.grid_flow(columns=4, even_columns=True, align=True)
            for name, icon in zip(VIEW_NAMES, icons):
                cell = grid.column(align=True)
                if icon:
                    cell.template_icon(icon_value=icon, scale=3.0)
                else:
                    cell.label(text="", icon="QUESTION")
                cell.label(text=name.title())
        layout.operator("anix.load_views_folder", icon="FILE_FOLDER")
        row = layout.row(align=True)
        row.prop(props, "anchor")
        row.operator("anix.add_anchor", text="", icon="EMPTY_ARROWS")


class ANIX_PT_action(_AnixPanel, bpy.types.Panel):
    bl_label = "Action"
    bl_parent_id = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.anix
        row = layout.row(align=True)
        row.prop(props, "instruction", text="")
        row.prop(props, "preset", text="", icon="PRESET", icon_only=True)


class ANIX_PT_camera(_AnixPanel, bpy.types.Panel):
    bl_label = "Camera"
    bl_parent_id = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.anix
        scene = context.scene
        layout.prop(props, "use_camera_keyframes")
        if scene.camera is None:
            layout.operator("anix.add_camera", icon="CAMERA_DATA")
        else:
            layout.label(text=f"Active camera: {scene.camera.name}", icon="CAMERA_DATA")
        grid = layout.grid_flow(columns=2, align=True)
        for behaviour, label in (("FOLLOW", "Follow"), ("ORBIT", "Orbit"), ("STATIC", "Static"), ("DOLLY", "Dolly")):
            grid.operator("anix.keyframe_camera", text=label).behaviour = behaviour
        if scene.camera is not None and scene.camera.get("anix_previous_action"):
            layout.operator("anix.restore_camera_keys", icon="LOOP_BACK")


class ANIX_PT_generate(_AnixPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        props = scene.anix
        col = layout.column(align=True)
        col.prop(props, "seed")
        col.prop(props, "quality")
        fps = scene.render.fps / (scene.render.fps_base or 1.0)
        col.label(text=f"Frames {scene.frame_start}-{scene.frame_end} at {fps:g} fps")
        running = bool(jobs.active(scene.name))
        if running:
            layout.progress(factor=props.progress, type="BAR", text=props.status or "Working")
            layout.operator("anix.cancel", icon="CANCEL")
        else:
            layout.operator("anix.generate", icon="RENDER_ANIMATION")
            layout.operator("anix.preview_conditioning", icon="HIDE_OFF")
            seq_scene = vse.sequencer_scene(context)
            editor = seq_scene.sequence_editor
            if editor is not None and vse.stored_request(editor.active_strip) is not None:
                row = layout.row(align=True)
                row.operator("anix.regenerate", icon="FILE_REFRESH")
                row.operator("anix.continue_shot", icon="FORWARD")
            if props.status and not props.last_error:
                layout.label(text=props.status)
            if props.warnings:
                box = layout.box()
                for line in props.warnings.splitlines():
                    box.label(text=jobs.headline(line, 60), icon="ERROR")
            _draw_interrupted(layout, context.scene)
            layout.operator("anix.resume_shot_folder", text="Resume Shot from Folder...", icon="FILE_FOLDER")
        if props.last_error:
            box = layout.box()  # one line; the whole message is in the Info log
            row = box.row(align=True)
            row.label(text=jobs.headline(props.last_error), icon="ERROR")
            if props.last_error_fix:
                row.operator(props.last_error_fix, text="Fix", icon="TOOL_SETTINGS")
            box.label(text="Details: Info log (Window > Info)", icon="BLANK1")


def _draw_interrupted(layout, scene) -> None:
    """One box per shot the backend accepted that never landed: Resume or Discard it."""
    for record in reversed(list(resume.records(scene).values())):
        box = layout.box()
        box.label(text="Interrupted shot", icon="RECOVER_LAST")
        box.label(text=resume.label(record), icon="BLANK1")
        row = box.row(align=True)
        row.operator("anix.resume_shot", text="Resume Shot", icon="PLAY").job_id = record["job_id"]
        row.operator("anix.discard_shot", text="", icon="X").job_id = record["job_id"]


CLASSES = (ANIX_PT_main, ANIX_PT_display, ANIX_PT_character, ANIX_PT_action, ANIX_PT_camera, ANIX_PT_generate)
