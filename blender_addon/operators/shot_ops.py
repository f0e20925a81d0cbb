"""Directing and generating a shot: anchor, views, Generate / Cancel / Regenerate / Continue,
Preview Conditioning, backend check.

Operators that change the file (a shot record, strips, the anchor) are undoable (UNDO); a strip
that lands later, from the timer, pushes its own undo step (jobs.push_undo)."""
from __future__ import annotations

import glob
import os

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty

from .. import backend_check, deps, jobs, network, request, resume, vse
from ..property_groups import VIEW_NAMES
from ..request import AnixError

ANCHOR_NAME = "AniX Anchor"
DEFAULT_HEIGHT_M = 1.8


def _fail(op, context, exc: AnixError):
    """The whole message to the Info log; the panel shows its first clause and the Fix button."""
    props = context.scene.anix
    props.last_error = str(exc)
    props.last_error_fix = exc.fix
    props.warnings = ""
    op.report({"ERROR"}, f"AniX: {exc}")
    return {"CANCELLED"}


def _idle(context) -> bool:
    """A scene exists and no shot of it is running (one shot per scene at a time)."""
    return context.scene is not None and not jobs.active(context.scene.name)


class ANIX_OT_add_anchor(bpy.types.Operator):
    """Add the character anchor: an Empty at the 3D cursor. Location = start, X arrow = heading,
    scale = height in metres"""

    bl_idname = "anix.add_anchor"
    bl_label = "Add Anchor"
    bl_options = {"REGISTER", "UNDO"}

    height: FloatProperty(name="Height", default=DEFAULT_HEIGHT_M, min=0.05, max=100.0, unit="LENGTH")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.collection is not None

    def execute(self, context):
        empty = bpy.data.objects.new(ANCHOR_NAME, None)
        empty.empty_display_type = "ARROWS"
        empty.empty_display_size = 1.0
        empty.location = context.scene.cursor.location
        empty.scale = (self.height,) * 3
        empty["anix_anchor"] = True
        context.collection.objects.link(empty)
        context.scene.anix.anchor = empty
        for obj in context.view_layer.objects.selected:
            obj.select_set(False)
        empty.select_set(True)
        context.view_layer.objects.active = empty
        return {"FINISHED"}


def find_views(folder: str) -> dict:
    """View name -> image path for files named *_front.*, *_left.*, *_back.*, *_right.* in `folder`."""
    found = {}
    for name in VIEW_NAMES:
        hits = sorted(p for ext in ("png", "PNG") for p in glob.glob(os.path.join(glob.escape(folder), f"*_{name}.{ext}")))
        if hits:
            found[name] = hits[0]
    return found


class ANIX_OT_load_views_folder(bpy.types.Operator):
    """Fill the four character views from a folder with *_front, *_left, *_back, *_right images"""

    bl_idname = "anix.load_views_folder"
    bl_label = "Load Folder"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(subtype="DIR_PATH")

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def invoke(self, context, _event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        folder = bpy.path.abspath(self.directory)
        found = find_views(folder)
        missing = [n for n in VIEW_NAMES if n not in found]
        props = context.scene.anix
        for name, path in found.items():
            setattr(props, f"view_{name}", path)
        if missing:
            self.report({"WARNING"}, f"AniX: no image for {', '.join(missing)} in {folder} "
                                     "(expected names like robot_front.png)")
        else:
            self.report({"INFO"}, f"AniX: loaded 4 views from {folder}")
        return {"FINISHED"} if found else {"CANCELLED"}


def _start(op, context, **build_args):
    if jobs.active(context.scene.name):
        op.report({"ERROR"}, "AniX: a shot is already running for this scene: wait or Cancel it")
        return {"CANCELLED"}
    try:
        plan = request.build_shot(context, **build_args)
    except AnixError as exc:
        return _fail(op, context, exc)
    except deps.MissingDependency as exc:
        return _fail(op, context, AnixError(str(exc)))
    return _launch(op, context, plan, "generating")


def _launch(op, context, plan, verb: str):
    context.scene.anix.last_error = ""
    context.scene.anix.warnings = ""
    for note in plan.notes:
        op.report({"WARNING"}, f"AniX: {note}")
    job = jobs.start(plan)
    if not op.wait:
        op.report({"INFO"}, f"AniX: {verb} '{plan.shot_name}' ({plan.request['num_frames']} frames)")
        return {"FINISHED"}
    jobs.wait(job, op.timeout if op.timeout > 0 else None)
    if job.state == "done":
        for warning in job.warnings:
            op.report({"WARNING"}, f"AniX: {warning}")
        op.report({"INFO"}, f"AniX: shot '{plan.shot_name}' is in the sequencer as '{job.strip_name}'")
        return {"FINISHED"}
    message = job.error or context.scene.anix.status or job.state
    op.report({"ERROR"} if job.state in ("error", "interrupted") else {"WARNING"}, f"AniX: {message}")
    return {"CANCELLED"}


class _ShotOperator:
    bl_options = {"REGISTER", "UNDO"}

    wait: BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                       description="Block until the shot is in the sequencer (batch and scripts)")
    timeout: FloatProperty(name="Timeout", default=0.0, min=0.0, options={"SKIP_SAVE"},
                           description="With Wait: cancel after this many seconds (0: no limit)")


class ANIX_OT_generate(_ShotOperator, bpy.types.Operator):
    """Generate the shot in the background; the frames land in the sequencer"""

    bl_idname = "anix.generate"
    bl_label = "Generate"

    @classmethod
    def poll(cls, context):
        return _idle(context)

    def execute(self, context):
        return _start(self, context)


class ANIX_OT_preview_conditioning(_ShotOperator, bpy.types.Operator):
    """Render the splat scene along the camera with the character's box, as the generator sees it"""

    bl_idname = "anix.preview_conditioning"
    bl_label = "Preview Conditioning"

    @classmethod
    def poll(cls, context):
        return _idle(context)

    def execute(self, context):
        return _start(self, context, generator="render", options={"overlay": "character_box"},
                      name_suffix="_preview")


def _active_strip(context):
    editor = vse.sequencer_scene(context).sequence_editor
    return editor.active_strip if editor else None


def _selected_shot_strip(context):
    strip = _active_strip(context)
    if strip is None or vse.stored_request(strip) is None:
        raise AnixError("select a strip made by AniX in the sequencer first")
    return strip


def _strip_poll(context) -> bool:
    return _idle(context) and vse.stored_request(_active_strip(context)) is not None


class ANIX_OT_regenerate(_ShotOperator, bpy.types.Operator):
    """Generate the selected AniX strip again with its own instruction (a new seed unless Same
    Seed). The panel's instruction and seed stay as they are; the new take goes on top and the
    old one is muted"""

    bl_idname = "anix.regenerate"
    bl_label = "Regenerate"

    same_seed: BoolProperty(name="Same Seed", default=False)

    @classmethod
    def poll(cls, context):
        return _strip_poll(context)

    def execute(self, context):
        try:
            strip = _selected_shot_strip(context)
        except AnixError as exc:
            return _fail(self, context, exc)
        stored = vse.stored_request(strip)
        continued = (stored.get("options") or {}).get("continue_from")  # a continued shot stays one
        return _start(self, context, frame_start=int(strip.frame_final_start),
                      options={"continue_from": continued} if continued else None,
                      instruction=str(stored.get("instruction") or context.scene.anix.instruction),
                      seed=int(stored.get("seed", 0)) + (0 if self.same_seed else 1), replaces=strip.name)


class ANIX_OT_continue_shot(_ShotOperator, bpy.types.Operator):
    """Generate the next shot from where the selected AniX strip ends, with the current instruction:
    the character starts where it ended and the backend continues from that shot's last frames.
    The new strip follows the selected one on its channel. The anchor Empty is left where it is"""

    bl_idname = "anix.continue_shot"
    bl_label = "Continue Shot"

    @classmethod
    def poll(cls, context):
        return _strip_poll(context)

    def execute(self, context):
        try:
            strip = _selected_shot_strip(context)
        except AnixError as exc:
            return _fail(self, context, exc)
        stored = vse.stored_request(strip)
        if not stored.get("job_id"):
            return _fail(self, context, AnixError("the selected strip has no backend job to continue from: "
                                                  "Regenerate it first"))
        return _start(self, context, frame_start=int(strip.frame_final_end), channel=int(strip.channel),
                      options={"continue_from": stored["job_id"]})


def resume_plan(context, record: dict) -> request.ShotPlan:
    """A plan that attaches to the recorded backend job and lands the strip as Generate would."""
    try:
        address = network.check_address(record["address"], bool(bpy.app.online_access))
    except network.AddressError as exc:
        raise AnixError(str(exc), fix="screen.userpref_show") from None
    prefs = request.preferences(context)
    blend_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
    folder = resume.resolve_folder(record, blend_dir)
    seq_scene = bpy.data.scenes.get(record.get("sequencer_scene") or "") or vse.sequencer_scene(context)
    summary = dict(record["request"], num_frames=int(record["num_frames"]))
    return request.ShotPlan(
        address=address, keys_folder=bpy.path.abspath(prefs.key_folder) if prefs and prefs.key_folder else "",
        scene_path="", scene_sha256=str(summary.get("scene", "")), request=summary, views={},
        out_dir=os.path.dirname(folder), shot_name=os.path.basename(folder), scene_name=context.scene.name,
        sequencer_scene_name=seq_scene.name, frame_start=int(record["frame_start"]),
        timeout_s=float(prefs.timeout_s) if prefs else 10.0,
        extra={"resume_job_id": record["job_id"], **({"channel": record["channel"]} if record.get("channel") else {})})


class ANIX_OT_resume_shot(_ShotOperator, bpy.types.Operator):
    """Fetch the frames of an interrupted shot from the backend (it keeps them 30 minutes after the
    shot ends) and put the strip in the sequencer, as Generate would have. Only frames missing on
    disk are sent again"""

    bl_idname = "anix.resume_shot"
    bl_label = "Resume Interrupted Shot"

    job_id: StringProperty(name="Job", default="", options={"SKIP_SAVE"},
                           description="Backend job of the shot (empty: the newest interrupted shot)")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(context.scene.anix.shot_records) \
            and not jobs.active(context.scene.name)

    def execute(self, context):
        return _resume(self, context, self.job_id)


def _resume(op, context, job_id: str):
    if jobs.active(context.scene.name):
        op.report({"ERROR"}, "AniX: a shot is already running for this scene: wait or Cancel it")
        return {"CANCELLED"}
    record = resume.get(context.scene, job_id)
    if record is None:
        return _fail(op, context, AnixError("no interrupted shot is recorded on this scene"
                                            + (f" with job {job_id}" if job_id else "")))
    try:
        plan = resume_plan(context, record)
    except AnixError as exc:
        return _fail(op, context, exc)
    return _launch(op, context, plan, "resuming")


class ANIX_OT_resume_shot_folder(_ShotOperator, bpy.types.Operator):
    """Resume the interrupted shot recorded in a frames folder (its anix_shot.json), e.g. one of a
    .blend that was never saved: the strip lands in this scene as Generate would have put it"""

    bl_idname = "anix.resume_shot_folder"
    bl_label = "Resume Shot from Folder"

    directory: StringProperty(name="Frames Folder", default="", subtype="DIR_PATH", options={"SKIP_SAVE"},
                              description="The shot's frames folder (where its frame_0000.png ... are)")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not jobs.active(context.scene.name)

    def invoke(self, context, event):
        if self.directory:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        folder = os.path.normpath(bpy.path.abspath(self.directory)) if self.directory else ""
        try:
            if not folder:
                raise ValueError("choose the shot's frames folder")
            record = resume.read_folder_record(folder)
        except ValueError as exc:
            return _fail(self, context, AnixError(str(exc)))
        resume.add(context.scene, record)
        return _resume(self, context, record["job_id"])


class ANIX_OT_discard_shot(bpy.types.Operator):
    """Forget an interrupted shot (its frames already on disk stay there)"""

    bl_idname = "anix.discard_shot"
    bl_label = "Discard Interrupted Shot"
    bl_options = {"REGISTER", "UNDO"}

    job_id: StringProperty(name="Job", default="", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(context.scene.anix.shot_records)

    def execute(self, context):
        record = resume.get(context.scene, self.job_id)
        if record is None:
            return {"CANCELLED"}
        resume.remove(context.scene, record["job_id"])
        blend_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
        resume.remove_folder_record(resume.resolve_folder(record, blend_dir), record["job_id"])
        context.scene.anix.last_error = ""
        context.scene.anix.last_error_fix = ""
        self.report({"INFO"}, f"AniX: forgot shot '{record.get('shot_name', record['job_id'])}'; its frames "
                              f"stay in {record.get('folder', '?')}")
        return {"FINISHED"}


class ANIX_OT_cancel(bpy.types.Operator):
    """Cancel the running shot (frames received so far are kept)"""

    bl_idname = "anix.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(jobs.active(context.scene.name))

    def execute(self, context):
        n = jobs.cancel(context.scene.name)
        context.scene.anix.status = "Cancelling"
        self.report({"INFO"}, f"AniX: cancelling {n} shot(s)")
        return {"FINISHED"}


class ANIX_OT_check_backend(bpy.types.Operator):
    """Ask the backend whether it is there and which protocol it speaks (in the background: the
    status in the panel updates when it answers)"""

    bl_idname = "anix.check_backend"
    bl_label = "Check Backend"

    wait: BoolProperty(name="Wait", default=False, options={"SKIP_SAVE"},
                       description="Block until the backend answers or the check times out (scripts)")

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not backend_check.running(context.scene.name)

    def execute(self, context):
        try:
            address = request.backend_address(context)
        except AnixError as exc:
            return _fail(self, context, exc)
        prefs = request.preferences(context)
        keys = bpy.path.abspath(prefs.key_folder) if prefs and prefs.key_folder else ""
        timeout = min(5.0, float(prefs.timeout_s)) if prefs else 5.0
        check = backend_check.start(context.scene, address, keys, timeout)
        if not self.wait:
            return {"FINISHED"}
        backend_check.wait(check)
        if check.error:
            self.report({"ERROR"}, f"AniX: {check.error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"AniX: backend {context.scene.anix.backend_status}")
        return {"FINISHED"}


class ANIX_OT_report_message(bpy.types.Operator):
    """Put a message in the Info log (used by the add-on's timers, which have no operator)"""

    bl_idname = "anix.report_message"
    bl_label = "AniX Message"
    bl_options = {"INTERNAL"}

    level: StringProperty(default="INFO", options={"SKIP_SAVE"})
    message: StringProperty(default="", options={"SKIP_SAVE"})

    def execute(self, _context):
        level = self.level if self.level in ("INFO", "WARNING", "ERROR") else "INFO"
        self.report({level}, f"AniX: {self.message}")
        return {"FINISHED"}


CLASSES = (ANIX_OT_add_anchor, ANIX_OT_load_views_folder, ANIX_OT_generate, ANIX_OT_preview_conditioning,
           ANIX_OT_regenerate, ANIX_OT_continue_shot, ANIX_OT_resume_shot, ANIX_OT_resume_shot_folder, ANIX_OT_discard_shot, ANIX_OT_cancel,
           ANIX_OT_check_backend, ANIX_OT_report_message)

