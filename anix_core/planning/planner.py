"""The whole plan of a shot: parse its instruction, fit the ground, walk the root path and
choose the cameras."""
from __future__ import annotations

import math

import numpy as np

from .. import instructions, trajectory
from ..cameras import Camera
from ..instructions import CAMERA_BEHAVIOURS, CAMERA_TARGET
from .cameras import FOV_X_DEG, plan_cameras
from .ground import Ground, fit_ground
from .motion import MotionPlan, plan_root_path
from .obstacles import occupancy_grid


def resolve_camera_behaviour(shot, plan) -> str:
    """The user's choice on the shot wins, then the plan's, then "static"."""
    behaviour = getattr(shot, "camera_behaviour", None)
    if not behaviour:
        behaviour = getattr(getattr(plan, "camera", None), "behaviour", None)
    behaviour = str(behaviour or "static").lower()
    if behaviour not in CAMERA_BEHAVIOURS:
        raise ValueError(f"camera behaviour must be one of {', '.join(CAMERA_BEHAVIOURS)}, not {behaviour!r}")
    return behaviour


def parse_shot_instruction(shot):
    """The shot's instruction as a `Plan` (anix_core.instructions)."""
    return instructions.parse(shot.instruction, targets=tuple(shot.targets or ()), num_frames=shot.num_frames,
                              fps=shot.fps, camera=shot.camera_behaviour)


def plan_motion(shot, plan=None) -> MotionPlan:
    """Plan the shot: parse the instruction (unless `plan` is given), fit the ground, walk the
    root path and choose cameras. The user's own cameras (shot.cameras) win."""
    if plan is None:
        plan = parse_shot_instruction(shot)
    anchor = shot.anchor
    ground = fit_ground(shot.scene, anchor.position)
    grid = occupancy_grid(shot.scene, ground, np.asarray(anchor.position)[:2]) if shot.scene is not None else None
    targets = {k: np.asarray(v, np.float64) for k, v in (shot.targets or {}).items()}
    camera_target = None
    if CAMERA_TARGET not in targets and any(getattr(s, "target", None) == CAMERA_TARGET for s in plan.segments):
        camera_target = _camera_as_target(shot, ground)
        targets[CAMERA_TARGET] = camera_target.position
    roots, headings, speeds = plan_root_path(plan, anchor, shot.num_frames, shot.fps, ground, grid, targets)
    if camera_target is not None and not shot.cameras:
        return MotionPlan(roots, headings, speeds, plan, trajectory.static(camera_target, shot.num_frames), "static",
                          ground, float(shot.fps), float(anchor.height_m), targets)
    if shot.cameras:
        cameras = list(shot.cameras)
        if len(cameras) == 1:
            cameras = cameras * shot.num_frames
        if len(cameras) != shot.num_frames:
            raise ValueError(f"cameras: {len(cameras)} given for {shot.num_frames} frames; give one per frame or one for all")
        behaviour = "user"
    else:
        behaviour = resolve_camera_behaviour(shot, plan)
        if behaviour == "keyframes":
            raise ValueError("camera: keyframes were asked for but the shot has no cameras; keyframe the camera or choose follow, orbit, static, dolly or pan")
        params = dict(getattr(getattr(plan, "camera", None), "params", None) or {})
        cameras = plan_cameras(behaviour, roots, headings, float(anchor.height_m), shot.width, shot.height, params)
    return MotionPlan(roots, headings, speeds, plan, cameras, behaviour, ground, float(shot.fps),
                      float(anchor.height_m), targets)


def _camera_as_target(shot, ground: Ground) -> Camera:
    """The camera a character walks to: the user's first camera, else one placed in front of the
    anchor (its heading), about 7 character heights away, at chest height."""
    if shot.cameras:
        return shot.cameras[0]
    a = shot.anchor
    root = np.asarray(a.position, np.float64)
    h = float(a.height_m)
    direction = np.array([math.cos(a.heading_rad), math.sin(a.heading_rad), 0.0])
    eye = root + 7.0 * h * direction
    eye[2] = float(ground.height_at(eye[:2])) + 0.9 * h
    look = root + np.array([0.0, 0.0, 0.55 * h])
    return Camera.look_at(eye, look, shot.width, shot.height, FOV_X_DEG)
