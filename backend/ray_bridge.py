"""The Ray bridge: a worker process of `anix serve --ray` that runs its jobs on one Ray actor.

To the server it is a worker like backend.worker (the same internal ZeroMQ messages, heartbeats
and `ready`; backend.worker.serve_worker runs its loop), so the server's queue, limits, results
on disk, attach and cancel stay as they are. Each job goes to this bridge's `ShotActor`
(backend.ray_actor), placed by Ray on any node with a free GPU (or CPU for the CPU generators);
its messages stream back as the actor yields them. The bridge is a Ray driver and owns its
actor: when the bridge stops, Ray ends the actor.

A lost actor (its node died, or its process did) ends the running job with `worker_lost` naming
the node; the bridge at once asks Ray for a replacement, which takes the next job that reaches
this bridge once Ray has placed it.

    python -m backend.ray_bridge --connect ipc:///tmp/anix-xyz/workers --ray ADDRESS [...]
    python -m backend.ray_bridge --check --ray ADDRESS --workers N [...]   # the server's start check
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path

from . import protocol as P
from .worker import JobRunner, serve_worker

PLACEMENT_NOTICE_S = 10.0   # an actor still unplaced after this is reported on stderr
PROBLEM_EXIT_DELAY_S = 10.0  # a bridge whose actor cannot run shots waits this before exiting (no restart storm)
CONNECT_PROBE_S = 3.0
RANK_FAILURE_GRACE_S = 30.0  # a gang member failed: rank 0 has this long to fail too before it is ended


def log(message: str) -> None:
    print(f"anix ray: {message}", file=sys.stderr, flush=True)


def actor_resources(device: str | None, model: str | None, gpus_per_shot: int) -> dict:
    """Ray resources of one actor: GPUs for the anix model (unless --device cpu), one CPU otherwise."""
    if device == "cuda" or (model and device != "cpu"):
        return {"num_cpus": 1, "num_gpus": gpus_per_shot}
    return {"num_cpus": 1}


def describe_node(where: dict | None) -> str:
    if not where:
        return "an unknown node"
    return f"{where['host']} ({where['ip']}, node {where['node'][:12]})"


# ----------------------------------------------------------------------------- the actor

class ActorSlot:
    """This bridge's actor (or, with --gpus-per-shot N, its gang of N actors in one placement
    group on one node): created at start and again whenever it is lost."""

    def __init__(self, config):
        from .ray_actor import ShotActor

        self.config = config
        self.ranks = config.gpus_per_shot
        self.resources = actor_resources(config.device, config.model, 1 if self.ranks > 1 else config.gpus_per_shot)
        self.actor_class = ShotActor
        self.lock = threading.Lock()
        self.group = None
        self.actors: list = []
        self.create()

    def create(self) -> None:
        """A new actor (gang), after ending what is left of the old one."""
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        with self.lock:
            for actor in self.actors:
                ray.kill(actor)
            if self.group is not None:
                remove_placement_group(self.group)
            options = dict(self.resources, max_restarts=0, max_task_retries=0)
            if self.ranks > 1:  # all ranks of a shot on one node (NCCL over its links), placed all at once
                bundle = {"CPU": self.resources["num_cpus"], **({"GPU": 1} if "num_gpus" in self.resources else {})}
                self.group = placement_group([bundle] * self.ranks, strategy="STRICT_PACK")
                placements = [PlacementGroupSchedulingStrategy(self.group, placement_group_bundle_index=i)
                              for i in range(self.ranks)]
            else:
                # SPREAD: one actor per node before two on one, so a lost node costs as few actors as it can
                placements = ["SPREAD"]
            self.actors = [self.actor_class.options(**options, scheduling_strategy=placement).remote(
                testing=self.config.testing, model=self.config.model, device=self.config.device,
                scene_root=self.config.scene_cache, scene_bytes=self.config.scene_cache_bytes,
                gpus_per_shot=self.ranks, rank=rank) for rank, placement in enumerate(placements)]
            self.handle = self.actors[0]
            self.describing = self.handle.describe.remote()
            self.where: dict | None = None
            self.created = time.monotonic()
            self.noticed = False

    def wait_placed(self, stop: threading.Event | None = None) -> dict | None:
        """Block until Ray has placed the actor (and a gang has formed its process group) ->
        describe() of rank 0; None when `stop` is set first."""
        import ray

        while self.where is None:
            if stop is not None and stop.is_set():
                return None
            ready, _ = ray.wait([self.describing], timeout=1.0)
            if ready:
                where = ray.get(self.describing)
                if self.ranks > 1:
                    address = ray.get(self.handle.rendezvous.remote())
                    ray.get([actor.join_group.remote(address, self.ranks) for actor in self.actors])
                self.where = where
                gpus = where["gpus"]
                log(f"actor placed on {describe_node(where)}, pid {where['pid']}" +
                    (f", GPU {', '.join(gpus)}" if gpus else "") + (f", rank 0 of {self.ranks}" if self.ranks > 1 else ""))
            elif not self.noticed and time.monotonic() - self.created > PLACEMENT_NOTICE_S:
                self.noticed = True
                free = ray.available_resources()
                need = " and ".join(f"{v} {k[4:].upper()}" for k, v in self.resources.items() if v)
                gang = f"{self.ranks} actors of " if self.ranks > 1 else ""
                log(f"the actor is waiting for a node with room for {gang}{need}; the cluster has "
                    f"{free.get('GPU', 0):g} GPU and {free.get('CPU', 0):g} CPU free now")
        return self.where

    def scene(self, sha: str, path: str) -> dict:
        """{sha256, ext, size, ref} of the server's cached scene file for a job. The bytes go into the
        object store only when the actor's node does not hold the scene yet (once per node), and
        only for as long as the job holds the reference."""
        import ray

        ref = None
        if not ray.get(self.handle.has_scene.remote(sha)):
            ref = ray.put(Path(path).read_bytes())
        return {"sha256": sha, "ext": Path(path).suffix, "size": Path(path).stat().st_size, "ref": [ref]}


def _watch_rank(stream, rank: int, rank0, failures: list, rank0_done: threading.Event) -> None:
    """Consume a gang member's stream. If that member dies, or fails while rank 0 goes on (rank 0
    would wait for it in a collective), end rank 0 too: its stream then fails and the job ends.
    A failure every rank meets (a bad request) ends rank 0's job by itself and kills nothing."""
    import ray
    from ray.exceptions import RayActorError

    from .ray_actor import SCENE_EVENT

    try:
        for ref in stream:
            item = ray.get(ref)
            if item[0] != SCENE_EVENT and P.unpack_header(item[0])["type"] == P.ERROR:
                failures.append(f"rank {rank}: {P.unpack_header(item[0]).get('message', '')}")
                if not rank0_done.wait(RANK_FAILURE_GRACE_S):
                    ray.kill(rank0)
    except RayActorError:
        ray.kill(rank0)


class _ForwardingEvent(threading.Event):
    """The job's cancel flag; setting it also tells the actor (honoured between frames and steps)."""

    def __init__(self, on_set):
        super().__init__()
        self.on_set = on_set

    def set(self):
        super().set()
        self.on_set()


class RayJobRunner(JobRunner):
    """backend.worker.JobRunner with the work on this bridge's actor: the same constructor, events
    socket and cancel flag (which also reaches the actor)."""

    def __init__(self, context, endpoint: str, header: dict, blobs, memo, config):
        super().__init__(context, endpoint, header, [bytes(b) for b in blobs], memo, config)
        self.header = header
        self.slot: ActorSlot = config.slot
        self.actors: list = []
        self.cancel_event = _ForwardingEvent(self._forward_cancel)

    def _forward_cancel(self):
        for actor in self.actors:
            actor.cancel.remote(self.job)

    def _run(self):
        from ray.exceptions import RayActorError

        for attempt in (1, 2):
            where = self.slot.wait_placed(self.cancel_event)
            if where is None:
                self.send(P.CANCELLED, reason="cancel requested", frames_ready=0)
                return
            try:
                return self._run_on(where)
            except RayActorError as exc:  # the actor died before this job started on it (e.g. while idle)
                log(f"actor on {describe_node(where)} was gone when job {self.job} reached it "
                    f"({type(exc).__name__}); asking Ray for a new one")
                self.slot.create()
                if attempt == 2:
                    self.send(P.ERROR, code=P.E_WORKER_LOST, field="", message=(
                        f"the Ray actors given this job (last on node {describe_node(where)}) were lost before it "
                        "started; submit the shot again"))

    def _run_on(self, where: dict):
        """The job on the placed actor (gang); RayActorError only when the actor was lost before the job began."""
        import ray
        from ray.exceptions import RayActorError

        from .ray_actor import SCENE_EVENT, TERMINAL

        header = self.header
        started, frames, failures, rank0_done = False, 0, [], threading.Event()
        try:
            scene = None
            if header.get("scene_path"):
                scene = self.slot.scene(header["request"]["scene"], header["scene_path"])
            continuation = header.get("continuation") or {}
            history = [Path(entry[0]).read_bytes() for entry in continuation.get("frames", [])]
            self.actors = list(self.slot.actors)
            streams = [actor.run.remote(header, self.blobs, scene, history) for actor in self.actors]
            if self.cancel_event.is_set():
                self._forward_cancel()
            for rank, other in enumerate(streams[1:], start=1):
                threading.Thread(target=_watch_rank, args=(other, rank, self.actors[0], failures, rank0_done),
                                 daemon=True).start()
            for ref in streams[0]:
                item = ray.get(ref)
                if item[0] == SCENE_EVENT:
                    started = True
                    if item[1]:
                        log(f"scene {scene['sha256'][:12]} ({item[2]} bytes) copied to {describe_node(where)}")
                    log(f"job {self.job} runs on {describe_node(where)}")
                    continue
                head, blob = item
                self.send_parts([head] if blob is None else [head, blob])
                kind = P.unpack_header(head)["type"]
                if kind == P.FRAME:
                    frames += 1
                elif kind in TERMINAL:
                    # The job is over. The stream's end comes a moment later (the actor tidies up);
                    # an actor lost in that moment is not this job's loss but the next job's to notice.
                    return
        except RayActorError as exc:
            if not started:
                raise
            node = describe_node(where)
            if failures:  # a gang member failed and rank 0 was ended with it
                self.slot.create()
                self.send(P.ERROR, code=P.E_GENERATOR_FAILED, field="", message=f"on {node}, {failures[0]}"[:2000])
                return
            log(f"actor on {node} lost during job {self.job} ({type(exc).__name__}); asking Ray for a new one")
            self.slot.create()
            self.send(P.ERROR, code=P.E_WORKER_LOST, field="", message=(
                f"the Ray actor running this job on node {node} was lost (the node or its process died) after "
                f"{frames} of {header['request']['num_frames']} frames; the job was not finished. Frames already "
                "delivered stay available; submit the shot again."))
        except OSError as exc:  # a continuation frame file vanished from the result store
            self.send(P.ERROR, code=P.E_UNKNOWN_JOB, field="request.options.continue_from",
                      message=f"the frames of the job to continue from are gone ({exc.strerror}); generate that shot again")
        except Exception as exc:  # noqa: BLE001 - e.g. the scene could not be fetched on the node
            cause = getattr(exc, "cause", None) or exc
            self.send(P.ERROR, code=P.E_GENERATOR_FAILED, field="",
                      message=f"on {describe_node(where)}: {type(cause).__name__}: {cause}"[:2000])
        finally:
            rank0_done.set()


# ----------------------------------------------------------------------------- start check

def _probe(address: str) -> None:
    """A plain TCP connect to host:port, so a wrong address fails in seconds, not after Ray's retries."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--ray must be 'auto' or HOST:PORT of the cluster's head (GCS), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_PROBE_S).close()
    except OSError as exc:
        raise ValueError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                         "`ray start --head` there, or check the address and firewall") from None


def connect(address: str) -> None:
    import ray

    if address not in ("auto", "local") and not address.startswith("ray://"):
        _probe(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as exc:
        raise ValueError(f"cannot reach the Ray cluster at {address!r}: {exc} "
                         "(start one with `ray start --head`, or pass --ray HOST:PORT)") from None


def check_cluster(config) -> dict:
    """The cluster at config.ray can hold config.workers actors -> a summary; ValueError saying why not."""
    import ray

    connect(config.ray)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        resources = actor_resources(config.device, config.model, config.gpus_per_shot)
        gpus = [int(n["Resources"].get("GPU", 0)) for n in nodes]
        cpus = [int(n["Resources"].get("CPU", 0)) for n in nodes]
        summary = {"nodes": len(nodes), "gpus": sum(gpus), "cpus": sum(cpus), "gpu_actors": "num_gpus" in resources}
        per, unit = config.gpus_per_shot, ("GPU" if "num_gpus" in resources else "CPU")
        counts = gpus if unit == "GPU" else cpus
        if max(counts, default=0) < per:
            raise ValueError(f"no node of the Ray cluster has {per} {unit}s for one shot (--gpus-per-shot {per}); "
                             f"{unit}s per node: {counts or [0]}. Start the GPU nodes with `ray start --num-gpus N`"
                             + (", or pass --device cpu" if unit == "GPU" else ""))
        slots = sum(c // per for c in counts)
        if slots < config.workers:
            raise ValueError(f"the Ray cluster has {sum(counts)} {unit}(s) on {len(nodes)} node(s): room for {slots} "
                             f"actor(s) of {per} {unit}(s), but --workers {config.workers} asks for {config.workers}")
        return summary
    finally:
        ray.shutdown()


# ----------------------------------------------------------------------------- entry point

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.ray_bridge")
    parser.add_argument("--connect", default=None, help="the server's worker socket")
    parser.add_argument("--ray", required=True, help="Ray address: auto, HOST:PORT or ray://HOST:PORT")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--testing", action="store_true")
    parser.add_argument("--gpus-per-shot", type=int, default=1)
    parser.add_argument("--scene-cache", default=None, help="per-node scene folder root on every node")
    parser.add_argument("--scene-cache-bytes", type=int, default=20 * 1024**3)
    parser.add_argument("--check", action="store_true", help="check the cluster, print a JSON summary, exit")
    parser.add_argument("--workers", type=int, default=1)
    config = parser.parse_args(argv)
    if config.check:
        try:
            print(json.dumps(check_cluster(config)), flush=True)
            return 0
        except ValueError as exc:
            print(exc, file=sys.stderr, flush=True)
            return 2
    try:
        connect(config.ray)
    except ValueError as exc:
        log(str(exc))
        time.sleep(PROBLEM_EXIT_DELAY_S)
        return 1
    config.slot = ActorSlot(config)
    where = config.slot.wait_placed()
    if where["problem"]:
        log(f"the actor on {describe_node(where)} cannot run shots: {where['problem']}")
        time.sleep(PROBLEM_EXIT_DELAY_S)
        return 1
    try:
        return serve_worker(config.connect, config, job_runner=RayJobRunner)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
