"""Camera paths: the user's keyframes interpolated, and behaviours (static, orbit, dolly,
follow). Every function returns one `Camera` per frame. Numpy only.

Conventions: world Z up, metres; headings in radians, 0 = facing +X, counter-clockwise about +Z.
Generated cameras keep the horizon level (up = +Z).
"""
from __future__ import annotations

import math

import numpy as np

from .cameras import Camera, _finite_array, _finite_float, _positive_float, _positive_int
from .rotations import quat_from_matrix, quat_to_matrix, slerp

UP = np.array([0.0, 0.0, 1.0])


# --------------------------------------------------------------------------------- behaviours
def static(camera: Camera, num_frames: int) -> list[Camera]:
    """The same camera on every frame."""
    return [camera] * _count(num_frames)


def orbit(
    center,
    radius: float,
    height_m: float,
    degrees: float,
    num_frames: int,
    width: int,
    height: int,
    fov_x_deg: float = 60.0,
    start_deg: float = 0.0,
) -> list[Camera]:
    """Circle `center` at `radius` metres, `height_m` metres above it, always looking at it.

    Frame i sits at angle start_deg + degrees * i / (num_frames - 1) (0 deg = on the +X side of
    the centre, positive = counter-clockwise seen from above), so the last frame ends the sweep.
    `height` is the image height in pixels.
    """
    center = _finite_array(center, (3,), "center")
    radius = _positive_float(radius, "radius")
    height_m = _finite_float(height_m, "height_m")
    degrees = _finite_float(degrees, "degrees")
    start = _finite_float(start_deg, "start_deg")
    n = _count(num_frames)
    cams = []
    for t in _unit_steps(n):
        a = math.radians(start + degrees * t)
        eye = center + np.array([radius * math.cos(a), radius * math.sin(a), height_m])
        cams.append(Camera.look_at(eye, center, width, height, fov_x_deg))
    return cams


def dolly(camera: Camera, distance_m: float, num_frames: int) -> list[Camera]:
    """Move `camera` `distance_m` metres along its view axis (positive = forward) with an
    ease-in-out (smoothstep) profile; orientation and intrinsics stay."""
    distance = _finite_float(distance_m, "distance_m")
    cams = []
    for t in _unit_steps(_count(num_frames)):
        w2c = camera.world_to_camera.copy()
        w2c[2, 3] -= distance * t * t * (3.0 - 2.0 * t)  # forward by d: camera-space z shrinks by d
        cams.append(Camera(w2c, camera.K.copy(), camera.width, camera.height))
    return cams


def follow(
    target_path,
    headings,
    width: int,
    height: int,
    distance: float = 4.0,
    height_m: float = 1.8,
    fov_x_deg: float = 60.0,
    smoothing: float = 0.85,
    look_height_m: float = 1.0,
) -> list[Camera]:
    """A camera behind a moving target, looking at it.

    target_path [F,3]: the target on the ground per frame; headings [F] (radians) the way it faces.
    The camera sits `distance` metres behind the heading and `height_m` above the target, and
    looks at the point `look_height_m` above it. Path and heading are smoothed with a zero-phase
    exponential filter (per-frame factor `smoothing` in [0, 1), 0 = none; run forwards and
    backwards over odd-reflected ends), so the camera has no lag on straight or steady paths and
    swings smoothly when the target turns.
    """
    path = np.asarray(target_path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 3 or len(path) == 0:
        raise ValueError(f"target_path: expected shape [F,3] with F >= 1, got {list(path.shape)}")
    head = np.asarray(headings, dtype=np.float64).reshape(-1)
    if head.shape[0] != path.shape[0]:
        raise ValueError(f"headings: expected {path.shape[0]} values (one per frame), got {head.shape[0]}")
    if not (np.all(np.isfinite(path)) and np.all(np.isfinite(head))):
        raise ValueError("target_path/headings: contain non-finite values")
    distance = _positive_float(distance, "distance")
    height_m = _finite_float(height_m, "height_m")
    look_height = _finite_float(look_height_m, "look_height_m")
    smoothing = _finite_float(smoothing, "smoothing")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing: must be in [0, 1), got {smoothing}")

    anchor = smooth_zero_phase(path, smoothing)
    head = smooth_zero_phase(np.unwrap(head)[:, None], smoothing)[:, 0]
    back = np.stack([-np.cos(head), -np.sin(head), np.zeros_like(head)], axis=1)
    eyes = anchor + distance * back + np.array([0.0, 0.0, height_m])
    looks = anchor + np.array([0.0, 0.0, look_height])
    return [Camera.look_at(e, l, width, height, fov_x_deg) for e, l in zip(eyes, looks)]


def smooth_zero_phase(x: np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential smoothing y[i] = s*y[i-1] + (1-s)*x[i] run forwards then backwards over
    [F,D] `x`. The line through the end values is taken out first and both ends are extended by
    odd reflection, so the ends stay put and straight lines pass unchanged."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if smoothing <= 0.0 or n < 3:
        return x.copy()
    ramp = np.linspace(0.0, 1.0, n).reshape((n,) + (1,) * (x.ndim - 1))
    trend = x[0] + ramp * (x[-1] - x[0])
    r = x - trend
    pad = min(n - 1, int(math.ceil(8.0 / (1.0 - smoothing))))
    y = np.concatenate([-r[pad:0:-1], r, -r[-2:-pad - 2:-1]])
    for order in (slice(None), slice(None, None, -1)):
        z = y[order].copy()
        for i in range(1, len(z)):
            z[i] = smoothing * z[i - 1] + (1.0 - smoothing) * z[i]
        y = z[order]
    return y[pad:pad + n] + trend


# --------------------------------------------------------------------------------- keyframes
def interpolate_keyframes(
    key_frames,
    matrices_world,
    lens_mm,
    frames,
    sensor_width_mm: float = 36.0,
    sensor_height_mm: float = 24.0,
    sensor_fit: str = "AUTO",
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    resolution_x: int = 1920,
    resolution_y: int = 1080,
    pixel_aspect_x: float = 1.0,
    pixel_aspect_y: float = 1.0,
    position: str = "linear",
) -> list[Camera]:
    """Cameras for `frames` from Blender camera keyframes.

    key_frames [K]: strictly increasing frame numbers; matrices_world [K,4,4]: the camera
    object's Blender matrix_world at each (scale ignored); lens_mm [K]: focal length at each.
    Between keys, rotations are slerped (shortest arc), the lens is linear and positions are
    "linear" or "catmull_rom" (tangents from the neighbouring keys, in frame time). Frames before
    the first or after the last key hold that key, as Blender does. Sensor, shift, resolution
    and pixel aspect are as in `Camera.from_blender`.

    Blender itself interpolates Euler channels, which equals the slerp when one rotation axis
    changes between two keys; for anything else sample the camera on every frame.
    """
    keys = np.asarray(key_frames, dtype=np.float64).reshape(-1)
    K = len(keys)
    if K == 0:
        raise ValueError("key_frames: need at least one keyframe")
    if not np.all(np.isfinite(keys)) or np.any(np.diff(keys) <= 0):
        raise ValueError("key_frames: must be finite and strictly increasing")
    mats = np.asarray(matrices_world, dtype=np.float64)
    if mats.shape != (K, 4, 4):
        raise ValueError(f"matrices_world: expected shape [{K},4,4], got {list(mats.shape)}")
    lens = np.asarray(lens_mm, dtype=np.float64).reshape(-1)
    if lens.shape != (K,):
        raise ValueError(f"lens_mm: expected {K} values, got {lens.shape[0]}")
    if not (np.all(np.isfinite(mats)) and np.all(np.isfinite(lens))):
        raise ValueError("matrices_world/lens_mm: contain non-finite values")
    if position not in ("linear", "catmull_rom"):
        raise ValueError(f"position: expected 'linear' or 'catmull_rom', got {position!r}")
    frames = np.asarray(list(frames), dtype=np.float64).reshape(-1)
    if len(frames) == 0 or not np.all(np.isfinite(frames)):
        raise ValueError("frames: need at least one finite frame number")

    rots = mats[:, :3, :3] / np.linalg.norm(mats[:, :3, :3], axis=1, keepdims=True)
    quats = np.array([rotation_to_quat(r) for r in rots])
    positions = mats[:, :3, 3]
    tangents = _catmull_rom_tangents(keys, positions) if position == "catmull_rom" else None

    cams = []
    for f in frames:
        i, t = _segment(keys, f)
        j = min(i + 1, K - 1)
        if tangents is None or i == j:
            p = (1 - t) * positions[i] + t * positions[j]
        else:
            dt = keys[j] - keys[i]
            h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
            p = h00 * positions[i] + h10 * dt * tangents[i] + h01 * positions[j] + h11 * dt * tangents[j]
        m = np.eye(4)
        m[:3, :3] = quat_to_matrix(slerp(quats[i], quats[j], t))
        m[:3, 3] = p
        cams.append(Camera.from_blender(
            m, (1 - t) * lens[i] + t * lens[j], sensor_width_mm, sensor_height_mm, sensor_fit,
            shift_x, shift_y, resolution_x, resolution_y, pixel_aspect_x, pixel_aspect_y))
    return cams


def _segment(keys: np.ndarray, f: float) -> tuple[int, float]:
    """Index of the key segment holding frame f and the fraction t in [0, 1] along it."""
    if f <= keys[0] or len(keys) == 1:
        return 0, 0.0
    if f >= keys[-1]:
        return len(keys) - 1, 0.0
    i = int(np.searchsorted(keys, f, side="right")) - 1
    return i, float((f - keys[i]) / (keys[i + 1] - keys[i]))


def _catmull_rom_tangents(keys: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Velocities (metres per frame) at each key: central differences, one-sided at the ends."""
    m = np.zeros_like(p)
    if len(keys) < 2:
        return m
    m[0] = (p[1] - p[0]) / (keys[1] - keys[0])
    m[-1] = (p[-1] - p[-2]) / (keys[-1] - keys[-2])
    for i in range(1, len(keys) - 1):
        m[i] = (p[i + 1] - p[i - 1]) / (keys[i + 1] - keys[i - 1])
    return m


# --------------------------------------------------------------------------------- rotations
def rotation_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix [3,3] (nearest rotation if slightly off)."""
    U, _, Vt = np.linalg.svd(np.asarray(R, dtype=np.float64))
    R = U @ Vt
    if np.linalg.det(R) < 0:
        raise ValueError("rotation: matrix has a reflection")
    return quat_from_matrix(R)


# --------------------------------------------------------------------------------- helpers
def _count(num_frames) -> int:
    return _positive_int(num_frames, "num_frames")


def _unit_steps(n: int) -> np.ndarray:
    return np.zeros(1) if n == 1 else np.linspace(0.0, 1.0, n)
