"""The "render" generator: the rendered scene video as it is, without a character."""
from __future__ import annotations

import numpy as np

from ..video import to_uint8
from . import check_cancel


class RenderOnlyGenerator:
    """Frames = the conditioning's scene video (uint8)."""

    name = "render"

    def generate(self, conditioning, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray:
        frames = np.empty(conditioning.scene_video.shape, np.uint8)
        total = len(frames)
        for i, rgb in enumerate(conditioning.scene_video):
            check_cancel(should_cancel)
            frames[i] = to_uint8(rgb)
            if on_frame is not None:
                on_frame(i, frames[i])
            if on_progress is not None:
                on_progress("frames", i + 1, total)
        return frames
