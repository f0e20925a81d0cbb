"""The AniX server: a ROUTER front for clients, worker processes behind a second ROUTER.

zguide patterns: load balancing (workers announce `ready`, jobs go to an idle worker, the
queue holds the rest) and Paranoid Pirate heartbeats both ways (clients and workers that go
quiet are noticed; a worker that dies mid-job ends that job with `worker_lost` and is replaced).
The server process imports no torch: the work happens in the workers.

The event loop never waits on the disk: frame and chunk writes, records and expiry run on one
disk thread (in order), attach replays read frames on reader threads, and the loop only moves
bounded messages between sockets and per-client queues bounded in bytes (backend.outbox).

    python -m backend.server --bind tcp://127.0.0.1:5555 [--workers 1] [--keys DIR] ...
"""
from __future__ import annotations

import argparse
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from . import protocol as P
from .auth import check_bind_allowed, start_server_auth
from .cache import PARTIAL_STALE_S, SceneCache, parse_size
from .generation import available_generators, check_anix_model, default_generator
from .outbox import Outboxes
from .ray_front import add_ray_arguments
from .ray_front import prepare as prepare_ray_workers
from .results import ResultStore

SERVER_VERSION = "0.1.0"
MAX_QUEUED_JOBS = 256
MAX_QUEUED_PER_CLIENT = 32
WORKER_SILENCE_S = 10.0       # a worker that sends nothing for this long is killed
WORKER_START_S = 120.0        # a worker must say `ready` within this
CANCEL_GRACE_S = 15.0         # a running job must acknowledge cancel within this, else its worker is killed
TICK_S = 0.05
MAX_QUEUED_VIEW_BYTES = 256 * P.MiB          # view blobs of queued jobs, all clients together
MAX_QUEUED_VIEW_BYTES_PER_CLIENT = 64 * P.MiB
CLIENT_SEND_BYTES = 16 * P.MiB               # bytes on their way to one client: queued, being read, with ZeroMQ
TOTAL_SEND_BYTES = 128 * P.MiB               # ... to all clients together
CLIENT_ZMQ_WINDOW = 4 * P.MiB                # of which with ZeroMQ at once (or one larger message)
CLIENT_SNDHWM = 2                            # messages in ZeroMQ's pipe to one client
CLIENT_RCVHWM = 2                            # messages ZeroMQ reads ahead from one client
MAX_CHUNKS_IN_FLIGHT = 2                     # put_scene chunks of one client being written at once
DISK_BACKLOG_BYTES = 256 * P.MiB             # bytes waiting for the disk thread; beyond, workers wait
STOP_FLUSH_S = 2.0                           # on SIGTERM, time to tell clients their jobs ended
VIEW_GENERATORS = ("blockout", "anix")  # generators that draw the character from its four views


@dataclass
class Job:
    id: str
    client: bytes                      # routing id of the subscriber (the submitter, or who attached last)
    request: dict
    blobs: list
    generator: str
    state: str = "queued"              # queued | running | done | failed | cancelled
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    ended: float | None = None
    worker: "WorkerHandle | None" = None
    terminal: dict | None = None       # the terminal event header, replayed on attach
    cancel_requested: float | None = None
    cancel_reason: str = "cancel requested"
    frames_ready: int = 0
    blob_bytes: int = 0                # bytes of `blobs`, counted against the queued-view bounds
    recorded: bool = True              # its record is on disk (a job is accepted and started only then)
    writing: set = field(default_factory=set)  # frame indices received, not yet on disk


@dataclass
class Replay:
    """Stored frames going to a job's subscriber from disk (attach, or live frames it was too
    slow to take), one read at a time within its send budget; then the terminal event."""
    job: Job
    ident: bytes
    indices: list                      # sorted frame indices still to send
    reading: int = 0                   # bytes of the read in flight (reserved in the outbox)


@dataclass
class WorkerHandle:
    proc: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    ident: bytes | None = None
    last_heard: float = field(default_factory=time.monotonic)
    job: Job | None = None


class Server:
    def __init__(self, bind: str, *, workers: int = 1, generator: str | None = None, keys=None,
                 cache_dir=None, cache_size: int = 20 * 1024**3, result_ttl_s: float = 1800.0,
                 results_size: int = 8 * 1024**3, client_timeout_s: float = 10.0, testing: bool = False,
                 model=None, device=None, worker_module: str = "backend.worker", worker_args=()):
        check_bind_allowed(bind, keys)
        self.worker_command = ["-m", worker_module, *worker_args]  # backend.ray_bridge with --ray
        self.testing = testing
        self.generators = available_generators(testing)
        self.model = model or os.environ.get("ANIX_MODEL_DIR") or None
        if generator == "anix" or self.model:
            check_anix_model(self.model, "anix" in self.generators)
        elif "anix" in self.generators:
            self.generators.remove("anix")  # it cannot run a job without a model folder
        self.default_generator = generator or default_generator()
        if self.default_generator not in self.generators:
            raise ValueError(f"generator {self.default_generator!r} is not available here; choose one of {', '.join(self.generators)}")
        self.num_workers = max(1, int(workers))
        self.client_timeout_s = float(client_timeout_s)
        self.device = device
        self._tmp = Path(tempfile.mkdtemp(prefix="anix-"))
        cache_root = Path(cache_dir) if cache_dir else self._tmp / "cache"
        self.cache = SceneCache(cache_root / "scenes", cache_size)
        self.results = ResultStore(cache_root / "results", ttl_s=result_ttl_s, max_bytes=results_size)
        self.context = zmq.Context()
        self.front = self.context.socket(zmq.ROUTER)
        self.front.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_PART_BYTES)
        self.front.linger = 0
        # ZeroMQ's flow control: a full pipe to a client refuses the send (EAGAIN) rather than
        # queueing; what waits beyond it is in self.outboxes, bounded in bytes
        self.front.sndhwm = CLIENT_SNDHWM
        self.front.rcvhwm = CLIENT_RCVHWM
        self.front.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.front.ipv6 = "[" in bind
        self.auth = start_server_auth(self.context, self.front, keys) if keys else None
        try:
            self.front.bind(bind)
        except zmq.ZMQError as exc:
            self.close()
            raise ValueError(f"cannot bind {bind}: {exc}") from None
        self.bind = self.front.getsockopt_string(zmq.LAST_ENDPOINT)
        self.back = self.context.socket(zmq.ROUTER)
        self.back.linger = 0
        self.back_address = f"ipc://{self._tmp}/workers"
        self.back.bind(self.back_address)
        self.outboxes = Outboxes(self.front, CLIENT_SEND_BYTES, TOTAL_SEND_BYTES, CLIENT_ZMQ_WINDOW)
        self.disk = ThreadPoolExecutor(1, thread_name_prefix="anix-disk")    # writes, in submission order
        self.reads = ThreadPoolExecutor(2, thread_name_prefix="anix-read")   # attach replays
        self._completed: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.disk_backlog = 0           # bytes handed to the disk thread, not yet written
        self.uploading: dict[bytes, int] = {}   # client -> put_scene chunks being written
        self.replays: dict[tuple, Replay] = {}  # (job id, client) -> frames going to that client from disk
        self.queued_view_bytes = 0
        # render_backend values the workers can honour; None until a worker says (a machine
        # without the NVIDIA driver, or --device cpu, has no gsplat)
        no_cuda = device == "cpu" or (sys.platform.startswith("linux") and not Path("/proc/driver/nvidia/version").exists())
        self.render_backends: list[str] | None = ["auto", "cpu"] if no_cuda else None
        self.jobs: dict[str, Job] = {}
        for record in self.results.reloaded:
            self._restore_job(record)
        self.results.reloaded = []
        self.queue: deque[Job] = deque()
        self.workers: list[WorkerHandle] = []
        self.idle: deque[WorkerHandle] = deque()
        self.clients: dict[bytes, float] = {}       # routing id -> last heard
        self.stopping = False
        self._last_worker_beat = 0.0
        self._last_housekeeping = 0.0

    def _restore_job(self, record: dict) -> None:
        """An ended job a previous server left in the result store, answering status and attach again."""
        state, terminal = record["state"], dict(record["terminal"])
        if state == "done":
            for key in ("start_anchor", "end_anchor"):
                terminal[key] = _anchor_state(terminal.get(key))
        # what the store read back is checked again as the worker's anchors were (None when malformed)
        self.results.set_info(record["job"], end_anchor=_anchor_state(record["info"].get("end_anchor")))
        request = {"num_frames": record["num_frames"], "encoding": record["encoding"], "on_disconnect": "keep",
                   "scene": "", "options": {}}
        self.jobs[record["job"]] = Job(id=record["job"], client=b"", request=request, blobs=[],
                                       generator=record["generator"], state=state, ended=time.monotonic(),
                                       terminal=terminal, frames_ready=self.results.count(record["job"]))

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        for _ in range(self.num_workers):
            self._spawn_worker()
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        back_paused = False
        try:
            while not self.stopping:
                ready = dict(poller.poll(10 if self.outboxes.pending() else int(TICK_S * 1000)))
                self._run_completions()
                # workers wait (their pipes fill) while the disk thread is behind by more than the backlog bound
                if back_paused != (self.disk_backlog > DISK_BACKLOG_BYTES):
                    back_paused = not back_paused
                    if back_paused:
                        poller.unregister(self.back)
                    else:
                        poller.register(self.back, zmq.POLLIN)
                        for w in self.workers:  # the silence was ours
                            w.last_heard = max(w.last_heard, time.monotonic())
                if self.back in ready and not back_paused:
                    self._drain(self.back, self._on_worker_message)
                if self.front in ready:
                    self._drain(self.front, self._on_client_message, limit=64)
                self.outboxes.flush()
                self._pump_replays()
                self._tick(check_silence=not back_paused)
        finally:
            try:
                self._stop_jobs()
            finally:
                self.close()

    # ------------------------------------------------------------------ threads
    def _in_thread(self, pool, fn, *args, then=None, nbytes: int = 0):
        """Run fn(*args) on `pool`; then(future) runs later on the event loop."""
        self.disk_backlog += nbytes if pool is self.disk else 0

        def finished(future, _nbytes=nbytes if pool is self.disk else 0):
            self._completed.put((then, future, _nbytes))
            try:
                os.write(self._wake_w, b"x")
            except (BlockingIOError, OSError):
                pass  # the pipe is full: the loop is awake anyway

        pool.submit(fn, *args).add_done_callback(finished)

    def _on_disk(self, fn, *args, then=None, nbytes: int = 0):
        self._in_thread(self.disk, fn, *args, then=then, nbytes=nbytes)

    def _run_completions(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                then, future, nbytes = self._completed.get_nowait()
            except queue.Empty:
                return
            self.disk_backlog -= nbytes
            if then is not None:
                try:
                    then(future)
                except Exception as exc:  # noqa: BLE001 - a failed follow-up must not stop the server
                    print(f"anix serve: internal error after disk work ({type(exc).__name__}: {exc})", file=sys.stderr)
            elif future.exception() is not None:
                exc = future.exception()
                print(f"anix serve: disk work failed ({type(exc).__name__}: {exc})", file=sys.stderr)

    def _drain(self, socket, handler, limit: int = 256) -> None:
        for _ in range(limit):
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            handler(frames)

    def _stop_jobs(self) -> None:
        """On SIGTERM: every queued or running job ends with `server_stopped` (clients hear it,
        the records say so, so a restart on the same cache reports each precisely)."""
        for job in list(self.jobs.values()):
            if job.state in ("queued", "running"):
                self._end_job(job, "failed", P.message(
                    P.ERROR, job=job.id, code=P.E_SERVER_STOPPED, field="",
                    message=f"the server stopped while this job was {job.state}, after {job.frames_ready} of "
                            f"{job.request['num_frames']} frames; the job was not finished. Frames already made stay "
                            "available (attach) if the server restarts on the same cache; submit the shot again."))
        deadline = time.monotonic() + STOP_FLUSH_S
        while self.outboxes.pending() and time.monotonic() < deadline:
            self.outboxes.flush()
            time.sleep(0.01)
        self.reads.shutdown(wait=False, cancel_futures=True)
        self.disk.shutdown(wait=True)  # the records are written before the process goes

    def close(self) -> None:
        if hasattr(self, "reads"):
            self.reads.shutdown(wait=False, cancel_futures=True)
            self.disk.shutdown(wait=True)
        workers = getattr(self, "workers", [])
        for w in workers:
            if w.ident is not None and w.proc.poll() is None:
                try:
                    self.back.send_multipart([w.ident, P.pack(P.message("stop"))], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
        deadline = time.monotonic() + 3.0
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        workers.clear()
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        for s in (getattr(self, "front", None), getattr(self, "back", None)):
            if s is not None:
                s.close(linger=0)
        self.context.term()
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ workers
    def _spawn_worker(self) -> None:
        cmd = [sys.executable, *self.worker_command, "--connect", self.back_address]
        if self.testing:
            cmd.append("--testing")
        if self.model:
            cmd += ["--model", str(self.model)]
        if self.device:
            cmd += ["--device", str(self.device)]
        self.workers.append(WorkerHandle(proc=subprocess.Popen(cmd)))

    def _on_worker_message(self, frames) -> None:
        try:
            self._handle_worker_message(frames)
        except Exception as exc:  # noqa: BLE001 - a broken worker message must not stop the server
            print(f"anix serve: bad worker message ({type(exc).__name__}: {exc})", file=sys.stderr)

    def _handle_worker_message(self, frames) -> None:
        ident = frames[0].bytes
        header = P.unpack_header(frames[1].bytes)
        kind = header["type"]
        handle = next((w for w in self.workers if w.ident == ident), None)
        if kind == "ready":
            handle = next((w for w in self.workers if w.proc.pid == header.get("pid")), None)
            if handle is None:
                return
            handle.ident = ident
            handle.last_heard = time.monotonic()
            backends = header.get("render_backends")
            if isinstance(backends, list) and all(isinstance(b, str) for b in backends):
                self.render_backends = backends
            if handle not in self.idle and handle.job is None:
                self.idle.append(handle)
            return
        if handle is None:
            return
        handle.last_heard = time.monotonic()
        if kind == P.HEARTBEAT:
            return
        job = handle.job
        if job is None or header.get("job") != job.id:
            return  # a late message of a job that was already ended
        if kind == P.FRAME:
            event = P.message(P.FRAME, job=job.id, index=header["index"], encoding=header["encoding"],
                              width=header["width"], height=header["height"], channels=header["channels"])
            self._store_frame(job, event, frames[2])
        elif kind == P.PROGRESS:
            self._send_client(job.client, P.message(P.PROGRESS, job=job.id, stage=header["stage"],
                                                    done=header["done"], total=header["total"]))
        elif kind == P.DONE:
            timings = dict(header.get("timings", {}))
            timings["queue"] = round(job.started - job.created, 6)
            timings["total"] = round(time.monotonic() - job.created, 6)
            anchors = {key: _anchor_state(header.get(key)) for key in ("start_anchor", "end_anchor")}
            if anchors["end_anchor"] is not None:
                self.results.set_info(job.id, end_anchor=anchors["end_anchor"])
            self._end_job(job, "done", P.message(P.DONE, job=job.id, num_frames=job.frames_ready, timings=timings,
                                                 warnings=_warnings(header.get("warnings")), **anchors))
        elif kind == P.ERROR:
            self._end_job(job, "failed", P.message(P.ERROR, job=job.id, code=header.get("code", P.E_INTERNAL),
                                                   field=header.get("field", ""),
                                                   message=P.redact_paths(str(header.get("message", "")))))
        elif kind == P.CANCELLED:  # the reason is the server's: it knows why it asked
            self._end_job(job, "cancelled", P.message(P.CANCELLED, job=job.id, reason=job.cancel_reason,
                                                      frames_ready=job.frames_ready))

    def _store_frame(self, job: Job, event: dict, blob) -> None:
        """A frame from a worker: written to the result store on the disk thread, and sent to the
        subscriber now, or later from disk when it is too slow to take it."""
        index = event["index"]
        if index in job.writing or self.results.frame_entry(job.id, index) is not None:
            return  # a worker that repeats a frame: the first one stands
        job.writing.add(index)
        job.frames_ready += 1

        def written(future, job=job, index=index):
            job.writing.discard(index)
            if future.exception() is not None:
                print(f"anix serve: cannot store frame {index} of job {job.id} ({future.exception()})", file=sys.stderr)

        self._on_disk(self.results.put_frame, job.id, index, event, blob.buffer, then=written, nbytes=len(blob))
        replay = self.replays.get((job.id, job.client))
        if replay is not None:
            self._add_to_replay(replay, index)
        elif not self.outboxes.send(job.client, [P.pack(event), blob.buffer]):
            self._add_to_replay(self._replay_for(job), index)  # too slow to take it now: from disk later

    def _release_worker(self, handle: WorkerHandle) -> None:
        handle.job = None
        if handle in self.workers and handle.proc.poll() is None and handle not in self.idle:
            self.idle.append(handle)

    def _check_workers(self, now: float, check_silence: bool = True) -> None:
        for w in list(self.workers):
            code = w.proc.poll()
            # a worker that never said `ready` is late whatever check_silence says
            silent = (check_silence and w.ident is not None and now - w.last_heard > WORKER_SILENCE_S) or \
                (w.ident is None and now - w.started > WORKER_START_S)
            late_cancel = w.job is not None and w.job.cancel_requested is not None and \
                now - w.job.cancel_requested > CANCEL_GRACE_S
            if code is None and (silent or late_cancel):
                w.proc.kill()
                code = w.proc.wait()
            if code is None:
                continue
            self.workers.remove(w)
            if w in self.idle:
                self.idle.remove(w)
            job = w.job
            if job is not None:
                if job.cancel_requested is not None:
                    self._end_job(job, "cancelled", P.message(P.CANCELLED, job=job.id, reason=job.cancel_reason,
                                                              frames_ready=job.frames_ready))
                else:
                    self._end_job(job, "failed", P.message(
                        P.ERROR, job=job.id, code=P.E_WORKER_LOST, field="",
                        message=f"the worker process running this job exited (code {code}) after "
                                f"{job.frames_ready} of {job.request['num_frames']} frames; the job was not finished. "
                                "Frames already delivered stay available; submit the shot again."))
            print(f"anix serve: worker {w.proc.pid} exited with code {code}; starting a new one", file=sys.stderr)
        while len(self.workers) < self.num_workers and not self.stopping:
            self._spawn_worker()

    def _dispatch(self) -> None:
        while self.queue and self.idle and self.queue[0].recorded and not self._history_pending(self.queue[0]):
            job = self.queue.popleft()
            worker = self.idle.popleft()
            scene_path = self.cache.path(job.request["scene"])
            if scene_path is None and job.generator != "pattern":
                self.idle.appendleft(worker)
                self._end_job(job, "failed", P.message(P.ERROR, job=job.id, code=P.E_UNKNOWN_SCENE, field="request.scene",
                                                       message="the scene left the cache before the job started; upload it again"))
                continue
            continuation = None
            if job.request["options"].get("continue_from"):
                try:
                    continuation = self._continuation(job.request["options"]["continue_from"])
                except P.ProtocolError as exc:
                    self.idle.appendleft(worker)
                    self._end_job(job, "failed", P.message(P.ERROR, job=job.id, code=exc.code, field=exc.field,
                                                           message=exc.message))
                    continue
            job.state, job.started, job.worker, worker.job = "running", time.monotonic(), worker, job
            header = P.message("job", job=job.id, request=job.request, generator=job.generator,
                               scene_path=str(scene_path) if scene_path else "", continuation=continuation)
            self.back.send_multipart([worker.ident, P.pack(header), *job.blobs], copy=False)
            self._free_blobs(job)
            self._on_disk(self.results.write_record, job.id, "running")  # a restart says "was running"
            self._send_client(job.client, P.message(P.PROGRESS, job=job.id, stage="queued", done=1, total=1))

    def _history_pending(self, job: Job) -> bool:
        """True while frames of the job it continues are still on their way to disk (it waits for them)."""
        prev = self.jobs.get(job.request["options"].get("continue_from") or "")
        return prev is not None and bool(prev.writing)

    # ------------------------------------------------------------------ jobs
    def _end_job(self, job: Job, state: str, event: dict) -> None:
        if job.state in ("done", "failed", "cancelled"):
            return
        if job in self.queue:
            self.queue.remove(job)
        job.state, job.ended, job.terminal = state, time.monotonic(), event
        self._free_blobs(job)  # however the job ends: a cancelled queued job frees its views now
        if job.worker is not None:
            self._release_worker(job.worker)
            job.worker = None
        self.cache.unpin(job.request["scene"])
        self._on_disk(self.results.mark_ended, job.id, state, event)  # after its frames: the disk thread keeps order
        if (job.id, job.client) not in self.replays:  # else the replay sends it after the frames it still owes
            self.outboxes.send(job.client, [P.pack(event)], droppable=False)

    def _free_blobs(self, job: Job) -> None:
        self.queued_view_bytes -= job.blob_bytes
        job.blobs, job.blob_bytes = [], 0

    def _client_view_bytes(self, ident: bytes) -> int:
        return sum(j.blob_bytes for j in self.queue if j.client == ident)

    # ------------------------------------------------------------------ replays (attach, slow readers)
    def _replay_for(self, job: Job) -> Replay:
        """The replay to the job's subscriber (made when there is none)."""
        key = (job.id, job.client)
        if key not in self.replays:
            self.replays[key] = Replay(job=job, ident=job.client, indices=[])
        return self.replays[key]

    def _add_to_replay(self, replay: Replay, index: int) -> None:
        if index not in replay.indices:
            replay.indices.append(index)
            replay.indices.sort()

    def _pump_replays(self) -> None:
        for replay in list(self.replays.values()):
            if not replay.reading:
                self._replay_next(replay)

    def _replay_next(self, replay: Replay) -> None:
        """Start reading the replay's next frame when its client has room for it; at the end,
        the terminal event of an ended job."""
        job = replay.job
        key = (job.id, replay.ident)
        if self.replays.get(key) is not replay:
            return
        while replay.indices:
            index = replay.indices[0]
            entry = self.results.frame_entry(job.id, index)
            if entry is None:
                if index in job.writing:
                    return  # still on its way to disk
                replay.indices.pop(0)  # gone (its results expired)
                continue
            header, path, size = entry
            if self.outboxes.room(replay.ident) < size + 4096 and not self.outboxes.idle(replay.ident):
                return  # the client has not read what it has yet (or others hold the total)
            replay.indices.pop(0)
            replay.reading = size + 1
            self.outboxes.reserve(replay.ident, replay.reading)
            self._in_thread(self.reads, Path.read_bytes, path,
                            then=lambda future, r=replay, h=header: self._replay_read(r, h, future))
            return
        del self.replays[key]
        if job.terminal is not None:  # an ended job: its terminal event after every frame
            self.outboxes.send(replay.ident, [P.pack(job.terminal)], droppable=False)

    def _replay_read(self, replay: Replay, header: dict, future) -> None:
        self.outboxes.release(replay.ident, replay.reading)
        replay.reading = 0
        key = (replay.job.id, replay.ident)
        if self.replays.get(key) is not replay:
            return  # the same client attached again: its new replay goes on
        if future.exception() is None:
            if not self.outboxes.send(replay.ident, [P.pack(header), future.result()], droppable=False):
                del self.replays[key]  # the client is gone
                return
        self._replay_next(replay)
    def _continuation(self, prev_id: str) -> dict:
        """What a job continuing `prev_id` starts from: its end anchor and its last frames (files
        of the result store, read by the worker on this machine). ProtocolError naming
        request.options.continue_from when there is nothing to continue."""
        field_ = "request.options.continue_from"
        prev = self.jobs.get(prev_id)
        if self.results.lost(prev_id):
            raise P.ProtocolError(P.E_UNKNOWN_JOB, field_, _lost_message(prev_id, self.results.lost_state(prev_id)))
        if prev is None or not self.results.has(prev_id):
            raise P.ProtocolError(P.E_UNKNOWN_JOB, field_, f"no job {prev_id} to continue from: unknown here, or its "
                                  f"results expired ({self.results.ttl_s:g} s after it ended); generate that shot again")
        if prev.state != "done":
            raise P.ProtocolError(P.E_INVALID_FIELD, field_, f"job {prev_id} is {prev.state}; only a job that ended "
                                  "with done can be continued")
        end_anchor = self.results.info(prev_id).get("end_anchor")
        if end_anchor is None:
            raise P.ProtocolError(P.E_INVALID_FIELD, field_, f"job {prev_id} left no character end state to continue from")
        frames = [[str(path), h["encoding"], h["width"], h["height"], h["channels"]]
                  for h, path in self.results.frame_files(prev_id, P.MAX_HISTORY_FRAMES)]
        return {"job": prev_id, "end_anchor": end_anchor, "frames": frames}

    def _request_cancel(self, job: Job, reason: str) -> None:
        if job.state == "queued":
            self._end_job(job, "cancelled", P.message(P.CANCELLED, job=job.id, reason=reason, frames_ready=0))
        elif job.state == "running" and job.cancel_requested is None:
            job.cancel_requested = time.monotonic()
            job.cancel_reason = reason
            if job.worker is not None and job.worker.ident is not None:
                self.back.send_multipart([job.worker.ident, P.pack(P.message("cancel", job=job.id))])

    def _queue_position(self, job: Job) -> int:
        if job.state != "queued":
            return 0
        try:
            return self.queue.index(job) + 1
        except ValueError:
            return 0

    # ------------------------------------------------------------------ clients
    def _send_client(self, ident: bytes, header: dict) -> None:
        """A reply or a non-terminal event; dropped when the client is over its send bound (it
        does not read) or gone."""
        self.outboxes.send(ident, [P.pack(header)])

    def _reply_error(self, ident: bytes, req, code: str, field_: str, message: str, job: str | None = None) -> None:
        self._send_client(ident, P.message(P.ERROR, req=req, job=job, code=code, field=field_, message=message))

    def _on_client_message(self, frames) -> None:
        ident = frames[0].bytes
        self.clients[ident] = time.monotonic()
        if len(frames) < 2:
            return  # an empty message: drop
        req = None
        try:
            if len(frames) > P.MAX_PARTS + 1:
                raise P.ProtocolError(P.E_TOO_LARGE, "parts", f"message has {len(frames) - 1} parts, limit {P.MAX_PARTS}")
            header = P.unpack_header(frames[1].buffer)
            req = P.request_id(header)
            handler = self._handlers.get(header["type"])
            if handler is None:
                raise P.ProtocolError(P.E_UNKNOWN_TYPE, "type", f"unknown message type {header['type'][:40]!r}")
            handler(self, ident, req, header, [f.buffer for f in frames[2:]])
        except P.ProtocolError as exc:
            self._reply_error(ident, req, exc.code, exc.field, exc.message)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the server
            print(f"anix serve: internal error on a {type(exc).__name__}: {exc}", file=sys.stderr)
            self._reply_error(ident, req, P.E_INTERNAL, "", f"internal error: {type(exc).__name__}")

    def _reply_future_error(self, ident: bytes, req, future) -> bool:
        """Answer the error of disk work done for a request, if it failed; True when it did."""
        exc = future.exception()
        if exc is None:
            return False
        if isinstance(exc, P.ProtocolError):
            self._reply_error(ident, req, exc.code, exc.field, exc.message)
        else:
            print(f"anix serve: disk work for a request failed ({type(exc).__name__}: {exc})", file=sys.stderr)
            self._reply_error(ident, req, P.E_INTERNAL, "", P.redact_paths(f"internal error: {type(exc).__name__}: {exc}"))
        return True

    def _on_hello(self, ident, req, header, blobs):
        self._send_client(ident, P.message(
            P.WELCOME, req=req, server="anix", server_version=SERVER_VERSION, protocol=P.PROTOCOL_VERSION,
            generators=self.generators, default_generator=self.default_generator, limits=P.LIMITS,
            generator_options={name: P.GENERATOR_OPTIONS[name] for name in self.generators if name in P.GENERATOR_OPTIONS},
            workers=self.num_workers, client_timeout_s=self.client_timeout_s, result_ttl_s=self.results.ttl_s,
            worker_silence_s=WORKER_SILENCE_S, upload_stale_s=PARTIAL_STALE_S))

    def _on_ping(self, ident, req, header, blobs):
        self._send_client(ident, P.message(P.PONG, req=req))

    def _on_heartbeat(self, ident, req, header, blobs):
        pass

    def _on_has_scene(self, ident, req, header, blobs):
        f = P.check_has_scene(header)
        offset = self.cache.resume_offset(f["sha256"])
        present = self.cache.path(f["sha256"]) is not None
        if present:
            self.cache.touch(f["sha256"])
        self._send_client(ident, P.message(P.SCENE_STATUS, req=req, sha256=f["sha256"], present=present,
                                           offset=f["size"] if present else min(offset, f["size"])))

    def _on_put_scene(self, ident, req, header, blobs):
        f = P.check_put_scene(header, blobs)
        if self.uploading.get(ident, 0) >= MAX_CHUNKS_IN_FLIGHT:
            raise P.ProtocolError(P.E_QUEUE_FULL, "chunk", f"{MAX_CHUNKS_IN_FLIGHT} chunks of this client are being "
                                  "written; send the next chunk after the scene_ack of an earlier one")
        if self.disk_backlog > DISK_BACKLOG_BYTES:
            raise P.ProtocolError(P.E_QUEUE_FULL, "chunk", "the server's disk is behind; send the chunk again shortly")
        self.uploading[ident] = self.uploading.get(ident, 0) + 1

        def written(future):
            left = self.uploading.get(ident, 1) - 1
            if left > 0:
                self.uploading[ident] = left
            else:
                self.uploading.pop(ident, None)
            if not self._reply_future_error(ident, req, future):
                offset = future.result()
                self._send_client(ident, P.message(P.SCENE_ACK, req=req, sha256=f["sha256"], offset=offset,
                                                   complete=offset == f["size"]))

        self._on_disk(self.cache.put_chunk, f["sha256"], f["size"], f["offset"], f["ext"], blobs[0], ident,
                      then=written, nbytes=len(blobs[0]))

    def _on_submit(self, ident, req, header, blobs):
        request = P.check_submit(header, blobs)
        generator = request["generator"] or self.default_generator
        if generator not in self.generators:
            raise P.ProtocolError(P.E_UNKNOWN_GENERATOR, "request.generator",
                                  f"generator {generator!r} is not available; this server offers {', '.join(self.generators)}")
        request["options"] = P.check_generator_options(generator, request["options"])
        missing = [n for n in P.VIEW_NAMES if n not in request["views"]]
        if missing and (generator in VIEW_GENERATORS or request["options"].get("overlay") == "character_box"):
            what = f"generator {generator!r}" if generator in VIEW_GENERATORS else "the character_box overlay"
            raise P.ProtocolError(P.E_INVALID_FIELD, "request.views",
                                  f"{what} needs all four character views; missing: {', '.join(missing)}")
        backend = request["options"].get("render_backend")
        if backend and self.render_backends is not None and backend not in self.render_backends:
            raise P.ProtocolError(P.E_INVALID_FIELD, "request.options.render_backend",
                                  f"render_backend {backend!r} is not available on this server (it needs CUDA and gsplat); "
                                  f"use one of {', '.join(self.render_backends)}")
        if generator in VIEW_GENERATORS or request["options"].get("overlay") == "character_box":
            _check_plan(request)
        if request["options"].get("continue_from"):
            self._continuation(request["options"]["continue_from"])
        if generator != "pattern" and self.cache.path(request["scene"]) is None:
            raise P.ProtocolError(P.E_UNKNOWN_SCENE, "request.scene", "the server does not hold this scene; upload it with put_scene first")
        if len(self.queue) >= MAX_QUEUED_JOBS:
            raise P.ProtocolError(P.E_QUEUE_FULL, "", f"{MAX_QUEUED_JOBS} jobs are queued; retry later")
        if sum(1 for j in self.queue if j.client == ident) >= MAX_QUEUED_PER_CLIENT:
            raise P.ProtocolError(P.E_QUEUE_FULL, "", f"this client already has {MAX_QUEUED_PER_CLIENT} queued jobs")
        view_bytes = sum(len(b) for b in blobs)
        client_view_bytes = self._client_view_bytes(ident)
        if client_view_bytes + view_bytes > MAX_QUEUED_VIEW_BYTES_PER_CLIENT:
            raise P.ProtocolError(P.E_QUEUE_FULL, "", f"this client's queued jobs carry {client_view_bytes} "
                                  f"bytes of views; with this one over the limit of {MAX_QUEUED_VIEW_BYTES_PER_CLIENT}")
        if self.queued_view_bytes + view_bytes > MAX_QUEUED_VIEW_BYTES:
            raise P.ProtocolError(P.E_QUEUE_FULL, "", f"queued jobs carry {self.queued_view_bytes} bytes of views; with "
                                  f"this one over the server's limit of {MAX_QUEUED_VIEW_BYTES}; retry later")
        request["generator"] = generator
        job = Job(id="j" + secrets.token_hex(8), client=ident, request=request,
                  blobs=list(blobs), generator=generator, blob_bytes=view_bytes, recorded=False)  # received frames, not copies
        self.queued_view_bytes += view_bytes
        self.jobs[job.id] = job
        self.cache.pin(request["scene"])
        self.cache.touch(request["scene"])
        self.results.register(job.id, num_frames=request["num_frames"], generator=generator, encoding=request["encoding"])
        self.queue.append(job)

        def recorded(future):  # accepted once a restart would know of it
            job.recorded = True
            self._send_client(ident, P.message(P.ACCEPTED, req=req, job=job.id,
                                               queue_position=max(1, self._queue_position(job)),
                                               generator=generator, num_frames=request["num_frames"]))
            self._dispatch()

        self._on_disk(self.results.write_record, job.id, "queued", then=recorded)

    def _job(self, header) -> Job:
        job_id = P.check_job_ref(header)["job"]
        job = self.jobs.get(job_id)
        if job is None and self.results.lost(job_id):
            raise P.ProtocolError(P.E_UNKNOWN_JOB, "job", _lost_message(job_id, self.results.lost_state(job_id)))
        if job is None:
            raise P.ProtocolError(P.E_UNKNOWN_JOB, "job", f"no job {job_id} (unknown, or its results expired)")
        return job

    def _status_message(self, job: Job, req) -> dict:
        return P.message(P.JOB_STATUS, req=req, job=job.id, state=job.state, frames_ready=job.frames_ready,
                         num_frames=job.request["num_frames"], queue_position=self._queue_position(job),
                         generator=job.generator, cancel_requested=job.cancel_requested is not None)

    def _on_cancel(self, ident, req, header, blobs):
        job = self._job(header)
        self._request_cancel(job, "cancel requested")
        self._send_client(ident, self._status_message(job, req))

    def _on_status(self, ident, req, header, blobs):
        self._send_client(ident, self._status_message(self._job(header), req))

    def _on_attach(self, ident, req, header, blobs):
        f = P.check_attach(header)
        job = self._job(header)
        job.client = ident
        self._send_client(ident, P.message(P.ATTACHED, req=req, job=job.id, state=job.state, frames_ready=job.frames_ready,
                                           num_frames=job.request["num_frames"], from_frame=f["from_frame"]))
        # stored frames (and those still on their way to disk) stream from disk as the client reads them
        indices = set(self.results.indices(job.id, f["from_frame"])) | {i for i in job.writing if i >= f["from_frame"]}
        self.replays[(job.id, ident)] = replay = Replay(job=job, ident=ident, indices=sorted(indices))
        self._replay_next(replay)

    _handlers = {P.HELLO: _on_hello, P.PING: _on_ping, P.HEARTBEAT: _on_heartbeat, P.HAS_SCENE: _on_has_scene,
                 P.PUT_SCENE: _on_put_scene, P.SUBMIT: _on_submit, P.CANCEL: _on_cancel, P.STATUS: _on_status,
                 P.ATTACH: _on_attach}

    # ------------------------------------------------------------------ timers
    def _tick(self, check_silence: bool = True) -> None:
        now = time.monotonic()
        self._check_workers(now, check_silence)
        self._dispatch()
        if now - self._last_worker_beat >= P.HEARTBEAT_INTERVAL_S:
            self._last_worker_beat = now
            for w in self.workers:
                if w.ident is not None:
                    self.back.send_multipart([w.ident, P.pack(P.message(P.HEARTBEAT))])
            active = {j.client for j in self.jobs.values() if j.state in ("queued", "running")}
            for ident in active:
                if now - self.outboxes.sent_at.get(ident, 0.0) >= P.HEARTBEAT_INTERVAL_S:
                    self._send_client(ident, P.message(P.HEARTBEAT))
            for job in list(self.jobs.values()):  # a client that stopped heartbeating frees its jobs
                if job.state in ("queued", "running") and job.request["on_disconnect"] == "cancel" and \
                        now - self.clients.get(job.client, now) > self.client_timeout_s:
                    self._request_cancel(job, "client stopped answering")
        if now - self._last_housekeeping >= 5.0:
            self._last_housekeeping = now
            for job_id in self.results.take_dropped():  # expired or over --results-size (on the disk thread)
                job = self.jobs.get(job_id)
                if job is not None and job.terminal is not None:
                    self.jobs.pop(job_id, None)
            self._on_disk(self.results.expire)
            self._on_disk(self.cache.drop_stale_uploads)
            busy = {j.client for j in self.jobs.values()}
            for ident, seen in list(self.clients.items()):
                if ident not in busy and now - seen > 10 * self.client_timeout_s and \
                        not any(key[1] == ident for key in self.replays):
                    self.clients.pop(ident, None)
                    self.outboxes.forget(ident)


def _lost_message(job_id: str, was: str = "") -> str:
    return (f"job {job_id} was {was or 'queued or running'} when the server stopped (the server restarted since): it "
            "did not finish and its frames are not kept; submit the shot again")


def _check_plan(request: dict) -> None:
    """The instruction of a shot that plans motion is parsed at submit (stdlib only, a few ms), so
    an empty or unreadable one is refused then, not as a failed job."""
    try:
        from anix_core.instructions import parse
    except ImportError:  # the planning generators are not installed: nothing plans
        return
    try:
        parse(request["instruction"], targets=tuple(request["targets"]), num_frames=request["num_frames"],
              fps=request["fps"], camera=request["camera_behaviour"])
    except ValueError as exc:
        raise P.ProtocolError(P.E_INVALID_FIELD, "request.instruction", str(exc)[:1000]) from None


def _anchor_state(value) -> dict | None:
    """A worker's {position [3], heading_rad} made safe to send on, or None."""
    if not isinstance(value, dict):
        return None
    try:
        return {"position": P.check_vec3(value.get("position"), "position"),
                "heading_rad": P.check_float(value.get("heading_rad"), "heading_rad")}
    except P.ProtocolError:
        return None


def _warnings(value) -> list[str]:
    """A worker's warnings made safe to send on: at most 20 strings of at most 500 characters."""
    if not isinstance(value, list):
        return []
    return [w[:500] for w in value if isinstance(w, str)][:20]


# ---------------------------------------------------------------------- entry points

def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", default="tcp://127.0.0.1:5555", help="ZeroMQ address to listen on (default %(default)s)")
    parser.add_argument("--generator", default=None, help="default generator: blockout, render or anix (default: blockout where installed, else render)")
    parser.add_argument("--model", default=None,
                        help="model folder for the anix generator (default $ANIX_MODEL_DIR); checked at start")
    parser.add_argument("--device", default=None, choices=["cuda", "cpu"], help="device for the generators")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (one per GPU)")
    parser.add_argument("--keys", default=None, help="CURVE key folder from `anix keys generate` (required off loopback)")
    parser.add_argument("--cache-dir", default=None, help="scene cache and results folder (default: a temporary folder)")
    parser.add_argument("--cache-size", default="20GB", help="scene cache bound, e.g. 20GB (default %(default)s)")
    parser.add_argument("--results-size", default="8GB", help="bound on kept job results (default %(default)s)")
    parser.add_argument("--result-ttl", type=float, default=1800.0, help="seconds results are kept after a job ends (default %(default)s)")
    parser.add_argument("--client-timeout", type=float, default=10.0,
                        help="seconds of client silence after which its jobs (on_disconnect=cancel) are cancelled")
    parser.add_argument("--testing", action="store_true", help=argparse.SUPPRESS)
    add_ray_arguments(parser)


def serve_command(args) -> int:
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.result_ttl < 1800 and not args.testing:
        raise ValueError("--result-ttl must be at least 1800 seconds (results are promised for 30 minutes)")
    ray = prepare_ray_workers(args, parse_size(args.cache_size))
    server = Server(args.bind, workers=args.workers, generator=args.generator, keys=args.keys,
                    cache_dir=args.cache_dir, cache_size=parse_size(args.cache_size),
                    results_size=parse_size(args.results_size), result_ttl_s=args.result_ttl,
                    client_timeout_s=args.client_timeout, testing=args.testing, model=args.model, device=args.device,
                    **({"worker_module": ray.module, "worker_args": ray.args} if ray else {}))

    def stop(signum, frame):
        server.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"anix serve: listening on {server.bind} ({'CURVE' if args.keys else 'loopback, no keys'}), "
          f"{server.num_workers} worker(s), generators {', '.join(server.generators)} "
          f"(default {server.default_generator})" + (f"; {ray.describe()}" if ray else ""), flush=True)
    server.serve_forever()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.server", description="AniX GPU service")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve_command(args)
    except ValueError as exc:
        print(f"anix serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
