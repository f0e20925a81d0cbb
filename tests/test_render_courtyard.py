"""The courtyard fixture renders as the scene it is; transforms and the gsplat backend agree."""
from __future__ import annotations

import math

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.render import render
from anix_core.splats import GaussianScene, load
from test_cameras import similarity


@pytest.fixture(scope="module")
def courtyard(fixtures_dir) -> GaussianScene:
    return load(fixtures_dir / "courtyard.ply")


def pixel_of(cam: Camera, point) -> tuple[int, int]:
    uv, depth = cam.project(np.asarray([point], float))
    assert depth[0] > 0
    return int(uv[0, 1]), int(uv[0, 0])


def test_courtyard_from_the_south_east_shows_the_ground_pillars_and_sky(courtyard):
    cam = Camera.look_at([8.0, -8.0, 3.0], [0.0, 0.0, 0.0], 208, 120)
    out = render(courtyard, [cam], backend="cpu", background=(0.0, 0.0, 0.0))
    rgb, alpha = out.rgb[0], out.alpha[0]
    assert rgb.shape == (120, 208, 3) and rgb.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0

    row, col = pixel_of(cam, [0.0, 0.0, 0.3])  # fountain centre (behind the yellow pillar or on it)
    assert alpha[row, col] > 0.95
    row, col = pixel_of(cam, [4.0, 4.0, 1.5])  # red pillar, half-way up
    r, g, b = rgb[row, col]
    assert r > 0.4 and r > 2 * g and r > 2 * b
    row, col = pixel_of(cam, [4.0, -4.0, 2.0])  # yellow pillar, the nearest
    r, g, b = rgb[row, col]
    assert r > 0.5 and g > 0.4 and b < 0.5 * g
    assert alpha[2, 104] < 0.05  # sky above the courtyard: background
    # depth grows from the near pillar to the far one
    assert out.depth[0][pixel_of(cam, [4.0, -4.0, 2.0])] < out.depth[0][pixel_of(cam, [4.0, 4.0, 1.5])]


def test_the_ground_under_a_low_camera_does_not_blow_up_over_the_frame(courtyard):
    # splats just in front of a low camera project huge without the Jacobian clamp
    cam = Camera.look_at([6.0, 1.0, 0.2], [0.0, 0.0, 0.6], 160, 96, fov_x_deg=70)
    out = render(courtyard, [cam], backend="cpu")
    assert out.alpha[0, :10].mean() < 0.05  # the top rows see sky
    assert out.alpha[0, -10:].mean() > 0.95  # the bottom rows see the ground


def test_the_transformed_scene_seen_by_the_transformed_camera_renders_the_same_image(courtyard):
    assert courtyard.sh_degree == 3
    M = similarity(1.7, 37.0, [0.3, -0.5, 0.8], [2.0, -1.0, 0.5])
    cam = Camera.look_at([7.0, -6.0, 2.5], [0.0, 0.0, 0.8], 128, 80)
    before = render(courtyard, [cam], backend="cpu")
    after = render(courtyard.transformed(M), [cam.transformed(M)], backend="cpu")
    assert before.alpha.mean() > 0.3
    np.testing.assert_allclose(after.alpha, before.alpha, atol=2e-3)
    diff = np.abs(after.rgb - before.rgb)
    assert diff.mean() < 1e-3 and np.quantile(diff, 0.999) < 2e-2
    covered = before.alpha[0] > 0.5
    np.testing.assert_allclose(after.depth[0][covered], 1.7 * before.depth[0][covered], rtol=2e-3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.mark.cuda
def test_cpu_and_gsplat_agree_on_the_courtyard_from_eight_cameras(courtyard):
    cams = []
    for k in range(8):
        a = 2 * math.pi * k / 8
        cams.append(Camera.look_at([9 * math.cos(a), 9 * math.sin(a), 1.5 + 0.5 * k], [0.0, 0.0, 0.6], 832, 480))
    cpu = render(courtyard, cams, backend="cpu", background=(0.1, 0.2, 0.3))
    gpu = render(courtyard, cams, backend="gsplat", background=(0.1, 0.2, 0.3))
    for i in range(8):
        value = psnr(cpu.rgb[i], gpu.rgb[i])
        print(f"camera {i}: PSNR {value:.1f} dB")
        assert value >= 40.0
    assert np.abs(cpu.alpha - gpu.alpha).mean() < 1e-3
    covered = (cpu.alpha > 0.5) & (gpu.alpha > 0.5)
    assert np.median(np.abs(cpu.depth[covered] - gpu.depth[covered])) < 1e-3
