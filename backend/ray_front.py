"""`anix serve --ray`: the server's side of running shots on a Ray cluster (imports no Ray).

The server keeps its front, queue and job logic; only its worker processes change: each is a
backend.ray_bridge process that forwards its jobs to one Ray actor. Before any starts, the
cluster is checked once (reachable, room for the actors) in a child process, so a cluster that
is not there is one line and exit 2 and the server process never imports Ray.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass

CHECK_TIMEOUT_S = 60.0
MAX_GPUS_PER_SHOT = 8


@dataclass
class RayWorkers:
    """How the server starts its workers in Ray mode, and what the start check found."""

    module: str
    args: list[str]
    summary: dict

    def describe(self) -> str:
        kind = "GPU" if self.summary.get("gpu_actors") else "CPU"
        return (f"Ray cluster of {self.summary['nodes']} node(s) ({self.summary['gpus']} GPU, "
                f"{self.summary['cpus']} CPU), one {kind} actor per worker")


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                        help="run shots on Ray actors (one per --workers) in the Ray cluster at ADDRESS "
                             "(HOST:PORT of its head, or auto for the one this host belongs to); "
                             "needs pip install 'anix-studio[cluster]'")
    parser.add_argument("--gpus-per-shot", type=int, default=1,
                        help="GPUs one shot runs on, splitting its tokens (context parallelism; with --ray)")
    parser.add_argument("--node-cache-dir", default=None,
                        help="with --ray: scene folder on every node (default: the node's temporary folder)")


def check_ray_arguments(args) -> None:
    if not 1 <= args.gpus_per_shot <= MAX_GPUS_PER_SHOT:
        raise ValueError(f"--gpus-per-shot must be 1 to {MAX_GPUS_PER_SHOT}, got {args.gpus_per_shot}")
    if args.gpus_per_shot > 1 and not args.ray:
        raise ValueError("--gpus-per-shot above 1 needs --ray (a gang of Ray actors runs each shot)")


def prepare(args, cache_bytes: int) -> RayWorkers | None:
    """None without --ray; else the bridge command for the server's workers, after checking the
    cluster. ValueError (one line) when Ray is not installed or the cluster cannot take the actors."""
    check_ray_arguments(args)
    if not args.ray:
        return None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ValueError("--ray needs Ray: pip install 'anix-studio[cluster]'")
    common = ["--ray", args.ray, "--gpus-per-shot", str(args.gpus_per_shot)]  # the server adds --model, --device, --testing
    check = [sys.executable, "-m", "backend.ray_bridge", "--check", "--workers", str(args.workers), *common]
    if args.model:
        check += ["--model", str(args.model)]
    if args.device:
        check += ["--device", args.device]
    try:
        done = subprocess.run(check, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ValueError(f"the Ray cluster at {args.ray!r} did not answer within {CHECK_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ValueError(lines[-1] if lines else f"the Ray cluster check failed (exit {done.returncode})")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    extra = common + ["--scene-cache-bytes", str(cache_bytes)]
    if args.node_cache_dir:
        extra += ["--scene-cache", str(args.node_cache_dir)]
    return RayWorkers(module="backend.ray_bridge", args=extra, summary=summary)
