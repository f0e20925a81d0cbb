"""The "render" generator: the rendered scene video as it is, without a character; with
`overlay="character_box"` the character's box (the conditioning mask) is drawn over it, so the
animator sees where the character will be ("Preview Conditioning")."""
from __future__ import annotations

import numpy as np

from ..video import to_uint8
from . import check_cancel

OVERLAYS = ("none", "character_box")
BOX_COLOUR = (255, 196, 0)  # amber, readable on most scenes


def draw_character_box(frame: np.ndarray, mask: np.ndarray, colour=BOX_COLOUR, line_px: int = 2,
                       tint: float = 0.25) -> None:
    """Draw the bounding box of `mask` [H,W] (> 0.5 inside) on `frame` [H,W,3] uint8 in place: the
    inside tinted towards `colour`, an outline `line_px` wide along its inner edge. Nothing when
    the mask is empty (the character is out of view)."""
    rows = np.flatnonzero(np.asarray(mask).max(axis=1) > 0.5)
    cols = np.flatnonzero(np.asarray(mask).max(axis=0) > 0.5)
    if rows.size == 0 or cols.size == 0:
        return
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    c = np.asarray(colour, np.float32)
    inside = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (inside * (1.0 - tint) + c * tint + 0.5).astype(np.uint8)
    w = max(1, int(line_px))
    frame[y0:min(y0 + w, y1), x0:x1] = colour
    frame[max(y1 - w, y0):y1, x0:x1] = colour
    frame[y0:y1, x0:min(x0 + w, x1)] = colour
    frame[y0:y1, max(x1 - w, x0):x1] = colour


class RenderOnlyGenerator:
    """Frames = the conditioning's scene video (uint8), with the character box when asked."""

    name = "render"

    def __init__(self, overlay: str = "none", line_px: int = 2, tint: float = 0.25):
        if overlay not in OVERLAYS:
            raise ValueError(f"overlay must be one of {', '.join(OVERLAYS)}, not {overlay!r}")
        self.overlay, self.line_px, self.tint = overlay, line_px, tint

    def generate(self, conditioning, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray | None:
        """The frames [F,H,W,3] uint8, or None when `on_frame` took each as it was made."""
        total = conditioning.num_frames
        frames = None if on_frame is not None else np.empty((total, conditioning.height, conditioning.width, 3), np.uint8)
        for i, scene in conditioning.iter_frames(should_cancel):
            check_cancel(should_cancel)
            frame = to_uint8(scene.rgb)
            if self.overlay == "character_box" and scene.mask is not None:
                draw_character_box(frame, scene.mask, line_px=self.line_px, tint=self.tint)
            if frames is not None:
                frames[i] = frame
            else:
                on_frame(i, frame)
            if on_progress is not None:
                on_progress("frames", i + 1, total)
        return frames
