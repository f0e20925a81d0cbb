"""Blender scene -> one shot request for the backend (docs/PROTOCOL.md, `submit`).

`build_shot(context, ...)` gathers the splat object (file, sha256, matrix_world as the scene
transform), the anchor Empty, the four views, instruction, seed, quality, frame range, fps and
the camera, and checks everything a user can get wrong before anything is sent. Problems raise
`AnixError` with a message saying what to do and, where one exists, the operator that fixes it.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field

import bpy

from . import camera_export, deps, importer, network, scene_identity
from .property_groups import QUALITY_SHORT_SIDE, VIEW_NAMES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_FRAMES = 1024


class AnixError(Exception):
    """A problem the user can fix; `fix` names an operator (bl_idname) that helps, or ""."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix


@dataclass
class ShotPlan:
    """Everything the client thread needs; plain Python data only (no bpy references)."""

    address: str
    keys_folder: str
    scene_path: str
    scene_sha256: str
    request: dict
    views: dict                    # name -> PNG bytes
    out_dir: str
    shot_name: str
    scene_name: str                # the Blender scene the shot was made from
    sequencer_scene_name: str      # where the strip goes
    frame_start: int
    timeout_s: float = 10.0
    extra: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)   # warnings for the animator, reported at launch


def preferences(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def backend_address(context) -> str:
    prefs = preferences(context)
    address = prefs.backend_address if prefs else "tcp://127.0.0.1:5555"
    try:
        return network.check_address(address, bool(bpy.app.online_access))
    except network.AddressError as exc:
        raise AnixError(str(exc), fix="screen.userpref_show") from None


def splat_object(context):
    props = context.scene.anix
    obj = props.splat_object
    if obj is None or obj.name not in context.scene.objects:
        found = importer.splat_objects(context.scene)
        obj = found[0] if found else None
    if obj is None:
        raise AnixError("no splat scene in this Blender scene: import one with File > Import > "
                        "3D Gaussian Splatting", fix="anix.import_splats")
    path = scene_identity.absolute_path(obj)
    if not os.path.isfile(path):
        raise AnixError(f"the splat file of '{obj.name}' is gone from {path}: use Locate Splat File to point "
                        "to its new place", fix="anix.relocate_splats")
    return obj


def scene_file(obj) -> scene_identity.SceneFile:
    """The splat file as it is now (re-hashed when its size or time changed)."""
    try:
        return scene_identity.current(obj, deps.splats().sha256_file)
    except FileNotFoundError as exc:
        raise AnixError(f"{exc}: use Locate Splat File to point to its new place", fix="anix.relocate_splats") from None


def view_images(props) -> dict:
    views, missing = {}, []
    for name in VIEW_NAMES:
        path = bpy.path.abspath(getattr(props, f"view_{name}"))
        if not path or not os.path.isfile(path):
            missing.append(name)
            continue
        with open(path, "rb") as f:
            data = f.read()
        if not data.startswith(PNG_SIGNATURE):
            raise AnixError(f"the {name} view {path} is not a PNG image: save it as PNG (RGBA) and pick it again")
        views[name] = data
    if missing:
        raise AnixError(f"character view(s) missing: {', '.join(missing)}. Pick an image for each of front, "
                        "left, back and right, or use Load Folder with files named *_front.png, *_left.png, "
                        "*_back.png, *_right.png", fix="anix.load_views_folder")
    return views


def anchor_fields(props) -> dict:
    anchor = props.anchor
    if anchor is None:
        raise AnixError("no character anchor: add one with Add Anchor and place it where the character "
                        "starts, arrows X pointing where it faces", fix="anix.add_anchor")
    m = anchor.matrix_world
    x_axis = m.col[0].xyz
    scale = m.to_scale()
    return {"position": [float(v) for v in m.translation],
            "heading_rad": float(math.atan2(x_axis.y, x_axis.x)),
            "height_m": float(max(0.01, min(100.0, abs(scale.z))))}


def targets(scene, anchor) -> dict:
    """Other Empties, by name: places an instruction may name ("walks to the fountain")."""
    out = {}
    for obj in scene.objects:
        if obj.type == "EMPTY" and obj != anchor and len(out) < 64:
            out[obj.name[:64]] = [float(v) for v in obj.matrix_world.translation]
    return out


def output_folder(context) -> str:
    prefs = preferences(context)
    configured = prefs.output_folder if prefs else ""
    if configured:
        return bpy.path.abspath(configured)
    if bpy.data.filepath:
        return bpy.path.abspath("//anix")
    return os.path.join(tempfile.gettempdir(), "anix")


def shot_name(folder: str, instruction: str, seed: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", instruction.lower()).strip("_")[:32] or "shot"
    base = f"{slug}_s{seed}"
    name, n = base, 2
    while os.path.exists(os.path.join(folder, name)):
        name, n = f"{base}_{n}", n + 1
    return name


MAX_SIDE = 2048  # the backend's limit per side


def shot_size(scene) -> tuple[int, int]:
    """Output size in pixels for the scene's quality: the scene's render size, or the quality's
    short side with the long side from the scene's aspect (pixel aspect included), both
    multiples of 16, so the shot frames what the camera view shows."""
    props, render = scene.anix, scene.render
    if props.quality == "SCENE":
        pct = render.resolution_percentage / 100.0
        return max(16, int(render.resolution_x * pct)), max(16, int(render.resolution_y * pct))
    short = QUALITY_SHORT_SIDE[props.quality]
    aspect = (render.resolution_x * render.pixel_aspect_x) / max(1e-6, render.resolution_y * render.pixel_aspect_y)
    long = min(MAX_SIDE, max(short, int(round(short * max(aspect, 1 / aspect) / 16)) * 16))
    return (long, short) if aspect >= 1 else (short, long)


def build_shot(context, *, generator: str | None = None, options: dict | None = None,
               frame_start: int | None = None, name_suffix: str = "", channel: int | None = None,
               instruction: str | None = None, seed: int | None = None, replaces: str = "") -> ShotPlan:
    """Check the scene and gather one shot request (see module docstring). `instruction` and
    `seed` override the panel's (Regenerate takes them from the strip and leaves the panel alone);
    `replaces` names the strip of the take this one replaces (muted when this one lands)."""
    scene = context.scene
    props = scene.anix
    address = backend_address(context)
    obj = splat_object(context)
    views = view_images(props)
    anchor = anchor_fields(props)
    first = scene.frame_start if frame_start is None else int(frame_start)
    num_frames = scene.frame_end - scene.frame_start + 1
    last = first + num_frames - 1
    if num_frames > MAX_FRAMES:
        raise AnixError(f"the frame range {first}-{last} has {num_frames} frames; the backend takes at most "
                        f"{MAX_FRAMES}: shorten the scene's frame range")
    width, height = shot_size(scene)
    cameras = None
    if props.use_camera_keyframes:
        try:
            cameras = camera_export.export_camera_dicts(scene, scene.camera, range(first, last + 1), width, height)
        except camera_export.CameraExportError as exc:
            raise AnixError(str(exc), fix="anix.add_camera" if scene.camera is None else "") from None
    instruction = (props.instruction if instruction is None else instruction).strip()
    if not instruction:
        raise AnixError("the instruction is empty: say what the character does (or pick a preset)")
    seed = int(props.seed if seed is None else seed)
    scene_now = scene_file(obj)
    notes = [f"the splat file of '{obj.name}' changed since it was imported: the shot uses the file as it is "
             "now (import it again to see the change in the viewport)"] if scene_now.changed else []
    request = {
        "scene": scene_now.sha256,
        "transform": [[float(v) for v in row] for row in obj.matrix_world],
        "num_frames": num_frames,
        "fps": float(scene.render.fps) / float(scene.render.fps_base or 1.0),
        "width": width,
        "height": height,
        "seed": seed,
        "instruction": instruction,
        "cameras": cameras,
        "camera_behaviour": None,
        "anchor": anchor,
        "targets": targets(scene, props.anchor),
        "options": {"quality": props.quality.lower(), **(options or {})},
        "encoding": "png",
        "on_disconnect": "keep",  # a crash or a dropped connection does not lose the shot: Resume Shot

    }
    gen = generator if generator is not None else (props.generator or None)
    if gen:
        request["generator"] = gen
    from . import vse
    seq_scene = vse.sequencer_scene(context)
    folder = output_folder(context)
    prefs = preferences(context)
    return ShotPlan(
        address=address, keys_folder=bpy.path.abspath(prefs.key_folder) if prefs and prefs.key_folder else "",
        scene_path=scene_now.path, scene_sha256=scene_now.sha256, request=request,
        views=views, out_dir=folder, shot_name=shot_name(folder, instruction, seed) + name_suffix,
        scene_name=scene.name, sequencer_scene_name=seq_scene.name,
        frame_start=first,
        timeout_s=float(prefs.timeout_s) if prefs else 10.0,
        extra={**({"channel": channel} if channel else {}), **({"replaces": replaces} if replaces else {})},
        notes=notes)
