"""Generated frames -> an image-sequence strip in the Video Sequencer (Blender 5.0 API).

The strip goes to the sequencer scene the user sees (`workspace.sequencer_scene` in 5.0,
else the active scene), on the lowest channel that is free over the shot's frame range, and
carries the request that made it as custom properties (`anix_*`) so a shot can be regenerated
or continued from a selected strip. Its folder is stored relative to the .blend (`//`) when the
.blend is saved.

What plays stays a shot: a preview (Preview Conditioning) that would cover a shot lands muted,
a shot that lands under a preview mutes the preview, and a regenerated take mutes the take it
replaces (unmute either to compare).
"""
from __future__ import annotations

import json
import os

REQUEST_KEY = "anix_request"   # JSON of the request (without camera lists and view images)
PREVIEW_KEY = "anix_preview"   # set on strips of Preview Conditioning
MAX_CHANNEL = 128


def sequencer_scene(context):
    """The scene whose sequencer the user sees: the workspace's sequencer scene, else the active one."""
    workspace = getattr(context, "workspace", None)
    seq_scene = getattr(workspace, "sequencer_scene", None) if workspace is not None else None
    return seq_scene or context.scene


def free_channel(seq_scene, frame_start: int, frame_end: int) -> int:
    """Lowest channel with no strip overlapping [frame_start, frame_end) (end exclusive)."""
    editor = seq_scene.sequence_editor
    busy = set()
    if editor is not None:
        for strip in editor.strips_all:
            if strip.frame_final_start < frame_end and frame_start < strip.frame_final_end:
                busy.add(strip.channel)
    for channel in range(1, MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    raise ValueError(f"every sequencer channel is busy between frames {frame_start} and {frame_end}")


def channel_is_free(seq_scene, channel: int, frame_start: int, frame_end: int) -> bool:
    """No strip on `channel` overlaps [frame_start, frame_end) (end exclusive)."""
    editor = seq_scene.sequence_editor
    return editor is None or not any(
        s.channel == channel and s.frame_final_start < frame_end and frame_start < s.frame_final_end
        for s in editor.strips_all)


def _overlapping(seq_scene, frame_start: int, frame_end: int) -> list:
    editor = seq_scene.sequence_editor
    return [] if editor is None else [s for s in editor.strips_all
                                      if s.frame_final_start < frame_end and frame_start < s.frame_final_end]


def add_image_strip(seq_scene, name: str, files: list[str], frame_start: int, request: dict | None = None,
                    channel: int | None = None, preview: bool = False, replaces: str = ""):
    """An image strip showing `files` (paths in one folder, in order) from `frame_start`, on
    `channel` when that is free over the strip's frames (Continue Shot: the channel of the strip
    it continues), else on the lowest free channel. `preview`: a Preview Conditioning strip;
    `replaces`: the name of the take a Regenerate replaces (muted). See the module docstring."""
    if not files:
        raise ValueError("no frames to add to the sequencer")
    folder = os.path.dirname(files[0])
    editor = seq_scene.sequence_editor or seq_scene.sequence_editor_create()
    frame_end = frame_start + len(files)
    if not (channel and 1 <= channel <= MAX_CHANNEL and channel_is_free(seq_scene, channel, frame_start, frame_end)):
        channel = free_channel(seq_scene, frame_start, frame_end)
    strip = editor.strips.new_image(name=name, filepath=files[0], channel=channel, frame_start=frame_start,
                                    fit_method="FIT")
    for path in files[1:]:
        if os.path.dirname(path) != folder:
            raise ValueError(f"frames must share one folder: {path} is not in {folder}")
        strip.elements.append(os.path.basename(path))
    strip.directory = _stored_folder(folder) + os.sep
    if request:
        store_request(strip, request)
    others = [s for s in _overlapping(seq_scene, frame_start, frame_end) if s != strip]
    if preview:
        strip[PREVIEW_KEY] = True
        strip.mute = any(s.channel < strip.channel and not s.mute and REQUEST_KEY in s and PREVIEW_KEY not in s
                         for s in others)
    else:
        for other in others:
            if other.channel > strip.channel and PREVIEW_KEY in other:
                other.mute = True
    old = editor.strips_all.get(replaces) if replaces else None
    if old is not None and old != strip:
        old.mute = True
    return strip


def _stored_folder(folder: str) -> str:
    """`folder` relative to the saved .blend (`//...`), else as it is."""
    from .scene_identity import stored_path

    return stored_path(folder)


def store_request(strip, request: dict) -> None:
    """Keep the request on the strip: a few readable fields plus the whole request as JSON."""
    strip["anix_instruction"] = str(request.get("instruction", ""))
    strip["anix_seed"] = int(request.get("seed", 0))
    strip["anix_job_id"] = str(request.get("job_id", ""))
    strip["anix_num_frames"] = int(request.get("num_frames", 0))
    continued = (request.get("options") or {}).get("continue_from")
    if continued:
        strip["anix_continue_from"] = str(continued)
    strip[REQUEST_KEY] = json.dumps({k: v for k, v in request.items() if k not in ("cameras", "views")})


def stored_request(strip) -> dict | None:
    """The request stored by `store_request`, or None for a strip AniX did not make."""
    if strip is None or REQUEST_KEY not in strip:
        return None
    return json.loads(strip[REQUEST_KEY])
