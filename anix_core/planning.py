"""From a `Plan` (anix_core.instructions) to motion: the ground under the character, an occupancy
grid of the scene, the character's root path (position and heading per frame) and a camera path
that fits it. Numpy only.

Conventions: world Z up, metres; headings in radians, 0 = facing +X, counter-clockwise about +Z.
Directions in a plan ("left", "backward", ...) are relative to the way the character faces when
the segment starts. Positive `turn_deg` turns left (counter-clockwise seen from above).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import instructions, trajectory
from .cameras import Camera
from .instructions import CAMERA_BEHAVIOURS, CAMERA_TARGET
from .routes import find_route, line_is_free, route_length
DEFAULT_WALK_MPS = 1.4
BAND_MIN_M, BAND_MAX_M = 0.2, 2.0      # obstacles: dense splats this high above the ground
TARGET_CLEARANCE_M = 0.15              # how far the root stops from a target's footprint
TURN_RATE_RAD_S = math.radians(300.0)  # fastest turn while moving
FOV_X_DEG = 60.0
STAYS_PUT_M = 0.5                      # a root that moves less than this is framed from the front
WAYPOINT_REACHED_M = 0.35              # a route's waypoint counts as passed this close...
ROUTE_MARGIN_M = 0.1                   # ...and routes keep this much more than the body's clearance


# ----------------------------------------------------------------------------- ground
@dataclass
class Ground:
    """The floor as a plane n . p = offset (n unit, n_z > 0), fitted under the anchor."""

    normal: np.ndarray
    offset: float
    inliers: int = 0

    def height_at(self, xy) -> np.ndarray:
        """Floor height z at xy [...,2]."""
        xy = np.asarray(xy, np.float64)
        n = self.normal
        return (self.offset - n[0] * xy[..., 0] - n[1] * xy[..., 1]) / n[2]


def fit_ground(scene, anchor_position, radius_m: float = 2.0, seed: int = 0) -> Ground:
    """Robust floor fit under the anchor: the splats (opacity > 0.2) within `radius_m` in xy
    (widened until there are enough) and not far above the anchor; the lowest dense layer of
    them (low percentile of z) is fitted with a RANSAC plane that must be near horizontal.
    Falls back to a flat floor at the anchor's own height when the scene has nothing there."""
    anchor = np.asarray(anchor_position, np.float64)
    flat = Ground(np.array([0.0, 0.0, 1.0]), float(anchor[2]))
    if scene is None or scene.count == 0:
        return flat
    means = scene.means.astype(np.float64)
    solid = scene.opacities() > 0.2
    below = means[:, 2] <= anchor[2] + 0.5
    d = np.hypot(means[:, 0] - anchor[0], means[:, 1] - anchor[1])
    pts = np.zeros((0, 3))
    for r in (radius_m, 2 * radius_m, 4 * radius_m, 8 * radius_m):
        pts = means[solid & below & (d <= r)]
        if len(pts) >= 30:
            break
    if len(pts) < 3:
        return flat
    low = np.percentile(pts[:, 2], 10.0)
    cand = pts[pts[:, 2] <= low + 0.15]
    if len(cand) < 3:
        return Ground(flat.normal, float(np.median(pts[:, 2])), len(pts))
    rng = np.random.default_rng(seed)
    best, best_count = None, -1
    for _ in range(64):
        a, b, c = cand[rng.choice(len(cand), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm * np.sign(n[2] or 1.0)
        if n[2] < 0.9:  # floors are near horizontal
            continue
        count = int((np.abs(cand @ n - n @ a) < 0.03).sum())
        if count > best_count:
            best, best_count = (n, float(n @ a)), count
    if best is None:
        return Ground(flat.normal, float(np.median(cand[:, 2])), len(cand))
    n, off = best
    inl = cand[np.abs(cand @ n - off) < 0.03]
    if len(inl) >= 3:  # least-squares refinement z = ax + by + c
        A = np.c_[inl[:, 0], inl[:, 1], np.ones(len(inl))]
        (ga, gb, gc), *_ = np.linalg.lstsq(A, inl[:, 2], rcond=None)
        n = np.array([-ga, -gb, 1.0])
        norm = np.linalg.norm(n)
        n, off = n / norm, gc / norm
    return Ground(n, float(off), len(inl))


# ----------------------------------------------------------------------------- occupancy
@dataclass
class OccupancyGrid:
    """Cells of `cell_m` metres in xy; `occupied[ix, iy]` where dense splats stand between
    BAND_MIN_M and BAND_MAX_M above the ground. `origin` is the xy of cell (0,0)'s corner.
    `band_points` [M,2] are the xy of the splats that made the occupied cells."""

    origin: np.ndarray
    cell_m: float
    occupied: np.ndarray
    band_points: np.ndarray
    _dilated: dict = field(default_factory=dict, repr=False)

    def cell_of(self, xy) -> tuple[np.ndarray, np.ndarray]:
        ij = np.floor((np.asarray(xy, np.float64) - self.origin) / self.cell_m).astype(np.int64)
        return ij[..., 0], ij[..., 1]

    def _lookup(self, grid: np.ndarray, xy) -> np.ndarray:
        i, j = self.cell_of(xy)
        inside = (i >= 0) & (j >= 0) & (i < grid.shape[0]) & (j < grid.shape[1])
        out = np.zeros(np.shape(i), bool)
        out[inside] = grid[i[inside], j[inside]]
        return out

    def is_occupied(self, xy) -> np.ndarray:
        return self._lookup(self.occupied, xy)

    def blocked(self, xy, clearance_m: float, ignore: np.ndarray | None = None) -> np.ndarray:
        """True where a body of radius `clearance_m` centred at xy [...,2] would touch an occupied
        cell (cells in the boolean grid `ignore` do not count)."""
        return self._lookup(self.blocked_grid(clearance_m, ignore), xy)

    def blocked_grid(self, clearance_m: float, ignore: np.ndarray | None = None) -> np.ndarray:
        """The occupied cells dilated by `clearance_m` (cached per clearance and `ignore`)."""
        key = (round(clearance_m, 3), id(ignore))
        if key not in self._dilated:
            base = self.occupied if ignore is None else self.occupied & ~ignore
            self._dilated[key] = _dilate(base, clearance_m / self.cell_m)
        return self._dilated[key]

    def object_at(self, xy, search_m: float = 0.6, gap_m: float = 1.0, max_radius_m: float = 4.0) -> np.ndarray | None:
        """The occupied cells [grid shape] of the object at or nearest to xy (within `search_m`):
        its connected region, where parts closer than `gap_m` to each other (a fountain's column
        and its rim) count as connected, kept within `max_radius_m` of xy. None when nothing is
        there."""
        i, j = self.cell_of(xy)
        r = int(math.ceil(max_radius_m / self.cell_m))
        i0, j0 = max(0, int(i) - r), max(0, int(j) - r)
        window = self.occupied[i0:int(i) + r + 1, j0:int(j) + r + 1]
        if window.size == 0:
            return None
        closed = _dilate(window, 0.5 * gap_m / self.cell_m)
        sub = OccupancyGrid(self.origin + self.cell_m * np.array([i0, j0]), self.cell_m, closed, self.band_points)
        comp = sub.component_at(xy, search_m + 0.5 * gap_m)
        if comp is None:
            return None
        out = np.zeros_like(self.occupied)
        out[i0:i0 + window.shape[0], j0:j0 + window.shape[1]] = comp & window
        return out if out.any() else None

    def component_at(self, xy, search_m: float = 0.6) -> np.ndarray | None:
        """The connected occupied region [grid shape] at or nearest to xy (within `search_m`),
        or None."""
        i, j = self.cell_of(xy)
        r = int(math.ceil(search_m / self.cell_m))
        nx, ny = self.occupied.shape
        best = None
        for di in range(-r, r + 1):
            for dj in range(-r, r + 1):
                a, b = int(i) + di, int(j) + dj
                if 0 <= a < nx and 0 <= b < ny and self.occupied[a, b]:
                    d = di * di + dj * dj
                    if best is None or d < best[0]:
                        best = (d, a, b)
        if best is None:
            return None
        comp = np.zeros_like(self.occupied)
        comp[best[1], best[2]] = True
        while True:
            grown = _dilate(comp, 1.5) & self.occupied
            if grown.sum() == comp.sum():
                return comp
            comp = grown

    def footprint_radius(self, center_xy, component: np.ndarray) -> float:
        """Distance from center_xy to the farthest obstacle splat of `component`."""
        pts = self.band_points
        inside = self._lookup(component, pts)
        if not inside.any():
            return 0.0
        return float(np.hypot(*(pts[inside] - np.asarray(center_xy)[:2]).T).max())


def _dilate(grid: np.ndarray, radius_cells: float) -> np.ndarray:
    r = int(math.floor(radius_cells))
    out = grid.copy()
    nx, ny = grid.shape
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            if (di or dj) and di * di + dj * dj <= radius_cells * radius_cells:
                src = grid[max(0, -di):nx - max(0, di), max(0, -dj):ny - max(0, dj)]
                out[max(0, di):nx - max(0, -di), max(0, dj):ny - max(0, -dj)] |= src
    return out


def occupancy_grid(scene, ground: Ground, center_xy, cell_m: float = 0.1, extent_m: float = 40.0,
                   min_count: int = 3, min_opacity: float = 0.3) -> OccupancyGrid:
    """Occupancy of dense splats between 0.2 m and 2 m above `ground`, within `extent_m` of
    `center_xy` (a cell needs `min_count` splats of opacity >= `min_opacity`)."""
    center = np.asarray(center_xy, np.float64)[:2]
    origin = center - extent_m
    n = int(math.ceil(2 * extent_m / cell_m))
    occupied = np.zeros((n, n), bool)
    pts = np.zeros((0, 2))
    if scene is not None and scene.count:
        means = scene.means.astype(np.float64)
        above = means[:, 2] - ground.height_at(means[:, :2])
        keep = (above >= BAND_MIN_M) & (above <= BAND_MAX_M) & (scene.opacities() >= min_opacity)
        pts = means[keep, :2]
        ij = np.floor((pts - origin) / cell_m).astype(np.int64)
        inside = np.all((ij >= 0) & (ij < n), axis=1)
        pts, ij = pts[inside], ij[inside]
        counts = np.zeros((n, n), np.int32)
        np.add.at(counts, (ij[:, 0], ij[:, 1]), 1)
        occupied = counts >= min_count
        pts = pts[occupied[ij[:, 0], ij[:, 1]]]
    return OccupancyGrid(origin, cell_m, occupied, pts)


def nearest_free(grid: OccupancyGrid, xy, clearance_m: float = 0.3, max_search_m: float = 10.0) -> np.ndarray:
    """The point nearest to xy where a body of radius `clearance_m` touches no obstacle (xy itself
    when it is free or nothing free is found within `max_search_m`)."""
    xy = np.asarray(xy, np.float64)[:2]
    if not grid.blocked(xy, clearance_m):
        return xy
    for r in np.arange(grid.cell_m, max_search_m, grid.cell_m):
        n = max(8, int(2 * math.pi * r / grid.cell_m))
        a = np.linspace(0, 2 * math.pi, n, endpoint=False)
        ring = xy + r * np.stack([np.cos(a), np.sin(a)], 1)
        free = ~grid.blocked(ring, clearance_m)
        if free.any():
            return ring[int(np.argmax(free))]
    return xy


# ----------------------------------------------------------------------------- motion
@dataclass
class MotionPlan:
    """Per-frame character motion and cameras.

    root_positions [F,3] feet on the ground (metres); headings [F] radians; speeds [F] m/s;
    plan: the `Plan` it came from; cameras: one `Camera` per frame.
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
        }


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def _smoothstep(t: float) -> float:
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
                   grid: OccupancyGrid | None = None, targets: dict | None = None):
    """Per-frame root positions [F,3], headings [F] and speeds [F] for the plan's segments.

    Locomotion moves the character with eased acceleration and a speed limit, turning at a
    bounded rate, toward a target (stopping just outside its footprint) or along a direction,
    and stops before obstacles in `grid`. Other segments keep the root still and may turn it
    (`turn_deg`), eased over the segment."""
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
            state["speed"] = _segment_speed(seg, state, pos, (min(end, num_frames) - i) * dt)
        next_moves = k + 1 < len(segments) and _moves(segments[k + 1]) and _seg(segments[k + 1], "start_frame", 0) <= end
        if state["moving"]:
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
                if state["direction"] == "around":
                    radial = math.atan2(to[1], to[0])
                    err = (dist - state["orbit_radius"]) / max(state["orbit_radius"], 0.5)
                    desired = radial + math.pi + state["orbit_sign"] * (math.pi / 2 - np.clip(err, -0.8, 0.8))
                    remaining = math.inf
                elif dist > 1e-6:
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
                t = _smoothstep((i + 1 - start) / duration)
                heading = state["start_heading"] + state["turn"] * t
    xy = np.array(positions)
    z = ground.height_at(xy)
    return np.c_[xy, z], np.array(headings), np.array(speeds)


def _segment_speed(seg, state, pos, duration_s: float) -> float:
    """The segment's speed, raised (up to 1.6x, a brisker gait) when a target would otherwise
    not be reached before the segment ends."""
    speed = float(_seg(seg, "speed_mps", DEFAULT_WALK_MPS) or 0.0)
    if state["target"] is None or state["direction"] == "around" or speed <= 0:
        return speed
    remaining = max(0.0, route_length(pos, state["route"]) - state["stop_radius"])
    a = _accel_for(speed)
    needed = remaining / max(duration_s - speed / a, 0.5 * duration_s, 1e-3)
    return float(np.clip(1.1 * needed, speed, 1.6 * speed))


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
        state["orbit_radius"] = max(dist, footprint + clearance + 0.3)
        state["route"] = [target[:2].copy()]
        if grid is not None and direction == "toward" and _moves(seg) and target_name != CAMERA_TARGET:
            route = find_route(grid, pos, target[:2], clearance + ROUTE_MARGIN_M, state["ignore"], state["stop_radius"])
            if route is not None:
                state["route"] = list(route)
        text = str(_seg(seg, "text", "") or "").lower()
        if "clockwise" in text and "counter" not in text and "anti" not in text:
            state["orbit_sign"] = -1.0
    elif direction == "around":
        # circle a point to the character's left
        centre = pos + 1.5 * np.array([math.cos(heading + math.pi / 2), math.sin(heading + math.pi / 2)])
        state["target"] = centre
        state["orbit_radius"] = 1.5
    return state


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


# ----------------------------------------------------------------------------- cameras
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


# ----------------------------------------------------------------------------- the whole plan
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
