"""Camera.from_blender and interpolate_keyframes against real Blender (bpy 5.0.1).

Blender runs in a child process (tests/blender_scripts/camera_truth.py) so bpy never shares a
process with torch; one child computes every case.
"""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.trajectory import interpolate_keyframes

pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs bpy (real Blender)"),
]

SCRIPT = Path(__file__).parent / "blender_scripts" / "camera_truth.py"


def _euler_xyz(rx, ry, rz):
    cx, sx, cy, sy, cz, sz = (math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry),
                              math.cos(rz), math.sin(rz))
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def _matrix_world(location, rotation_deg, scale=1.0):
    m = np.eye(4)
    m[:3, :3] = _euler_xyz(*np.radians(rotation_deg)) * scale
    m[:3, 3] = location
    return m


def _points_in_view(rng, matrix_world, n=40):
    """World points in front of a Blender camera (which looks down its local -Z)."""
    local = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(-3, 3, n), -rng.uniform(2, 12, n)])
    rot = matrix_world[:3, :3] / np.linalg.norm(matrix_world[:3, :3], axis=0)
    return local @ rot.T + matrix_world[:3, 3]


PROJECTION_CASES = {
    # name: fit, resolution, percentage, pixel aspect, shift, sensor, lens
    "auto_landscape": ("AUTO", (1920, 1080), 100, (1, 1), (0, 0), (36, 24), 50),
    "auto_portrait": ("AUTO", (720, 1280), 100, (1, 1), (0, 0), (36, 24), 35),
    "horizontal_portrait_shift": ("HORIZONTAL", (600, 900), 100, (1, 1), (0.1, -0.2), (36, 24), 28),
    "vertical_landscape_shift": ("VERTICAL", (832, 480), 100, (1, 1), (-0.15, 0.05), (36, 24), 40),
    "vertical_portrait": ("VERTICAL", (480, 832), 100, (1, 1), (0.0, 0.3), (32, 18), 24),
    "auto_pixel_aspect_wide": ("AUTO", (1000, 1000), 100, (2, 1), (0.05, 0.1), (36, 24), 50),
    "auto_pixel_aspect_tall": ("AUTO", (1000, 1000), 100, (1, 2), (0.05, -0.1), (36, 24), 50),
    "horizontal_pixel_aspect_percentage": ("HORIZONTAL", (1280, 720), 50, (1, 1.5), (0.2, 0.1), (23.76, 13.365), 85),
    "vertical_pixel_aspect": ("VERTICAL", (720, 576), 100, (16, 15), (-0.1, 0.0), (36, 24), 60),
}

ANIMATION_CASE = {
    # Between two keys only one Euler angle changes, where Blender's Euler interpolation is a slerp.
    "keys": [
        {"frame": 1, "location": [0.0, -6.0, 1.6], "rotation_euler": [math.radians(80), 0.0, 0.0], "lens": 35.0},
        {"frame": 13, "location": [3.0, -5.0, 2.0], "rotation_euler": [math.radians(80), 0.0, math.radians(40)], "lens": 50.0},
        {"frame": 25, "location": [4.0, -2.0, 3.0], "rotation_euler": [math.radians(55), 0.0, math.radians(40)], "lens": 24.0},
    ],
    "frames": list(range(-2, 29)),
}


TO_BLENDER_KS = [
    [[700.0, 0, 400], [0, 700.0, 260], [0, 0, 1]],
    [[600.0, 0, 416], [0, 900.0, 240], [0, 0, 1]],
    [[900.0, 0, 300], [0, 600.0, 200], [0, 0, 1]],
]


def _to_blender_camera(K):
    pose = Camera.look_at([3.0, -4.0, 2.0], [0.0, 0.0, 1.0], 832, 480)
    return Camera(pose.world_to_camera, np.array(K), 832, 480)


@pytest.fixture(scope="module")
def blender_truth():
    rng = np.random.default_rng(7)
    projections = []
    for i, (name, (fit, res, pct, pa, shift, sensor, lens)) in enumerate(PROJECTION_CASES.items()):
        mw = _matrix_world(rng.uniform(-5, 5, 3), rng.uniform(-180, 180, 3), scale=1.0 + 0.5 * (i % 2))
        projections.append({
            "name": name, "fit": fit, "resolution": list(res), "percentage": pct,
            "pixel_aspect": list(pa), "shift": list(shift), "sensor": list(sensor), "lens": lens,
            "matrix_world": mw.tolist(), "points": _points_in_view(rng, mw).tolist(),
        })
    for K in TO_BLENDER_KS:
        st = _to_blender_camera(K).to_blender(sensor_width_mm=36.0)
        mw = np.array(st["matrix_world"])
        projections.append({
            "name": "to_blender", "fit": st["sensor_fit"], "resolution": [st["resolution_x"], st["resolution_y"]],
            "percentage": 100, "pixel_aspect": [st["pixel_aspect_x"], st["pixel_aspect_y"]],
            "shift": [st["shift_x"], st["shift_y"]], "sensor": [st["sensor_width_mm"], st["sensor_height_mm"]],
            "lens": st["lens_mm"], "matrix_world": mw.tolist(), "points": _points_in_view(rng, mw).tolist(),
        })
    request = {"projections": projections, "animations": [ANIMATION_CASE]}
    proc = subprocess.run([sys.executable, str(SCRIPT)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("CAMERA_TRUTH "))
    result = json.loads(line[len("CAMERA_TRUTH "):])
    return request, result


@pytest.mark.parametrize("name", list(PROJECTION_CASES))
def test_from_blender_projects_like_blender(blender_truth, name):
    request, result = blender_truth
    idx = list(PROJECTION_CASES).index(name)
    case, truth = request["projections"][idx], result["projections"][idx]
    W, H = truth["size"]
    cam = Camera.from_blender(
        np.array(truth["matrix_world"]), case["lens"], case["sensor"][0], case["sensor"][1],
        case["fit"], case["shift"][0], case["shift"][1], W, H, *case["pixel_aspect"])
    uv, depth = cam.project(np.array(case["points"]))
    ndc = np.array(truth["ndc"])
    expected = np.column_stack([ndc[:, 0] * W, (1.0 - ndc[:, 1]) * H])
    assert (cam.width, cam.height) == (W, H)
    np.testing.assert_allclose(uv, expected, atol=1e-2)
    np.testing.assert_allclose(depth, ndc[:, 2], atol=1e-6)
    # Inside Blender's Python, fed with mathutils matrices and Blender's enum strings.
    np.testing.assert_allclose(np.array(truth["uv_in_blender"]), expected, atol=1e-2)


@pytest.mark.parametrize("index", range(len(TO_BLENDER_KS)))
def test_to_blender_settings_make_blender_see_what_the_camera_sees(blender_truth, index):
    request, result = blender_truth
    idx = len(PROJECTION_CASES) + index
    case, truth = request["projections"][idx], result["projections"][idx]
    uv, _ = _to_blender_camera(TO_BLENDER_KS[index]).project(np.array(case["points"]))
    ndc = np.array(truth["ndc"])
    np.testing.assert_allclose(uv, np.column_stack([ndc[:, 0] * 832, (1.0 - ndc[:, 1]) * 480]), atol=1e-2)


def test_keyframes_with_animated_lens_match_blender(blender_truth):
    request, result = blender_truth
    samples = result["animations"][0]["samples"]
    by_frame = {s["frame"]: s for s in samples}
    keys = [k["frame"] for k in ANIMATION_CASE["keys"]]
    cams = interpolate_keyframes(
        keys, [by_frame[f]["matrix_world"] for f in keys], [by_frame[f]["lens"] for f in keys],
        ANIMATION_CASE["frames"], resolution_x=832, resolution_y=480)
    points = np.random.default_rng(3).uniform([-4, -2, 0], [6, 8, 3], (50, 3))
    for cam, s in zip(cams, samples):
        truth = Camera.from_blender(np.array(s["matrix_world"]), s["lens"], 36, 24, "AUTO", 0, 0, 832, 480)
        np.testing.assert_allclose(cam.K, truth.K, atol=1e-4, err_msg=f"frame {s['frame']}")
        np.testing.assert_allclose(cam.world_to_camera, truth.world_to_camera, atol=1e-5,
                                   err_msg=f"frame {s['frame']}")
        uv, depth = cam.project(points)
        uv_true, depth_true = truth.project(points)
        front = depth_true > 0.1
        np.testing.assert_allclose(uv[front], uv_true[front], atol=1e-2)
    # The lens really is animated (24..50 mm), and frames outside the keys hold the end keys.
    lenses = [s["lens"] for s in samples]
    assert min(lenses) == pytest.approx(24.0) and max(lenses) == pytest.approx(50.0)
    assert cams[0].K[0, 0] == pytest.approx(cams[3].K[0, 0])
