"""What a camera can see in the scene: whether a camera centre stands inside or against
geometry, and whether its lines of sight to points on the character are clear. Both use the
occupancy grid's column tops (anix_core.planning.obstacles); `hidden_frames` uses the scene's
rendered depth instead. Numpy only."""
from __future__ import annotations

import math

import numpy as np

EYE_CLEARANCE_M = 0.35      # a camera centre keeps this far from any geometry (and the floor)
SIGHT_STEP_M = 0.05         # lines of sight are sampled this finely (half a grid cell)
DEPTH_MARGIN_M = 0.3        # the scene hides the character when this much nearer (as the blockout)
CHARACTER_POINTS = (0.3, 0.55, 0.9)  # knees, chest and head, as fractions of the height


def character_points(root_positions, height_m: float) -> np.ndarray:
    """[F,3,3]: the knees, chest and head above each root [F,3]."""
    roots = np.asarray(root_positions, np.float64)
    up = np.array(CHARACTER_POINTS)[:, None] * np.array([0.0, 0.0, height_m])
    return roots[:, None, :] + up[None]


def eye_blocked(grid, ground, eyes, clearance_m: float = EYE_CLEARANCE_M) -> np.ndarray:
    """[N] True where a camera centre (eyes [N,3]) is inside geometry or closer than `clearance_m`
    to it (a column of the grid within `clearance_m` whose top is above the eye's height minus
    `clearance_m`), or closer than that to the floor."""
    eyes = np.asarray(eyes, np.float64).reshape(-1, 3)
    near_top = grid.values_at(grid.tops_near(clearance_m), eyes[:, :2])
    floor = ground.height_at(eyes[:, :2]) if ground is not None else -np.inf
    return (eyes[:, 2] - clearance_m <= near_top) | (eyes[:, 2] < floor + clearance_m)


def sight_clear(grid, eyes, points, body_m: float = 0.45, chunk: int = 4096) -> np.ndarray:
    """[N,P] True where the straight line from eyes [N,3] to points [N,P,3] passes no column of
    the grid taller than the line there (the last `body_m` metres, inside the character's own
    box, do not count)."""
    eyes = np.asarray(eyes, np.float64)
    points = np.asarray(points, np.float64)
    n, p = points.shape[:2]
    a = np.broadcast_to(eyes[:, None, :], points.shape).reshape(-1, 3)
    b = points.reshape(-1, 3)
    length = np.linalg.norm(b - a, axis=1)
    steps = int(min(400, max(2, math.ceil(length.max(initial=0.0) / SIGHT_STEP_M))))
    out = np.ones(len(a), bool)
    for s in range(0, len(a), chunk):
        aa, bb, ll = a[s:s + chunk], b[s:s + chunk], length[s:s + chunk]
        t = np.linspace(0.0, 1.0, steps)[None, :] * np.clip(ll - body_m, 0.0, None)[:, None] / np.maximum(ll, 1e-9)[:, None]
        samples = aa[:, None, :] + t[..., None] * (bb - aa)[:, None, :]
        tops = grid.values_at(grid.tops, samples[..., :2])
        out[s:s + chunk] = ~(tops >= samples[..., 2]).any(axis=1)
    return out.reshape(n, p)


def visibility(grid, eyes, points) -> np.ndarray:
    """[N] the share of each row of points [N,P,3] that eyes [N,3] see."""
    return sight_clear(grid, eyes, points).mean(axis=1)


def hidden_frames(cameras, root_positions, height_m: float, scene_depth) -> list[int]:
    """Frames where the character's knees, chest and head are all in the picture behind the
    scene (the rendered depth [F,H,W] there is more than DEPTH_MARGIN_M nearer than they are),
    or all behind the camera: the frames where the shot does not show it."""
    pts = character_points(root_positions, height_m)
    return [i for i, cam in enumerate(cameras) if frame_hidden(cam, pts[i], scene_depth[i])]


def frame_hidden(camera, points, depth) -> bool:
    """`hidden_frames` for one frame: the character's points [3,3] (`character_points`) seen by
    `camera` over that frame's rendered depth [H,W]."""
    uv, z = camera.project(points)
    if not (z > 0).any():
        return True  # all behind the camera
    in_frame = [(u, v, d) for (u, v), d in zip(uv, z) if d > 0 and 0 <= u < camera.width and 0 <= v < camera.height]
    for u, v, d in in_frame:
        scene_d = float(depth[int(v), int(u)])
        if scene_d <= 0 or scene_d > d - DEPTH_MARGIN_M:
            return False  # this point shows (nothing drawn there, or the scene not nearer)
    return bool(in_frame)


def frame_ranges(frames) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    frames = sorted(int(f) for f in frames)
    parts, start = [], None
    for k, f in enumerate(frames):
        if start is None:
            start = f
        if k + 1 == len(frames) or frames[k + 1] != f + 1:
            parts.append(str(start) if start == f else f"{start}-{f}")
            start = None
    return ", ".join(parts)
