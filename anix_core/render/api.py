"""`render` / `iter_render`: a scene seen from a list of cameras, on gsplat (CUDA) or our CPU rasteriser."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

BACKENDS = ("auto", "gsplat", "cpu")
# Projection settings both backends pass to the same maths (gsplat's defaults).
NEAR_PLANE = 0.01  # scene units; splats nearer the camera are culled
FAR_PLANE = 1e10
EPS2D = 0.3  # px^2 added to the 2D covariance: the low-pass filter of classic 3DGS


class RenderCancelled(Exception):
    """Raised when `should_cancel()` turned true during a render."""


@dataclass
class RenderOutput:
    """Frames of one render.

    rgb [F,H,W,3] float32 in [0,1] (background composited: rgb + (1 - alpha) * background);
    alpha [F,H,W] float32 accumulated opacity; depth [F,H,W] float32 expected camera-space z in
    scene units (sum of w_i z_i / alpha), 0 where nothing was drawn.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])


def resolve_backend(backend: str = "auto") -> str:
    """"auto" -> "gsplat" when CUDA and gsplat are available, else "cpu"; names are checked."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "cpu":
        return "cpu"
    from .gsplat_backend import gsplat_available

    if gsplat_available():
        return "gsplat"
    if backend == "gsplat":
        raise ValueError("backend: gsplat needs a CUDA GPU with torch and gsplat installed; use --backend cpu")
    return "cpu"


def make_rasterizer(scene, backend: str = "auto"):
    """The backend object for `scene`: activations computed (or uploaded) once."""
    name = resolve_backend(backend)
    if name == "gsplat":
        from .gsplat_backend import GsplatRasterizer

        return GsplatRasterizer(scene)
    from .cpu import CpuRasterizer

    return CpuRasterizer(scene)


def _check_inputs(scene, cameras: Sequence, background) -> tuple[list, np.ndarray]:
    cameras = list(cameras)
    for i, cam in enumerate(cameras):
        for field in ("world_to_camera", "K", "width", "height"):
            if not hasattr(cam, field):
                raise ValueError(f"cameras[{i}]: not a Camera (no {field})")
    bg = np.asarray(background, dtype=np.float32).reshape(-1)
    if bg.shape != (3,) or not np.all(np.isfinite(bg)):
        raise ValueError(f"background: expected 3 finite numbers, got {background!r}")
    if not hasattr(scene, "means") or not hasattr(scene, "shN"):
        raise ValueError("scene: expected a GaussianScene")
    return cameras, bg


def iter_render(
    scene,
    cameras: Sequence,
    backend: str = "auto",
    background=(0.0, 0.0, 0.0),
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, RenderOutput]]:
    """Yield (index, RenderOutput with F = 1) frame by frame, for streaming.

    `should_cancel()` is asked before each frame; when true, RenderCancelled is raised.
    `on_progress(done, total)` is called after each frame. Cameras may differ in size here.
    """
    cameras, bg = _check_inputs(scene, cameras, background)
    total = len(cameras)
    if should_cancel is not None and should_cancel():
        raise RenderCancelled("render cancelled")
    if total == 0:
        return
    rasterizer = make_rasterizer(scene, backend)
    if rasterizer.name == "gsplat":
        groups = _same_size_runs(cameras)
    else:
        groups = [cameras]
    index = 0
    for group in groups:
        for rgb, alpha, depth in rasterizer.render_frames(group, bg):
            yield index, RenderOutput(rgb[None], alpha[None], depth[None])
            index += 1
            if on_progress is not None:
                on_progress(index, total)
            if index < total and should_cancel is not None and should_cancel():
                raise RenderCancelled(f"render cancelled after {index} of {total} frames")


def render(
    scene,
    cameras: Sequence,
    backend: str = "auto",
    background=(0.0, 0.0, 0.0),
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> RenderOutput:
    """Render `scene` (GaussianScene) from each camera (anix_core.cameras.Camera) into one RenderOutput.

    All cameras must share one image size. backend: "auto" (gsplat when CUDA is available,
    else "cpu"), "gsplat" or "cpu"; both follow gsplat's classic rasterisation (antialiased when
    `scene.antialiased`). background: RGB in [0,1] behind the splats.
    """
    cameras, _ = _check_inputs(scene, cameras, background)
    width, height = shared_size(cameras)
    f = len(cameras)
    out = RenderOutput(np.empty((f, height, width, 3), np.float32),
                       np.empty((f, height, width), np.float32),
                       np.empty((f, height, width), np.float32))
    for i, frame in iter_render(scene, cameras, backend, background, on_progress, should_cancel):
        out.rgb[i] = frame.rgb[0]
        out.alpha[i] = frame.alpha[0]
        out.depth[i] = frame.depth[0]
    return out


def shared_size(cameras: Sequence) -> tuple[int, int]:
    """(width, height) all `cameras` share; ValueError when the list is empty or sizes differ."""
    if not cameras:
        raise ValueError("cameras: the list is empty")
    sizes = {(int(c.width), int(c.height)) for c in cameras}
    if len(sizes) > 1:
        raise ValueError(f"cameras: all must share one image size, got {sorted(sizes)}")
    return next(iter(sizes))


def _same_size_runs(cameras: list) -> list[list]:
    """Consecutive cameras grouped by image size (gsplat batches one size at a time)."""
    runs: list[list] = []
    for cam in cameras:
        if runs and (runs[-1][0].width, runs[-1][0].height) == (cam.width, cam.height):
            runs[-1].append(cam)
        else:
            runs.append([cam])
    return runs
