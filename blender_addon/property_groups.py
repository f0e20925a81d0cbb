"""Settings of a shot, stored on the Scene as `scene.anix` (saved with the .blend)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

VIEW_NAMES = ("front", "left", "back", "right")

INSTRUCTION_PRESETS = (
    ("NONE", "Presets", "Pick a ready instruction", ""),
    ("WALK", "Walk forward", "", "walks forward"),
    ("RUN", "Run forward", "", "runs forward"),
    ("WAVE", "Wave", "", "waves with the right hand"),
    ("TURN", "Turn around", "", "turns around"),
    ("WALK_LEFT", "Walk left", "", "walks to the left"),
    ("SIT", "Sit down", "", "sits down"),
    ("DANCE", "Dance", "", "dances"),
    ("ORBIT", "Camera orbits", "", "stands still while the camera orbits around"),
)
_PRESET_TEXT = {key: text for key, _name, _desc, text in INSTRUCTION_PRESETS}

# name -> the short side in pixels; the long side follows the scene's aspect (request.shot_size)
QUALITY_SHORT_SIDE = {"DRAFT": 240, "STANDARD": 480, "HIGH": 720}


def _apply_preset(self, _context):
    if self.preset != "NONE":
        self.instruction = _PRESET_TEXT[self.preset]
        self["preset"] = 0  # back to the placeholder so the same preset can be picked again


def _is_empty(_self, obj):
    return obj.type == "EMPTY"


def _is_splat_object(_self, obj):
    return obj.type == "MESH" and "anix_splat_path" in obj


class ANIX_PG_shot(bpy.types.PropertyGroup):
    """What to generate: character views, anchor, instruction, camera, seed and quality."""

    view_front: StringProperty(name="Front", subtype="FILE_PATH", description="Image of the character seen from the front")
    view_left: StringProperty(name="Left", subtype="FILE_PATH", description="Image of the character's left side")
    view_back: StringProperty(name="Back", subtype="FILE_PATH", description="Image of the character seen from behind")
    view_right: StringProperty(name="Right", subtype="FILE_PATH", description="Image of the character's right side")
    anchor: PointerProperty(name="Anchor", type=bpy.types.Object, poll=_is_empty,
                            description="Empty whose location and rotation are the character's start and heading, "
                                        "and whose scale is its height in metres")
    splat_object: PointerProperty(name="Splats", type=bpy.types.Object, poll=_is_splat_object,
                                  description="Imported splat scene to animate in (default: the first one in the scene)")
    instruction: StringProperty(name="Instruction", default="walks forward",
                                description="What the character does, in plain words")
    preset: EnumProperty(name="Preset", items=[i[:3] for i in INSTRUCTION_PRESETS], update=_apply_preset)
    use_camera_keyframes: BoolProperty(
        name="Use My Camera", default=True,
        description="Film through the active camera as keyframed; off: the instruction decides the camera")
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed and settings give the same shot")
    quality: EnumProperty(name="Quality", default="STANDARD", items=[
        ("DRAFT", "Draft", "240 pixels on the short side, the scene's aspect (16:9: 432 x 240); fastest"),
        ("STANDARD", "Standard", "480 pixels on the short side, the scene's aspect (16:9: 848 x 480)"),
        ("HIGH", "High", "720 pixels on the short side, the scene's aspect (16:9: 1280 x 720); slowest"),
        ("SCENE", "Scene Resolution", "The scene's render resolution (Output properties)"),
    ])
    generator: StringProperty(name="Generator", default="",
                              description="Backend generator to use (empty: the backend's default)")
    # state shown by the panel (written by the job tick on the main thread)
    status: StringProperty(name="Status", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    running: BoolProperty(name="Running", default=False)
    last_error: StringProperty(name="Last Error", default="")
    last_error_fix: StringProperty(name="Fix", default="", description="Operator that fixes the last error")
    warnings: StringProperty(name="Warnings", default="",
                             description="What the backend's planning warned about for the last shot (one per line)")
    backend_status: StringProperty(name="Backend", default="not checked")
    # shots the backend accepted and that have not landed yet (resume.py): saved with the .blend
    shot_records: StringProperty(name="Shot Records", default="", options={"HIDDEN"},
                                 description="Running or interrupted shots, to resume them (JSON)")


CLASSES = (ANIX_PG_shot,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.anix = PointerProperty(type=ANIX_PG_shot)


def unregister():
    del bpy.types.Scene.anix
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
