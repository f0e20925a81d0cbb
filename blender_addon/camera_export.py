"""The active camera, frame by frame, as `anix_core.cameras.Camera` dicts the backend takes.

Sampling goes through `scene.frame_set(f)` and reads `matrix_world` and the camera data, so
parents, constraints, drivers and an animated lens are all included (Blender 5.0's slotted
actions need no special handling this way).
"""
from __future__ import annotations

import numpy as np

from . import deps


class CameraExportError(ValueError):
    """The camera cannot be exported; the message says what to change."""


def camera_at_current_frame(camera_obj, width: int, height: int):
    """`Camera` of `camera_obj` as it is now, for an image of width x height pixels."""
    data = camera_obj.data
    if data.type != "PERSP":
        raise CameraExportError(f"camera '{camera_obj.name}' is {data.type.lower()}: AniX needs a perspective "
                                "camera (Camera properties > Lens > Type: Perspective)")
    return deps.cameras().Camera.from_blender(
        np.array(camera_obj.matrix_world, dtype=np.float64), data.lens, data.sensor_width, data.sensor_height,
        data.sensor_fit, data.shift_x, data.shift_y, int(width), int(height))


def export_cameras(scene, camera_obj, frames, width: int, height: int) -> list:
    """One `Camera` per frame in `frames` (scene frame numbers); restores the current frame."""
    if camera_obj is None or camera_obj.type != "CAMERA":
        raise CameraExportError("the scene has no active camera: add one (Add > Camera) and make it active "
                                "(View > Cameras > Set Active Object as Camera)")
    current, subframe = scene.frame_current, scene.frame_subframe
    try:
        out = []
        for f in frames:
            scene.frame_set(int(f))
            out.append(camera_at_current_frame(camera_obj, width, height))
        return out
    finally:
        scene.frame_set(current, subframe=subframe)


def export_camera_dicts(scene, camera_obj, frames, width: int, height: int) -> list[dict]:
    return [c.to_dict() for c in export_cameras(scene, camera_obj, frames, width, height)]
