"""The numba rasteriser equals a slow, obvious NumPy rasteriser written from gsplat's rules.

The reference has no tiles and no pixel boxes: every pixel blends every projected splat front to
back. gsplat's tiles only skip contributions under 1/255, so both must give the same image.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.render import render
from anix_core.splats.scene import GaussianScene

SQRT_PI = math.sqrt(math.pi)


def sh_basis(dirs: np.ndarray, degree: int) -> np.ndarray:
    """Real SH basis [N, (degree+1)^2] in the 3DGS sign convention, from the textbook formulas."""
    x, y, z = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    pi = math.pi
    cols = [np.full_like(x, 0.5 / SQRT_PI)]
    if degree >= 1:
        c = math.sqrt(3 / (4 * pi))
        cols += [-c * y, c * z, -c * x]
    if degree >= 2:
        cols += [0.5 * math.sqrt(15 / pi) * x * y,
                 -0.5 * math.sqrt(15 / pi) * y * z,
                 0.25 * math.sqrt(5 / pi) * (3 * z * z - 1),
                 -0.5 * math.sqrt(15 / pi) * x * z,
                 0.25 * math.sqrt(15 / pi) * (x * x - y * y)]
    if degree >= 3:
        cols += [-0.25 * math.sqrt(35 / (2 * pi)) * y * (3 * x * x - y * y),
                 0.5 * math.sqrt(105 / pi) * x * y * z,
                 -0.25 * math.sqrt(21 / (2 * pi)) * y * (5 * z * z - 1),
                 0.25 * math.sqrt(7 / pi) * z * (5 * z * z - 3),
                 -0.25 * math.sqrt(21 / (2 * pi)) * x * (5 * z * z - 1),
                 0.25 * math.sqrt(105 / pi) * z * (x * x - y * y),
                 -0.25 * math.sqrt(35 / (2 * pi)) * x * (x * x - 3 * y * y)]
    return np.stack(cols, axis=1)


def sh_color(scene: GaussianScene, campos: np.ndarray) -> np.ndarray:
    """max(SH(direction from camera to mean) + 0.5, 0), not clamped above (gsplat's output)."""
    dirs = scene.means.astype(np.float64) - campos
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    coeffs = np.concatenate([scene.sh0[:, None, :], scene.shN], axis=1).astype(np.float64)
    basis = sh_basis(dirs, scene.sh_degree)
    return np.maximum(np.einsum("nk,nkc->nc", basis, coeffs) + 0.5, 0.0)


def quat_to_rotation(q: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def project_reference(scene: GaussianScene, cam: Camera, eps2d: float = 0.3):
    """Per splat: mean2d [N,2], 2D covariance [N,2,2] (with eps2d), depth [N], opacity [N], visible [N]."""
    W = cam.world_to_camera
    fx, fy, cx, cy = cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]
    means_c = scene.means.astype(np.float64) @ W[:3, :3].T + W[:3, 3]
    R = quat_to_rotation(scene.quats.astype(np.float64))
    S = np.exp(scene.log_scales.astype(np.float64))
    M = R * S[:, None, :]
    cov_world = M @ M.transpose(0, 2, 1)
    cov_cam = W[:3, :3] @ cov_world @ W[:3, :3].T
    x, y, z = means_c.T
    zs = np.where(z > 0, z, 1.0)
    lim_x = 1.3 * 0.5 * cam.width / fx   # centred principal point: edge + 0.3 half-FoV tangents
    lim_y = 1.3 * 0.5 * cam.height / fy
    tx = zs * np.clip(x / zs, -lim_x, lim_x)
    ty = zs * np.clip(y / zs, -lim_y, lim_y)
    J = np.zeros((len(z), 2, 3))
    J[:, 0, 0] = fx / zs
    J[:, 0, 2] = -fx * tx / zs**2
    J[:, 1, 1] = fy / zs
    J[:, 1, 2] = -fy * ty / zs**2
    cov2d = J @ cov_cam @ J.transpose(0, 2, 1)
    det_orig = np.linalg.det(cov2d)
    cov2d = cov2d + eps2d * np.eye(2)
    opacity = scene.opacities().astype(np.float64)
    if scene.antialiased:
        opacity = opacity * np.sqrt(np.maximum(det_orig / np.linalg.det(cov2d), 0.0))
    mean2d = np.stack([fx * x / zs + cx, fy * y / zs + cy], axis=1)
    visible = (z >= 0.01) & (opacity >= 1 / 255)
    return mean2d, cov2d, z, opacity, visible


def rasterize_reference(scene: GaussianScene, cam: Camera, background=(0.0, 0.0, 0.0)):
    """gsplat's blending rules, pixel by pixel over every splat in depth order. Returns rgb, alpha, depth."""
    mean2d, cov2d, depth, opacity, visible = project_reference(scene, cam)
    colors = sh_color(scene, cam.position)
    conic = np.linalg.inv(cov2d[visible])
    order = np.argsort(depth[visible], kind="stable")
    px, py = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
    T = np.ones(px.shape)
    acc = np.zeros(px.shape + (3,))
    acc_depth = np.zeros(px.shape)
    done = np.zeros(px.shape, bool)
    for i in order:
        g = np.flatnonzero(visible)[i]
        dx = mean2d[g, 0] - px
        dy = mean2d[g, 1] - py
        a, b, c = conic[i, 0, 0], conic[i, 0, 1], conic[i, 1, 1]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        alpha = np.minimum(0.999, opacity[g] * np.exp(-sigma))
        use = ~done & (sigma >= 0) & (alpha >= 1 / 255)
        next_T = T * (1 - alpha)
        stop = use & (next_T <= 1e-4)
        done |= stop
        use &= ~stop
        w = np.where(use, alpha * T, 0.0)
        acc += w[..., None] * colors[g]
        acc_depth += w * depth[g]
        T = np.where(use, next_T, T)
    alpha_img = 1 - T
    rgb = np.minimum(acc + T[..., None] * np.asarray(background), 1.0)
    depth_img = acc_depth / np.maximum(alpha_img, 1e-10)
    return rgb, alpha_img, depth_img


def random_scene(n: int, seed: int, sh_degree: int = 3, antialiased: bool = False) -> GaussianScene:
    """Splats in front of a camera at the origin looking down +y, some behind it, some off-screen."""
    rng = np.random.default_rng(seed)
    means = np.stack([rng.uniform(-4, 4, n), rng.uniform(-1, 9, n), rng.uniform(-2.5, 2.5, n)], axis=1)
    quats = rng.normal(size=(n, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    log_scales = rng.uniform(-3.5, -0.7, (n, 3))
    logits = rng.uniform(-3, 5, n)
    sh0 = rng.normal(0, 0.8, (n, 3))
    k = (sh_degree + 1) ** 2 - 1
    shN = rng.normal(0, 0.25, (n, k, 3))
    return GaussianScene(means, quats, log_scales, logits, sh0, shN, antialiased=antialiased)


def camera_looking_along_y(width=72, height=56, fov_x_deg=70.0) -> Camera:
    return Camera.look_at([0.0, -0.5, 0.2], [0.0, 5.0, 0.0], width, height, fov_x_deg=fov_x_deg)


@pytest.mark.parametrize("sh_degree", [0, 1, 2, 3])
def test_numba_rasteriser_matches_the_reference_for_each_sh_degree(sh_degree):
    scene = random_scene(300, seed=sh_degree, sh_degree=sh_degree)
    cam = camera_looking_along_y()
    out = render(scene, [cam], backend="cpu", background=(0.2, 0.3, 0.4))
    rgb, alpha, depth = rasterize_reference(scene, cam, background=(0.2, 0.3, 0.4))
    assert alpha.max() > 0.9 and alpha.min() < 0.5  # a real mix of covered and open pixels
    np.testing.assert_allclose(out.rgb[0], rgb, atol=1e-4)
    np.testing.assert_allclose(out.alpha[0], alpha, atol=1e-4)
    # depth is a ratio: compare where something was drawn, relative to the depth range
    covered = alpha > 1e-3
    np.testing.assert_allclose(out.depth[0][covered], depth[covered], atol=1e-4 * 10, rtol=1e-4)
    assert np.all(out.depth[0][alpha == 0] == 0)


@pytest.mark.parametrize("case", ["antialiased", "odd_size_off_centre"])
def test_numba_rasteriser_matches_the_reference_in_antialiased_mode_and_off_centre_odd_sizes(case):
    if case == "antialiased":
        scene, cam = random_scene(300, seed=7, antialiased=True), camera_looking_along_y()
    else:  # image size not a multiple of 16 (partial tiles), splats crossing the image borders
        scene = random_scene(400, seed=11)
        cam = Camera.look_at([1.0, -1.0, 0.5], [-1.0, 6.0, -0.5], 45, 37, fov_x_deg=55.0)
    out = render(scene, [cam], backend="cpu")
    rgb, alpha, _ = rasterize_reference(scene, cam)
    np.testing.assert_allclose(out.rgb[0], rgb, atol=1e-4)
    np.testing.assert_allclose(out.alpha[0], alpha, atol=1e-4)


def test_numba_rasteriser_matches_the_reference_where_pixels_saturate():
    # dense, nearly opaque splats: most pixels stop early at transmittance 1e-4
    scene = random_scene(400, seed=5)
    scene.logit_opacities[:] = np.abs(scene.logit_opacities) + 3.0
    scene.log_scales[:] += 0.7
    cam = camera_looking_along_y()
    out = render(scene, [cam], backend="cpu")
    rgb, alpha, depth = rasterize_reference(scene, cam)
    assert (alpha > 0.999).mean() > 0.5
    np.testing.assert_allclose(out.rgb[0], rgb, atol=1e-4)
    np.testing.assert_allclose(out.alpha[0], alpha, atol=1e-4)
    np.testing.assert_allclose(out.depth[0], depth, rtol=1e-4, atol=1e-4)
