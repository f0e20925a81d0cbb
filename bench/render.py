"""Seconds per frame at 832x480: the courtyard fixture (73k splats) and a 1M-splat scene.

    python bench/render.py [--backend cpu|gsplat|all] [--frames 8] [--splats 1000000]

The 1M scene is the courtyard densified: each splat split into copies jittered inside it, scaled
down so the surfaces keep their coverage (as a denser capture of the same place would be).
The first call (kernel compilation, or loading the on-disk cache) is timed separately.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from anix_core.cameras import Camera  # noqa: E402
from anix_core.render import render  # noqa: E402
from anix_core.render.gsplat_backend import gsplat_available  # noqa: E402
from anix_core.splats.scene import GaussianScene  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"
WIDTH, HEIGHT = 832, 480


def load_courtyard() -> GaussianScene:
    with np.load(FIXTURES / "courtyard_truth.npz") as d:
        return GaussianScene(d["means"], d["quats"], d["log_scales"], d["logit_opacities"], d["sh0"], d["shN"])


def densify(scene: GaussianScene, count: int, seed: int = 0) -> GaussianScene:
    """`count` splats: copies of each splat jittered by half its scale, scales shrunk by sqrt(copies)."""
    rng = np.random.default_rng(seed)
    copies = int(np.ceil(count / scene.count))
    idx = np.tile(np.arange(scene.count), copies)[:count]
    scales = np.exp(scene.log_scales[idx])
    jitter = rng.normal(size=(count, 3)).astype(np.float32) * 0.5 * scales.min(axis=1, keepdims=True)
    return GaussianScene(scene.means[idx] + jitter, scene.quats[idx],
                         scene.log_scales[idx] - 0.5 * np.log(copies), scene.logit_opacities[idx],
                         scene.sh0[idx], scene.shN[idx])


def orbit_cameras(n: int) -> list[Camera]:
    """A low orbit at radius 9 m, 3 m high, looking at the fountain: the whole courtyard in view."""
    out = []
    for k in range(n):
        a = 2 * np.pi * k / n - np.pi / 4
        out.append(Camera.look_at([9 * np.cos(a), 9 * np.sin(a), 3.0], [0, 0, 0.5], WIDTH, HEIGHT, fov_x_deg=70))
    return out


def time_backend(name: str, scene: GaussianScene, cameras: list[Camera]) -> tuple[float, float]:
    """(first call seconds for one frame, steady seconds per frame over all cameras)."""
    t0 = time.perf_counter()
    render(scene, cameras[:1], backend=name)
    first = time.perf_counter() - t0
    if name == "gsplat":
        import torch
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    render(scene, cameras, backend=name)
    if name == "gsplat":
        torch.cuda.synchronize()
    return first, (time.perf_counter() - t0) / len(cameras)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="all", choices=["all", "cpu", "gsplat"])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--splats", type=int, default=1_000_000)
    p.add_argument("--gpu-frames", type=int, default=93, help="frames of the conditioning video timed on gsplat")
    args = p.parse_args(argv)
    import numba

    backends = ["cpu", "gsplat"] if args.backend == "all" else [args.backend]
    if "gsplat" in backends and not gsplat_available():
        print("gsplat: skipped (needs CUDA)")
        backends.remove("gsplat")
    courtyard = load_courtyard()
    scenes = {f"courtyard ({courtyard.count:,} splats)": courtyard,
              f"densified ({args.splats:,} splats)": densify(courtyard, args.splats)}
    print(f"{WIDTH}x{HEIGHT}, numba threads {numba.get_num_threads()}")
    for name in backends:
        frames = args.frames if name == "cpu" else args.gpu_frames
        cameras = orbit_cameras(frames)
        for label, scene in scenes.items():
            first, per_frame = time_backend(name, scene, cameras)
            print(f"{name:6s} {label:28s} first call {first:6.2f} s   "
                  f"{per_frame:.4f} s/frame over {frames} frames ({per_frame * frames:.3f} s total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
