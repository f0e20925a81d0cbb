"""Pinhole cameras in the OpenCV convention, and conversion from Blender. Numpy only.

A `Camera` is a world-to-camera transform (x right, y down, z forward; world is Z up, metres),
an intrinsic matrix K in pixels and an image size. Pixel (i, j) covers [i, i+1) x [j, j+1), so
its centre sits at (i + 0.5, j + 0.5), as in gsplat; the image centre is (width/2, height/2).

cams.json, written by `cameras_to_json` and read by `cameras_from_json`, is either a list of
camera objects or an object {"cameras": [...]} (other top-level keys are ignored). One camera:

    {
      "world_to_camera": [[r00, r01, r02, tx], [r10, r11, r12, ty], [r20, r21, r22, tz], [0, 0, 0, 1]],
      "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
      "width": 832,
      "height": 480
    }

`camera_to_world` (its inverse) may replace `world_to_camera`, and `fov_x_deg` (horizontal field
of view, square pixels, centred principal point) may replace `K`. The rotation must be
orthonormal and right-handed (within 1e-3), every number finite, width and height integers in
16..8192. Errors are ValueError with a message naming the camera and the field.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .rotations import decompose_similarity

MIN_SIZE = 16
MAX_SIZE = 8192
MAX_CAMERAS = 100_000
_ROTATION_TOLERANCE = 1e-3
SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")

# Blender's camera looks down -Z with +Y up; OpenCV looks down +Z with +Y down.
_BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Camera:
    """One pinhole camera.

    world_to_camera: [4,4] float64, rigid (orthonormal right-handed rotation), OpenCV axes.
    K: [3,3] float64 intrinsics in pixels, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]].
    width, height: image size in pixels.
    """

    world_to_camera: np.ndarray
    K: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        w2c = _finite_array(self.world_to_camera, (4, 4), "world_to_camera")
        if not np.allclose(w2c[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise ValueError("world_to_camera: last row must be [0, 0, 0, 1]")
        _check_rotation(w2c[:3, :3], "world_to_camera")
        K = _finite_array(self.K, (3, 3), "K")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"K: focal lengths must be positive (fx={K[0, 0]}, fy={K[1, 1]})")
        if K[0, 1] != 0 or K[1, 0] != 0 or not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-12):
            raise ValueError("K: must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew)")
        object.__setattr__(self, "world_to_camera", w2c)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "width", _positive_int(self.width, "width"))
        object.__setattr__(self, "height", _positive_int(self.height, "height"))

    # ----------------------------------------------------------------------------- geometry
    @property
    def camera_to_world(self) -> np.ndarray:
        """[4,4] camera-to-world (columns: right, down, forward, position)."""
        R = self.world_to_camera[:3, :3]
        t = self.world_to_camera[:3, 3]
        out = np.eye(4)
        out[:3, :3] = R.T
        out[:3, 3] = -R.T @ t
        return out

    @property
    def position(self) -> np.ndarray:
        """[3] camera centre in world coordinates."""
        R = self.world_to_camera[:3, :3]
        return -R.T @ self.world_to_camera[:3, 3]

    @property
    def forward(self) -> np.ndarray:
        """[3] unit view direction (camera +z) in world coordinates."""
        return self.world_to_camera[2, :3] / np.linalg.norm(self.world_to_camera[2, :3])

    @property
    def fov_x_rad(self) -> float:
        """Horizontal field of view, 2*atan(width / (2 fx)) (exact for a centred principal point)."""
        return 2.0 * math.atan(self.width / (2.0 * self.K[0, 0]))

    @property
    def fov_y_rad(self) -> float:
        """Vertical field of view, 2*atan(height / (2 fy))."""
        return 2.0 * math.atan(self.height / (2.0 * self.K[1, 1]))

    def project(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Project world points [N,3] -> (uv [N,2] pixels, depth [N] camera-space z in metres).

        uv follows the pixel-centre-at-+0.5 convention (see module docstring). Points at or
        behind the camera plane (depth <= 0) get uv = NaN; check `depth > 0`.
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points: expected shape [N,3], got {list(pts.shape)}")
        cam = pts @ self.world_to_camera[:3, :3].T + self.world_to_camera[:3, 3]
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = cam[:, 0] / depth
            y = cam[:, 1] / depth
        uv = np.stack([self.K[0, 0] * x + self.K[0, 2], self.K[1, 1] * y + self.K[1, 2]], axis=1)
        uv[depth <= 0] = np.nan
        return uv, depth

    # ----------------------------------------------------------------------------- variants
    def with_size(self, width: int, height: int) -> "Camera":
        """The same view at another resolution: K rows scaled by width/self.width and
        height/self.height (exact under the pixel-centre convention)."""
        width = _positive_int(width, "width")
        height = _positive_int(height, "height")
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0] *= sx
        K[1] *= sy
        K[2] = [0.0, 0.0, 1.0]
        return Camera(self.world_to_camera.copy(), K, width, height)

    def scaled(self, factor: float) -> "Camera":
        """The same view with width and height multiplied by `factor` (rounded to pixels)."""
        factor = float(factor)
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"factor: must be a positive number, got {factor}")
        return self.with_size(max(1, round(self.width * factor)), max(1, round(self.height * factor)))

    def transformed(self, matrix) -> "Camera":
        """The camera that sees the scene transformed by `matrix` (world points p' = M p) as this
        camera sees the original scene.

        M = [[s R, t], [0, 1]] is a similarity (rotation R, uniform scale s > 0, translation t).
        The camera moves with the scene as a rigid body: position' = M(position), orientation
        R @ orientation, and its camera-space coordinates scale by s, so
            world_to_camera' = diag(s, s, s, 1) @ world_to_camera @ inv(M).
        Pixel coordinates are unchanged and depths are multiplied by s; K and size are kept.
        """
        try:
            s, Q, _ = decompose_similarity(matrix)
        except ValueError as exc:
            raise ValueError(f"matrix: {exc}") from None
        if np.linalg.det(Q) < 0:
            raise ValueError("matrix: a reflection cannot move a camera (its image would be mirrored)")
        M = np.asarray(matrix, dtype=np.float64)
        w2c = np.diag([s, s, s, 1.0]) @ self.world_to_camera @ np.linalg.inv(M)
        w2c[:3, :3] = _orthonormalize(w2c[:3, :3])
        w2c[3] = [0.0, 0.0, 0.0, 1.0]
        return Camera(w2c, self.K.copy(), self.width, self.height)

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def look_at(
        cls,
        eye,
        target,
        width: int,
        height: int,
        fov_x_deg: float = 60.0,
        up=(0.0, 0.0, 1.0),
        roll_deg: float = 0.0,
    ) -> "Camera":
        """A camera at `eye` looking at `target`, horizon level with respect to `up`.

        Square pixels, principal point at the image centre, horizontal field of view
        `fov_x_deg`. A positive `roll_deg` turns the camera clockwise about its view axis as
        seen from behind it (its right side tips down).
        """
        eye = _finite_array(eye, (3,), "eye")
        target = _finite_array(target, (3,), "target")
        up = _finite_array(up, (3,), "up")
        w2c = _look_at_matrix(eye, target, up, roll_deg)
        return cls(w2c, intrinsics_from_fov(fov_x_deg, width, height), width, height)

    @classmethod
    def from_blender(
        cls,
        matrix_world,
        lens_mm: float,
        sensor_width_mm: float,
        sensor_height_mm: float,
        sensor_fit: str,
        shift_x: float,
        shift_y: float,
        resolution_x: int,
        resolution_y: int,
        pixel_aspect_x: float = 1.0,
        pixel_aspect_y: float = 1.0,
    ) -> "Camera":
        """The camera Blender renders with (perspective cameras).

        matrix_world: the camera object's [4,4] world matrix (scale is ignored, as Blender does).
        resolution_x/y: the final image size in pixels (resolution times percentage / 100).
        sensor_fit: "AUTO", "HORIZONTAL" or "VERTICAL" (AUTO uses sensor_width_mm for the larger
        side, measured with the pixel aspect). Matches `bpy_extras.object_utils.
        world_to_camera_view` to well under 0.01 px.
        """
        mw = _finite_array(matrix_world, (4, 4), "matrix_world")
        lens = _positive_float(lens_mm, "lens_mm")
        sensor_w = _positive_float(sensor_width_mm, "sensor_width_mm")
        sensor_h = _positive_float(sensor_height_mm, "sensor_height_mm")
        W = _positive_int(resolution_x, "resolution_x")
        H = _positive_int(resolution_y, "resolution_y")
        pax = _positive_float(pixel_aspect_x, "pixel_aspect_x")
        pay = _positive_float(pixel_aspect_y, "pixel_aspect_y")
        shift_x = _finite_float(shift_x, "shift_x")
        shift_y = _finite_float(shift_y, "shift_y")
        fit = str(sensor_fit).upper()
        if fit not in SENSOR_FITS:
            raise ValueError(f"sensor_fit: expected one of {', '.join(SENSOR_FITS)}, got {sensor_fit!r}")

        if fit == "AUTO":
            sensor = sensor_w
            fit = "HORIZONTAL" if W * pax >= H * pay else "VERTICAL"
        else:
            sensor = sensor_w if fit == "HORIZONTAL" else sensor_h
        view_fac = W if fit == "HORIZONTAL" else H * pay / pax
        fx = lens / sensor * view_fac
        fy = fx * pax / pay
        cx = W / 2.0 - shift_x * view_fac
        cy = H / 2.0 + shift_y * view_fac * pax / pay
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

        rot = mw[:3, :3]
        norms = np.linalg.norm(rot, axis=0)
        if np.any(norms < 1e-12):
            raise ValueError("matrix_world: has a zero scale axis")
        rot = _orthonormalize(rot / norms)
        cam_to_world = np.eye(4)
        cam_to_world[:3, :3] = rot
        cam_to_world[:3, 3] = mw[:3, 3]
        w2c = _BLENDER_TO_OPENCV @ _rigid_inverse(cam_to_world)
        return cls(w2c, K, W, H)

    def to_blender(self, sensor_width_mm: float = 36.0) -> dict:
        """Blender camera settings that reproduce this camera: the inverse of `from_blender`,
        with HORIZONTAL fit on a `sensor_width_mm` sensor. Keys are `from_blender`'s argument
        names (matrix_world [4,4] as nested lists); pixel aspects are >= 1 as Blender requires."""
        sensor = _positive_float(sensor_width_mm, "sensor_width_mm")
        W, H = self.width, self.height
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        pax, pay = (1.0, fx / fy) if fx >= fy else (fy / fx, 1.0)
        return {
            "matrix_world": (self.camera_to_world @ _BLENDER_TO_OPENCV).tolist(),
            "lens_mm": fx * sensor / W,
            "sensor_width_mm": sensor,
            "sensor_height_mm": sensor * H / W,
            "sensor_fit": "HORIZONTAL",
            "shift_x": (W / 2.0 - cx) / W,
            "shift_y": (cy - H / 2.0) / (W * pax / pay),
            "resolution_x": W,
            "resolution_y": H,
            "pixel_aspect_x": pax,
            "pixel_aspect_y": pay,
        }

    # ----------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        """JSON-safe dict (see the module docstring)."""
        return {
            "world_to_camera": self.world_to_camera.tolist(),
            "K": self.K.tolist(),
            "width": int(self.width),
            "height": int(self.height),
        }

    @classmethod
    def from_dict(cls, d, name: str = "camera") -> "Camera":
        """Validated inverse of `to_dict` for untrusted input (cams.json, network requests).
        `name` prefixes error messages, e.g. "cameras[3]"."""
        if not isinstance(d, dict):
            raise ValueError(f"{name}: expected an object, got {type(d).__name__}")
        allowed = {"world_to_camera", "camera_to_world", "K", "fov_x_deg", "width", "height"}
        unknown = sorted(str(k) for k in d if k not in allowed)
        if unknown:
            raise ValueError(f"{name}: unknown field(s) {', '.join(unknown)}")
        width = _json_size(d, "width", name)
        height = _json_size(d, "height", name)

        has_w2c, has_c2w = "world_to_camera" in d, "camera_to_world" in d
        if has_w2c == has_c2w:
            raise ValueError(f"{name}: give exactly one of world_to_camera, camera_to_world")
        key = "world_to_camera" if has_w2c else "camera_to_world"
        pose = _json_matrix(d[key], (4, 4), f"{name}.{key}")
        if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
            raise ValueError(f"{name}.{key}: last row must be [0, 0, 0, 1]")
        _check_rotation(pose[:3, :3], f"{name}.{key}")
        pose[3] = [0.0, 0.0, 0.0, 1.0]
        w2c = pose if has_w2c else _rigid_inverse(pose)

        has_K, has_fov = "K" in d, "fov_x_deg" in d
        if has_K == has_fov:
            raise ValueError(f"{name}: give exactly one of K, fov_x_deg")
        if has_K:
            K = _json_matrix(d["K"], (3, 3), f"{name}.K")
            if K[0, 0] <= 0 or K[1, 1] <= 0:
                raise ValueError(f"{name}.K: focal lengths must be positive")
            if K[0, 1] != 0 or K[1, 0] != 0 or not np.allclose(K[2], [0.0, 0.0, 1.0]):
                raise ValueError(f"{name}.K: must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
            K[2] = [0.0, 0.0, 1.0]
        else:
            fov = _json_number(d["fov_x_deg"], f"{name}.fov_x_deg")
            if not 0.0 < fov < 180.0:
                raise ValueError(f"{name}.fov_x_deg: must be between 0 and 180, got {fov}")
            K = intrinsics_from_fov(fov, width, height)
        try:
            return cls(w2c, K, width, height)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


# --------------------------------------------------------------------------------- cams.json
def cameras_to_json(cameras: Iterable[Camera], indent: int | None = None) -> str:
    """Serialise cameras as a cams.json text: {"cameras": [camera dicts]}."""
    return json.dumps({"cameras": [c.to_dict() for c in cameras]}, indent=indent)


def cameras_from_json(source) -> list[Camera]:
    """Read cameras from cams.json text (str or bytes) or an already parsed object: a list of
    camera dicts, or {"cameras": [...]}. Raises ValueError naming the camera and field."""
    if isinstance(source, (bytes, bytearray)):
        source = source.decode("utf-8")
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as exc:
            raise ValueError(f"cameras: not valid JSON ({exc})") from None
    if isinstance(source, dict):
        if "cameras" not in source:
            raise ValueError('cameras: expected a list of cameras or an object with "cameras"')
        source = source["cameras"]
    if not isinstance(source, list):
        raise ValueError(f"cameras: expected a list, got {type(source).__name__}")
    if not source:
        raise ValueError("cameras: the list is empty")
    if len(source) > MAX_CAMERAS:
        raise ValueError(f"cameras: {len(source)} cameras, at most {MAX_CAMERAS} allowed")
    return [Camera.from_dict(d, name=f"cameras[{i}]") for i, d in enumerate(source)]


# --------------------------------------------------------------------------------- helpers
def intrinsics_from_fov(fov_x_deg: float, width: int, height: int) -> np.ndarray:
    """K [3,3] for square pixels, centred principal point and horizontal field of view."""
    fov = _finite_float(fov_x_deg, "fov_x_deg")
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov_x_deg: must be between 0 and 180, got {fov}")
    width = _positive_int(width, "width")
    height = _positive_int(height, "height")
    f = width / (2.0 * math.tan(math.radians(fov) / 2.0))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def _look_at_matrix(eye: np.ndarray, target: np.ndarray, up: np.ndarray, roll_deg: float = 0.0) -> np.ndarray:
    forward = target - eye
    n = np.linalg.norm(forward)
    if n < 1e-12:
        raise ValueError("target: must differ from eye")
    forward = forward / n
    right = np.cross(forward, up)
    rn = np.linalg.norm(right)
    if rn < 1e-9 * max(1.0, np.linalg.norm(up)):
        raise ValueError("up: the view direction is parallel to up (looking straight up or down)")
    right = right / rn
    down = np.cross(forward, right)
    roll = math.radians(_finite_float(roll_deg, "roll_deg"))
    if roll:
        c, s = math.cos(roll), math.sin(roll)
        right, down = c * right + s * down, -s * right + c * down
    R = np.stack([right, down, forward])  # rows: camera axes in world
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return w2c


def _rigid_inverse(m: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = m[:3, :3].T
    out[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return out


def _orthonormalize(R: np.ndarray) -> np.ndarray:
    """Nearest rotation (polar decomposition via SVD)."""
    U, _, Vt = np.linalg.svd(R)
    out = U @ Vt
    if np.linalg.det(out) < 0:
        U[:, -1] *= -1
        out = U @ Vt
    return out


def _check_rotation(R: np.ndarray, field: str) -> None:
    err = np.abs(R @ R.T - np.eye(3)).max()
    if err > _ROTATION_TOLERANCE or np.linalg.det(R) <= 0:
        raise ValueError(f"{field}: rotation part must be orthonormal and right-handed "
                         f"(error {err:.2g})")


def _finite_array(value, shape: tuple, field: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: expected numbers of shape {list(shape)}") from None
    if arr.shape != shape:
        raise ValueError(f"{field}: expected shape {list(shape)}, got {list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{field}: contains non-finite values")
    return arr


def _finite_float(value, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{field}: must be finite, got {out}")
    return out


def _positive_float(value, field: str) -> float:
    out = _finite_float(value, field)
    if out <= 0:
        raise ValueError(f"{field}: must be positive, got {out}")
    return out


def _positive_int(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{field}: expected a whole number of pixels, got {value!r}")
    if value <= 0:
        raise ValueError(f"{field}: must be positive, got {value}")
    return int(value)


def _json_number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{field}: must be finite, got {out}")
    return out


def _json_matrix(value, shape: tuple[int, int], field: str) -> np.ndarray:
    rows, cols = shape
    if not isinstance(value, list) or len(value) != rows:
        raise ValueError(f"{field}: expected {rows} rows of {cols} numbers")
    out = np.empty(shape)
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cols:
            raise ValueError(f"{field}: expected {rows} rows of {cols} numbers (row {i})")
        for j, x in enumerate(row):
            out[i, j] = _json_number(x, f"{field}[{i}][{j}]")
    return out


def _json_size(d: dict, key: str, name: str) -> int:
    if key not in d:
        raise ValueError(f"{name}: missing field {key}")
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{name}.{key}: expected a whole number of pixels, got {value!r}")
    value = int(value)
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise ValueError(f"{name}.{key}: must be between {MIN_SIZE} and {MAX_SIZE}, got {value}")
    return value
