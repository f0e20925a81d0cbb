"""The "blockout" generator: a previz shot on the CPU with no weights.

Each frame is the rendered scene with the character drawn in as a billboard: the view that faces
the camera (the two neighbouring views blended by the relative yaw between the character's
heading and the direction to the camera), scaled to the character's height, feet on the ground
at the root, hidden where the scene is nearer than the character (pillars occlude it), with a
soft contact shadow and a walk bob while it moves. Gestures move the billboard
(`anix_core.generators.gestures`: a bow tips it, a wave shakes it, a jump lifts it) and an optional
caption burns in the frame number and the current action.

View convention: the front view shows the character's face (yaw 0: the camera in front of it),
the left view shows its left side (camera at +90 degrees, counter-clockwise from its heading),
then back (180) and right (-90).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..shot import VIEW_NAMES
from . import check_cancel, gestures

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
                 shadow_strength: float = 0.45, blend_sharpness: float = 2.0, gestures: bool = True,
                 caption: bool = False):
        self.shadow = shadow
        self.bob = bob
        self.occlusion_margin_m = occlusion_margin_m
        self.shadow_strength = shadow_strength
        self.blend_sharpness = blend_sharpness
        self.gestures = gestures   # move the billboard per action (anix_core.generators.gestures)
        self.caption = caption     # burn in the frame number and the current action

    def generate(self, conditioning, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray | None:
        """The shot's frames [F,H,W,3] uint8; with `on_frame` each frame goes there as it is made
        and none is kept (None is returned): with a streamed conditioning, memory does not grow
        with the frame count."""
        cond = conditioning
        sprites = prepare_sprites(cond.views)
        motion = cond.motion
        height_m = float(cond.character_height_m)
        distances = motion.distances
        segments = list(getattr(getattr(motion, "plan", None), "segments", None) or [])
        total = cond.num_frames
        frames = None if on_frame is not None else np.empty((total, cond.height, cond.width, 3), np.uint8)
        for i, scene in cond.iter_frames(should_cancel):
            check_cancel(should_cancel)
            segment = gestures.segment_at(segments, i)
            frame = np.clip(scene.rgb, 0.0, 1.0).astype(np.float32, copy=True)
            self.composite_frame(frame, scene.depth, cond.cameras[i], motion.root_positions[i],
                                 float(motion.headings[i]), float(motion.speeds[i]), float(distances[i]),
                                 height_m, sprites,
                                 gestures.pose(segment, i) if self.gestures and segment else gestures.UPRIGHT)
            out = (frame * 255.0 + 0.5).astype(np.uint8)
            if self.caption:
                draw_caption(out, f"frame {i + 1}/{total}  {gestures.caption_label(segment)}")
            if frames is not None:
                frames[i] = out
            else:
                on_frame(i, out)
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

    def composite_frame(self, frame, depth, camera, root, heading, speed, distance, height_m, sprites,
                        pose: gestures.Pose = gestures.UPRIGHT) -> None:
        """Draw the character into `frame` [H,W,3] float32 (in place), posed by `pose`."""
        root = np.asarray(root, np.float64)
        foot3, head3 = _posed_axis(root, heading, height_m, self.bob_m(speed, distance, height_m), pose, camera)
        pts = np.array([root, foot3, head3, foot3 + [0.0, 0.0, height_m]])
        uv, z = camera.project(pts)
        if np.any(z <= 0.05) or not np.all(np.isfinite(uv)):
            return
        char_depth = float(z[0])
        if self.shadow:
            self._draw_shadow(frame, depth, camera, root, height_m, char_depth)
        foot, head, upright_head = uv[1], uv[2], uv[3]
        upright_h = float(foot[1] - upright_head[1])
        axis = head - foot
        if upright_h < 2.0 or float(np.hypot(*axis)) < 1.0:
            return
        sh, sw = sprites["front"].shape[:2]
        sprite_w = upright_h * sw / sh * pose.widen
        side = np.array([-axis[1], axis[0]]) / float(np.hypot(*axis))  # across the body, unit
        corners = np.array([foot + k * 0.5 * sprite_w * side + t * axis for k in (-1, 1) for t in (0, 1)])
        H, W = frame.shape[:2]
        cx0, cy0 = (max(int(math.floor(v)), 0) for v in corners.min(axis=0))
        cx1, cy1 = min(int(math.ceil(corners[:, 0].max())), W), min(int(math.ceil(corners[:, 1].max())), H)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        blended = None
        for name, weight in view_weights(relative_yaw(camera, root, heading), self.blend_sharpness):
            if weight > 1e-3:
                blended = sprites[name] * weight if blended is None else blended + sprites[name] * weight
        # frame pixel -> sprite pixel: frame = foot + (u/sw - 1/2) * sprite_w * side + (1 - v/sh) * axis
        basis = np.column_stack([sprite_w * side, axis])
        inv = np.linalg.inv(basis)
        origin = np.array([cx0, cy0], np.float64) - foot
        row_u, row_t = inv[0], inv[1]
        coeffs = (sw * row_u[0], sw * row_u[1], sw * (row_u @ origin + 0.5),
                  -sh * row_t[0], -sh * row_t[1], sh * (1.0 - row_t @ origin))
        channels = [np.asarray(Image.fromarray(np.ascontiguousarray(blended[..., c])).transform(
            (cx1 - cx0, cy1 - cy0), Image.AFFINE, coeffs, resample=Image.BILINEAR)) for c in range(4)]
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


def _posed_axis(root, heading: float, height_m: float, bob_m: float, pose: gestures.Pose, camera):
    """(feet, top of the head) in world metres for a pose: lifted, shifted along the camera's
    right, tipped toward the heading (or the character's left) and sideways on screen, squashed."""
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(camera.forward, up)
    n = np.linalg.norm(right)
    right = right / n if n > 1e-6 else np.array([1.0, 0.0, 0.0])
    facing = np.array([math.cos(heading), math.sin(heading), 0.0])
    lean = np.array([-facing[1], facing[0], 0.0]) if pose.tip_side else facing
    foot = root + (bob_m + pose.lift * height_m) * up + pose.shift * height_m * right
    tip, sway = math.radians(pose.tip_deg), math.radians(pose.sway_deg)
    direction = math.cos(tip) * math.cos(sway) * up + math.sin(tip) * lean + math.sin(sway) * right
    direction /= np.linalg.norm(direction)
    return foot, foot + pose.squash * height_m * direction


def draw_caption(frame: np.ndarray, text: str) -> None:
    """Burn `text` into the top-left corner of a uint8 frame [H,W,3] (in place): white on a dark
    band, in PIL's built-in font (no font files needed)."""
    from PIL import ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=max(10, frame.shape[0] // 32))  # Pillow >= 10.1 scales its own font
    except (TypeError, ValueError, OSError):
        font = ImageFont.load_default()  # the fixed-size bitmap font
    left, top, right, bottom = draw.textbbox((4, 3), text, font=font)
    draw.rectangle((0, 0, right + 4, bottom + 3), fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 255), font=font)
    frame[...] = np.asarray(img)
