"""`ShotActor`: a worker in a Ray cluster. It runs one shot at a time exactly as a local worker
process does (backend.worker.JobRunner: same request checks, generators, frame encoding,
timings and errors) and yields the worker's internal messages as a Ray streaming generator, so
the bridge process beside the server forwards them unchanged.

With --gpus-per-shot N, N actors (a gang in one placement group, one node) form a
torch.distributed group and run each shot together, the transformer's tokens split over them
(anix_core.model.parallel); rank 0 streams the frames, the others only report how they ended.

The actor lives as long as its bridge: the scene it last used (SceneMemo) and the anix model
(backend.generation keeps it per process) stay loaded between shots. Scenes reach a node once:
actors on one node share a scene folder keyed by sha256, filled from the object store under a
file lock the first time a shot there needs the scene (the bridge puts it there only then).
"""
from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import ray
import zmq

from . import protocol as P
from .cache import SceneCache
from .worker import JobRunner, SceneMemo

TERMINAL = (P.DONE, P.ERROR, P.CANCELLED)
SCENE_EVENT = "scene"  # the first item of every stream: did this node have to fetch the scene


@contextmanager
def _node_lock(path: Path):
    """An exclusive lock shared by every actor process on this node."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _GangCancel(threading.Event):
    """A gang's cancel flag as its job thread reads it: is_set() agrees across the ranks (an
    all-reduce), so all of them stop at the same step and none is left waiting in a collective.
    The ranks run the same code on the same inputs, so they read it equally often."""

    def is_set(self) -> bool:
        import torch
        import torch.distributed as dist

        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        flag = torch.tensor([1.0 if super().is_set() else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


@ray.remote(concurrency_groups={"control": 2})  # describe/cancel answer while `run` works
class ShotActor:
    def __init__(self, *, testing: bool, model: str | None, device: str | None, scene_root: str | None,
                 scene_bytes: int, gpus_per_shot: int = 1, rank: int = 0):
        self.config = SimpleNamespace(testing=testing, model=model, device=device, gpus_per_shot=gpus_per_shot)
        self.rank = rank
        # numba's thread pool (the CPU rasteriser) the size of torch's: Ray sets OMP_NUM_THREADS to the
        # actor's CPUs, which torch takes, while numba would take every core, and the first numba pool
        # launched in a job thread sets that thread's OpenMP count, which its torch ops then use: a
        # gang's first shot ran the model on 2 threads and the next ones on 1, with other roundings
        if os.environ.get("OMP_NUM_THREADS"):
            os.environ["NUMBA_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
        self.node_id = ray.get_runtime_context().get_node_id()
        root = Path(scene_root or Path(tempfile.gettempdir()) / "anix-ray-scenes") / self.node_id[:16]
        self.scenes = SceneCache(root / "scenes", scene_bytes)
        self.lock_path = root / "lock"
        self.memo = SceneMemo()
        self.context = zmq.Context()
        self.runner: JobRunner | None = None
        self.cancelled: set[str] = set()  # cancels that arrived before their job's runner

    @ray.method(concurrency_group="control")
    def describe(self) -> dict:
        """Where this actor runs, and a problem that stops it from running shots ('' when none)."""
        gpus = [str(g) for g in ray.get_gpu_ids()]
        problem = ""
        if self.config.device != "cpu" and gpus:
            import torch

            if not torch.cuda.is_available():
                problem = f"Ray gave it GPU {', '.join(gpus)} but CUDA is not usable in this Python (torch {torch.__version__})"
        if not problem and self.config.model:
            try:
                from anix_core.generators.anix import check_model_dir

                check_model_dir(self.config.model)
            except (ValueError, OSError) as exc:
                problem = f"the model folder is not usable on this node: {exc}"
        return {"node": self.node_id, "host": socket.gethostname(), "ip": ray.util.get_node_ip_address(),
                "pid": os.getpid(), "gpus": gpus, "problem": problem}

    @ray.method(concurrency_group="control")
    def has_scene(self, sha: str) -> bool:
        return self.scenes.path(sha) is not None

    @ray.method(concurrency_group="control")
    def rendezvous(self) -> str:
        """Rank 0: the address the gang's process group meets at (this node, a free port)."""
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return f"tcp://{ray.util.get_node_ip_address()}:{port}"

    def join_group(self, address: str, ranks: int) -> int:
        """Join the gang's torch.distributed group (NCCL on GPUs, gloo on CPUs); blocks until all have."""
        from datetime import timedelta

        import torch.distributed as dist

        backend = "nccl" if ray.get_gpu_ids() else "gloo"
        dist.init_process_group(backend, init_method=address, rank=self.rank, world_size=ranks,
                                timeout=timedelta(minutes=10))
        return dist.get_world_size()

    @ray.method(concurrency_group="control")
    def cancel(self, job: str) -> None:
        runner = self.runner
        if runner is not None and runner.job == job:
            runner.cancel_event.set()
        else:
            self.cancelled.add(job)

    def _scene_path(self, sha: str, ext: str, size: int, scene_ref: list) -> tuple[Path, bool]:
        """This node's copy of scene `sha` -> (path, whether it was fetched now)."""
        with _node_lock(self.lock_path):
            path = self.scenes.path(sha)
            if path is not None:
                self.scenes.touch(sha)
                return path, False
            if scene_ref[0] is None:  # evicted since the bridge asked
                raise RuntimeError("the scene left this node's scene folder as the job started; submit the shot again")
            (self.scenes.partial_dir / f"{sha}{ext}").unlink(missing_ok=True)  # left by an actor that died
            data = ray.get(scene_ref[0])
            self.scenes.put_chunk(sha, size, 0, ext, data)  # verifies the sha256
            return self.scenes.path(sha), True

    def _history(self, continuation: dict | None, history: list, folder: Path) -> dict | None:
        """The continuation with its frame files (read by the bridge on the server's host) written here."""
        if not continuation:
            return continuation
        frames = []
        for i, (entry, data) in enumerate(zip(continuation["frames"], history)):
            path = folder / f"history_{i:04d}"
            path.write_bytes(data)
            frames.append([str(path), *entry[1:]])
        return {**continuation, "frames": frames}

    @ray.method(num_returns="streaming")
    def run(self, header: dict, blobs: list, scene: dict | None, history: list):
        """One job: yields (SCENE_EVENT, fetched, bytes) first, then the worker's messages as
        (msgpack header bytes, blob bytes or None) until done, error or cancelled. `scene` is
        {sha256, ext, size, ref: [ObjectRef]} or None (the pattern generator); `history` holds the
        bytes of continuation.frames in order."""
        fetched = False
        header = dict(header)
        if scene is not None:
            path, fetched = self._scene_path(scene["sha256"], scene["ext"], scene["size"], scene["ref"])
            header["scene_path"] = str(path)
        yield SCENE_EVENT, fetched, scene["size"] if scene and fetched else 0
        endpoint = f"inproc://ray-job-{header['job']}"
        events = self.context.socket(zmq.PULL)
        events.bind(endpoint)
        with tempfile.TemporaryDirectory(prefix="anix-history-") as folder:
            header["continuation"] = self._history(header.get("continuation"), history, Path(folder))
            self.runner = JobRunner(self.context, endpoint, header, blobs, self.memo, self.config)
            if self.config.gpus_per_shot > 1:
                self.runner.cancel_event = _GangCancel()
            if header["job"] in self.cancelled:
                self.runner.cancel_event.set()
            self.runner.start()
            try:
                while True:
                    if not events.poll(1000):
                        if self.runner.is_alive():
                            continue
                        if not events.poll(0):  # the runner ended without a terminal message
                            yield P.pack(P.message(P.ERROR, job=header["job"], code=P.E_INTERNAL, field="",
                                                   message="the job thread ended without a result")), None
                            return
                    parts = events.recv_multipart()
                    terminal = P.unpack_header(parts[0])["type"] in TERMINAL
                    if terminal or self.rank == 0:  # the other ranks of a gang made the same frames
                        yield parts[0], (parts[1] if len(parts) > 1 else None)
                    if terminal:
                        return
            finally:
                self.runner.cancel_event.set()  # a stream the bridge abandoned stops its job too
                self.runner.abandoned.set()     # and its last events, which nobody reads now, are not waited on
                self.runner.join(timeout=30.0)
                self.runner = None
                self.cancelled.discard(header["job"])
                events.close(linger=0)
