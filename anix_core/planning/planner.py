"""The whole plan of a shot: parse its instruction, fit the ground, walk the root path and
choose the cameras."""
from __future__ import annotations

import math

import numpy as np

from .. import instructions, trajectory
from ..render import render
from ..cameras import Camera
from ..instructions import CAMERA_BEHAVIOURS, CAMERA_TARGET, CameraPlan
from .cameras import FOV_X_DEG, MOVES, plan_cameras, spread_frames
from .ground import Ground, fit_ground
from .motion import MotionPlan, plan_root_path
from .obstacles import OccupancyGrid, occupancy_grid
from .sightlines import character_points, eye_blocked, hidden_frames, visibility

# What the planner films with: the parser's behaviours and every move it knows.
PLANNED_BEHAVIOURS = tuple(dict.fromkeys((*CAMERA_BEHAVIOURS, "static", "follow", "orbit", *MOVES)))


def resolve_camera_behaviour(shot, plan) -> str:
    """The camera previz films with: the user's cameras ("user"), else the user's choice on the
    shot, else "static" when a segment walks to the camera (that camera stands still), else the
    plan's, else "static"."""
    if getattr(shot, "cameras", None):
        return "user"
    return _planned_behaviour(getattr(shot, "camera_behaviour", None), plan)


def _planned_behaviour(behaviour: str | None, plan) -> str:
    """`resolve_camera_behaviour` without the user's cameras: `behaviour` chosen, or the plan's."""
    if not behaviour and _targets_camera(plan):
        behaviour = "static"
    if not behaviour:
        behaviour = getattr(getattr(plan, "camera", None), "behaviour", None)
    behaviour = str(behaviour or "static").lower()
    if behaviour not in PLANNED_BEHAVIOURS:
        raise ValueError(f"camera behaviour must be one of {', '.join(PLANNED_BEHAVIOURS)}, not {behaviour!r}")
    return behaviour


def camera_plan_for_previz(plan, camera: str | None = None) -> CameraPlan:
    """The plan's camera as previz films it (`anix plan` prints this): the user's `camera`
    choice, else the plan's camera, with the plan's params when the behaviour is the plan's."""
    behaviour = _planned_behaviour(camera, plan)
    cam = getattr(plan, "camera", None)
    same = cam is not None and getattr(cam, "behaviour", None) == behaviour
    return CameraPlan(behaviour, dict(getattr(cam, "params", None) or {}) if same else {},
                      bool(camera) or bool(same and getattr(cam, "explicit", False)))


def _targets_camera(plan) -> bool:
    return any(getattr(s, "target", None) == CAMERA_TARGET for s in getattr(plan, "segments", None) or ())


def parse_shot_instruction(shot):
    """The shot's instruction as a `Plan` (anix_core.instructions). A camera behaviour the parser
    does not know is not passed on: `resolve_camera_behaviour` rejects it with the full list."""
    camera = shot.camera_behaviour if shot.camera_behaviour in CAMERA_BEHAVIOURS else None
    return instructions.parse(shot.instruction, targets=tuple(shot.targets or ()), num_frames=shot.num_frames,
                              fps=shot.fps, camera=camera)


def plan_motion(shot, plan=None) -> MotionPlan:
    """Plan the shot: parse the instruction (unless `plan` is given), fit the ground, walk the
    root path and choose cameras that keep out of the scene's geometry and see the character.
    The user's own cameras (shot.cameras) win. What could not be done as asked is in the
    result's `warnings`."""
    if plan is None:
        plan = parse_shot_instruction(shot)
    anchor = shot.anchor
    ground = fit_ground(shot.scene, anchor.position)
    grid = occupancy_grid(shot.scene, ground, np.asarray(anchor.position)[:2]) if shot.scene is not None else None
    targets = {k: np.asarray(v, np.float64) for k, v in (shot.targets or {}).items()}
    behaviour = resolve_camera_behaviour(shot, plan)
    camera_target = None
    if CAMERA_TARGET not in targets and _targets_camera(plan):
        camera_target = _camera_as_target(shot, plan, ground, grid)
        targets[CAMERA_TARGET] = camera_target.position
    warnings: list[str] = list(getattr(plan, "warnings", None) or [])  # the parser's own, if it has any
    roots, headings, speeds = plan_root_path(plan, anchor, shot.num_frames, shot.fps, ground, grid, targets, warnings)
    if behaviour == "user":
        cameras = list(shot.cameras)
        if len(cameras) == 1:
            cameras = cameras * shot.num_frames
        if len(cameras) != shot.num_frames:
            raise ValueError(f"cameras: {len(cameras)} given for {shot.num_frames} frames; give one per frame or one for all")
    elif camera_target is not None and behaviour == "static":
        cameras = trajectory.static(camera_target, shot.num_frames)
    else:
        if behaviour == "keyframes":
            raise ValueError("camera: keyframes were asked for but the shot has no cameras; keyframe the camera or choose follow, orbit, static, dolly or pan")
        params = camera_plan_for_previz(plan, shot.camera_behaviour).params
        base = None
        if camera_target is not None and behaviour in MOVES:  # the move starts at the lens it walks to
            base = (camera_target.position, camera_target.position + camera_target.forward)
        cameras = plan_cameras(behaviour, roots, headings, float(anchor.height_m), shot.width, shot.height, params,
                               grid=grid, ground=ground, fps=float(shot.fps),
                               depth_check=_depth_check(shot, roots) if shot.scene is not None else None, base=base)
    return MotionPlan(roots, headings, speeds, plan, cameras, behaviour, ground, float(shot.fps),
                      float(anchor.height_m), targets, warnings)


def _depth_check(shot, roots, samples: int = 4, width: int = 64):
    """depth_check(cameras) -> frames (of `samples` spread over the shot) where the scene,
    rendered small, hides the character standing on `roots`."""
    def check(cameras):
        frames = spread_frames(len(cameras), samples)
        height = max(16, round(width * shot.height / shot.width))
        small = [cameras[i].with_size(width, height) for i in frames]
        depth = render(shot.scene, small, backend=(shot.options or {}).get("backend", "auto")).depth
        return [int(frames[k]) for k in hidden_frames(small, roots[frames], float(shot.anchor.height_m), depth)]
    return check


def _camera_distance_heights(shot, plan) -> float:
    """How far (in character heights) to stand the camera a character walks to: what its segments
    toward the camera cover at their speed, plus the 1.2 heights it stops short and 1.5 heights
    of room, between 3.5 and 7 heights."""
    h = float(shot.anchor.height_m)
    walk = sum(float(getattr(s, "speed_mps", 0.0) or 0.0) * (min(s.end_frame, shot.num_frames) - s.start_frame)
               / float(shot.fps) for s in plan.segments if getattr(s, "target", None) == CAMERA_TARGET)
    return float(np.clip(2.7 + walk / h, 3.5, 7.0))


def _camera_as_target(shot, plan, ground: Ground, grid: OccupancyGrid | None = None) -> Camera:
    """The camera a character walks to: the user's first camera, else one in front of the
    anchor at chest height, as far as its walk needs (`_camera_distance_heights`). With a grid, the placement (turned
    up to 60 degrees from the heading, or nearer) that stands clear of geometry and sees the
    character all the way along its walk to it."""
    if shot.cameras:
        return shot.cameras[0]
    a = shot.anchor
    root = np.asarray(a.position, np.float64)
    h = float(a.height_m)
    look = root + np.array([0.0, 0.0, 0.55 * h])

    def eye_at(turn_deg, heights):
        yaw = a.heading_rad + math.radians(turn_deg)
        eye = root + heights * h * np.array([math.cos(yaw), math.sin(yaw), 0.0])
        eye[2] = float(ground.height_at(eye[:2])) + 0.9 * h
        return eye

    ideal = _camera_distance_heights(shot, plan)
    best = (0.0, ideal)
    if grid is not None:
        walk = np.linspace(0.0, 1.0, 8)[:, None]
        scored = []
        for turn in (0.0, -15.0, 15.0, -30.0, 30.0, -45.0, 45.0, -60.0, 60.0):
            for heights in (ideal, 0.8 * ideal, 0.65 * ideal):
                eye = eye_at(turn, heights)
                # where the character may be on its way: from the anchor to 1.2 heights before the lens
                path = root[None] + walk * (eye - root)[None] * (1.0 - 1.2 / heights)
                path[:, 2] = ground.height_at(path[:, :2])
                seen = visibility(grid, np.repeat(eye[None], len(path), 0), character_points(path, h)).mean()
                cost = (1000.0 * float(eye_blocked(grid, ground, eye[None])[0]) + 40.0 * (1.0 - seen)
                        + abs(turn) / 30.0 + 0.3 * (ideal - heights))
                scored.append((cost, turn, heights))
        best = min(scored)[1:]
    return Camera.look_at(eye_at(*best), look, shot.width, shot.height, FOV_X_DEG)
