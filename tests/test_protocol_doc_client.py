"""docs/PROTOCOL.md is enough to write a client: a client built from the document alone
(tests/doc_client.py) drives a real `anix serve` through uploads, jobs, cancel, attach,
heartbeats and malformed requests."""
from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_client import DocClient, ErrorReply, RequestTimeout, orbit_cameras  # noqa: E402

W, H = 64, 48
CLIENT_TIMEOUT_S = 2.0
DOC_LIMITS = {
    "max_header_bytes": 1_048_576, "max_chunk_bytes": 8_388_608, "max_view_bytes": 8_388_608,
    "max_view_side": 2048, "max_parts": 8, "max_scene_bytes": 17_179_869_184, "max_frames": 1024,
    "min_side": 16, "max_side": 2048, "max_pixels": 2_088_960, "max_instruction_chars": 2000,
    "max_options": 64, "max_targets": 64, "min_fps": 1, "max_fps": 120,
    "heartbeat_interval_s": 1.0, "heartbeat_liveness": 3, "max_frame_pixels": 268_435_456, "max_coord": 10_000.0,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    ep = f"tcp://127.0.0.1:{_free_port()}"
    cache = tmp_path_factory.mktemp("serve_cache")
    proc = subprocess.Popen(
        [sys.executable, "-m", "anix_core", "serve", "--bind", ep, "--generator", "render",
         "--cache-dir", str(cache), "--client-timeout", str(CLIENT_TIMEOUT_S),
         "--testing"],  # offers the documented test generator `pattern`, used to hold a job
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = DocClient(ep, timeout_s=1.0)
    try:
        for _ in range(30):
            try:
                client.hello()
                break
            except RequestTimeout:
                assert proc.poll() is None, proc.stderr.read().decode()
        else:
            pytest.fail("anix serve did not answer hello")
        yield ep
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def client(endpoint):
    c = DocClient(endpoint)
    yield c
    c.close()


@pytest.fixture(scope="module")
def scene(endpoint, fixtures_dir):
    """courtyard_sh0.ply uploaded once; returns (sha256, bytes)."""
    data = (fixtures_dir / "courtyard_sh0.ply").read_bytes()
    c = DocClient(endpoint)
    try:
        assert c.upload_scene(data)["complete"] is True
    finally:
        c.close()
    return hashlib.sha256(data).hexdigest(), data


def _shot(sha: str, num_frames: int = 4, **extra) -> dict:
    return {"scene": sha, "num_frames": num_frames, "width": W, "height": H,
            "cameras": orbit_cameras(num_frames, radius=8.0, height_m=3.0, width=W, height=H), **extra}


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _decode_png(blob: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(blob))
    assert img.mode == "RGB"
    return np.asarray(img)


def test_welcome_lists_generators_and_the_documented_limits(client):
    welcome = client.hello()
    assert welcome["v"] == 1 and welcome["server"] == "anix" and welcome["protocol"] == 1
    assert "render" in welcome["generators"] and welcome["default_generator"] == "render"
    assert welcome["limits"] == DOC_LIMITS
    assert welcome["client_timeout_s"] == CLIENT_TIMEOUT_S and welcome["workers"] >= 1
    assert client.ping()["type"] == "pong"


def test_chunked_upload_resumes_from_the_offset_has_scene_reports(endpoint, fixtures_dir):
    data = (fixtures_dir / "courtyard_sh0.ply").read_bytes()[:2_500_000]  # a scene of its own
    sha = hashlib.sha256(data).hexdigest()
    first = DocClient(endpoint)
    status = first.has_scene(sha, len(data))
    assert (status["type"], status["sha256"], status["present"], status["offset"]) == ("scene_status", sha, False, 0)
    assert first.upload_scene(data, chunk_bytes=1_000_000, stop_after_chunks=2)["offset"] == 2_000_000
    first.close()  # the "crash"

    again = DocClient(endpoint)
    status = again.has_scene(sha, len(data))
    assert (status["present"], status["offset"]) == (False, 2_000_000)
    with pytest.raises(ErrorReply) as bad:
        again.put_chunk(sha, len(data), 0, data[:1000])
    assert (bad.value.code, bad.value.field) == ("bad_offset", "offset")
    assert "2000000" in bad.value.header["message"]
    ack = again.upload_scene(data, chunk_bytes=1_000_000)
    assert ack["complete"] is True and ack["offset"] == len(data)
    status = again.has_scene(sha, len(data))
    assert (status["present"], status["offset"]) == (True, len(data))
    held = again.put_chunk(sha, len(data), 0, b"ignored")  # a held scene is complete at once
    assert (held["offset"], held["complete"]) == (len(data), True)
    again.close()


def test_orbit_shot_streams_every_frame_as_a_non_blank_png(client, scene):
    sha, _ = scene
    accepted = client.submit(_shot(sha))
    assert accepted["num_frames"] == 4 and accepted["generator"] == "render"
    assert accepted["queue_position"] >= 1
    result = client.follow(accepted["job"])

    assert result.terminal["type"] == "done" and result.terminal["num_frames"] == 4
    assert {"queue", "total"} <= set(result.terminal["timings"])
    stages = [e["stage"] for e in result.events if e["type"] == "progress"]
    assert stages[0] == "queued" and "load_scene" in stages
    assert sorted(result.frames) == [0, 1, 2, 3]
    frames = [_decode_png(result.frames[i]) for i in range(4)]
    for header, frame in zip((result.frame_headers[i] for i in range(4)), frames):
        assert (header["encoding"], header["width"], header["height"], header["channels"]) == ("png", W, H, 3)
        assert frame.shape == (H, W, 3)
        assert frame.std() > 10 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 20
    assert not np.array_equal(frames[0], frames[2])  # the camera really moved round the orbit


def test_raw_encoding_is_the_same_pixels_as_png(client, scene):
    sha, _ = scene
    shot = _shot(sha, num_frames=1)
    png = client.follow(client.submit(shot)["job"])
    raw = client.follow(client.submit(dict(shot, encoding="raw"))["job"])
    header = raw.frame_headers[0]
    assert header["encoding"] == "raw"
    pixels = np.frombuffer(raw.frames[0], np.uint8).reshape(header["height"], header["width"], header["channels"])
    np.testing.assert_array_equal(pixels, _decode_png(png.frames[0]))


def test_attach_to_a_finished_job_replays_frames_from_an_index_then_the_terminal_event(endpoint, client, scene):
    sha, _ = scene
    original = client.follow(client.submit(_shot(sha))["job"])
    job = original.job

    later = DocClient(endpoint)
    attached = later.attach(job, from_frame=2)
    assert (attached["state"], attached["frames_ready"], attached["num_frames"], attached["from_frame"]) == ("done", 4, 4, 2)
    replay = later.follow(job)
    assert sorted(replay.frames) == [2, 3]
    assert all(replay.frames[i] == original.frames[i] for i in (2, 3))
    assert replay.terminal["type"] == "done"
    kinds = [entry[0] for entry in later.log]
    assert kinds == ["attached", "frame", "frame", "done"]
    later.close()


def test_cancel_ends_queued_and_running_jobs_and_attach_moves_the_events(endpoint, client, scene):
    sha, _ = scene
    # The running job holds the only worker however fast the machine is: each frame waits 0.5 s.
    running = client.submit({"scene": sha, "generator": "pattern", "num_frames": 300, "width": W, "height": H,
                             "options": {"frame_delay_s": 0.5}})["job"]
    first = client.follow(running, until=lambda r: len(r.frames) >= 2)
    queued = client.submit(_shot(sha, num_frames=2))["job"]
    assert client.status(queued)["state"] == "queued"

    status = client.cancel(queued)
    assert status["state"] == "cancelled" and status["queue_position"] == 0
    assert client.follow(queued).terminal["type"] == "cancelled"

    other = DocClient(endpoint)  # the new subscriber of the running job
    attached = other.attach(running, from_frame=len(first.frames))
    assert attached["state"] == "running"
    taken = other.follow(running, until=lambda r: len(r.frames) >= 2)
    status = other.cancel(running)
    assert status["cancel_requested"] is True and status["state"] in ("running", "cancelled")
    end = other.follow(running, taken)
    assert end.terminal["type"] == "cancelled" and end.terminal["reason"] == "cancel requested"
    assert other.status(running)["state"] == "cancelled"
    assert other.cancel(running)["state"] == "cancelled"  # cancelling an ended job changes nothing
    other.close()


def test_a_silent_client_gets_heartbeats_and_its_job_is_cancelled(endpoint, client, scene):
    sha, _ = scene
    # The busy job holds the only worker however fast the machine is: each frame waits 10 s.
    busy = client.submit({"scene": sha, "generator": "pattern", "num_frames": 8, "width": W, "height": H,
                          "options": {"frame_delay_s": 10.0}})["job"]
    client.follow(busy, until=lambda r: any(e["type"] == "progress" for e in r.events))  # running

    silent = DocClient(endpoint)
    waiting = silent.submit(_shot(sha, num_frames=2))["job"]  # queued behind `busy`
    heard: list[tuple[float, str]] = []
    start = time.monotonic()
    while time.monotonic() - start < CLIENT_TIMEOUT_S + 3:
        client.follow(busy, until=lambda r: True)  # the other client keeps heartbeating
        if silent.sock.poll(50):  # never sends anything
            header = msgpack.unpackb(silent.sock.recv_multipart()[0])
            heard.append((time.monotonic() - start, header))
            if header["type"] == "cancelled":
                break
    beats = [t for t, h in heard if h["type"] == "heartbeat"]
    assert all(h == {"v": 1, "type": "heartbeat"} for _, h in heard if h["type"] == "heartbeat")
    assert beats and beats[0] < 2.5 and all(b - a < 2.0 for a, b in zip(beats, beats[1:]))
    last = heard[-1][1]
    assert last["type"] == "cancelled" and last["job"] == waiting
    assert last["reason"] == "client stopped answering"
    assert CLIENT_TIMEOUT_S - 0.2 < heard[-1][0] < CLIENT_TIMEOUT_S + 2.5
    client.cancel(busy)
    assert client.follow(busy).terminal["type"] == "cancelled"
    silent.close()


def test_a_non_rigid_camera_is_refused_at_submit(client, scene):
    sha, _ = scene
    shot = _shot(sha)
    shot["cameras"][2]["world_to_camera"] = [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    with pytest.raises(ErrorReply) as err:
        client.submit(shot)
    assert (err.value.code, err.value.field) == ("invalid_field", "request.cameras.2")


def _pack(header) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


REQUEST_ERRORS = [  # (name, header fields, blobs, code, field) -- all answered with the request's req
    ("unknown type", {"type": "launch"}, [], "unknown_type", "type"),
    ("uppercase sha256", {"type": "has_scene", "sha256": "A" * 64, "size": 5}, [], "invalid_field", "sha256"),
    ("size missing", {"type": "has_scene", "sha256": "a" * 64}, [], "invalid_field", "size"),
    ("chunk missing", {"type": "put_scene", "sha256": "a" * 64, "size": 9, "offset": 0}, [], "invalid_field", "blobs"),
    ("chunk past size", {"type": "put_scene", "sha256": "a" * 64, "size": 2, "offset": 0}, [b"abc"], "invalid_field", "chunk"),
    ("unknown ext", {"type": "put_scene", "sha256": "a" * 64, "size": 9, "offset": 0, "ext": ".obj"}, [b"a"], "invalid_field", "ext"),
    ("hash mismatch", {"type": "put_scene", "sha256": "d" * 64, "size": 3, "offset": 0}, [b"abc"], "hash_mismatch", "sha256"),
    ("unknown job", {"type": "status", "job": "j-none"}, [], "unknown_job", "job"),
    ("from_frame float", {"type": "attach", "job": "j-none", "from_frame": 1.0}, [], "invalid_field", "from_frame"),
]


@pytest.mark.parametrize("name,fields,blobs,code,field", REQUEST_ERRORS, ids=[r[0] for r in REQUEST_ERRORS])
def test_malformed_requests_get_an_error_with_the_documented_code_and_field(client, name, fields, blobs, code, field):
    client.send({"v": 1, "req": f"r-{name}", **fields}, blobs)
    with pytest.raises(ErrorReply) as err:
        client.wait_reply(f"r-{name}")
    assert (err.value.code, err.value.field) == (code, field)
    assert err.value.header["message"]


@pytest.mark.parametrize("change,code,field", [
    ({"scene": "e" * 64}, "unknown_scene", "request.scene"),
    ({"num_frames": 4.0}, "invalid_field", "request.num_frames"),
    ({"width": True}, "invalid_field", "request.width"),
    ({"generator": "nope"}, "unknown_generator", "request.generator"),
    ({"options": {"model_path": "/etc"}}, "invalid_field", "request.options.model_path"),
    ({"instruction": "x" * 2001}, "too_large", "request.instruction"),
    ({"fps": float("nan")}, "invalid_field", "request.fps"),
    ({"views": ["front"]}, "invalid_field", "request.views"),
    ({"views": ["top"]}, "invalid_field", "request.views.0"),
], ids=lambda v: str(v)[:30])
def test_invalid_shot_requests_are_refused_at_submit(client, scene, change, code, field):
    sha, _ = scene
    shot = {**_shot(sha), **change}
    blobs = [_png(np.zeros((8, 8, 3), np.uint8))] if change.get("views") == ["top"] else []
    with pytest.raises(ErrorReply) as err:
        client.request("submit", blobs, request=shot)
    assert (err.value.code, err.value.field) == (code, field)


def test_bad_camera_intrinsics_name_the_camera_and_the_key(client, scene):
    sha, _ = scene
    shot = _shot(sha)
    shot["cameras"][3]["K"] = [[1, 0], [0, 1]]
    with pytest.raises(ErrorReply) as err:
        client.submit(shot)
    assert (err.value.code, err.value.field) == ("invalid_field", "request.cameras.3.K")


@pytest.mark.parametrize("parts,code,field", [
    ([b"\xc1 not msgpack"], "bad_message", "header"),
    ([_pack([1, 2])], "bad_message", "header"),
    ([_pack({"v": 2, "type": "ping", "req": 7})], "unsupported_version", "v"),
    ([_pack({"type": "ping", "req": 7})], "invalid_field", "v"),
    ([_pack({"v": 1, "req": 7})], "invalid_field", "type"),
    ([_pack({"v": 1, "type": "ping", "req": 7})] + [b"x"] * 8, "too_large", "parts"),
], ids=["not msgpack", "not a map", "version 2", "no version", "no type", "nine parts"])
def test_unreadable_headers_get_an_error_without_req(client, parts, code, field):
    client.send_raw(parts)
    error = client.next_unmatched()
    assert (error["type"], error["code"], error["field"]) == ("error", code, field)
    assert "req" not in error


def test_an_invalid_req_is_ignored_and_the_reply_has_none(client):
    client.send({"v": 1, "type": "ping", "req": 1.5})
    reply = client.next_unmatched()
    assert reply["type"] == "pong" and "req" not in reply
