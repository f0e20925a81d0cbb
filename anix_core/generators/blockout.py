"""The "blockout" generator: a previz shot on the CPU with no weights.

Each frame is the rendered scene with the character drawn in as a billboard: the view that faces
the camera (the two neighbouring views blended by the relative yaw between the character's
heading and the direction to the camera), scaled to the character's height, feet on the ground
at the root, hidden where the scene is nearer than the character (pillars occlude it), with a
soft contact shadow and a walk bob while it moves.

View convention: the front view shows the character's face (yaw 0: the camera in front of it),
the left view shows its left side (camera at +90 degrees, counter-clockwise from its heading),
then back (180) and right (-90).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..shot import VIEW_NAMES
from . import check_cancel

# The views by the camera's yaw around the character: 0, 90, 180 and 270 degrees counter-clockwise.
VIEW_RING = ("front", "left", "back", "right")


def prepare_sprites(views: dict) -> dict[str, np.ndarray]:
    """Crop the four RGBA views to one shared box around the character (alpha > 0): rows from the
    highest to the lowest drawn pixel of any view, columns symmetric about the image centre (the
    character's axis). Returns {name: premultiplied RGBA float32 [h,w,4]}, all the same size."""
    alphas = [np.asarray(views[n])[..., 3] > 8 for n in VIEW_NAMES]
    h0, w0 = alphas[0].shape
    rows = np.nonzero(np.any(np.stack([a.any(axis=1) for a in alphas if a.shape == (h0, w0)]), axis=0))[0]
    cols = np.nonzero(np.any(np.stack([a.any(axis=0) for a in alphas if a.shape == (h0, w0)]), axis=0))[0]
    if len(rows) == 0:
        raise ValueError("views: the character views are fully transparent")
    top, bottom = rows.min(), rows.max() + 1
    half = max(w0 / 2 - cols.min(), cols.max() + 1 - w0 / 2)
    left, right = int(math.floor(w0 / 2 - half)), int(math.ceil(w0 / 2 + half))
    sprites = {}
    for name in VIEW_NAMES:
        img = np.asarray(views[name])
        if img.shape[:2] != (h0, w0):
            img = np.asarray(Image.fromarray(img).resize((w0, h0), Image.BILINEAR))
        crop = img[top:bottom, max(left, 0):min(right, w0)].astype(np.float32) / 255.0
        crop[..., :3] *= crop[..., 3:4]
        sprites[name] = crop
    return sprites


def view_weights(relative_yaw_rad: float, sharpness: float = 2.0) -> list[tuple[str, float]]:
    """The two views around `relative_yaw_rad` (direction to the camera minus the character's
    heading) and their weights; blending happens around the diagonals, `sharpness` narrows it."""
    a = (math.degrees(relative_yaw_rad) % 360.0) / 90.0
    k = int(math.floor(a)) % 4
    t = a - math.floor(a)
    t = min(max((t - 0.5) * sharpness + 0.5, 0.0), 1.0)
    t = t * t * (3 - 2 * t)
    return [(VIEW_RING[k], 1.0 - t), (VIEW_RING[(k + 1) % 4], t)]


def relative_yaw(camera, root: np.ndarray, heading_rad: float) -> float:
    """Direction from the character to the camera, in the character's frame (0 = in front)."""
    to_cam = camera.position[:2] - np.asarray(root, np.float64)[:2]
    return math.atan2(to_cam[1], to_cam[0]) - heading_rad


class BlockoutGenerator:
    """Scene render + the character billboard (see the module docstring)."""

    name = "blockout"

    def __init__(self, shadow: bool = True, bob: bool = True, occlusion_margin_m: float = 0.3,
                 shadow_strength: float = 0.45, blend_sharpness: float = 2.0):
        self.shadow = shadow
        self.bob = bob
        self.occlusion_margin_m = occlusion_margin_m
        self.shadow_strength = shadow_strength
        self.blend_sharpness = blend_sharpness

    def generate(self, conditioning, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray:
        cond = conditioning
        sprites = prepare_sprites(cond.views)
        motion = cond.motion
        height_m = float(cond.character_height_m)
        distances = motion.distances
        total = cond.num_frames
        frames = np.empty((total, cond.height, cond.width, 3), np.uint8)
        for i in range(total):
            check_cancel(should_cancel)
            frame = np.clip(cond.scene_video[i], 0.0, 1.0).astype(np.float32, copy=True)
            self.composite_frame(frame, cond.scene_depth[i], cond.cameras[i], motion.root_positions[i],
                                 float(motion.headings[i]), float(motion.speeds[i]), float(distances[i]),
                                 height_m, sprites)
            frames[i] = (frame * 255.0 + 0.5).astype(np.uint8)
            if on_frame is not None:
                on_frame(i, frames[i])
            if on_progress is not None:
                on_progress("frames", i + 1, total)
        return frames

    # ------------------------------------------------------------------------- one frame
    def bob_m(self, speed: float, distance: float, height_m: float) -> float:
        """Vertical bob (metres) of the walk cycle: one bounce per step, larger when running."""
        if not self.bob or speed < 0.05:
            return 0.0
        step_m = max(0.25, height_m * (0.35 + 0.08 * min(speed, 6.0)))
        amplitude = height_m * min(0.008 + 0.006 * speed, 0.04) * min(speed / 0.5, 1.0)
        return amplitude * abs(math.sin(math.pi * distance / step_m))

    def composite_frame(self, frame, depth, camera, root, heading, speed, distance, height_m, sprites) -> None:
        """Draw the character into `frame` [H,W,3] float32 (in place)."""
        root = np.asarray(root, np.float64)
        lift = self.bob_m(speed, distance, height_m)
        pts = np.array([root, root + [0, 0, lift], root + [0, 0, lift + height_m]])
        uv, z = camera.project(pts)
        if np.any(z <= 0.05) or not np.all(np.isfinite(uv)):
            return
        char_depth = float(z[0])
        if self.shadow:
            self._draw_shadow(frame, depth, camera, root, height_m, char_depth)
        foot, head = uv[1], uv[2]
        sprite_h = float(foot[1] - head[1])
        if sprite_h < 2.0:
            return
        sh, sw = sprites["front"].shape[:2]
        sprite_w = sprite_h * sw / sh
        H, W = frame.shape[:2]
        x0 = int(round(foot[0] - sprite_w / 2)); x1 = x0 + max(1, int(round(sprite_w)))
        y1 = int(round(foot[1])); y0 = y1 - max(1, int(round(sprite_h)))
        if x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H or (x1 - x0) * (y1 - y0) > 16 * W * H:
            return
        blended = None
        for name, weight in view_weights(relative_yaw(camera, root, heading), self.blend_sharpness):
            if weight > 1e-3:
                blended = sprites[name] * weight if blended is None else blended + sprites[name] * weight
        # resize only the part of the sprite that lands inside the image
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        sx = sw / (x1 - x0); sy = sh / (y1 - y0)
        box = ((cx0 - x0) * sx, (cy0 - y0) * sy, (cx1 - x0) * sx, (cy1 - y0) * sy)
        channels = [np.asarray(Image.fromarray(np.ascontiguousarray(blended[..., c])).resize(
            (cx1 - cx0, cy1 - cy0), Image.BILINEAR, box=box)) for c in range(4)]
        sprite = np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
        alpha = sprite[..., 3]
        region_depth = depth[cy0:cy1, cx0:cx1]
        hidden = (region_depth > 0) & (region_depth < char_depth - self.occlusion_margin_m)
        alpha = np.where(hidden, 0.0, alpha)
        rgb = np.where(hidden[..., None], 0.0, sprite[..., :3])
        region = frame[cy0:cy1, cx0:cx1]
        region *= 1.0 - alpha[..., None]
        region += rgb

    def _draw_shadow(self, frame, depth, camera, root, height_m, char_depth) -> None:
        """A soft dark ellipse on the ground under the root (the ground's projected circle)."""
        radius = 0.28 * height_m
        fwd = camera.forward.copy(); fwd[2] = 0.0
        n = np.linalg.norm(fwd)
        fwd = fwd / n if n > 1e-6 else np.array([1.0, 0.0, 0.0])
        right = np.array([-fwd[1], fwd[0], 0.0])
        pts = np.array([root, root + radius * right, root - radius * right, root + radius * fwd, root - radius * fwd])
        uv, z = camera.project(pts)
        if np.any(z <= 0.05) or not np.all(np.isfinite(uv)):
            return
        cx, cy = 0.5 * (uv[3] + uv[4])
        ax = max(0.5 * abs(uv[1, 0] - uv[2, 0]), 1.0)
        ay = max(0.5 * abs(uv[3, 1] - uv[4, 1]), 0.5)
        H, W = frame.shape[:2]
        x0, x1 = max(int(cx - 1.6 * ax), 0), min(int(cx + 1.6 * ax) + 1, W)
        y0, y1 = max(int(cy - 1.6 * ay), 0), min(int(cy + 1.6 * ay) + 1, H)
        if x1 <= x0 or y1 <= y0:
            return
        xs = (np.arange(x0, x1) + 0.5 - cx) / ax
        ys = (np.arange(y0, y1) + 0.5 - cy) / ay
        d2 = ys[:, None] ** 2 + xs[None, :] ** 2
        shade = self.shadow_strength * np.exp(-1.8 * d2)
        region_depth = depth[y0:y1, x0:x1]
        shade = np.where((region_depth > 0) & (region_depth < char_depth - self.occlusion_margin_m - radius), 0.0, shade)
        frame[y0:y1, x0:x1] *= (1.0 - shade)[..., None]
