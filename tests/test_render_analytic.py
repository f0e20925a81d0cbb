"""Analytic checks of the CPU rasteriser: one Gaussian, SH colour, depth, occlusion, background."""
from __future__ import annotations

import math

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.render import render
from anix_core.splats.scene import GaussianScene
from test_render_reference import sh_basis


def one_splat(mean, scales, quat=(1, 0, 0, 0), opacity=0.8, rgb=(0.5, 0.5, 0.5), shN=None) -> GaussianScene:
    sh0 = (np.asarray(rgb, float) - 0.5) / 0.28209479177387814
    return GaussianScene(
        means=[mean], quats=[quat], log_scales=[np.log(scales)],
        logit_opacities=[math.log(opacity / (1 - opacity))], sh0=[sh0],
        shN=np.zeros((1, 0, 3)) if shN is None else [shN],
    )


def merge(*scenes: GaussianScene) -> GaussianScene:
    return GaussianScene(*(np.concatenate([getattr(s, f) for s in scenes]) for f in
                           ("means", "quats", "log_scales", "logit_opacities", "sh0", "shN")))


def ewa_covariance(cam: Camera, mean, scales, quat) -> np.ndarray:
    """J W R S S R^T W^T J^T + 0.3 I, written out from the EWA splatting paper."""
    w, x, y, z = np.asarray(quat, float) / np.linalg.norm(quat)
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                  [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                  [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    cov_world = R @ np.diag(np.square(scales)) @ R.T
    Wr = cam.world_to_camera[:3, :3]
    tx, ty, tz = Wr @ np.asarray(mean, float) + cam.world_to_camera[:3, 3]
    fx, fy = cam.K[0, 0], cam.K[1, 1]
    J = np.array([[fx / tz, 0, -fx * tx / tz**2], [0, fy / tz, -fy * ty / tz**2]])
    return J @ Wr @ cov_world @ Wr.T @ J.T + 0.3 * np.eye(2)


def image_moments(weights: np.ndarray):
    h, w = weights.shape
    px, py = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    total = weights.sum()
    mx, my = (weights * px).sum() / total, (weights * py).sum() / total
    dx, dy = px - mx, py - my
    cov = np.array([[(weights * dx * dx).sum(), (weights * dx * dy).sum()],
                    [(weights * dx * dy).sum(), (weights * dy * dy).sum()]]) / total
    return np.array([mx, my]), cov


def test_one_gaussian_lands_at_its_projected_mean_with_the_ewa_footprint_and_peak_opacity():
    cam = Camera.look_at([0.3, -6.0, 1.0], [0.0, 0.0, 0.0], 160, 120, fov_x_deg=50.0)
    mean, scales = np.array([0.4, 0.2, 0.3]), np.array([0.35, 0.12, 0.2])
    quat = np.array([0.9, 0.2, -0.3, 0.25])
    opacity = 0.8
    out = render(one_splat(mean, scales, quat / np.linalg.norm(quat), opacity), [cam], backend="cpu")
    alpha = out.alpha[0].astype(np.float64)

    uv, _ = cam.project(mean[None])
    centroid, cov = image_moments(alpha)
    np.testing.assert_allclose(centroid, uv[0], atol=0.01)

    # a Gaussian cut where opacity * exp(-m/2) < 1/255 keeps a known share of its second moment
    expected = ewa_covariance(cam, mean, scales, quat)
    m = 2 * math.log(opacity * 255)
    kept = 1 - (m / 2) * math.exp(-m / 2) / (1 - math.exp(-m / 2))
    np.testing.assert_allclose(cov, expected * kept, rtol=0.01)
    assert np.sqrt(cov[0, 0]) > 5 and np.sqrt(cov[1, 1]) > 5  # a footprint of many pixels, not a dot

    # the pixel holding the projected mean: opacity * exp(-d^T cov^-1 d / 2), d its offset
    col, row = int(uv[0, 0]), int(uv[0, 1])
    d = np.array([col + 0.5, row + 0.5]) - uv[0]
    assert alpha[row, col] == pytest.approx(opacity * math.exp(-0.5 * d @ np.linalg.solve(expected, d)), abs=1e-4)


def test_peak_alpha_equals_the_opacity_where_the_mean_hits_a_pixel_centre():
    cam = Camera.look_at([1.0, -4.0, 0.5], [0.1, 0.2, 0.0], 33, 25)  # odd sizes: the target is a pixel centre
    out = render(one_splat([0.1, 0.2, 0.0], [0.2, 0.1, 0.3], opacity=0.37), [cam], backend="cpu")
    assert out.alpha[0, 12, 16] == pytest.approx(0.37, abs=1e-6)
    assert out.alpha[0].max() == out.alpha[0, 12, 16]


def test_peak_alpha_is_capped_at_0_999():
    cam = Camera.look_at([0.0, -4.0, 0.0], [0.0, 0.0, 0.0], 33, 33)
    out = render(one_splat([0, 0, 0], [0.5, 0.5, 0.5], opacity=0.99999), [cam], backend="cpu")
    assert out.alpha[0, 16, 16] == pytest.approx(0.999, abs=1e-6)


@pytest.mark.parametrize("direction", [(0, -1, 0), (1, 0, 0), (0, 1, 0), (-1, 0, 0.2), (0.3, 0.2, 1), (0.5, -0.4, -1)])
def test_sh_colour_seen_from_a_direction_equals_the_analytic_spherical_harmonics(direction):
    rng = np.random.default_rng(3)
    shN = rng.normal(0, 0.15, (15, 3))
    sh0 = np.array([0.1, -0.2, 0.3])
    scene = one_splat([0.2, 0.1, -0.1], [0.6, 0.6, 0.6], opacity=0.999)
    scene.sh0[0] = sh0
    scene = GaussianScene(scene.means, scene.quats, scene.log_scales, scene.logit_opacities, scene.sh0, shN[None])
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    eye = scene.means[0] - 5.0 * d  # the camera looks along d at the splat centre
    up = (0, 0, 1) if abs(d[2]) < 0.9 else (0, 1, 0)
    cam = Camera.look_at(eye, scene.means[0], 33, 33, fov_x_deg=30.0, up=up)
    out = render(scene, [cam], backend="cpu")

    coeffs = np.concatenate([sh0[None], shN])
    colour = np.clip(sh_basis(d[None], 3)[0] @ coeffs + 0.5, 0, 1)
    assert 0.05 < colour.min() and colour.max() < 0.95  # a colour that shows every term
    # the centre pixel sits on the mean: alpha = 0.999, no background
    np.testing.assert_allclose(out.rgb[0, 16, 16], 0.999 * colour, atol=2e-5)


def test_sh_colour_changes_with_the_viewing_direction():
    shN = np.zeros((3, 3))
    shN[2] = [0.8, 0.0, -0.8]  # the x-band: red seen looking along -x, blue along +x
    scene = one_splat([0, 0, 0], [0.5, 0.5, 0.5], opacity=0.999, shN=shN)
    from_pos_x = render(scene, [Camera.look_at([5, 0, 0], [0, 0, 0], 33, 33)], backend="cpu").rgb[0, 16, 16]
    from_neg_x = render(scene, [Camera.look_at([-5, 0, 0], [0, 0, 0], 33, 33)], backend="cpu").rgb[0, 16, 16]
    assert from_pos_x[0] > 0.8 and from_pos_x[2] < 0.2
    assert from_neg_x[2] > 0.8 and from_neg_x[0] < 0.2


def test_depth_of_a_single_opaque_splat_is_its_camera_space_z():
    cam = Camera.look_at([1.0, -7.0, 2.0], [0.0, 0.0, 0.0], 64, 48)
    mean = np.array([0.3, 0.5, 0.2])
    out = render(one_splat(mean, [0.3, 0.3, 0.3], opacity=0.95), [cam], backend="cpu")
    _, z = cam.project(mean[None])
    covered = out.alpha[0] > 0
    assert covered.sum() > 50
    np.testing.assert_allclose(out.depth[0][covered], z[0], rtol=1e-5)
    assert np.all(out.depth[0][~covered] == 0)


def test_the_nearer_splat_wins_whatever_the_input_order():
    cam = Camera.look_at([0.0, -6.0, 0.0], [0.0, 0.0, 0.0], 48, 48)
    red = one_splat([0, -1, 0], [0.4, 0.4, 0.4], opacity=0.99, rgb=(1, 0, 0))
    blue = one_splat([0, 1, 0], [0.8, 0.8, 0.8], opacity=0.99, rgb=(0, 0, 1))
    for scene in (merge(red, blue), merge(blue, red)):
        out = render(scene, [cam], backend="cpu")
        centre = out.rgb[0, 24, 24]
        assert centre[0] > 0.9 and centre[2] < 0.05
        assert out.depth[0, 24, 24] == pytest.approx(5.0, abs=0.1)  # mostly the red splat at z = 5
    # beside the small red splat, the bigger blue one shows
    assert out.rgb[0, 24, 13][2] > 2 * out.rgb[0, 24, 13][0]


def test_background_fills_empty_pixels_and_shows_through_transparent_splats():
    cam = Camera.look_at([0.0, -5.0, 0.0], [0.0, 0.0, 0.0], 33, 33, fov_x_deg=60)
    scene = one_splat([0, 0, 0], [0.2, 0.2, 0.2], opacity=0.5, rgb=(1.0, 1.0, 0.0))
    bg = (0.1, 0.2, 0.9)
    out = render(scene, [cam], backend="cpu", background=bg)
    np.testing.assert_allclose(out.rgb[0, 0, 0], bg, atol=1e-7)
    assert out.alpha[0, 0, 0] == 0 and out.depth[0, 0, 0] == 0
    a = out.alpha[0, 16, 16]
    assert a == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_allclose(out.rgb[0, 16, 16], a * np.array([1.0, 1.0, 0.0]) + (1 - a) * np.array(bg), atol=1e-5)


def test_splats_behind_the_near_plane_are_not_drawn():
    cam = Camera.look_at([0.0, 0.0, 0.0], [0.0, 1.0, 0.0], 32, 32)
    behind = one_splat([0, -0.5, 0], [1, 1, 1], opacity=0.99)
    too_close = one_splat([0, 0.005, 0], [1, 1, 1], opacity=0.99)
    out = render(merge(behind, too_close), [cam], backend="cpu")
    assert out.alpha.max() == 0
