"""The AniX sidebar tab. draw() only reads properties; all work happens in operators."""
from __future__ import annotations

import bpy

from .. import importer, jobs, resume, vse
from ..property_groups import VIEW_NAMES


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
        else:
            layout.prop(props, "splat_object")


class ANIX_PT_character(_AnixPanel, bpy.types.Panel):
    bl_label = "Character"
    bl_parent_id = "ANIX_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.anix
        col = layout.column(align=True)
        for name in VIEW_NAMES:
            col.prop(props, f"view_{name}")
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
            if props.status:
                layout.label(text=props.status)
            _draw_interrupted(layout, context.scene)
            layout.operator("anix.resume_shot_folder", text="Resume Shot from Folder...", icon="FILE_FOLDER")
        if props.last_error:
            box = layout.box()
            for i, line in enumerate(_wrap(props.last_error, 48)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
            if props.last_error_fix:
                box.operator(props.last_error_fix, text="Fix", icon="TOOL_SETTINGS")


def _draw_interrupted(layout, scene) -> None:
    """One box per shot the backend accepted that never landed: Resume or Discard it."""
    for record in reversed(list(resume.records(scene).values())):
        box = layout.box()
        box.label(text="Interrupted shot", icon="RECOVER_LAST")
        box.label(text=resume.label(record), icon="BLANK1")
        row = box.row(align=True)
        row.operator("anix.resume_shot", text="Resume Shot", icon="PLAY").job_id = record["job_id"]
        row.operator("anix.discard_shot", text="", icon="X").job_id = record["job_id"]


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines or [""]


CLASSES = (ANIX_PT_main, ANIX_PT_character, ANIX_PT_action, ANIX_PT_camera, ANIX_PT_generate)
