"""`render` / `iter_render`: shapes, streaming, progress, cancellation, backend choice, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.render import RenderCancelled, RenderOutput, iter_render, render, resolve_backend
from anix_core.splats.scene import GaussianScene
from test_render_reference import random_scene


@pytest.fixture(scope="module")
def scene() -> GaussianScene:
    return random_scene(200, seed=1)


def cameras(n: int, width: int = 40, height: int = 30) -> list[Camera]:
    return [Camera.look_at([0.5 * k, -0.5, 0.2], [0.0, 5.0, 0.0], width, height) for k in range(n)]


def test_render_returns_float32_frames_stacked_over_cameras(scene):
    out = render(scene, cameras(3), backend="cpu")
    assert isinstance(out, RenderOutput) and out.num_frames == 3
    assert out.rgb.shape == (3, 30, 40, 3) and out.alpha.shape == (3, 30, 40) and out.depth.shape == (3, 30, 40)
    assert out.rgb.dtype == out.alpha.dtype == out.depth.dtype == np.float32
    assert 0 <= out.rgb.min() and out.rgb.max() <= 1
    assert not np.array_equal(out.rgb[0], out.rgb[2])  # different cameras, different images


def test_iter_render_streams_the_same_frames_one_by_one_and_reports_progress(scene):
    cams = cameras(3)
    whole = render(scene, cams, backend="cpu")
    progress = []
    frames = list(iter_render(scene, cams, backend="cpu", on_progress=lambda d, t: progress.append((d, t))))
    assert [i for i, _ in frames] == [0, 1, 2]
    for i, frame in frames:
        assert frame.rgb.shape == (1, 30, 40, 3)
        np.testing.assert_array_equal(frame.rgb[0], whole.rgb[i])
        np.testing.assert_array_equal(frame.depth[0], whole.depth[i])
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_iter_render_accepts_cameras_of_different_sizes(scene):
    cams = [cameras(1, 40, 30)[0], cameras(1, 24, 20)[0]]
    shapes = [frame.rgb.shape for _, frame in iter_render(scene, cams, backend="cpu")]
    assert shapes == [(1, 30, 40, 3), (1, 20, 24, 3)]


def test_should_cancel_stops_the_render_between_frames(scene):
    done = []
    with pytest.raises(RenderCancelled):
        render(scene, cameras(5), backend="cpu", on_progress=lambda d, t: done.append(d),
               should_cancel=lambda: len(done) >= 2)
    assert done == [1, 2]
    with pytest.raises(RenderCancelled):
        render(scene, cameras(2), backend="cpu", should_cancel=lambda: True)


def test_a_scene_entirely_behind_the_camera_renders_the_background(scene):
    behind = scene.subset(scene.means[:, 1] < -0.6)
    assert behind.count > 0
    out = render(behind, cameras(2), backend="cpu", background=(0.25, 0.5, 1.0))
    np.testing.assert_array_equal(out.rgb[..., 2], 1.0)
    np.testing.assert_array_equal(out.rgb[..., 0], 0.25)
    assert out.alpha.max() == 0 and out.depth.max() == 0


def test_an_empty_scene_renders_the_background():
    out = render(GaussianScene.empty(sh_degree=3), cameras(2), backend="cpu", background=(0.25, 0.5, 1.0))
    np.testing.assert_array_equal(out.rgb[..., 1], 0.5)
    assert out.alpha.max() == 0 and out.depth.max() == 0


def test_auto_picks_the_cpu_without_cuda_and_a_named_gsplat_says_what_it_needs():
    from anix_core.render.gsplat_backend import gsplat_available

    if gsplat_available():
        assert resolve_backend("auto") == "gsplat"
        return
    assert resolve_backend("auto") == "cpu"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_backend("gsplat")


def test_bad_arguments_are_refused_with_a_message_naming_the_argument(scene):
    with pytest.raises(ValueError, match="backend"):
        render(scene, cameras(1), backend="opengl")
    with pytest.raises(ValueError, match="one image size"):
        render(scene, [cameras(1, 40, 30)[0], cameras(1, 32, 30)[0]], backend="cpu")
    with pytest.raises(ValueError, match="background"):
        render(scene, cameras(1), backend="cpu", background=(1, 0))
    with pytest.raises(ValueError, match="cameras"):
        render(scene, [], backend="cpu")
    with pytest.raises(ValueError, match=r"cameras\[0\]"):
        render(scene, [np.eye(4)], backend="cpu")
