"""A worker process: one per GPU, behind the server's ROUTER (zguide load-balancing pattern; it
heartbeats the server as in Paranoid Pirate and exits when the server goes quiet).

    python -m backend.worker --connect ipc:///tmp/anix-xyz/workers [--testing] [--device cuda]

Internal messages (msgpack header + blobs), server -> worker: job, cancel, heartbeat, stop;
worker -> server: ready, heartbeat, progress, frame, done, error, cancelled. A job runs in its
own thread; its events reach the worker loop over an inproc PUSH/PULL pipe, so heartbeats and
cancels keep flowing while the generator works.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time

import zmq

from . import protocol as P

SERVER_SILENCE_S = 30.0   # no message from the server for this long (or the server process gone): the worker exits
EVENT_HWM = 4             # job events (frames) waiting to go to the server: the job thread waits beyond this


class JobCancelled(Exception):
    pass


class JobRejected(Exception):
    """The request is invalid in a way only the worker can see (a camera that is not rigid, a
    view that is not decodable): reported as invalid_field."""

    def __init__(self, field: str, message: str, code: str = P.E_INVALID_FIELD):
        super().__init__(message)
        self.field, self.code = field, code


# ----------------------------------------------------------------------------- request -> ShotSpec

def decode_view(data, field: str):
    """PNG bytes -> RGBA uint8 [H,W,4]; the pixel size is checked from the header before decoding."""
    import numpy as np
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(bytes(data)), formats=["PNG"])
    except Exception as exc:
        raise JobRejected(field, f"not a readable PNG ({exc})") from None
    w, h = image.size
    if not (1 <= w <= P.MAX_VIEW_SIDE and 1 <= h <= P.MAX_VIEW_SIDE):
        raise JobRejected(field, f"view is {w}x{h} pixels, limit {P.MAX_VIEW_SIDE} per side")
    try:
        return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except Exception as exc:
        raise JobRejected(field, f"PNG does not decode ({exc})") from None


class SceneMemo:
    """The last scene a worker loaded (most shots reuse the same scene)."""

    def __init__(self):
        self.key = None
        self.scene = None

    def load(self, sha: str, path: str, transform):
        import numpy as np
        from anix_core import splats

        key = (sha, tuple(map(tuple, transform)))
        if key != self.key:
            self.scene = self.key = None
            scene = splats.load(path)
            matrix = np.asarray(transform, np.float64)
            if not np.allclose(matrix, np.eye(4)):
                scene = scene.transformed(matrix)
            self.scene, self.key = scene, key
        return self.scene


def load_history(frames: list, width: int, height: int):
    """The previous job's stored frames ([path, encoding, width, height, channels] each, from the
    server's result store) -> uint8 [T,height,width,3], resized when the sizes differ."""
    import numpy as np
    from PIL import Image

    out = []
    for path, encoding, w, h, channels in frames:
        try:
            data = open(path, "rb").read()
        except OSError:
            raise JobRejected("request.options.continue_from", "the frames of the job to continue from are gone "
                              "(its results expired); generate that shot again", P.E_UNKNOWN_JOB) from None
        if encoding == "raw":
            img = np.frombuffer(data, np.uint8).reshape(h, w, channels)[..., :3]
        else:
            img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if img.shape[:2] != (height, width):
            img = np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((width, height), Image.BILINEAR))
        out.append(img)
    return np.stack(out) if out else None


def build_shot_spec(request: dict, scene, view_blobs, continuation: dict | None = None) -> "object":
    """A validated request (protocol.check_submit + check_generator_options) -> anix_core.shot.ShotSpec.
    With a `continuation` (the server's summary of the job named by options.continue_from) the
    character starts at that job's end anchor (position and heading; the height stays the
    request's) and its last frames become `history_frames`."""
    import numpy as np
    from anix_core.shot import Anchor, ShotSpec

    cameras = None
    if request["cameras"] is not None:
        from anix_core.cameras import Camera

        cameras = []
        for i, cam in enumerate(request["cameras"]):
            try:
                cameras.append(Camera.from_dict(cam, name=f"request.cameras.{i}"))
            except ValueError as exc:
                raise JobRejected(f"request.cameras.{i}", str(exc)) from None
    views = {name: decode_view(blob, f"views.{name}") for name, blob in zip(request["views"], view_blobs)}
    anchor = dict(request["anchor"])
    history = None
    if continuation:
        anchor.update(position=continuation["end_anchor"]["position"],
                      heading_rad=continuation["end_anchor"]["heading_rad"])
        history = load_history(continuation["frames"], request["width"], request["height"])
    options = {k: v for k, v in request["options"].items() if k not in ("fail_at_frame", "frame_delay_s")}
    return ShotSpec(
        scene=scene, views=views, history_frames=history,
        anchor=Anchor(np.asarray(anchor["position"], np.float64), anchor["heading_rad"], anchor["height_m"]),
        instruction=request["instruction"], num_frames=request["num_frames"], fps=request["fps"],
        width=request["width"], height=request["height"], seed=request["seed"], cameras=cameras,
        camera_behaviour=request["camera_behaviour"],
        targets={k: np.asarray(v, np.float64) for k, v in request["targets"].items()},
        options=options,
    )


def encode_frame(frame, encoding: str) -> tuple[dict, object]:
    """uint8 [H,W,3] -> (frame header fields, blob)."""
    import numpy as np

    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w = frame.shape[:2]
    channels = frame.shape[2] if frame.ndim == 3 else 1
    fields = {"encoding": encoding, "width": int(w), "height": int(h), "channels": int(channels)}
    if encoding == "raw":
        return fields, frame
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", compress_level=1)
    return fields, buf.getvalue()


# ----------------------------------------------------------------------------- one job

class JobRunner(threading.Thread):
    """Runs one job and reports through its own PUSH socket (connected to the worker loop)."""

    def __init__(self, context, endpoint: str, header: dict, blobs, memo: SceneMemo, config):
        super().__init__(daemon=True, name=f"job-{header['job']}")
        self.context, self.endpoint = context, endpoint
        self.job = header["job"]
        self.request = header["request"]
        self.scene_path = header["scene_path"]
        self.generator = header["generator"]
        self.continuation = header.get("continuation")
        self.blobs = blobs
        self.memo, self.config = memo, config
        self.cancel_event = threading.Event()
        self.abandoned = threading.Event()  # the worker is exiting: nothing more will be forwarded

    def send(self, kind: str, blob=None, **fields):
        """Hand an event to the worker loop; waits while EVENT_HWM events are already waiting."""
        self.send_parts([P.pack(P.message(kind, job=self.job, **fields))] + ([blob] if blob is not None else []))

    def send_parts(self, parts: list) -> None:
        """Hand an already packed event (header, optional blob) to the worker loop, as `send`."""
        while not self.abandoned.is_set():
            try:
                self.pair.send_multipart(parts, zmq.NOBLOCK, copy=False)
                return
            except zmq.Again:
                self.pair.poll(50, zmq.POLLOUT)

    def run(self):
        self.pair = self.context.socket(zmq.PUSH)
        self.pair.sndhwm = EVENT_HWM  # a frame waits here, not in memory, while the server is behind
        self.pair.linger = 5000
        self.pair.connect(self.endpoint)
        try:
            self._run()
        finally:
            self.pair.close()

    def _run(self):
        timings: dict[str, float] = {}
        testing = self.config.testing
        options = self.request["options"]
        fail_at = options.get("fail_at_frame") if testing else None
        delay = float(options.get("frame_delay_s") or 0.0) if testing else 0.0
        sent: set[int] = set()
        stage_start = {"t": time.perf_counter(), "stage": "load_scene"}

        def switch_stage(stage: str):
            now = time.perf_counter()
            timings[stage_start["stage"]] = timings.get(stage_start["stage"], 0.0) + now - stage_start["t"]
            stage_start.update(t=now, stage=stage)

        def should_cancel() -> bool:
            return self.cancel_event.is_set()

        def on_progress(stage, done, total):
            if stage != stage_start["stage"] and stage != "encode":
                switch_stage(stage)
            self.send(P.PROGRESS, stage=str(stage), done=int(done), total=int(total))

        def on_frame(index, frame):
            index = int(index)
            if fail_at is not None and index >= int(fail_at):
                raise RuntimeError(f"test failure injected at frame {index}")
            if delay:
                end = time.monotonic() + delay
                while time.monotonic() < end:
                    if self.cancel_event.is_set():
                        raise JobCancelled()
                    time.sleep(min(0.02, delay))
            t = time.perf_counter()
            fields, blob = encode_frame(frame, self.request["encoding"])
            timings["encode"] = timings.get("encode", 0.0) + time.perf_counter() - t
            self.send(P.FRAME, blob, index=index, **fields)
            sent.add(index)

        try:
            self.send(P.PROGRESS, stage="load_scene", done=0, total=1)
            if self.generator == "pattern":
                scene = None
            else:
                scene = self.memo.load(self.request["scene"], self.scene_path, self.request["transform"])
            spec = build_shot_spec(self.request, scene, self.blobs, self.continuation)
            self.send(P.PROGRESS, stage="load_scene", done=1, total=1)
            switch_stage("generate")
            from .generation import run_generator

            outcome = run_generator(self.generator, spec, on_progress, should_cancel, on_frame,
                                    model_dir=self.config.model, device=self.config.device)
            frames = outcome.frames
            if frames is not None:  # frames a generator returned without passing them to on_frame
                for index in range(len(frames)):
                    if index not in sent:
                        on_frame(index, frames[index])
            switch_stage("done")
            self.send(P.DONE, num_frames=len(sent), timings={k: round(v, 6) for k, v in timings.items()},
                      start_anchor=outcome.start_anchor, end_anchor=outcome.end_anchor, warnings=outcome.warnings)
        except JobRejected as exc:
            self.send(P.ERROR, code=exc.code, field=exc.field, message=str(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes an error message
            if self.cancel_event.is_set():
                self.send(P.CANCELLED, reason="cancel requested", frames_ready=len(sent))
            else:
                message = P.redact_paths(f"{type(exc).__name__}: {exc}")[:2000]
                self.send(P.ERROR, code=P.E_GENERATOR_FAILED, field="", message=message)


# ----------------------------------------------------------------------------- worker loop

def serve_worker(connect: str, config, job_runner=None) -> int:
    """The worker loop; `job_runner` (default JobRunner, same constructor) runs each job: the Ray
    bridge passes its own, which runs the job on a Ray actor."""
    context = zmq.Context.instance()
    dealer = context.socket(zmq.DEALER)
    dealer.sndhwm = EVENT_HWM
    dealer.linger = 2000
    dealer.connect(connect)
    endpoint = f"inproc://job-events-{os.getpid()}"
    events = context.socket(zmq.PULL)
    events.rcvhwm = EVENT_HWM
    events.bind(endpoint)
    memo = SceneMemo()
    runner: JobRunner | None = None

    def send(kind: str, **fields):
        try:
            dealer.send(P.pack(P.message(kind, **fields)), zmq.NOBLOCK)
        except zmq.Again:
            pass  # the pipe to the server is full (it is gone or behind): a heartbeat can wait

    send("ready", pid=os.getpid(), render_backends=render_backends(config.device))
    poller = zmq.Poller()
    poller.register(dealer, zmq.POLLIN)
    poller.register(events, zmq.POLLIN)
    last_heard = last_sent = time.monotonic()
    parent = os.getppid()
    pending = None  # a job event the server's pipe had no room for yet (frames wait in the job thread meanwhile)
    try:
        while True:
            ready = dict(poller.poll(20 if pending is not None else int(P.HEARTBEAT_INTERVAL_S * 250)))
            now = time.monotonic()
            while pending is not None or events in ready:
                if pending is None:
                    try:
                        pending = events.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                try:
                    dealer.send_multipart(pending, zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                pending = None
                last_sent = now
            if dealer in ready:
                while True:
                    try:
                        frames = dealer.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    last_heard = now
                    header = P.unpack_header(frames[0].bytes)
                    kind = header["type"]
                    if kind == "job":
                        if runner is not None:
                            runner.join(timeout=5.0)  # it has sent its last event and is closing its socket
                        if runner is not None and runner.is_alive():
                            send(P.ERROR, job=header["job"], code=P.E_INTERNAL, field="", message="worker busy")
                            continue
                        runner = (job_runner or JobRunner)(context, endpoint, header, [f.buffer for f in frames[1:]], memo, config)
                        runner.start()
                    elif kind == "cancel":
                        if runner is not None and runner.job == header.get("job"):
                            runner.cancel_event.set()
                    elif kind == "stop":
                        return 0
            if now - last_sent >= P.HEARTBEAT_INTERVAL_S:
                send(P.HEARTBEAT)
                last_sent = now
            if now - last_heard > SERVER_SILENCE_S or os.getppid() != parent:
                print("anix worker: server went away; exiting", file=sys.stderr)
                return 1
    finally:
        if runner is not None:
            runner.abandoned.set()
            runner.cancel_event.set()
        events.close(linger=0)
        dealer.close(linger=0)


def render_backends(device) -> list[str]:
    """The `render_backend` option values this worker can honour (told to the server in `ready`)."""
    from anix_core.render.gsplat_backend import gsplat_available

    backends = ["auto", "cpu"]
    if device != "cpu" and gsplat_available():
        backends.append("gsplat")
    return backends


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.worker")
    parser.add_argument("--connect", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--testing", action="store_true")
    config = parser.parse_args(argv)
    try:
        code = serve_worker(config.connect, config)
    except KeyboardInterrupt:
        code = 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # a job thread may still be inside a generator: do not wait for it


if __name__ == "__main__":
    sys.exit(main())
