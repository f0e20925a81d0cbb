"""Make the demo assets shipped in this folder: a small courtyard scene of Gaussians
(`courtyard_demo.npz`) and a four-view robot character (`robot_{front,left,back,right}.png`).

Everything is procedural and seeded, so running this again gives the same files:

    python -m anix_core.demo.make_assets

The scene: Z up, metres, ground at z = 0. A 14 m x 14 m paved plaza, a fountain (rim radius
1.2 m, 0.5 m high, a central column) at the origin, four 3 m pillars at (+-4, +-4), two benches,
planters with shrubs and a low wall around the plaza. The robot faces -Y in its front view:
cyan visor and white chest disc in front, a dark backpack behind, its left arm red, its right
arm blue, an orange body, grey legs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SH_C0 = 0.28209479177387814
VIEW_SIZE = 384


# ----------------------------------------------------------------------------- scene
class _Builder:
    """Collects Gaussians (centre, scale, colour, opacity; flat splats get a normal)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, means, scales, colors, normals=None, opacity=0.95, jitter=0.06):
        n = len(means)
        colors = np.broadcast_to(np.asarray(colors, np.float32), (n, 3)).copy()
        colors *= 1.0 + jitter * self.rng.standard_normal((n, 1))
        scales = np.broadcast_to(np.asarray(scales, np.float32), (n, 3))
        if normals is None:
            quats = np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1))
        else:
            quats = _quats_z_to(np.asarray(normals, np.float64))
        self.parts.append((np.asarray(means, np.float32), quats, scales,
                           np.full(n, opacity, np.float32), np.clip(colors, 0.01, 0.99)))

    def arrays(self) -> dict[str, np.ndarray]:
        means, quats, scales, opac, cols = (np.concatenate(x) for x in zip(*self.parts))
        return {
            "means": means.astype(np.float32),
            "quats": quats.astype(np.float32),
            "log_scales": np.log(scales).astype(np.float32),
            "logit_opacities": np.log(opac / (1 - opac)).astype(np.float32),
            "sh0": ((cols - 0.5) / SH_C0).astype(np.float32),
        }


def _quats_z_to(normals: np.ndarray) -> np.ndarray:
    """Unit quaternions (w,x,y,z) turning +Z onto each normal [N,3]."""
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, n)
    w = 1.0 + n @ z
    q = np.concatenate([w[:, None], axis], axis=1)
    flip = w < 1e-6
    q[flip] = [0.0, 1.0, 0.0, 0.0]
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _cylinder(b, center, radius, z0, z1, color, step=0.07, stripes=None):
    turns = max(8, int(2 * np.pi * radius / step))
    rows = max(2, int((z1 - z0) / step))
    a, zz = np.meshgrid(np.linspace(0, 2 * np.pi, turns, endpoint=False), np.linspace(z0, z1, rows))
    a, zz = a.ravel(), zz.ravel()
    normals = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], 1)
    means = np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a), zz], 1)
    colors = np.tile(np.asarray(color, np.float32), (len(a), 1))
    if stripes is not None:
        colors[(((zz - z0) / 0.5).astype(int) % 2) == 1] *= stripes
    b.add(means, (step * 0.6, step * 0.6, 0.01), colors, normals)


def _disc(b, center, r0, r1, z, color, step=0.07):
    xs = np.arange(-r1, r1 + step, step)
    x, y = np.meshgrid(xs, xs)
    r = np.hypot(x, y)
    keep = (r <= r1) & (r >= r0)
    means = np.stack([center[0] + x[keep], center[1] + y[keep], np.full(keep.sum(), z)], 1)
    b.add(means, (step * 0.6, step * 0.6, 0.008), color, np.tile([0.0, 0.0, 1.0], (len(means), 1)))


def _box(b, lo, hi, color, step=0.07):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    for axis in range(3):
        for side, value in ((-1, lo[axis]), (1, hi[axis])):
            if axis == 2 and side == -1 and lo[2] <= 0.0:
                continue  # no bottom face on the ground
            others = [k for k in range(3) if k != axis]
            g = [np.arange(lo[k] + step / 2, hi[k], step) for k in others]
            u, v = np.meshgrid(*g)
            pts = np.zeros((u.size, 3))
            pts[:, axis] = value
            pts[:, others[0]], pts[:, others[1]] = u.ravel(), v.ravel()
            normal = np.zeros(3); normal[axis] = side
            shade = 1.0 if axis == 2 else 0.85
            b.add(pts, (step * 0.6, step * 0.6, 0.01), np.asarray(color) * shade, np.tile(normal, (len(pts), 1)))


def _shrub(b, center, radius, color, count=500):
    d = b.rng.standard_normal((count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    r = radius * b.rng.uniform(0.6, 1.0, (count, 1))
    means = np.asarray(center) + d * r * np.array([1.0, 1.0, 0.8])
    means[:, 2] = np.maximum(means[:, 2], center[2] - 0.05)
    b.add(means, (0.07, 0.07, 0.07), color, opacity=0.9, jitter=0.15)


def make_scene(seed: int = 7) -> dict[str, np.ndarray]:
    """The demo courtyard as GaussianScene arrays (SH degree 0)."""
    b = _Builder(seed)
    # Paving: 1 m tiles in two warm stones with dark joints.
    step = 0.09
    xs = np.arange(-7 + step / 2, 7, step)
    x, y = np.meshgrid(xs, xs)
    x, y = x.ravel(), y.ravel()
    tile = (np.floor(x).astype(int) + np.floor(y).astype(int)) % 2
    colors = np.where(tile[:, None] == 0, [0.78, 0.72, 0.62], [0.62, 0.56, 0.48]).astype(np.float32)
    joint = (np.abs(x - np.round(x)) < 0.03) | (np.abs(y - np.round(y)) < 0.03)
    colors[joint] = [0.42, 0.39, 0.35]
    b.add(np.stack([x, y, np.zeros_like(x)], 1), (step * 0.65, step * 0.65, 0.006), colors,
          np.tile([0.0, 0.0, 1.0], (len(x), 1)), jitter=0.04)
    # Fountain: rim, water, column with a bowl.
    _cylinder(b, (0, 0), 1.2, 0.0, 0.5, (0.82, 0.82, 0.86))
    _cylinder(b, (0, 0), 1.0, 0.1, 0.5, (0.70, 0.70, 0.74))
    _disc(b, (0, 0), 1.0, 1.2, 0.5, (0.88, 0.88, 0.9))
    _disc(b, (0, 0), 0.2, 1.0, 0.4, (0.25, 0.55, 0.85))
    _cylinder(b, (0, 0), 0.18, 0.4, 1.2, (0.82, 0.82, 0.86))
    _disc(b, (0, 0), 0.0, 0.45, 1.2, (0.3, 0.6, 0.9))
    # Pillars with banded colours.
    for (px, py), col in (((4, 4), (0.8, 0.25, 0.2)), ((-4, 4), (0.3, 0.7, 0.3)),
                          ((-4, -4), (0.25, 0.4, 0.85)), ((4, -4), (0.9, 0.8, 0.25))):
        _cylinder(b, (px, py), 0.3, 0.0, 3.0, col, stripes=0.8)
        _disc(b, (px, py), 0.0, 0.3, 3.0, np.asarray(col) * 0.9)
    # Benches.
    for cy in (-3.0, 3.0):
        _box(b, (-0.8, cy - 0.2, 0.0), (0.8, cy + 0.2, 0.45), (0.5, 0.33, 0.2))
    # Planters with shrubs along the walls.
    for px, py in ((6.0, 0.0), (-6.0, 0.0), (0.0, 6.0)):
        _box(b, (px - 0.4, py - 0.4, 0.0), (px + 0.4, py + 0.4, 0.4), (0.55, 0.45, 0.4))
        _shrub(b, (px, py, 0.75), 0.5, (0.2, 0.5, 0.2))
    # A low wall around the plaza.
    for lo, hi in (((-7.0, 6.9, 0.0), (7.0, 7.1, 0.8)), ((-7.0, -7.1, 0.0), (7.0, -6.9, 0.8)),
                   ((6.9, -7.0, 0.0), (7.1, 7.0, 0.8)), ((-7.1, -7.0, 0.0), (-6.9, 7.0, 0.8))):
        _box(b, lo, hi, (0.72, 0.66, 0.6), step=0.1)
    return b.arrays()


# ----------------------------------------------------------------------------- character
def _shaded_rect(img, x0, y0, x1, y1, color, axis="x"):
    """A box shaded like a cylinder across `axis` (lit from the upper left)."""
    h, w = y1 - y0, x1 - x0
    t = np.linspace(-1, 1, w if axis == "x" else h)
    shade = 0.75 + 0.3 * np.sqrt(np.clip(1 - t ** 2, 0, 1)) - 0.08 * t
    block = np.asarray(color, np.float32)[None, None, :] * (shade[None, :, None] if axis == "x" else shade[:, None, None])
    img[y0:y1, x0:x1, :3] = np.clip(block, 0, 1)
    img[y0:y1, x0:x1, 3] = 1.0


def _shaded_disc(img, cx, cy, r, color):
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    d = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy) / r
    inside = d <= 1
    nz = np.sqrt(np.clip(1 - d ** 2, 0, 1))
    light = 0.55 + 0.45 * np.clip(nz * 0.8 - (xx - cx) / r * 0.25 - (yy - cy) / r * 0.3, 0, 1)
    col = np.asarray(color, np.float32)
    img[inside, :3] = np.clip(col[None] * light[inside][:, None], 0, 1)
    img[inside, 3] = 1.0


ORANGE, GREY, RED, BLUE = (0.92, 0.55, 0.25), (0.62, 0.63, 0.66), (0.85, 0.22, 0.2), (0.2, 0.33, 0.8)
CYAN, WHITE, BACKPACK = (0.3, 0.85, 0.9), (0.92, 0.92, 0.94), (0.07, 0.07, 0.09)


def draw_view(name: str, size: int = VIEW_SIZE) -> np.ndarray:
    """One RGBA uint8 view [size,size,4] of the demo robot (character axis at the image centre)."""
    img = np.zeros((size, size, 4), np.float32)
    s = size / 384.0
    q = lambda v: int(round(v * s))  # noqa: E731
    c = size / 2
    if name in ("front", "back"):
        back = name == "back"
        legs = [(c - 32, c - 8), (c + 8, c + 32)]
        for x0, x1 in legs:
            _shaded_rect(img, q(x0 / s), q(236), q(x1 / s), q(356), np.asarray(GREY) * (0.55 if back else 1.0))
        arm_left_x, arm_right_x = (c + 40, c - 62) if not back else (c - 62, c + 40)
        _shaded_rect(img, q(arm_left_x / s), q(120), q((arm_left_x + 22) / s), q(230), RED)
        _shaded_rect(img, q(arm_right_x / s), q(120), q((arm_right_x + 22) / s), q(230), BLUE)
        _shaded_rect(img, q((c - 38) / s), q(116), q((c + 38) / s), q(238), ORANGE)
        _shaded_disc(img, c, q(86), q(32), ORANGE)
        if back:
            _shaded_rect(img, q((c - 28) / s), q(130), q((c + 28) / s), q(210), BACKPACK)
        else:
            img[q(72):q(92), q((c - 24) / s):q((c + 24) / s), :3] = CYAN
            img[q(72):q(92), q((c - 24) / s):q((c + 24) / s), 3] = 1
            _shaded_disc(img, c, q(154), q(13), WHITE)
    else:
        # Side views: in the left view the robot looks toward the image left and shows its red
        # left arm; the right view is its mirror image with the blue right arm.
        arm = RED if name == "left" else BLUE
        _shaded_rect(img, q((c - 12) / s), q(236), q((c + 12) / s), q(356), GREY)
        _shaded_rect(img, q((c + 18) / s), q(128), q((c + 38) / s), q(208), BACKPACK)
        _shaded_rect(img, q((c - 20) / s), q(116), q((c + 20) / s), q(238), ORANGE)
        _shaded_rect(img, q((c - 12) / s), q(120), q((c + 12) / s), q(232), arm)
        _shaded_disc(img, c, q(86), q(32), ORANGE)
        img[q(72):q(92), q((c - 32) / s):q((c - 20) / s), :3] = CYAN
        img[q(72):q(92), q((c - 32) / s):q((c - 20) / s), 3] = 1
        if name == "right":
            img = img[:, ::-1].copy()
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    from PIL import Image

    arrays = make_scene()
    np.savez_compressed(HERE / "courtyard_demo.npz", **arrays)
    for name in ("front", "left", "back", "right"):
        Image.fromarray(draw_view(name)).save(HERE / f"robot_{name}.png", optimize=True)
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.suffix in (".npz", ".png"))
    print(f"{len(arrays['means'])} splats; demo assets {total / 1e6:.2f} MB in {HERE}")


if __name__ == "__main__":
    main()
