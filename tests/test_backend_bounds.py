"""What a server promises when it is stopped, when a client goes quiet, and what one client may
queue (docs/PROTOCOL.md: "Server restarts", "Heartbeats", "Memory and time bounds"). Real
`anix serve` processes on 127.0.0.1; the jobs are held by the `pattern` generator's frame delay."""
from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import msgpack
import pytest
from PIL import Image

from backend_helpers import ServerProcess, pattern_request
from load_attacks import MiB, Raw, big_png, rss_kib

HELD = {"frame_delay_s": 0.5}  # each frame waits: the job is running for as long as a test needs
CLIENT_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def server():
    """One worker; clients that say nothing for 1.5 s lose their jobs."""
    srv = ServerProcess(workers=1, client_timeout=CLIENT_TIMEOUT_S)
    srv.wait_workers(1)
    yield srv
    srv.stop()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (8, 16), (10, 200, 10, 255)).save(buf, format="PNG")
    return buf.getvalue()


def _frames_then(raw: Raw, job: str, frames: int) -> None:
    """Read the job's events until `frames` frames came."""
    seen = 0
    while seen < frames:
        assert raw.sock.poll(30_000), "no frame"
        header = msgpack.unpackb(raw.sock.recv_multipart()[0])
        seen += header.get("type") == "frame" and header.get("job") == job


def _running_and_queued(address: str) -> tuple[Raw, str, str]:
    """A client with a running job (2 frames made) and a job queued behind it, both kept on disconnect."""
    raw = Raw(address)
    running = raw.request({"type": "submit", "request": pattern_request(100, on_disconnect="keep", options=HELD)})["job"]
    _frames_then(raw, running, 2)
    queued = raw.request({"type": "submit", "request": pattern_request(3, on_disconnect="keep")})["job"]
    return raw, running, queued


def test_sigterm_tells_clients_and_a_restart_reports_the_jobs_it_ended(tmp_path):
    first = ServerProcess(workers=1, cache_dir=tmp_path)
    raw, running, queued = _running_and_queued(first.address)
    first.proc.send_signal(signal.SIGTERM)
    ends = {job: raw.follow(job, timeout=30)[1] for job in (running, queued)}
    first.stop()
    for job, state in ((running, "running"), (queued, "queued")):
        assert (ends[job]["type"], ends[job]["code"], ends[job]["field"]) == ("error", "server_stopped", "")
        assert f"while this job was {state}" in ends[job]["message"]
    raw.close()

    second = ServerProcess(workers=1, cache_dir=tmp_path)
    try:
        again = Raw(second.address)
        status = again.request({"type": "status", "job": running})
        assert status["state"] == "failed" and status["frames_ready"] >= 2
        assert again.request({"type": "status", "job": queued})["state"] == "failed"
        assert again.request({"type": "attach", "job": running})["type"] == "attached"
        frames, end = again.follow(running)
        assert frames == status["frames_ready"] and end == ends[running]  # the same event, replayed
        again.close()
    finally:
        log = second.stop()
    assert "lost" not in log


def test_a_killed_server_restarts_saying_which_job_was_running_and_which_queued(tmp_path):
    first = ServerProcess(workers=1, cache_dir=tmp_path)
    raw, running, queued = _running_and_queued(first.address)
    workers = first.worker_pids()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    first.stop()
    raw.close()

    second = ServerProcess(workers=1, cache_dir=tmp_path)
    try:
        again = Raw(second.address)
        for job, state in ((running, "running"), (queued, "queued")):
            reply = again.request({"type": "status", "job": job})
            assert (reply["type"], reply["code"], reply["field"]) == ("error", "unknown_job", "job")
            assert f"was {state} when the server stopped" in reply["message"]
        again.close()
    finally:
        log = second.stop()
    assert f"job {running} was running when the server stopped" in log
    assert f"job {queued} was queued when the server stopped" in log


def test_a_running_job_of_a_client_that_stops_heartbeating_says_so(server):
    quiet = Raw(server.address)
    job = quiet.request({"type": "submit", "request": pattern_request(100, options=HELD)})["job"]
    _frames_then(quiet, job, 1)  # running; from now on this client sends nothing
    other = Raw(server.address)
    deadline = time.monotonic() + 20
    while other.request({"type": "status", "job": job})["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert other.request({"type": "attach", "job": job})["state"] == "cancelled"
    _, end = other.follow(job)
    assert (end["type"], end["reason"]) == ("cancelled", "client stopped answering")
    quiet.close()
    other.close()


def test_queued_views_are_bounded_per_client_and_freed_when_a_job_is_cancelled(server):
    raw = Raw(server.address)
    holder = raw.request({"type": "submit", "request": pattern_request(100, options=HELD)})["job"]
    _frames_then(raw, holder, 1)  # the only worker is busy: what follows stays queued
    views = [big_png(7 * MiB)] * 4  # 28 MiB a job
    shot = pattern_request(2, views=["front", "left", "back", "right"])
    first = raw.request({"type": "submit", "request": shot}, views)
    second = raw.request({"type": "submit", "request": shot}, views)
    refused = raw.request({"type": "submit", "request": shot}, views)
    assert first["type"] == second["type"] == "accepted"
    assert (refused["type"], refused["code"]) == ("error", "queue_full")
    assert str(64 * MiB) in refused["message"]
    assert raw.request({"type": "cancel", "job": first["job"]})["state"] == "cancelled"
    third = raw.request({"type": "submit", "request": shot}, views)
    assert third["type"] == "accepted"  # the cancelled job's views were freed at once
    for job in (holder, second["job"], third["job"]):
        raw.request({"type": "cancel", "job": job})
    raw.close()


def test_shots_that_would_fail_in_the_worker_are_refused_at_submit(server):
    raw = Raw(server.address)
    views = ["front", "left", "back", "right"]
    empty = raw.request({"type": "submit", "request": dict(pattern_request(2, views=views), generator="blockout",
                                                            instruction="")}, [_png()] * 4)
    assert (empty["type"], empty["code"], empty["field"]) == ("error", "invalid_field", "request.instruction")
    assert "empty" in empty["message"]
    if not Path("/proc/driver/nvidia/version").exists():  # a CPU server
        gsplat = raw.request({"type": "submit", "request": pattern_request(2, options={"render_backend": "gsplat"})})
        assert (gsplat["code"], gsplat["field"]) == ("invalid_field", "request.options.render_backend")
    newline = raw.request({"type": "status", "job": "jabc\n"})
    assert (newline["code"], newline["field"]) == ("invalid_field", "job")
    raw.close()


def test_a_worker_streams_frames_without_keeping_them(server):
    """The worker's memory does not grow with the frame count (300 pattern frames, 640x368 raw)."""
    frames = 300
    raw = Raw(server.address)
    worker = server.wait_workers(1)[0]
    job = raw.request({"type": "submit", "request": pattern_request(frames, width=640, height=368,
                                                                    options={"static": True})})["job"]
    peak, count, end = 0, 0, None
    while end is None:
        assert raw.sock.poll(60_000)
        header = msgpack.unpackb(raw.sock.recv_multipart()[0])
        if header.get("job") != job:
            continue
        count += header["type"] == "frame"
        end = header if header["type"] in ("done", "error", "cancelled") else None
        peak = max(peak, rss_kib(worker))
    assert end["type"] == "done" and count == frames
    assert peak < 400 * 1024  # 300 frames are 212 MB of pixels; the worker holds a handful
    raw.close()
