"""Camera planning: cameras per frame for a behaviour (static, follow, orbit, dolly, pan) that
fit the character's root path. Numpy only."""
from __future__ import annotations

import math

import numpy as np

from .. import trajectory
from ..cameras import Camera

FOV_X_DEG = 60.0
STAYS_PUT_M = 0.5                      # a root that moves less than this is framed from the front


def _motion_points(root_positions, height_m):
    """Points [M,3] the camera must see: the root path at the feet and head."""
    up = np.array([0.0, 0.0, height_m])
    return np.concatenate([root_positions, root_positions + up])


def static_framing(root_positions, headings, height_m, width, height, fov_x_deg=FOV_X_DEG,
                   azimuth_offset_deg=-25.0, elevation_deg=14.0, margin=1.25) -> Camera:
    """One camera that sees the whole motion, a little above it, far enough that every root
    position and the head above it fit in the frame. A character that travels (more than
    `STAYS_PUT_M`) is seen from behind its first heading, so "left" is screen left; one that
    stays put (gestures, object actions) from in front of its last heading, so its face and
    hands show. Either way turned by `azimuth_offset_deg`."""
    pts = _motion_points(np.asarray(root_positions), height_m)
    center = 0.5 * (pts.min(0) + pts.max(0))
    center[2] = float(root_positions[0][2]) + 0.5 * height_m
    radius = max(float(np.linalg.norm(pts - center, axis=1).max()), 0.6 * height_m)
    fov_x = math.radians(fov_x_deg)
    fov_y = 2 * math.atan(math.tan(fov_x / 2) * height / width)
    distance = margin * radius / math.sin(min(fov_x, fov_y) / 2)
    roots = np.asarray(root_positions, np.float64)
    travels = float(np.linalg.norm(roots[:, :2] - roots[0, :2], axis=1).max()) > STAYS_PUT_M
    az = (float(headings[0]) + math.pi if travels else float(headings[-1])) + math.radians(azimuth_offset_deg)
    el = math.radians(elevation_deg)
    eye = center + distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return Camera.look_at(eye, center, width, height, fov_x_deg)


def plan_cameras(behaviour: str, root_positions, headings, height_m: float, width: int, height: int,
                 params: dict | None = None) -> list[Camera]:
    """One camera per frame for a behaviour consistent with the root path."""
    params = dict(params or {})
    f = len(root_positions)
    roots = np.asarray(root_positions, np.float64)
    if behaviour == "follow":
        # the plan's distances are for a 1.8 m character; scale them to this one
        scale = height_m / 1.8
        return trajectory.follow(roots, headings, width, height, distance=float(params.get("distance_m", 4.0)) * scale,
                                 height_m=float(params.get("height_m", 1.8)) * scale, fov_x_deg=FOV_X_DEG,
                                 smoothing=0.85, look_height_m=0.55 * height_m)
    if behaviour == "orbit":
        degrees = float(params.get("degrees", 120.0))
        direction = str(params.get("direction", "") or "").lower()
        if direction in ("left", "clockwise", "cw"):
            degrees = -abs(degrees)
        elif direction in ("right", "counterclockwise", "counter-clockwise", "ccw", "anticlockwise"):
            degrees = abs(degrees)
        pts = _motion_points(roots, height_m)
        center = 0.5 * (pts.min(0) + pts.max(0))
        center[2] = roots[0, 2] + 0.55 * height_m
        extent = float(np.linalg.norm(pts[:, :2] - center[:2], axis=1).max())
        radius = float(params.get("radius", max(2.4 * height_m, extent + 1.6 * height_m)))
        start = math.degrees(float(headings[0])) + 180.0
        return trajectory.orbit(center, radius, 0.4 * height_m, degrees, f, width, height, FOV_X_DEG, start_deg=start)
    if behaviour == "dolly":
        direction = str(params.get("direction", "in") or "in").lower()
        cam = static_framing(roots, headings, height_m, width, height, margin=1.6)
        dist = float(np.linalg.norm(cam.position - (roots[0] + [0, 0, 0.5 * height_m])))
        amount = min(float(params.get("distance_m", 0.4 * dist)), 0.6 * dist)
        return trajectory.dolly(cam, -amount if direction in ("out", "back", "backward") else amount, f)
    if behaviour == "pan":
        cam = static_framing(roots, headings, height_m, width, height, margin=0.9)
        eye = cam.position
        if np.linalg.norm(roots[-1, :2] - roots[0, :2]) > 0.5:  # track the moving character
            return [Camera.look_at(eye, r + [0, 0, 0.55 * height_m], width, height, FOV_X_DEG) for r in roots]
        degrees = float(params.get("degrees", 30.0))
        if str(params.get("direction", "right")).lower() == "right":
            degrees = -degrees  # panning right turns the view clockwise seen from above
        look = roots[0] + [0, 0, 0.55 * height_m] - eye
        cams = []
        for t in np.linspace(0.0, 1.0, f):
            a = math.radians(degrees * (-0.5 + t * t * (3 - 2 * t)))
            c, s_ = math.cos(a), math.sin(a)
            d = np.array([c * look[0] - s_ * look[1], s_ * look[0] + c * look[1], look[2]])
            cams.append(Camera.look_at(eye, eye + d, width, height, FOV_X_DEG))
        return cams
    return trajectory.static(static_framing(roots, headings, height_m, width, height), f)
