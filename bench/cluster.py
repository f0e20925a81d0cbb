"""Ray benchmark: the same batch of blockout shots through local workers and through Ray actors.

    python bench/cluster.py [--shots 8] [--frames 24] [--width 416] [--height 240] [--cpus N]
                            [--rounds 2] [--threads 1]

A local Ray cluster of one node (ray.cluster_utils.Cluster, CPU only, --cpus logical CPUs) on
this machine. For each set-up a real `anix serve` is started, every worker is warmed up (numba
kernels compiled, scene loaded) with one shot each, then `--shots` shots (courtyard scene, robot
views, orbit cameras, raw frames) are submitted at once from as many clients; the wall time from
the first submit to the last `done` is reported (best of --rounds, the set-ups alternating, as the
machine may be shared), with the ratios that matter:
  local workers x1 vs Ray actors x1   the overhead of Ray (bridge, actor, object store)
  Ray actors x1 vs x2                 throughput as actors are added (bounded by the cores)
Every process gets --threads math threads (OMP/numba), as Ray gives a 1-CPU actor one thread:
otherwise the comparison measures thread oversubscription, not Ray.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from backend.client import Client  # noqa: E402
from backend_helpers import ServerProcess  # noqa: E402
from service import FIXTURES, VIEWS, run_job, shot_request  # noqa: E402


def batch(address: str, request: dict, shots: int) -> float:
    """Seconds from submitting `shots` copies of `request` (one client each) to the last done."""
    failures = []

    def one(seed: int):
        try:
            with Client(address, timeout=60) as client:
                run_job(client, dict(request, seed=seed), VIEWS)
        except Exception as exc:  # noqa: BLE001 - reported after the batch
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(shots)]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} shots failed: {failures[0]}")
    return time.perf_counter() - t


def measure(workers: int, args, *serve_args: str) -> float:
    server = ServerProcess(*serve_args, workers=workers, testing=False)
    try:
        with Client(server.address, timeout=60) as client:
            sha = client.ensure_scene(FIXTURES / "courtyard_sh0.ply")
        request = shot_request(sha, args.frames, args.width, args.height, "blockout")
        batch(server.address, shot_request(sha, 2, args.width, args.height, "blockout"), workers)  # warm every worker
        seconds = batch(server.address, request, args.shots)
    finally:
        server.stop()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=416)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="logical CPUs of the Ray node")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="OMP/numba threads per process")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    from ray.cluster_utils import Cluster

    print(f"{args.shots} blockout shots of {args.frames} frames {args.width}x{args.height} on {os.cpu_count()} "
          f"CPU cores; Ray node with {args.cpus} CPUs", flush=True)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.cpus, "object_store_memory": 200 * 1024**2, "include_dashboard": False})
    setups = {"local workers x1": (1,), "Ray actors x1": (1, "--ray", cluster.address),
              "local workers x2": (2,), "Ray actors x2": (2, "--ray", cluster.address)}
    best = {}
    try:
        for _ in range(args.rounds):
            for label, setup in setups.items():
                seconds = measure(*setup[:1], args, *setup[1:])
                best[label] = min(best.get(label, seconds), seconds)
                print(f"{label:<18} {args.shots} shots in {seconds:6.2f} s -> {60 * args.shots / seconds:5.1f} shots/min",
                      flush=True)
    finally:
        cluster.shutdown()
    local1, ray1, local2, ray2 = (best[label] for label in setups)
    print(f"best of {args.rounds}: " + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in best.items()))
    print(f"Ray overhead, 1 actor vs 1 local worker: {100 * (ray1 - local1) / local1:+.1f}%")
    print(f"Ray overhead, 2 actors vs 2 local workers: {100 * (ray2 - local2) / local2:+.1f}%")
    print(f"throughput, 2 actors vs 1 actor: x{ray1 / ray2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
