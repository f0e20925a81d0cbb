"""Camera behaviours and keyframe interpolation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.rotations import quat_to_matrix as quat_to_rotation
from anix_core.rotations import slerp
from anix_core.trajectory import (dolly, follow, interpolate_keyframes, orbit, rotation_to_quat,
                                  smooth_zero_phase, static)


def _rot_z(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def _rot_x(deg):
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def _blender_matrix(location, R):
    m = np.eye(4)
    m[:3, :3] = R
    m[:3, 3] = location
    return m


def test_static_repeats_the_camera():
    cam = Camera.look_at([0, -4, 1.5], [0, 0, 1], 64, 48)
    cams = static(cam, 5)
    assert len(cams) == 5 and all(c is cam for c in cams)


def test_orbit_keeps_centre_in_image_centre_at_constant_distance():
    center = np.array([1.0, 2.0, 0.5])
    cams = orbit(center, radius=3.0, height_m=1.2, degrees=270, num_frames=10, width=832, height=480)
    assert len(cams) == 10
    for c in cams:
        uv, depth = c.project(center[None])
        np.testing.assert_allclose(uv[0], [416, 240], atol=1e-9)
        assert depth[0] == pytest.approx(math.hypot(3.0, 1.2))
        assert c.position[2] == pytest.approx(1.7)
        assert abs(c.world_to_camera[0, 2]) < 1e-12          # level horizon
    # It starts on the +X side and sweeps counter-clockwise to start + degrees.
    np.testing.assert_allclose(cams[0].position[:2], center[:2] + [3, 0], atol=1e-12)
    np.testing.assert_allclose(cams[-1].position[:2], center[:2] + [0, -3], atol=1e-12)
    quarter = orbit(center, 3.0, 1.2, 90, 2, 64, 64)
    np.testing.assert_allclose(quarter[1].position[:2], center[:2] + [0, 3], atol=1e-12)


def test_orbit_field_of_view_and_start_angle():
    cams = orbit([0, 0, 0], 2.0, 0.0, 0, 1, 100, 50, fov_x_deg=90, start_deg=180)
    np.testing.assert_allclose(cams[0].position, [-2, 0, 0], atol=1e-12)
    assert math.degrees(cams[0].fov_x_rad) == pytest.approx(90)


def test_dolly_moves_along_view_axis_with_ease_in_out():
    cam = Camera.look_at([0, -6, 1.5], [0, 0, 1.0], 320, 240)
    cams = dolly(cam, 2.0, 11)
    travelled = np.array([np.dot(c.position - cam.position, cam.forward) for c in cams])
    offsets = np.array([c.position - cam.position - t * cam.forward for c, t in zip(cams, travelled)])
    np.testing.assert_allclose(offsets, 0, atol=1e-12)            # stays on the axis
    assert travelled[0] == pytest.approx(0) and travelled[-1] == pytest.approx(2.0)
    steps = np.diff(travelled)
    assert np.all(steps > 0)
    assert steps[0] < steps[5] and steps[-1] < steps[5]           # eases in and out
    for c in cams:
        np.testing.assert_allclose(c.world_to_camera[:3, :3], cam.world_to_camera[:3, :3])
        np.testing.assert_array_equal(c.K, cam.K)


def _walk(num=60, speed=0.06, turn_at=30, turn_deg=90):
    """A character walking +X, then turning left and walking +Y."""
    pos, heading = np.zeros(3), 0.0
    path, headings = [], []
    for i in range(num):
        if i == turn_at:
            heading += math.radians(turn_deg)
        pos = pos + speed * np.array([math.cos(heading), math.sin(heading), 0.0])
        path.append(pos.copy())
        headings.append(heading)
    return np.array(path), np.array(headings)


def test_follow_keeps_target_in_front_and_in_frame():
    path, headings = _walk()
    cams = follow(path, headings, 832, 480)
    assert len(cams) == len(path)
    for c, p in zip(cams, path):
        uv, depth = c.project((p + [0, 0, 1.0])[None])
        assert depth[0] > 2.0
        assert 0.25 * 832 < uv[0, 0] < 0.75 * 832 and 0.25 * 480 < uv[0, 1] < 0.75 * 480
        assert abs(c.world_to_camera[0, 2]) < 1e-12


def test_follow_sits_behind_the_heading_at_distance_and_height_on_a_straight_walk():
    path, headings = _walk(turn_deg=0)
    cams = follow(path, headings, 320, 240, distance=4.0, height_m=1.8)
    for c, p in zip(cams, path):
        np.testing.assert_allclose(c.position, p + [-4.0, 0.0, 1.8], atol=1e-6)   # no lag


def test_follow_smooths_a_sudden_turn():
    path, headings = _walk()
    smooth = follow(path, headings, 320, 240, smoothing=0.85)
    raw = follow(path, headings, 320, 240, smoothing=0.0)
    jump = lambda cams: max(np.linalg.norm(np.diff([c.position for c in cams], axis=0), axis=1))
    assert jump(smooth) < 0.5 * jump(raw)


def test_follow_validates_its_inputs():
    path, headings = _walk()
    with pytest.raises(ValueError, match="headings"):
        follow(path, headings[:-1], 64, 64)
    with pytest.raises(ValueError, match="smoothing"):
        follow(path, headings, 64, 64, smoothing=1.0)
    with pytest.raises(ValueError, match="target_path"):
        follow(path[:, :2], headings, 64, 64)


def test_zero_phase_smoothing_keeps_lines_and_damps_steps():
    line = np.linspace(0, 5, 40)[:, None] * [1.0, -2.0]
    np.testing.assert_allclose(smooth_zero_phase(line, 0.9), line, atol=1e-9)
    step = (np.arange(40) >= 20).astype(float)[:, None]
    out = smooth_zero_phase(step, 0.8)[:, 0]
    assert 0.3 < out[19] < 0.5 and 0.5 < out[20] < 0.7 and np.all(np.diff(out) >= -1e-12)


def test_quaternion_round_trip_and_slerp_halfway():
    R = _rot_z(130) @ _rot_x(-40)
    np.testing.assert_allclose(quat_to_rotation(rotation_to_quat(R)), R, atol=1e-12)
    for deg in (0, 90, 179.9, 180):
        np.testing.assert_allclose(quat_to_rotation(rotation_to_quat(_rot_x(deg))), _rot_x(deg), atol=1e-9)
    q = slerp(rotation_to_quat(_rot_z(10)), rotation_to_quat(_rot_z(70)), 0.5)
    np.testing.assert_allclose(quat_to_rotation(q), _rot_z(40), atol=1e-12)
    # Shortest arc: from 170 to -170 degrees passes through 180, not 0.
    q = slerp(rotation_to_quat(_rot_z(170)), rotation_to_quat(_rot_z(-170)), 0.5)
    np.testing.assert_allclose(quat_to_rotation(q), _rot_z(180), atol=1e-12)


def test_keyframes_interpolate_position_rotation_and_lens():
    keys = [1, 11]
    mats = [_blender_matrix([0, -5, 1], _rot_z(0) @ _rot_x(90)), _blender_matrix([4, -1, 3], _rot_z(60) @ _rot_x(90))]
    cams = interpolate_keyframes(keys, mats, [30.0, 60.0], range(0, 13), resolution_x=640, resolution_y=360)
    assert len(cams) == 13
    mid = cams[6]                                                   # frame 6: halfway
    expected = Camera.from_blender(_blender_matrix([2, -3, 2], _rot_z(30) @ _rot_x(90)), 45.0, 36, 24,
                                   "AUTO", 0, 0, 640, 360)
    np.testing.assert_allclose(mid.world_to_camera, expected.world_to_camera, atol=1e-12)
    np.testing.assert_allclose(mid.K, expected.K, atol=1e-12)
    # Before the first and after the last key the end keys hold.
    np.testing.assert_allclose(cams[0].world_to_camera, cams[1].world_to_camera)
    np.testing.assert_allclose(cams[12].K, cams[11].K)


def test_catmull_rom_passes_through_keys_and_is_smooth_at_them():
    keys = [0, 10, 20, 30]
    locations = [[0, 0, 1], [5, 0, 1], [5, 5, 1], [0, 5, 1]]
    mats = [_blender_matrix(p, _rot_x(90)) for p in locations]
    cams = interpolate_keyframes(keys, mats, [35] * 4, range(31), position="catmull_rom")
    pos = np.array([c.position for c in cams])
    np.testing.assert_allclose(pos[keys], locations, atol=1e-12)
    # Velocity is continuous across key 10 (linear interpolation turns a corner there).
    near = [10 - 1e-4, 10, 10 + 1e-4]
    for mode, continuous in (("catmull_rom", True), ("linear", False)):
        p = np.array([c.position for c in interpolate_keyframes(keys, mats, [35] * 4, near, position=mode)])
        before, after = (p[1] - p[0]) / 1e-4, (p[2] - p[1]) / 1e-4
        assert (np.linalg.norm(after - before) < 1e-3) == continuous, mode


def test_keyframes_validate_inputs():
    m = _blender_matrix([0, 0, 0], np.eye(3))
    with pytest.raises(ValueError, match="strictly increasing"):
        interpolate_keyframes([5, 5], [m, m], [35, 35], [5])
    with pytest.raises(ValueError, match="matrices_world"):
        interpolate_keyframes([1, 2], [m], [35, 35], [1])
    with pytest.raises(ValueError, match="lens_mm"):
        interpolate_keyframes([1, 2], [m, m], [35], [1])
    with pytest.raises(ValueError, match="position"):
        interpolate_keyframes([1], [m], [35], [1], position="bezier")
    single = interpolate_keyframes([3], [m], [35], [0, 3, 9])
    assert len(single) == 3
