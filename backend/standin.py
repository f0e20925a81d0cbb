"""Generators the backend carries itself.

`SceneRenderGenerator` ("render"): the scene rendered along the shot's cameras with
anix_core.render.iter_render; real work, real frames. Used where anix_core.generators is not
installed. Without request cameras it orbits the anchor.

`PatternGenerator` ("pattern", servers started with --testing only): frames that are a pure
function of (seed, index, width, height), so tests can check every byte that arrives.
"""
from __future__ import annotations

import math

import numpy as np


class SceneRenderGenerator:
    name = "render"

    def generate(self, spec, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray:
        from anix_core.render import iter_render
        from anix_core.video import to_uint8

        cameras = spec.cameras or orbit_cameras(spec)
        total = len(cameras)
        # with on_frame every frame is handed on as it comes: nothing is kept (memory independent of the frame count)
        frames = None if on_frame else np.empty((total, spec.height, spec.width, 3), np.uint8)
        if on_progress:
            on_progress("generate", 0, total)
        for index, out in iter_render(spec.scene, cameras, backend=spec.options.get("render_backend", "auto"),
                                      should_cancel=should_cancel):
            frame = to_uint8(np.asarray(out.rgb).reshape(spec.height, spec.width, 3))
            if frames is not None:
                frames[index] = frame
            if on_frame:
                on_frame(index, frame)
            if on_progress:
                on_progress("generate", index + 1, total)
        return frames


def orbit_cameras(spec) -> list:
    """A half orbit around the anchor at 4 m, eye at 1.6 m above it, looking at its chest."""
    from anix_core.cameras import Camera

    centre = np.asarray(spec.anchor.position, np.float64)
    target = centre + [0.0, 0.0, 0.55 * spec.anchor.height_m]
    cams = []
    for i in range(spec.num_frames):
        a = spec.anchor.heading_rad + math.pi * i / max(spec.num_frames - 1, 1)
        eye = centre + [4.0 * math.cos(a), 4.0 * math.sin(a), 1.6]
        cams.append(Camera.look_at(eye, target, spec.width, spec.height, fov_x_deg=60.0))
    return cams


def pattern_frame(seed: int, index: int, width: int, height: int) -> np.ndarray:
    """Deterministic test frame [H,W,3] uint8."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 3 + index * 7 + seed) % 256
    g = (y * 5 + index * 11 + seed * 3) % 256
    b = ((x + y) * 2 + index * 13 + seed * 5) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


class PatternGenerator:
    name = "pattern"

    def generate(self, spec, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray | None:
        """Frames go to on_frame as they are made (None is returned), or are returned stacked.
        Option `static` (bool): every frame is frame 0 (measures transport, not numpy).
        Option `echo_history` (bool): frame i is history frame i (cycling), so tests can see
        which frames a continuation received."""
        frames = []
        first = pattern_frame(spec.seed, 0, spec.width, spec.height)
        history = spec.history_frames if spec.options.get("echo_history") else None
        for index in range(spec.num_frames):
            if should_cancel and should_cancel():
                raise InterruptedError("cancelled")
            if history is not None and len(history):
                frame = history[index % len(history)]
            else:
                frame = first if spec.options.get("static") else pattern_frame(spec.seed, index, spec.width, spec.height)
            if on_frame:
                on_frame(index, frame)
            else:
                frames.append(frame)
            if on_progress:
                on_progress("generate", index + 1, spec.num_frames)
        return np.stack(frames) if frames else None
