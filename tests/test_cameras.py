"""Camera: OpenCV pinhole maths, variants, and validated cams.json input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from anix_core.cameras import Camera, cameras_from_json, cameras_to_json, intrinsics_from_fov


def similarity(scale, angle_deg, axis, translation):
    """[4,4] scale * rotation about `axis` by `angle_deg`, then translation."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = math.radians(angle_deg)
    Kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + math.sin(a) * Kx + (1 - math.cos(a)) * Kx @ Kx
    M = np.eye(4)
    M[:3, :3] = scale * R
    M[:3, 3] = translation
    return M


@pytest.fixture
def cam():
    return Camera.look_at([4.0, -3.0, 2.0], [0.0, 0.0, 1.0], 832, 480, fov_x_deg=70.0)


# ----------------------------------------------------------------------------- projection
def test_identity_camera_projects_with_pinhole_formula():
    K = np.array([[500.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    cam = Camera(np.eye(4), K, 640, 480)
    uv, depth = cam.project([[0.0, 0.0, 2.0], [1.0, -0.5, 4.0]])
    np.testing.assert_allclose(uv, [[320, 240], [320 + 500 * 0.25, 240 - 400 * 0.125]])
    np.testing.assert_allclose(depth, [2.0, 4.0])


def test_points_behind_the_camera_get_nan_pixels_and_negative_depth():
    cam = Camera(np.eye(4), intrinsics_from_fov(60, 64, 64), 64, 64)
    uv, depth = cam.project([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    assert np.isnan(uv).all()
    np.testing.assert_allclose(depth, [-1.0, 0.0])


def test_look_at_puts_target_at_image_centre_and_keeps_horizon_level(cam):
    uv, depth = cam.project([[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(uv[0], [416.0, 240.0], atol=1e-9)
    np.testing.assert_allclose(depth[0], np.linalg.norm([4.0, -3.0, 1.0]))
    right, down, forward = cam.world_to_camera[:3, :3]
    assert abs(right[2]) < 1e-12            # camera x has no world-up component: level horizon
    assert down[2] < 0                      # image y points down in the world
    np.testing.assert_allclose(forward, cam.forward)
    # A point straight above the target is higher in the image (smaller v).
    uv_up, _ = cam.project([[0.0, 0.0, 2.0]])
    assert uv_up[0, 1] < 240.0 and abs(uv_up[0, 0] - 416.0) < 1e-9


def test_look_at_facing_plus_x_has_minus_y_to_the_right():
    cam = Camera.look_at([0, 0, 0], [1, 0, 0], 100, 100, fov_x_deg=90)
    uv, _ = cam.project([[1.0, -1.0, 0.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(uv, [[100.0, 50.0], [50.0, 0.0]], atol=1e-9)


def test_positive_roll_tips_the_right_side_down():
    cam = Camera.look_at([0, 0, 0], [1, 0, 0], 100, 100, fov_x_deg=90, roll_deg=90)
    # After a 90 degree roll the camera's right side points at the ground, so world up
    # appears on the image's left side and world down on its right.
    uv, _ = cam.project([[1.0, 0.0, 0.5], [1.0, 0.0, -0.5]])
    np.testing.assert_allclose(uv, [[25.0, 50.0], [75.0, 50.0]], atol=1e-9)


def test_look_at_straight_down_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="parallel to up"):
        Camera.look_at([0, 0, 5], [0, 0, 0], 64, 64)


def test_pose_properties_agree(cam):
    np.testing.assert_allclose(cam.position, [4.0, -3.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(cam.camera_to_world @ cam.world_to_camera, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(cam.camera_to_world[:3, 2], cam.forward)
    assert math.degrees(cam.fov_x_rad) == pytest.approx(70.0)
    assert math.tan(cam.fov_y_rad / 2) == pytest.approx(math.tan(math.radians(35)) * 480 / 832)


# ----------------------------------------------------------------------------- variants
def test_with_size_scales_pixel_coordinates_exactly(cam):
    pts = np.random.default_rng(0).uniform(-2, 2, (20, 3))
    uv, depth = cam.project(pts)
    half = cam.with_size(416, 240)
    uv2, depth2 = half.project(pts)
    np.testing.assert_allclose(uv2, uv / 2, atol=1e-9)
    np.testing.assert_allclose(depth2, depth)
    assert (cam.scaled(0.5).width, cam.scaled(0.5).height) == (416, 240)
    np.testing.assert_allclose(cam.scaled(0.5).K, half.K)


def test_transformed_camera_sees_transformed_points_at_same_pixels_with_scaled_depth(cam):
    M = similarity(2.5, 37.0, [0.3, -1.0, 0.5], [1.0, 2.0, -3.0])
    pts = np.random.default_rng(1).uniform(-2, 2, (30, 3))
    moved = pts @ M[:3, :3].T + M[:3, 3]
    uv, depth = cam.project(pts)
    cam2 = cam.transformed(M)
    uv2, depth2 = cam2.project(moved)
    np.testing.assert_allclose(uv2, uv, atol=1e-8)
    np.testing.assert_allclose(depth2, 2.5 * depth, rtol=1e-10)
    np.testing.assert_allclose(cam2.position, M[:3, :3] @ cam.position + M[:3, 3], atol=1e-10)
    np.testing.assert_allclose(cam2.world_to_camera[:3, :3] @ cam2.world_to_camera[:3, :3].T, np.eye(3), atol=1e-12)


def test_transformed_refuses_shear_and_reflection(cam):
    shear = np.eye(4)
    shear[0, 1] = 0.5
    with pytest.raises(ValueError, match="matrix"):
        cam.transformed(shear)
    with pytest.raises(ValueError, match="reflection"):
        cam.transformed(np.diag([-1.0, 1.0, 1.0, 1.0]))


# ----------------------------------------------------------------------------- Blender maths
def test_from_blender_default_camera_looking_down_minus_z():
    # Blender's default: 50 mm lens, 36 mm sensor, 1920x1080; identity matrix looks down -Z.
    cam = Camera.from_blender(np.eye(4), 50, 36, 24, "AUTO", 0, 0, 1920, 1080)
    assert cam.K[0, 0] == pytest.approx(50 / 36 * 1920)
    assert cam.K[1, 1] == pytest.approx(cam.K[0, 0])
    np.testing.assert_allclose(cam.forward, [0, 0, -1])
    uv, depth = cam.project([[0.0, 1.0, -10.0]])      # Blender +Y is up in the image
    assert depth[0] == pytest.approx(10.0)
    assert uv[0, 1] < 540 and uv[0, 0] == pytest.approx(960)


def test_from_blender_ignores_object_scale():
    m = np.diag([3.0, 3.0, 3.0, 1.0])
    m[:3, 3] = [1, 2, 3]
    unscaled = np.eye(4)
    unscaled[:3, 3] = [1, 2, 3]
    a = Camera.from_blender(m, 35, 36, 24, "HORIZONTAL", 0.1, 0, 800, 600)
    b = Camera.from_blender(unscaled, 35, 36, 24, "HORIZONTAL", 0.1, 0, 800, 600)
    np.testing.assert_allclose(a.world_to_camera, b.world_to_camera, atol=1e-12)


def test_from_blender_vertical_fit_uses_sensor_height():
    cam = Camera.from_blender(np.eye(4), 24, 36, 18, "VERTICAL", 0, 0, 640, 480)
    assert cam.K[1, 1] == pytest.approx(24 / 18 * 480)
    with pytest.raises(ValueError, match="sensor_fit"):
        Camera.from_blender(np.eye(4), 24, 36, 18, "FILL", 0, 0, 640, 480)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, field", [
    (dict(world_to_camera=np.eye(3)), "world_to_camera"),
    (dict(world_to_camera=np.full((4, 4), np.nan)), "world_to_camera"),
    (dict(world_to_camera=np.diag([2.0, 2.0, 2.0, 1.0])), "world_to_camera"),
    (dict(K=np.eye(4)), "K"),
    (dict(K=np.diag([-1.0, 1.0, 1.0])), "K"),
    (dict(width=0), "width"),
    (dict(height=12.5), "height"),
])
def test_constructor_rejects_bad_fields_naming_them(kwargs, field):
    args = dict(world_to_camera=np.eye(4), K=intrinsics_from_fov(60, 64, 48), width=64, height=48)
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        Camera(**args)


def test_dict_round_trip_is_json_safe_and_exact(cam):
    d = json.loads(json.dumps(cam.to_dict()))
    back = Camera.from_dict(d)
    np.testing.assert_array_equal(back.world_to_camera, cam.world_to_camera)
    np.testing.assert_array_equal(back.K, cam.K)
    assert (back.width, back.height) == (832, 480)


def test_cams_json_round_trip_and_both_layouts(cam, tmp_path):
    cams = [cam, cam.with_size(416, 240)]
    text = cameras_to_json(cams)
    (tmp_path / "cams.json").write_text(text)
    back = cameras_from_json((tmp_path / "cams.json").read_text())
    assert [c.width for c in back] == [832, 416]
    as_list = cameras_from_json([c.to_dict() for c in cams])
    np.testing.assert_array_equal(as_list[1].K, cams[1].K)
    assert len(cameras_from_json(text.encode())) == 2


def test_cams_json_accepts_camera_to_world_and_fov():
    c2w = Camera.look_at([0, -5, 1], [0, 0, 1], 320, 240).camera_to_world
    [cam] = cameras_from_json({"cameras": [{"camera_to_world": c2w.tolist(), "fov_x_deg": 60,
                                            "width": 320, "height": 240}]})
    np.testing.assert_allclose(cam.position, [0, -5, 1], atol=1e-12)
    assert math.degrees(cam.fov_x_rad) == pytest.approx(60)


def _good():
    return Camera.look_at([0, -5, 1], [0, 0, 1], 320, 240).to_dict()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(width=8), r"cameras\[0\]\.width: must be between 16 and 8192"),
    (lambda d: d.update(height=10000), r"cameras\[0\]\.height"),
    (lambda d: d.update(width=True), r"cameras\[0\]\.width"),
    (lambda d: d.update(width="320"), r"cameras\[0\]\.width"),
    (lambda d: d.pop("height"), "missing field height"),
    (lambda d: d.update(K=[[1, 0, 0], [0, 1, 0]]), r"cameras\[0\]\.K"),
    (lambda d: d["K"][0].__setitem__(0, float("nan")), r"cameras\[0\]\.K\[0\]\[0\]: must be finite"),
    (lambda d: d["K"][0].__setitem__(0, "500"), r"cameras\[0\]\.K\[0\]\[0\]"),
    (lambda d: d["world_to_camera"][1].__setitem__(3, float("inf")), r"world_to_camera\[1\]\[3\]"),
    (lambda d: d["world_to_camera"][0].__setitem__(0, 3.0), r"world_to_camera: rotation"),
    (lambda d: d.update(world_to_camera=[[1, 0, 0, 0]] * 3), r"world_to_camera: expected 4 rows"),
    (lambda d: d.update(camera_to_world=d["world_to_camera"]), "exactly one of"),
    (lambda d: d.update(fov_x_deg=60), "exactly one of K, fov_x_deg"),
    (lambda d: d.update(intrinsics=1), "unknown field"),
])
def test_cams_json_rejects_bad_input_naming_the_field(mutate, message):
    d = _good()
    mutate(d)
    with pytest.raises(ValueError, match=message):
        cameras_from_json(json.dumps([d]))


def test_cams_json_rejects_bad_containers():
    for bad, message in [("{not json", "not valid JSON"), ("[]", "empty"), ('{"cams": []}', "cameras"),
                         ('"x"', "expected a list"), ("[3]", r"cameras\[0\]: expected an object")]:
        with pytest.raises(ValueError, match=message):
            cameras_from_json(bad)


def test_cameras_and_trajectory_import_nothing_heavier_than_numpy():
    # The Blender add-on vendors these modules into Blender's Python, which has numpy only.
    import subprocess
    import sys

    code = ("import sys, anix_core.cameras, anix_core.trajectory; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'bpy', 'zmq', 'numba', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("K", [
    [[700.0, 0, 400], [0, 700.0, 260], [0, 0, 1]],     # square pixels, shifted centre
    [[600.0, 0, 416], [0, 900.0, 240], [0, 0, 1]],     # tall pixels
    [[900.0, 0, 300], [0, 600.0, 200], [0, 0, 1]],     # wide pixels
])
def test_to_blender_round_trips_through_from_blender(cam, K):
    original = Camera(cam.world_to_camera, np.array(K), 832, 480)
    settings = original.to_blender(sensor_width_mm=36.0)
    assert settings["pixel_aspect_x"] >= 1 and settings["pixel_aspect_y"] >= 1
    back = Camera.from_blender(**settings)
    np.testing.assert_allclose(back.world_to_camera, original.world_to_camera, atol=1e-12)
    np.testing.assert_allclose(back.K, original.K, atol=1e-9)
