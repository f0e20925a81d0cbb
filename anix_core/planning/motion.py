"""Character motion: the root path (position, heading and speed per frame) for a plan's
segments, and the `MotionPlan` that carries it with its cameras. Numpy only.

Conventions: world Z up, metres; headings in radians, 0 = facing +X, counter-clockwise about +Z.
Directions in a plan ("left", "backward", ...) are relative to the way the character faces when
the segment starts. Positive `turn_deg` turns left (counter-clockwise seen from above).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..instructions import CAMERA_TARGET
from ..routes import find_route, line_is_free, route_length
from .ground import Ground
from .obstacles import OccupancyGrid

DEFAULT_WALK_MPS = 1.4
TARGET_CLEARANCE_M = 0.15              # how far the root stops from a target's footprint
TURN_RATE_RAD_S = math.radians(300.0)  # fastest turn while moving
WAYPOINT_REACHED_M = 0.35              # a route's waypoint counts as passed this close...
ROUTE_MARGIN_M = 0.1                   # ...and routes keep this much more than the body's clearance
ARRIVED_M = 0.3                        # a target this close (past its stop radius) counts as reached
AROUND_MARGIN_M = 0.3                  # "around" keeps this much more than the body's clearance


@dataclass
class MotionPlan:
    """Per-frame character motion and cameras.

    root_positions [F,3] feet on the ground (metres); headings [F] radians; speeds [F] m/s;
    plan: the `Plan` it came from; cameras: one `Camera` per frame; warnings: what the plan
    could not do as asked (a target not reached, frames where no camera sees the character),
    one sentence each.
    """

    root_positions: np.ndarray
    headings: np.ndarray
    speeds: np.ndarray
    plan: object
    cameras: list
    camera_behaviour: str = "static"
    ground: Ground | None = None
    fps: float = 25.0
    height_m: float = 1.8
    targets: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def distances(self) -> np.ndarray:
        """Distance walked up to each frame [F] (metres), for the walk cycle."""
        step = np.linalg.norm(np.diff(self.root_positions[:, :2], axis=0), axis=1)
        return np.concatenate([[0.0], np.cumsum(step)])

    def to_dict(self) -> dict:
        """JSON-safe summary (plan.json)."""
        return {
            "camera_behaviour": self.camera_behaviour,
            "fps": self.fps,
            "height_m": self.height_m,
            "ground_z": None if self.ground is None else float(self.ground.height_at(self.root_positions[0, :2])),
            "root_positions": np.round(self.root_positions, 4).tolist(),
            "headings_deg": np.round(np.degrees(self.headings), 2).tolist(),
            "speeds_mps": np.round(self.speeds, 3).tolist(),
            "targets": {k: np.round(np.asarray(v, float), 4).tolist() for k, v in self.targets.items()},
            "cameras": [c.to_dict() for c in self.cameras],
            "warnings": list(self.warnings),
        }


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def smoothstep(t: float) -> float:
    """0 -> 1 over t in [0, 1], with zero slope at both ends (t clamped)."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def _seg(segment, name, default=None):
    value = getattr(segment, name, default)
    return default if value is None else value


def _accel_for(speed: float) -> float:
    """Acceleration (m/s^2) to reach `speed`: a walker starts gently, a sprinter hard."""
    return float(np.clip(1.0 + 0.6 * speed, 1.5, 5.0))


_DIRECTION_OFFSETS = {"forward": 0.0, "left": math.pi / 2, "right": -math.pi / 2, "backward": math.pi}


def plan_root_path(plan, anchor, num_frames: int, fps: float, ground: Ground,
                   grid: OccupancyGrid | None = None, targets: dict | None = None, warnings: list | None = None):
    """Per-frame root positions [F,3], headings [F] and speeds [F] for the plan's segments.

    Locomotion moves the character with eased acceleration and a speed limit, turning at a
    bounded rate, toward a target (stopping just outside its footprint) or along a direction,
    and stops before obstacles in `grid`; "around" runs a circle of constant radius outside the
    target's footprint, the way the character already faces. Each segment keeps its verb's speed;
    a target it cannot reach in its frames adds a sentence to `warnings`. Other segments keep the
    root still and may turn it (`turn_deg`), eased over the segment."""
    targets = {k: np.asarray(v, np.float64) for k, v in (targets or {}).items()}
    dt = 1.0 / float(fps)
    height_m = float(anchor.height_m)
    clearance = max(0.2, 0.12 * height_m)
    segments = sorted(list(getattr(plan, "segments", []) or []), key=lambda s: _seg(s, "start_frame", 0))

    pos = np.asarray(anchor.position, np.float64)[:2].copy()
    heading = float(anchor.heading_rad)
    v = 0.0
    positions, headings, speeds = [], [], []
    seg_state: dict[int, dict] = {}
    for i in range(num_frames):
        positions.append(pos.copy()); headings.append(heading); speeds.append(v)
        k, seg = _active_segment(segments, i)
        if seg is None:
            v = max(0.0, v - _accel_for(v) * dt)
            pos = pos + v * dt * np.array([math.cos(heading), math.sin(heading)])
            continue
        start, end = _seg(seg, "start_frame", 0), _seg(seg, "end_frame", num_frames)
        state = seg_state.get(k)
        if state is None:
            state = seg_state[k] = _start_segment(seg, heading, pos, targets, grid, clearance)
            state["speed"] = _segment_speed(seg)
        state["end_pos"] = positions[-1]
        next_moves = k + 1 < len(segments) and _moves(segments[k + 1]) and _seg(segments[k + 1], "start_frame", 0) <= end
        if state["moving"] and state["direction"] == "around":
            pos, heading, v = _circle_step(state, pos, heading, v, (end - i - 1) * dt, next_moves, dt, grid, clearance)
        elif state["moving"]:
            speed = state["speed"]
            a = _accel_for(speed)
            desired = state["facing"]
            remaining = math.inf
            if state["target"] is not None:
                to = state["target"] - pos
                dist = float(np.hypot(*to))
                remaining = max(0.0, dist - state["stop_radius"])
                route = state["route"]
                # Pass a waypoint once the next one is in sight (or it is reached): smooth, and
                # never a chord through the corner it goes round.
                while len(route) > 1 and (np.hypot(*(route[0] - pos)) < WAYPOINT_REACHED_M
                                          and line_is_free(grid, pos, route[1], clearance, state["ignore"])):
                    route.pop(0)
                if len(route) > 1:  # around an obstacle: steer to the next waypoint
                    to = route[0] - pos
                    dist = float(np.hypot(*to))
                    remaining = max(0.0, route_length(pos, route) - state["stop_radius"])
                if dist > 1e-6:
                    desired = math.atan2(to[1], to[0])
            elif state["turn"]:
                desired = state["facing"]
            # turn toward the desired facing, bounded and eased
            face_goal = desired - state["move_offset"] if state["direction"] == "backward" else desired
            err = _wrap(face_goal - heading)
            heading += float(np.clip(0.35 * err, -TURN_RATE_RAD_S * dt, TURN_RATE_RAD_S * dt))
            move_dir = heading + (math.pi if state["direction"] == "backward" else 0.0)
            step_dir = np.array([math.cos(move_dir), math.sin(move_dir)])
            if grid is not None:
                remaining = min(remaining, _free_distance(grid, pos, step_dir, clearance, state["ignore"],
                                                          v * v / (2 * a) + 1.0))
            time_left = (end - i - 1) * dt
            v_cap = speed
            if not next_moves:
                v_cap = min(v_cap, a * max(time_left, 0.0))
            v_cap = min(v_cap, math.sqrt(2 * a * max(remaining - 0.02, 0.0)))
            v = float(np.clip(v_cap, v - a * dt, v + a * dt))
            v = max(v, 0.0)
            step = min(v * dt, remaining)
            pos = pos + step * step_dir
        else:
            v = max(0.0, v - _accel_for(v) * 2 * dt)
            pos = pos + v * dt * np.array([math.cos(heading), math.sin(heading)])
            if state["turn"]:
                duration = max(1, min(end - start, int(round(max(0.5, abs(state["turn"]) / math.radians(240)) * fps))))
                t = smoothstep((i + 1 - start) / duration)
                heading = state["start_heading"] + state["turn"] * t
    if warnings is not None:
        warnings.extend(_unreached(segments, seg_state, pos, num_frames, fps))
    xy = np.array(positions)
    z = ground.height_at(xy)
    return np.c_[xy, z], np.array(headings), np.array(speeds)


def _segment_speed(seg) -> float:
    """The segment's speed: its verb's (a saunter stays a saunter even when the target is far;
    `_unreached` says so instead)."""
    return float(_seg(seg, "speed_mps", DEFAULT_WALK_MPS) or 0.0)


def _unreached(segments, seg_state, end_pos, num_frames: int, fps: float) -> list[str]:
    """One sentence per segment that ends short of its named target (not the camera, not
    "around"): how far short, and about how many frames would reach it at the verb's speed."""
    out = []
    for k, state in sorted(seg_state.items()):
        seg = segments[k]
        name = _seg(seg, "target")
        if not state["moving"] or state["target"] is None or name == CAMERA_TARGET or state["direction"] == "around":
            continue
        end = min(_seg(seg, "end_frame", num_frames), num_frames)
        pos = state.get("end_pos", end_pos)
        short = route_length(pos, state["route"]) - state["stop_radius"]
        if short <= ARRIVED_M:
            continue
        speed = max(state["speed"], 0.1)
        extra = int(math.ceil((short / speed + 0.5 * speed / _accel_for(speed)) * fps))
        words = str(_seg(seg, "text", "") or _seg(seg, "action", "")).strip()
        out.append(f'"{words}" ends {short:.1f} m short of the {name} at frame {end - 1}: at {speed:.1f} m/s '
                   f'it needs about {extra} more frames ({num_frames + extra} frames in all, e.g. --frames {num_frames + extra})')
    return out


def _circle_step(state, pos, heading, v, time_left: float, next_moves: bool, dt: float, grid=None,
                 clearance: float = 0.0):
    """One frame along the segment's circle: speed eased toward the verb's, the radius eased to
    the circle's (at most 0.6 m/s sideways), the heading turned (at a bounded rate) to the
    tangent; it stops rather than step into an obstacle of `grid`. Returns the new position,
    heading and speed."""
    speed = state["speed"]
    a = _accel_for(speed)
    v_cap = speed if next_moves else min(speed, a * max(time_left, 0.0))
    v = max(0.0, float(np.clip(v_cap, v - a * dt, v + a * dt)))
    centre, sign = state["target"], state["orbit_sign"]
    rel = pos - centre
    rho = float(np.hypot(*rel))
    phi = math.atan2(rel[1], rel[0])
    rho += float(np.clip(state["orbit_radius"] - rho, -0.6 * dt, 0.6 * dt))
    phi += sign * v * dt / max(rho, 0.1)
    new = centre + rho * np.array([math.cos(phi), math.sin(phi)])
    tangent = phi + sign * math.pi / 2
    heading += float(np.clip(_wrap(tangent - heading), -TURN_RATE_RAD_S * dt, TURN_RATE_RAD_S * dt))
    if grid is not None and grid.blocked(new, clearance, state["ignore"]) and not grid.blocked(pos, clearance, state["ignore"]):
        return pos, heading, 0.0  # no free circle was found: stop at the obstacle, never through it
    return new, heading, v


def _moves(segment) -> bool:
    return _seg(segment, "category", "") == "locomotion" and float(_seg(segment, "speed_mps", 0.0)) > 0.0


def _active_segment(segments, frame):
    for k, s in enumerate(segments):
        if _seg(s, "start_frame", 0) <= frame < _seg(s, "end_frame", 1 << 30):
            return k, s
    return -1, None


def _start_segment(seg, heading, pos, targets, grid, clearance) -> dict:
    direction = str(_seg(seg, "direction", "forward") or "forward").lower()
    turn = math.radians(float(_seg(seg, "turn_deg", 0.0) or 0.0))
    if direction == "right":
        turn = -abs(turn)
    elif direction == "left":
        turn = abs(turn)
    if _moves(seg):
        turn = 0.0  # a moving segment faces its direction of travel
    target_name = _seg(seg, "target")
    target = targets.get(target_name) if target_name else None
    if target is not None and not _moves(seg) and direction == "toward" and not turn:
        to = target[:2] - pos  # "turns to the camera": face the lens itself, wherever it was placed
        turn = _wrap(math.atan2(to[1], to[0]) - heading) if np.hypot(*to) > 1e-6 else 0.0
    state = {
        "moving": _moves(seg), "direction": direction, "turn": turn, "start_heading": heading,
        "target": None if target is None else target[:2].copy(), "stop_radius": 0.0,
        "ignore": None, "move_offset": 0.0, "orbit_radius": 1.5, "orbit_sign": 1.0, "route": [],
    }
    offset = _DIRECTION_OFFSETS.get(direction, 0.0)
    if direction == "backward":
        state["move_offset"] = math.pi
        state["facing"] = heading + math.pi + turn
    else:
        state["facing"] = heading + offset + turn
    if target is not None:
        footprint = 0.0
        if grid is not None:
            comp = grid.object_at(target[:2])
            if comp is not None:
                state["ignore"] = comp
                footprint = grid.footprint_radius(target[:2], comp)
        state["stop_radius"] = footprint + TARGET_CLEARANCE_M if footprint else 0.5
        if target_name == CAMERA_TARGET:
            state["stop_radius"] = 10.0 * clearance  # stop while still framed (about 1.2 heights away)
        dist = float(np.hypot(*(target[:2] - pos)))
        state["orbit_radius"] = max(dist, footprint + clearance + AROUND_MARGIN_M)
        state["route"] = [target[:2].copy()]
        if grid is not None and direction == "toward" and _moves(seg) and target_name != CAMERA_TARGET:
            route = find_route(grid, pos, target[:2], clearance + ROUTE_MARGIN_M, state["ignore"], state["stop_radius"])
            if route is not None:
                state["route"] = list(route)
    elif direction == "around":
        # circle a point to the character's left
        centre = pos + 1.5 * np.array([math.cos(heading + math.pi / 2), math.sin(heading + math.pi / 2)])
        state["target"] = centre
        state["orbit_radius"] = 1.5
    if direction == "around":
        state["orbit_sign"] = _circle_sign(seg, state["target"], pos, heading)
        if grid is not None:
            state["orbit_radius"] = _free_circle_radius(grid, state["target"], state["orbit_radius"], clearance,
                                                        state["ignore"])
    return state


def _circle_sign(seg, centre, pos, heading) -> float:
    """+1 to circle counter-clockwise (seen from above), -1 clockwise: as the text says, else the
    way that starts closest to the character's heading (no pivot before it sets off)."""
    text = str(_seg(seg, "text", "") or "").lower()
    if "clockwise" in text:
        return 1.0 if ("counter" in text or "anti" in text) else -1.0
    rel = pos - centre
    phi = math.atan2(rel[1], rel[0])
    return 1.0 if abs(_wrap(phi + math.pi / 2 - heading)) <= abs(_wrap(phi - math.pi / 2 - heading)) else -1.0


def _free_circle_radius(grid, centre, radius: float, clearance: float, ignore) -> float:
    """The radius nearest `radius` (not smaller) whose circle about `centre` a body of radius
    `clearance` can run without touching an obstacle; `radius` when none within 3 m is free."""
    a = np.linspace(0.0, 2 * math.pi, 96, endpoint=False)
    ring = np.stack([np.cos(a), np.sin(a)], 1)
    for r in np.arange(radius, radius + 3.0, 0.1):
        if not grid.blocked(centre + r * ring, clearance, ignore).any():
            return float(r)
    return radius


def _free_distance(grid, pos, direction, clearance, ignore, look_ahead) -> float:
    """How far the root can go along `direction` before its body touches an obstacle."""
    if grid.blocked(pos, clearance, ignore):
        clearance = 0.0  # started too close: only refuse walking into the obstacle itself
        if grid.blocked(pos, 0.0, ignore):
            return math.inf
    steps = np.arange(0.05, look_ahead + 0.05, 0.05)
    samples = pos[None] + steps[:, None] * direction[None]
    hit = grid.blocked(samples, clearance, ignore)
    if not hit.any():
        return math.inf
    return float(steps[int(np.argmax(hit))] - 0.05)
