"""Seconds per frame at 832x480: the courtyard fixture (73k splats) and a 1M-splat scene.

    python bench/render.py [--backend cpu|gsplat|all] [--frames 8] [--splats 1000000]

The 1M scene is the courtyard densified: each splat split into copies jittered inside it, scaled
down so the surfaces keep their coverage (as a denser capture of the same place would be).
Reported separately: kernel compilation in a fresh process with an empty numba cache, the scene
set-up (activations, or the upload to the GPU), the first frame (loads the on-disk kernel cache,
or gsplat's JIT build), then the steady per-frame time (CPU: median and best over the frames;
gsplat: the whole batched video divided by its frame count).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from anix_core.cameras import Camera  # noqa: E402
from anix_core.render import render  # noqa: E402
from anix_core.render.gsplat_backend import gsplat_available  # noqa: E402
from anix_core.splats.scene import GaussianScene  # noqa: E402

FIXTURES = Path(os.environ.get("ANIX_FIXTURES", REPO.parent / "shared" / "fixtures"))
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


def time_backend(name: str, scene: GaussianScene, cameras: list[Camera]) -> dict:
    """Seconds: scene set-up (activations / upload), first frame, then the median and best frame."""
    from anix_core.render import make_rasterizer

    sync = _cuda_sync if name == "gsplat" else (lambda: None)
    bg = np.zeros(3, np.float32)
    t0 = time.perf_counter()
    rasterizer = make_rasterizer(scene, name)
    sync()
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    next(iter(rasterizer.render_frames(cameras[:1], bg)))
    sync()
    first = time.perf_counter() - t0
    if name == "gsplat":  # batched: time the whole video, report per frame
        t0 = time.perf_counter()
        for _ in rasterizer.render_frames(cameras, bg):
            pass
        sync()
        total = time.perf_counter() - t0
        return {"setup": setup, "first": first, "median": total / len(cameras), "best": total / len(cameras),
                "total": total}
    times = []
    cpu0 = _cpu_seconds()
    for cam in cameras:
        t0 = time.perf_counter()
        next(iter(rasterizer.render_frames([cam], bg)))
        times.append(time.perf_counter() - t0)
    cpu = (_cpu_seconds() - cpu0) / len(cameras)
    return {"setup": setup, "first": first, "median": float(np.median(times)), "best": min(times),
            "total": sum(times), "cpu": cpu}


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: less sensitive to other load than wall time."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


def cold_compile_seconds() -> float:
    """Wall time of a first tiny CPU render in a fresh process with an empty numba cache."""
    code = ("import time, numpy as np; t = time.perf_counter();"
            "from anix_core.render import render; from anix_core.cameras import Camera;"
            "from anix_core.splats.scene import GaussianScene;"
            "s = GaussianScene(np.zeros((1, 3)), [[1, 0, 0, 0]], np.zeros((1, 3)), [0.0], np.zeros((1, 3)), np.zeros((1, 15, 3)));"
            "render(s, [Camera.look_at([0, -3, 0], [0, 0, 0], 32, 32)], backend='cpu');"
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(REPO))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{WIDTH}x{HEIGHT}, numba threads {numba.get_num_threads()}, load average {load:.1f} on {os.cpu_count()} cores")
    if "cpu" in backends:
        print(f"cpu    kernel compilation (empty cache, fresh process): {cold_compile_seconds():.1f} s")
    for name in backends:
        frames = args.frames if name == "cpu" else args.gpu_frames
        cameras = orbit_cameras(frames)
        for label, scene in scenes.items():
            t = time_backend(name, scene, cameras)
            print(f"{name:6s} {label:28s} set-up {t['setup']:.3f} s, first frame {t['first']:.3f} s, "
                  f"then {t['median']:.4f} s/frame median, {t['best']:.4f} best "
                  f"({frames} frames in {t['total']:.3f} s)")
            if "cpu" in t:
                print(f"{'':6s} {'':28s} CPU time {t['cpu']:.3f} core-s/frame "
                      f"(= {t['cpu'] / numba.get_num_threads():.3f} s/frame on {numba.get_num_threads()} idle cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
