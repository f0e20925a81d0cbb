"""Load speed and memory of a large INRIA PLY (SH degree 3).

    python bench/load.py [--count 1000000] [--repeat 3]

Writes a random scene of `count` splats to a temporary folder, then loads it in a fresh
process and reports seconds per load, the peak of numpy/Python heap allocations (tracemalloc)
as a multiple of the loaded scene's size, and the process's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_scene(count: int, seed: int = 0):
    from anix_core.splats import GaussianScene

    rng = np.random.default_rng(seed)
    return GaussianScene(
        means=rng.uniform(-10, 10, (count, 3)).astype(np.float32),
        quats=rng.normal(size=(count, 4)).astype(np.float32),
        log_scales=rng.uniform(-6, -2, (count, 3)).astype(np.float32),
        logit_opacities=rng.normal(size=count).astype(np.float32),
        sh0=rng.normal(size=(count, 3)).astype(np.float32),
        shN=(0.1 * rng.normal(size=(count, 15, 3))).astype(np.float32),
    )


def measure(path: str, repeat: int) -> dict:
    import tracemalloc

    from anix_core.splats import load

    times = []
    for i in range(repeat):
        if i == repeat - 1:
            tracemalloc.start()
        start = time.perf_counter()
        scene = load(path)
        times.append(time.perf_counter() - start)
        if i < repeat - 1:
            del scene
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scene_bytes = sum(a.nbytes for a in (scene.means, scene.quats, scene.log_scales,
                                         scene.logit_opacities, scene.sh0, scene.shN))
    return {
        "count": scene.count,
        "file_mb": os.path.getsize(path) / 2**20,
        "seconds": times,
        "scene_mb": scene_bytes / 2**20,
        "heap_peak_mb": peak / 2**20,
        "heap_peak_copies": peak / scene_bytes,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    from anix_core.splats import save

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.ply")
        save(make_scene(args.count), path)
        out = subprocess.run([sys.executable, __file__, "--measure", path, "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    print(f"{result['count']} splats, {result['file_mb']:.0f} MB PLY (SH degree 3)")
    print("load seconds: " + ", ".join(f"{t:.2f}" for t in result["seconds"]))
    print(f"scene arrays {result['scene_mb']:.0f} MB; heap peak during load {result['heap_peak_mb']:.0f} MB "
          f"({result['heap_peak_copies']:.2f} copies); peak RSS {result['max_rss_mb']:.0f} MB "
          "(includes the memory-mapped file pages)")


if __name__ == "__main__":
    main()
