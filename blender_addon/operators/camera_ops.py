"""Camera helpers: keyframe the active camera over the scene's frame range (static, orbit, dolly,
follow), or add a camera. The result is ordinary keyframes the user can edit: Generate then
films through them ("Use My Camera").

The animator's own keys are never overwritten: a helper writes a new action
("<camera> AniX Orbit") and parks the camera's previous action with a fake user, remembered on
the camera; Restore Camera Keys swaps the two back (one click, and again to return)."""
from __future__ import annotations

import math

import bpy
from bpy.props import EnumProperty, FloatProperty
from mathutils import Euler, Matrix, Vector

WALK_SPEED_M_S = 1.2   # follow assumes a walk along the anchor's heading


def _target(context) -> tuple[Vector, float, float]:
    """(position, heading_rad, height_m) of the anchor, or the 3D cursor facing +X."""
    anchor = context.scene.anix.anchor
    if anchor is None:
        return context.scene.cursor.location.copy(), 0.0, 1.8
    m = anchor.matrix_world
    x = m.col[0].xyz
    return m.translation.copy(), math.atan2(x.y, x.x), abs(m.to_scale().z)


PREVIOUS_ACTION_KEY = "anix_previous_action"


def _park_action(cam) -> str:
    """Take the camera's action off it (kept with a fake user, its name remembered on the camera)
    so new keys go to a new action. Returns the parked action's name, or ""."""
    ad = cam.animation_data
    if ad is None or ad.action is None:
        return ""
    old = ad.action
    old.use_fake_user = True  # kept in the file even while no camera uses it
    cam[PREVIOUS_ACTION_KEY] = old.name
    ad.action = None
    return old.name


def _swap_action(cam, action) -> None:
    """Give `cam` `action`, parking the one it has now."""
    _park_action(cam)
    ad = cam.animation_data or cam.animation_data_create()
    ad.action = action
    if ad.action_slot is None:  # an action shared with the camera's data has a slot for each
        ad.action_slot = next((slot for slot in action.slots if slot.target_id_type == "OBJECT"), None)


def _key_pose(cam, frame: int, eye: Vector, look_at: Vector, prev: Euler | None) -> Euler:
    rot = (look_at - eye).to_track_quat("-Z", "Y").to_euler("XYZ", prev) if prev else \
        (look_at - eye).to_track_quat("-Z", "Y").to_euler("XYZ")
    world = Matrix.LocRotScale(eye, rot, None)
    parent_inv = cam.parent.matrix_world.inverted() @ cam.matrix_parent_inverse.inverted() if cam.parent else None
    local = parent_inv @ world if parent_inv is not None else world
    loc, quat, _scale = local.decompose()
    cam.location = loc
    cam.rotation_euler = quat.to_euler("XYZ", prev) if prev else quat.to_euler("XYZ")
    cam.keyframe_insert("location", frame=frame)
    cam.keyframe_insert("rotation_euler", frame=frame)
    return cam.rotation_euler.copy()


class ANIX_OT_keyframe_camera(bpy.types.Operator):
    """Keyframe the active camera over the scene's frame range with a camera behaviour"""

    bl_idname = "anix.keyframe_camera"
    bl_label = "Keyframe Camera"
    bl_options = {"REGISTER", "UNDO"}

    behaviour: EnumProperty(name="Behaviour", items=[
        ("STATIC", "Static", "Hold the current view"),
        ("ORBIT", "Orbit", "Circle around the anchor at the current distance and height"),
        ("DOLLY", "Dolly", "Move straight along the view direction"),
        ("FOLLOW", "Follow", "Follow behind the character walking along the anchor's heading"),
    ])
    degrees: FloatProperty(name="Orbit Angle", default=90.0, min=-720.0, max=720.0)
    distance: FloatProperty(name="Distance", default=2.0, unit="LENGTH",
                            description="Dolly: metres forward (negative: back). Follow: metres behind")
    camera_height: FloatProperty(name="Camera Height", default=1.6, unit="LENGTH",
                                 description="Follow: camera height above the anchor")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.scene.camera is not None

    def execute(self, context):
        scene = context.scene
        cam = scene.camera
        if cam is None:
            self.report({"ERROR"}, "AniX: no active camera: use Add Camera first")
            return {"CANCELLED"}
        f0, f1 = scene.frame_start, scene.frame_end
        n = max(1, f1 - f0)
        current = scene.frame_current
        scene.frame_set(f0)
        eye0 = cam.matrix_world.translation.copy()
        forward = -cam.matrix_world.col[2].xyz.normalized()
        target, heading, height = _target(context)
        parked = _park_action(cam)
        # a new action of our own: left to itself Blender 5 may key into an action the camera's
        # data already uses (the lens keys), which holds the animator's keys too
        action = bpy.data.actions.new(f"{cam.name} AniX {self.behaviour.title()}")
        (cam.animation_data or cam.animation_data_create()).action = action
        prev = None
        look = target + Vector((0, 0, 0.55 * height))
        for i, frame in enumerate(range(f0, f1 + 1)):
            t = i / n
            if self.behaviour == "STATIC":
                eye, at = eye0, eye0 + forward
            elif self.behaviour == "DOLLY":
                eye = eye0 + forward * (self.distance * t)
                at = eye + forward
            elif self.behaviour == "ORBIT":
                rel = eye0 - target
                radius = max(0.1, math.hypot(rel.x, rel.y))
                a = math.atan2(rel.y, rel.x) + math.radians(self.degrees) * t
                eye = Vector((target.x + radius * math.cos(a), target.y + radius * math.sin(a), eye0.z))
                at = look
            else:  # FOLLOW
                direction = Vector((math.cos(heading), math.sin(heading), 0.0))
                walked = target + direction * (WALK_SPEED_M_S * i / max(1e-6, scene.render.fps / scene.render.fps_base))
                eye = walked - direction * self.distance + Vector((0, 0, self.camera_height))
                at = walked + Vector((0, 0, 0.55 * height))
            prev = _key_pose(cam, frame, eye, at, prev)
        scene.frame_set(current)
        context.scene.anix.use_camera_keyframes = True
        kept = f"; your keys are kept in action '{parked}' (Restore Camera Keys)" if parked else ""
        self.report({"INFO"}, f"AniX: keyframed '{cam.name}' ({self.behaviour.lower()}) over frames {f0}-{f1} "
                              f"in action '{action.name}'{kept}")
        return {"FINISHED"}


class ANIX_OT_restore_camera_keys(bpy.types.Operator):
    """Give the active camera back the action it had before the last camera helper (the helper's
    action is kept: click again to swap back)"""

    bl_idname = "anix.restore_camera_keys"
    bl_label = "Restore Camera Keys"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        cam = context.scene.camera if context.scene else None
        return cam is not None and bpy.data.actions.get(cam.get(PREVIOUS_ACTION_KEY, "")) is not None

    def execute(self, context):
        cam = context.scene.camera
        previous = bpy.data.actions[cam[PREVIOUS_ACTION_KEY]]
        current = cam.animation_data.action if cam.animation_data else None
        _swap_action(cam, previous)
        if current is None:
            del cam[PREVIOUS_ACTION_KEY]
        self.report({"INFO"}, f"AniX: '{cam.name}' uses action '{previous.name}' again"
                              + (f"; '{current.name}' is kept (Restore Camera Keys swaps back)" if current else ""))
        return {"FINISHED"}


class ANIX_OT_add_camera(bpy.types.Operator):
    """Add a camera looking at the anchor (or the 3D cursor) and make it the scene camera"""

    bl_idname = "anix.add_camera"
    bl_label = "Add Camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.collection is not None

    def execute(self, context):
        target, heading, height = _target(context)
        data = bpy.data.cameras.new("AniX Camera")
        cam = bpy.data.objects.new("AniX Camera", data)
        context.collection.objects.link(cam)
        front = Vector((math.cos(heading), math.sin(heading), 0.0))
        eye = target + front * 5.0 + Vector((0, 0, 1.6))
        at = target + Vector((0, 0, 0.55 * height))
        cam.matrix_world = Matrix.LocRotScale(eye, (at - eye).to_track_quat("-Z", "Y"), None)
        context.scene.camera = cam
        return {"FINISHED"}


CLASSES = (ANIX_OT_keyframe_camera, ANIX_OT_restore_camera_keys, ANIX_OT_add_camera)
