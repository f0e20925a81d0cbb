"""Camera planning: one camera per frame for a behaviour that fits the character's root path
and, given the scene's occupancy grid, keeps out of its geometry and sees the character.

Behaviours: static, follow, orbit, and the moves dolly, crane, tilt, truck, pan and whip_pan
(params as anix_core.instructions' CameraPlan; `params["with"]` adds a second move, such as
orbit + dolly, orbit + crane, follow + crane or pan + tilt). A path is a camera centre and the
point it looks at per frame. With a grid, a few placements of the path (turned about the
character, nearer, higher) are tried and the one that sees the character most, without a frame
inside geometry, closest to the asked-for framing, is kept; the follow camera searches its
offsets frame by frame (dynamic programming) and turns calmly. Numpy only.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import trajectory
from ..cameras import Camera
from ..instructions import default_camera
from .sightlines import character_points, eye_blocked, visibility

FOV_X_DEG = 60.0
STAYS_PUT_M = 0.5                      # a root that moves less than this is framed from the front
MOVES = ("dolly", "crane", "tilt", "truck", "pan", "whip_pan")
FOLLOW_YAW_RATE_DEG_S = 75.0           # the follow camera turns about the character at most this fast...
FOLLOW_YAW_ACCEL_DEG_S2 = 150.0        # ...and speeds up or slows its turn at most this much
FOLLOW_MOVING_MPS = 0.3                # slower than this the character "stands": the follow camera holds
WHIP_FRAMES = 6                        # a whip pan turns in this many frames
HIDDEN_COST, INSIDE_COST = 40.0, 1000.0
SCORED_FRAMES = 48                     # sight lines are scored on at most this many frames of a shot
DEPTH_CHECKS = 4                       # placements checked against the rendered depth, best first...
DEPTH_CHECK_APART_M = 2.0              # ...each starting this far from those checked before


def _motion_points(root_positions, height_m):
    """Points [M,3] the camera must see: the root path at the feet and head."""
    up = np.array([0.0, 0.0, height_m])
    return np.concatenate([root_positions, root_positions + up])


def _ease(n: int) -> np.ndarray:
    """[n] smoothstep from 0 to 1."""
    t = np.linspace(0.0, 1.0, n)
    return t * t * (3 - 2 * t)


def _travels(roots) -> bool:
    return float(np.linalg.norm(roots[:, :2] - roots[0, :2], axis=1).max()) > STAYS_PUT_M


def _framing(roots, headings, height_m, width, height, fov_x_deg=FOV_X_DEG, azimuth_offset_deg=-25.0,
             elevation_deg=14.0, margin=1.25):
    """(eye [3], centre [3]) of `static_framing`."""
    pts = _motion_points(roots, height_m)
    center = 0.5 * (pts.min(0) + pts.max(0))
    center[2] = float(roots[0][2]) + 0.5 * height_m
    radius = max(float(np.linalg.norm(pts - center, axis=1).max()), 0.6 * height_m)
    fov_x = math.radians(fov_x_deg)
    fov_y = 2 * math.atan(math.tan(fov_x / 2) * height / width)
    distance = margin * radius / math.sin(min(fov_x, fov_y) / 2)
    az = (float(headings[0]) + math.pi if _travels(roots) else float(headings[-1])) + math.radians(azimuth_offset_deg)
    el = math.radians(elevation_deg)
    eye = center + distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return eye, center


def static_framing(root_positions, headings, height_m, width, height, fov_x_deg=FOV_X_DEG,
                   azimuth_offset_deg=-25.0, elevation_deg=14.0, margin=1.25) -> Camera:
    """One camera that sees the whole motion, a little above it, far enough that every root
    position and the head above it fit in the frame. A character that travels (more than
    `STAYS_PUT_M`) is seen from behind its first heading, so "left" is screen left; one that
    stays put (gestures, object actions) from in front of its last heading, so its face and
    hands show. Either way turned by `azimuth_offset_deg`."""
    eye, center = _framing(np.asarray(root_positions, np.float64), headings, height_m, width, height, fov_x_deg,
                           azimuth_offset_deg, elevation_deg, margin)
    return Camera.look_at(eye, center, width, height, fov_x_deg)


# ----------------------------------------------------------------------------- entry point
def plan_cameras(behaviour: str, root_positions, headings, height_m: float, width: int, height: int,
                 params: dict | None = None, grid=None, ground=None, fps: float = 25.0,
                 depth_check=None, base=None) -> list[Camera]:
    """One camera per frame for `behaviour`, consistent with the root path. With `grid` (and
    `ground`), the placement that keeps the camera out of geometry and sees the character best.
    `depth_check(cameras) -> hidden frames`, when given, renders the scene's depth for a few of
    a path's frames: of the best placements by the grid, the first in which the rendered scene
    hides the character in none of them is kept (else the one that hides it least). `base`
    (eye [3], look [3]) replaces the framing a move starts from (the camera a character walks
    to: the lens it walks to is where the move starts); no placement is searched then."""
    params = dict(params or {})
    roots = np.asarray(root_positions, np.float64)
    headings = np.asarray(headings, np.float64)
    if behaviour == "follow":
        eyes, looks = follow_path(roots, headings, height_m, params, grid, ground, fps)
    else:
        candidates = [_path(behaviour, roots, headings, height_m, width, height, params, placement, base)
                      for placement in _placements(behaviour, grid is not None and base is None)]
        if grid is None or base is not None:
            _, eyes, looks = candidates[0]
        else:
            pts = character_points(roots, height_m)
            ranked = sorted(candidates, key=lambda c: c[0] + _path_cost(grid, ground, c[1], pts))
            _, eyes, looks = _checked_by_depth(_apart(ranked), depth_check, width, height)
    return _cameras(eyes, looks, width, height)


def _cameras(eyes, looks, width: int, height: int) -> list[Camera]:
    """One camera per frame from its centre and the point it looks at."""
    return [Camera.look_at(e, look, width, height, FOV_X_DEG) for e, look in zip(eyes, looks)]


def _apart(ranked):
    """The first DEPTH_CHECKS paths of `ranked` whose first camera stands at least
    DEPTH_CHECK_APART_M from those of the paths before it (what hides one hides its neighbours)."""
    out = []
    for path in ranked:
        if all(np.linalg.norm(path[1][0] - p[1][0]) >= DEPTH_CHECK_APART_M for p in out):
            out.append(path)
            if len(out) == DEPTH_CHECKS:
                break
    return out


def _checked_by_depth(ranked, depth_check, width, height):
    """The first of `ranked` (cost, eyes, looks) paths whose sampled frames the rendered depth
    shows the character in, else the one with the fewest hidden; the first when no check."""
    if depth_check is None:
        return ranked[0]
    best, fewest = ranked[0], None
    for path in ranked:
        hidden = len(depth_check(_cameras(path[1], path[2], width, height)))
        if fewest is None or hidden < fewest:
            best, fewest = path, hidden
        if hidden == 0:
            break
    return best


def _path_cost(grid, ground, eyes, pts) -> float:
    """A path's faults: frames with the camera inside geometry, and the share of the character
    it does not see."""
    inside = float(eye_blocked(grid, ground, eyes).sum())
    idx = spread_frames(len(eyes))
    hidden = 1.0 - float(visibility(grid, eyes[idx], pts[idx]).mean())
    return INSIDE_COST * inside + HIDDEN_COST * hidden


def spread_frames(f: int, count: int = SCORED_FRAMES) -> np.ndarray:
    """At most `count` of `f` frames, evenly spread, first and last included: the frames sight
    lines are scored on (a long shot costs no more than a short one)."""
    return np.unique(np.linspace(0, f - 1, min(f, count)).round().astype(int))


# ----------------------------------------------------------------------------- placements
def _placements(behaviour: str, search: bool) -> list[dict]:
    """The placements to try, the asked-for one first; each carries `cost`, its distance from
    the asked-for framing."""
    if not search:
        return [{"turn": 0.0, "near": 1.0, "up": 0.0, "cost": 0.0}]
    turns = (0.0, -20.0, 20.0, -40.0, 40.0, -65.0, 65.0, -90.0, 90.0, -120.0, 120.0, 180.0)
    nears = (1.0, 0.75, 0.55)
    ups = (0.0, 1.0)
    out = []
    for turn, near, up in itertools.product(turns, nears, ups):
        out.append({"turn": turn, "near": near, "up": up,
                    "cost": abs(turn) / 60.0 + 2.0 * (1.0 - near) + 0.4 * up})
    return out


def _path(behaviour, roots, headings, height_m, width, height, params, placement, base=None):
    """(placement cost, eyes [F,3], looks [F,3]) of a behaviour in one placement: the base path
    (orbit, or a framing of the motion), then its moves."""
    f = len(roots)
    turn, near, up = placement["turn"], placement["near"], placement["up"] * height_m
    if behaviour == "orbit":
        eyes, looks = _orbit_path(roots, headings, height_m, params, turn, near, up)
    else:
        margin = {"dolly": 1.6, "pan": 0.9, "truck": 1.5, "whip_pan": 1.1}.get(behaviour, 1.25)
        if base is not None:
            eye, center = (np.asarray(v, np.float64) for v in base)
        else:
            eye, center = _framing(roots, headings, height_m, width, height, azimuth_offset_deg=-25.0 + turn,
                                   margin=margin)
            eye = center + near * (eye - center) + np.array([0.0, 0.0, up])
        eyes = np.repeat(eye[None], f, axis=0)
        looks = np.repeat(center[None], f, axis=0)
        if behaviour == "pan" and _travels(roots):  # track the moving character
            looks = roots + np.array([0.0, 0.0, 0.55 * height_m])
            params = {k: v for k, v in params.items() if k != "degrees"} | {"track": True}
    for move, move_params in _moves(behaviour, params):
        eyes, looks = apply_move(move, eyes, looks, move_params, height_m)
    return placement["cost"], eyes, looks


def _moves(behaviour: str, params: dict):
    """The (move, params) pairs a plan's camera asks for: the behaviour itself when it is a move,
    then its `with`."""
    out = []
    if behaviour in MOVES and not params.get("track"):
        out.append((behaviour, {k: v for k, v in params.items() if k != "with"}))
    second = params.get("with")
    if isinstance(second, dict) and second.get("behaviour") in MOVES:
        out.append((second["behaviour"], {k: v for k, v in second.items() if k != "behaviour"}))
    return out


def _orbit_path(roots, headings, height_m, params, turn_deg=0.0, near=1.0, up=0.0):
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
    radius = near * float(params.get("radius", max(2.4 * height_m, extent + 1.6 * height_m)))
    start = math.degrees(float(headings[0])) + 180.0 + turn_deg
    a = np.radians(start + degrees * np.linspace(0.0, 1.0, len(roots)))
    eyes = center + np.stack([radius * np.cos(a), radius * np.sin(a), np.full_like(a, 0.4 * height_m + up)], 1)
    return eyes, np.repeat(center[None], len(roots), axis=0)


# ----------------------------------------------------------------------------- moves
def apply_move(move: str, eyes, looks, params: dict, height_m: float):
    """Eyes and looks [F,3] with one camera move added over the shot: dolly (in/out along the
    view), crane (up/down), truck (left/right), pan and whip_pan (turn the view about the
    vertical), tilt (turn it up/down)."""
    eyes, looks = eyes.copy(), looks.copy()
    f = len(eyes)
    s = _ease(f)[:, None]
    direction = str(params.get("direction", "") or "").lower()
    view = looks - eyes
    if move == "dolly":
        dist = np.linalg.norm(view[0])
        amount = min(float(params.get("distance_m", 0.4 * dist)), 0.6 * dist)
        sign = -1.0 if direction in ("out", "back", "backward") else 1.0
        eyes += sign * amount * s * view / np.linalg.norm(view, axis=1, keepdims=True)
    elif move == "crane":
        amount = float(params.get("distance_m", default_camera("crane").params["distance_m"]))
        lift = s if direction != "down" else 1.0 - s  # crane down starts high and comes down to the framing
        eyes[:, 2] += amount * lift[:, 0]
    elif move == "truck":
        amount = float(params.get("distance_m", default_camera("truck").params["distance_m"])) * \
            (-1.0 if direction == "left" else 1.0)
        right = np.stack([view[:, 1], -view[:, 0], np.zeros(f)], 1)
        right /= np.maximum(np.linalg.norm(right, axis=1, keepdims=True), 1e-9)
        shift = amount * (s - 0.5) * right
        eyes += shift
        looks += shift
    elif move in ("pan", "whip_pan", "tilt"):
        degrees = float(params.get("degrees", default_camera(move).params["degrees"]))
        if move == "tilt":
            angle = (s[:, 0] - 0.5) * degrees * (-1.0 if direction == "down" else 1.0)
            return eyes, eyes + _turn(view, pitch_deg=angle)
        sign = -1.0 if direction == "right" else 1.0  # panning right turns the view clockwise seen from above
        if move == "whip_pan":  # held off the character, a fast turn onto it, held on it
            t0 = int(round(0.3 * (f - 1)))
            ramp = np.clip((np.arange(f) - t0) / WHIP_FRAMES, 0.0, 1.0)
            angle = sign * degrees * (ramp * ramp * (3 - 2 * ramp) - 1.0)
        elif params.get("around"):  # "pan around": sweep the place and end on the character
            angle = sign * degrees * (s[:, 0] - 1.0)
        else:
            angle = sign * degrees * (s[:, 0] - 0.5)
        return eyes, eyes + _turn(view, yaw_deg=angle)
    return eyes, looks


def _turn(view, yaw_deg=0.0, pitch_deg=0.0):
    """View vectors [F,3] turned by yaw (about +Z) and pitch (up), degrees per frame, pitch kept
    within 80 degrees of level."""
    length = np.linalg.norm(view, axis=1)
    yaw = np.arctan2(view[:, 1], view[:, 0]) + np.radians(yaw_deg)
    pitch = np.arcsin(np.clip(view[:, 2] / np.maximum(length, 1e-9), -1, 1)) + np.radians(pitch_deg)
    pitch = np.clip(pitch, -math.radians(80), math.radians(80))
    return length[:, None] * np.stack([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)], 1)


# ----------------------------------------------------------------------------- follow
def follow_path(roots, headings, height_m: float, params: dict, grid=None, ground=None, fps: float = 25.0):
    """A calm follow camera (eyes, looks [F,3]): behind the way the character travels, held
    while it stands (turns, gestures), so a character that turns to the camera ends facing it;
    its turn about the character limited to FOLLOW_YAW_RATE_DEG_S and FOLLOW_YAW_ACCEL_DEG_S2.
    With a grid, the offsets from that (turned about the character, nearer, higher) that keep
    it out of geometry and see the character are found by dynamic programming over the frames."""
    f = len(roots)
    scale = height_m / 1.8  # the plan's distances are for a 1.8 m character
    distance = float(params.get("distance_m", 4.0)) * scale
    rise = float(params.get("height_m", 1.8)) * scale
    anchor = trajectory.smooth_zero_phase(roots, 0.85)
    desired = _travel_yaw(anchor, headings, fps) + math.pi  # from the character to the camera
    offsets = np.zeros(f)
    nears = np.ones(f)
    ups = np.zeros(f)
    if grid is not None:
        offsets, nears, ups = _follow_search(grid, ground, roots, anchor, desired, distance, rise, height_m)
        offsets = trajectory.smooth_zero_phase(offsets[:, None], 0.8)[:, 0]
        nears = trajectory.smooth_zero_phase(nears[:, None], 0.8)[:, 0]
        ups = trajectory.smooth_zero_phase(ups[:, None], 0.8)[:, 0]
    yaw = calm_yaw(desired + offsets, fps)
    back = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(f)], 1)
    eyes = anchor + (distance * nears)[:, None] * back + np.c_[np.zeros((f, 2)), rise + ups]
    looks = anchor + np.array([0.0, 0.0, 0.55 * height_m])
    for move, move_params in _moves("follow", params):
        eyes, looks = apply_move(move, eyes, looks, move_params, height_m)
    return eyes, looks


def _travel_yaw(anchor, headings, fps: float) -> np.ndarray:
    """[F] unwrapped direction of travel (radians): the smoothed path's direction where it moves
    faster than FOLLOW_MOVING_MPS, held where it stands; before it first moves, its heading."""
    f = len(anchor)
    vel = np.gradient(anchor[:, :2], axis=0) * fps if f > 1 else np.zeros((f, 2))
    speed = np.linalg.norm(vel, axis=1)
    moving = speed > FOLLOW_MOVING_MPS
    yaw = np.empty(f)
    current = float(headings[0])  # unless it starts moving within the first half: then its first direction
    if moving.any() and np.argmax(moving) <= 0.5 * f:
        current = float(np.arctan2(vel[moving][0, 1], vel[moving][0, 0]))
    for i in range(f):
        if moving[i]:
            current = float(np.arctan2(vel[i, 1], vel[i, 0]))
        yaw[i] = current
    return trajectory.smooth_zero_phase(np.unwrap(yaw)[:, None], 0.8)[:, 0]


def calm_yaw(target, fps: float, rate_deg_s: float = FOLLOW_YAW_RATE_DEG_S,
             accel_deg_s2: float = FOLLOW_YAW_ACCEL_DEG_S2) -> np.ndarray:
    """[F] a yaw that tracks `target` [F] (unwrapped radians) with its rate and acceleration
    bounded: it speeds up, cruises and slows to stop on the target without overshoot."""
    dt = 1.0 / fps
    w_max, a_max = math.radians(rate_deg_s), math.radians(accel_deg_s2)
    target = np.unwrap(np.asarray(target, np.float64))
    out = np.empty_like(target)
    yaw, w = float(target[0]), 0.0
    for i, goal in enumerate(target):
        err = goal - yaw
        w_goal = math.copysign(min(w_max, math.sqrt(2 * a_max * abs(err))), err)
        w = float(np.clip(w_goal, w - a_max * dt, w + a_max * dt))
        yaw += w * dt
        out[i] = yaw
    return out


def _follow_search(grid, ground, roots, anchor, desired, distance, rise, height_m):
    """Per frame (offsets about the character [F] radians, distance factors [F], extra heights
    [F] metres) that minimise the frames inside geometry, the character hidden and the distance
    from the plain follow, changing by at most one step between scored frames (dynamic
    programming over `spread_frames` frames, interpolated between them)."""
    frames = len(roots)
    idx = spread_frames(frames)
    roots, anchor, desired = roots[idx], anchor[idx], desired[idx]
    f = len(idx)
    turns = np.radians(np.arange(-150.0, 151.0, 15.0))
    nears = np.array([1.0, 0.75, 0.55])
    ups = np.array([0.0, 0.7 * height_m])
    states = np.array(list(itertools.product(range(len(turns)), range(len(nears)), range(len(ups)))))
    s = len(states)
    yaw = desired[:, None] + turns[states[:, 0]][None]
    d = distance * nears[states[:, 1]][None]
    eyes = np.stack([anchor[:, None, 0] + d * np.cos(yaw), anchor[:, None, 1] + d * np.sin(yaw),
                     np.broadcast_to(anchor[:, None, 2] + rise + ups[states[:, 2]][None], (f, s))], -1)
    pts = np.repeat(character_points(roots, height_m)[:, None], s, axis=1)
    seen = visibility(grid, eyes.reshape(-1, 3), pts.reshape(-1, 3, 3)).reshape(f, s)
    inside = eye_blocked(grid, ground, eyes.reshape(-1, 3)).reshape(f, s)
    stay = ((turns[states[:, 0]] / math.radians(60.0)) ** 2 + 2.0 * (1.0 - nears[states[:, 1]])
            + 0.4 * (states[:, 2] > 0))
    cost = INSIDE_COST * inside + HIDDEN_COST * (1.0 - seen) + stay[None]
    step = np.abs(states[:, None, :] - states[None, :, :])
    move = np.where((step[..., 0] <= 1) & (step[..., 1] <= 1) & (step[..., 2] <= 1),
                    2.0 * step[..., 0] + 3.0 * step[..., 1] + 3.0 * step[..., 2], np.inf)
    total = cost[0].copy()
    back = np.zeros((f, s), np.int64)
    for i in range(1, f):
        options = total[:, None] + move
        back[i] = np.argmin(options, axis=0)
        total = options[back[i], np.arange(s)] + cost[i]
    path = np.empty(f, np.int64)
    path[-1] = int(np.argmin(total))
    for i in range(f - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    chosen = states[path]
    every = np.arange(frames)
    return (np.interp(every, idx, turns[chosen[:, 0]]), np.interp(every, idx, nears[chosen[:, 1]]),
            np.interp(every, idx, ups[chosen[:, 2]]))
