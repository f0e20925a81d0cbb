"""The service as users meet it: a real `anix serve` process on 127.0.0.1, real sockets, real clients."""
from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from backend import protocol as P
from backend.client import (BackendUnavailable, Cancelled, Client, Done, Error, Frame, JobFailed,
                            ProtocolError)
from backend.standin import pattern_frame
from backend_helpers import H, W, ServerProcess, collect, orbit_cameras, pattern_request


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(workers=2, cache_dir=tmp_path_factory.mktemp("cache"), client_timeout=3.0)
    srv.wait_workers(2)
    yield srv
    srv.stop()


def assert_pattern_frames(frames, n, seed):
    assert sorted(frames) == list(range(n))
    for i, frame in frames.items():
        np.testing.assert_array_equal(frame, pattern_frame(seed, i, W, H))


def test_hello_announces_protocol_generators_and_limits(server):
    with Client(server.address) as client:
        info = client.hello()
        assert client.ping() < 1.0
    assert info["protocol"] == P.PROTOCOL_VERSION
    assert {"render", "pattern"} <= set(info["generators"])
    assert info["limits"]["max_chunk_bytes"] == P.MAX_CHUNK_BYTES


def test_a_shot_streams_every_frame_then_done_with_stage_timings(server):
    with Client(server.address) as client:
        job = client.submit(pattern_request(4, seed=5, encoding="png"))
        frames, last = collect(job)
    assert_pattern_frames(frames, 4, seed=5)
    assert isinstance(last, Done) and last.num_frames == 4
    assert {"queue", "generate", "total"} <= set(last.timings)


def test_eight_clients_with_two_shots_each_all_get_their_own_frames(server):
    results, errors = {}, []

    def run_client(c):
        try:
            with Client(server.address) as client:
                jobs = [(client.submit(pattern_request(5, seed=10 * c + s)), 10 * c + s) for s in range(2)]
                for job, seed in jobs:
                    results[seed] = collect(job)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run_client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(results) == 16
    for seed, (frames, last) in results.items():
        assert isinstance(last, Done)
        assert_pattern_frames(frames, 5, seed)


def test_scene_upload_is_chunked_resumable_verified_and_happens_once(server, fixtures_dir):
    path = fixtures_dir / "courtyard_sh0.ply"
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with Client(server.address) as client:
        assert client.has_scene(sha, len(data)) == 0
        # a first chunk, then the connection "breaks": the server resumes from what it holds
        client._request(P.message(P.PUT_SCENE, sha256=sha, size=len(data), offset=0, ext=".ply"), [data[:1_000_000]])
        assert client.has_scene(sha, len(data)) == 1_000_000
        with pytest.raises(ProtocolError) as err:  # a chunk out of order is refused, naming the offset
            client._request(P.message(P.PUT_SCENE, sha256=sha, size=len(data), offset=2_000_000, ext=".ply"),
                            [data[2_000_000:3_000_000]])
        assert err.value.code == P.E_BAD_OFFSET and "1000000" in err.value.message
        seen = []
        assert client.ensure_scene(path, on_progress=lambda held, total: seen.append(held), chunk_bytes=1_500_000) == sha
        assert seen[0] == 1_000_000 and seen[-1] == len(data) and len(seen) == 4
        assert client.has_scene(sha, len(data)) == len(data)
        seen.clear()
        client.ensure_scene(path, on_progress=lambda held, total: seen.append(held))
        assert seen == [len(data)]  # nothing sent the second time


def test_an_upload_whose_bytes_do_not_match_its_hash_is_discarded(server):
    blob = b"not the scene you announced" * 10
    fake = hashlib.sha256(b"something else").hexdigest()
    with Client(server.address) as client:
        with pytest.raises(ProtocolError) as err:
            client._request(P.message(P.PUT_SCENE, sha256=fake, size=len(blob), offset=0, ext=".ply"), [blob])
        assert err.value.code == P.E_HASH_MISMATCH
        assert client.has_scene(fake, len(blob)) == 0


def test_the_render_generator_renders_the_uploaded_scene_along_the_request_cameras(server, fixtures_dir):
    with Client(server.address) as client:
        sha = client.ensure_scene(fixtures_dir / "courtyard_sh0.ply")
        job = client.submit({"scene": sha, "generator": "render", "num_frames": 3, "width": W, "height": H,
                             "cameras": orbit_cameras(3), "encoding": "png"})
        frames, last = collect(job, timeout=120)
    assert isinstance(last, Done), last
    assert sorted(frames) == [0, 1, 2]
    assert all(f.shape == (H, W, 3) and f.std() > 5 for f in frames.values())  # a lit courtyard, not a blank
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 1  # the camera moved


def test_the_splat_objects_transform_moves_the_scene_before_rendering(server, fixtures_dir):
    far_away = [[1, 0, 0, 500.0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    with Client(server.address) as client:
        sha = client.ensure_scene(fixtures_dir / "courtyard_sh0.ply")
        shot = {"scene": sha, "generator": "render", "num_frames": 1, "width": W, "height": H,
                "cameras": orbit_cameras(1), "encoding": "raw"}
        here, _ = collect(client.submit(shot), timeout=120)
        moved, last = collect(client.submit(dict(shot, transform=far_away)), timeout=120)
    assert isinstance(last, Done)
    assert here[0].mean() > 20 and moved[0].max() == 0  # the courtyard left the camera's view


@pytest.mark.slow
def test_the_default_blockout_generator_puts_the_character_into_the_scene(server, fixtures_dir):
    views = {n: fixtures_dir / "character" / f"robot_{n}.png" for n in P.VIEW_NAMES}
    cameras = [c for c in orbit_cameras(12)[:3]]
    for cam in cameras:  # closer, so the character covers some pixels
        cam["world_to_camera"][2][3] -= 5.0
    with Client(server.address) as client:
        sha = client.ensure_scene(fixtures_dir / "courtyard_sh0.ply")
        shot = {"scene": sha, "num_frames": 3, "width": W, "height": H, "cameras": cameras, "encoding": "raw",
                "instruction": "waves", "anchor": {"position": [2.0, 0.0, 0.0], "heading_rad": 0.0}}
        assert client.hello()["default_generator"] == "blockout"
        with_character, last = collect(client.submit(shot, views=views), timeout=170)
        assert isinstance(last, Done), last
        scene_only, _ = collect(client.submit(dict(shot, generator="render")), timeout=120)
    assert sorted(with_character) == [0, 1, 2]
    changed = np.abs(with_character[0].astype(int) - scene_only[0].astype(int)).max(axis=-1) > 30
    assert 0.002 < changed.mean() < 0.5  # the character covers part of the frame, not all of it


def test_submit_errors_name_the_field_and_the_limit(server):
    with Client(server.address) as client:
        with pytest.raises(ProtocolError) as err:
            client._request(P.message(P.SUBMIT, request=dict(pattern_request(), num_frames=5000)))
        assert (err.value.code, err.value.field) == (P.E_INVALID_FIELD, "request.num_frames")
        assert "1024" in err.value.message
        with pytest.raises(ProtocolError) as err:
            client.submit({"scene": "ab" * 32, "generator": "render", "num_frames": 2, "width": W, "height": H})
        assert (err.value.code, err.value.field) == (P.E_UNKNOWN_SCENE, "request.scene")
        with pytest.raises(ProtocolError) as err:
            client.submit(dict(pattern_request(), generator="dreams"))
        assert err.value.code == P.E_UNKNOWN_GENERATOR


def test_cancel_mid_job_stops_it_and_frees_the_worker(server):
    with Client(server.address) as client:
        job = client.submit(pattern_request(50, options={"frame_delay_s": 0.1}))
        got = 0
        for event in job.events(timeout=30):
            if isinstance(event, Frame):
                got += 1
                if got == 2:
                    job.cancel()
            last = event
        assert isinstance(last, Cancelled)
        assert 2 <= last.frames_ready < 50
        assert client.status(job.id)["state"] == "cancelled"
        frames, done = collect(client.submit(pattern_request(3, seed=1)))
        assert isinstance(done, Done)


def test_a_generator_that_raises_ends_the_job_with_its_message(server):
    with Client(server.address) as client:
        job = client.submit(pattern_request(6, options={"fail_at_frame": 2}))
        with pytest.raises(JobFailed) as err:
            job.wait(timeout=30)
        assert err.value.code == P.E_GENERATOR_FAILED and "frame 2" in err.value.message
        assert isinstance(client.submit(pattern_request(2)).wait(timeout=30), Done)


def test_a_worker_killed_mid_job_ends_the_job_with_worker_lost_and_the_next_job_runs(server):
    with Client(server.address) as client:
        before = set(server.wait_workers(2))
        job = client.submit(pattern_request(40, options={"frame_delay_s": 0.1}))
        events = job.events(timeout=30)
        for event in events:
            if isinstance(event, Frame):
                break
        for pid in before:  # the busy worker is the one with a job thread; killing both is fine too
            os.kill(pid, signal.SIGKILL)
        last = list(events)[-1]
        assert isinstance(last, Error) and last.code == P.E_WORKER_LOST
        assert "exited" in last.message
        frames, done = collect(client.submit(pattern_request(3, seed=2)), timeout=60)
        assert isinstance(done, Done)
        assert_pattern_frames(frames, 3, seed=2)
        assert not before & set(server.worker_pids())


def test_reattach_after_a_client_restart_gets_the_remaining_frames(server):
    first = Client(server.address)
    job = first.submit(pattern_request(8, seed=7, on_disconnect="keep", options={"frame_delay_s": 0.05}))
    for event in job.events(timeout=30):
        if isinstance(event, Frame) and event.index == 2:
            break
    first.close()  # the "crash"
    time.sleep(0.3)
    with Client(server.address) as second:
        frames, last = collect(second.attach(job.id, from_frame=3))
    assert isinstance(last, Done)
    assert sorted(frames) == list(range(3, 8))
    for i in range(3, 8):
        np.testing.assert_array_equal(frames[i], pattern_frame(7, i, W, H))


def test_a_finished_job_replays_all_frames_and_its_end_on_attach(server):
    with Client(server.address) as client:
        job = client.submit(pattern_request(3, seed=9))
        collect(job)
    with Client(server.address) as later:
        frames, last = collect(later.attach(job.id))
        assert isinstance(last, Done)
        assert_pattern_frames(frames, 3, seed=9)
        with pytest.raises(ProtocolError) as err:
            later.attach("jnosuchjob")
        assert err.value.code == P.E_UNKNOWN_JOB


def test_a_client_that_vanishes_mid_job_has_its_job_cancelled(server):
    gone = Client(server.address)
    job = gone.submit(pattern_request(200, options={"frame_delay_s": 0.2}))  # held far past the client timeout
    next(iter(job.events(timeout=10)))
    gone.close()
    with Client(server.address) as client:
        deadline = time.monotonic() + 15
        while client.status(job.id)["state"] not in ("cancelled", "done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
        status = client.status(job.id)
    assert status["state"] == "cancelled"
    assert status["frames_ready"] < 200


def test_a_dead_server_is_noticed_within_five_seconds(tmp_path):
    srv = ServerProcess(workers=1, cache_dir=tmp_path)
    try:
        with Client(srv.address) as client:
            job = client.submit(pattern_request(100, options={"frame_delay_s": 0.1}))
            events = job.events()
            next(events)
            srv.proc.kill()
            t = time.monotonic()
            with pytest.raises(BackendUnavailable):
                for _ in events:
                    pass
            assert time.monotonic() - t < 5.0
    finally:
        srv.stop()  # its worker notices the silence and exits by itself


def _malformed_messages(rng: random.Random):
    """Yield 1,000 messages (lists of frames) that break the protocol in many ways."""
    pack = msgpack.packb
    ok = {"v": 1}
    def req(i, **f):
        return pack(dict(ok, req=i, **f))
    good_request = pattern_request(2)
    bad_requests = [
        dict(good_request, num_frames="many"), dict(good_request, num_frames=10**9), dict(good_request, width=-4),
        dict(good_request, width=4096, height=4096), dict(good_request, scene="../../etc/passwd"),
        dict(good_request, instruction="x" * 5000), dict(good_request, options={"a": {"nested": 1}}),
        dict(good_request, cameras=[{"K": 1}] * 2), dict(good_request, cameras="front"),
        dict(good_request, views=["front"]), dict(good_request, fps=float("nan")), dict(good_request, seed=-1),
        dict(good_request, anchor={"position": [1, 2]}), dict(good_request, transform=[[1, 0], [0, 1]]),
        dict(good_request, encoding="jpeg"), dict(good_request, generator=["pattern"]), {"scene": 5}, "request",
    ]
    kinds = 13
    for i in range(1000):
        k = i % kinds
        if k == 0:
            yield [rng.randbytes(rng.randint(1, 300))]
        elif k == 1:
            yield [pack(rng.choice([[1, 2, 3], 42, "hello", None, 3.5]))]
        elif k == 2:
            yield [pack({"type": "ping", "req": i})]  # no version
        elif k == 3:
            yield [pack({"v": 99, "type": "ping", "req": i})]
        elif k == 4:
            yield [req(i, type=rng.choice(["explode", "", "x" * 1000, "submitt"]))]
        elif k == 5:
            yield [req(i, type="submit", request=bad_requests[i % len(bad_requests)])]
        elif k == 6:
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            yield [req(i, type="put_scene", sha256=sha, size=1000, offset=500, ext=".ply"), b"x" * 10]
        elif k == 7:
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            yield [req(i, type="put_scene", sha256=sha, size=10, offset=0, ext=".ply"), b"y" * 10]
        elif k == 8:
            yield [req(i, type="put_scene", sha256="z" * 64, size=-5, offset=0), b""]
        elif k == 9:
            yield [req(i, type=rng.choice(["attach", "cancel", "status"]), job=rng.choice(["j" * 100, 7, "jmissing", None]))]
        elif k == 10:
            yield [req(i, type="ping")] + [b"p"] * 20
        elif k == 11:
            yield [msgpack.packb({"v": 1, "type": "ping", "x": msgpack.ExtType(5, b"abc")})]
        else:
            yield [req(i, type="has_scene", sha256="A" * 64, size=2**62)]


def test_a_thousand_malformed_messages_get_errors_while_good_clients_finish(server):
    context = zmq.Context.instance()
    raw = context.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(server.address)
    results, errors = {}, []

    def good_client(seed):
        try:
            with Client(server.address) as client:
                results[seed] = collect(client.submit(pattern_request(5, seed=seed)), timeout=60)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    rss_before = server.rss_kib()
    goods = [threading.Thread(target=good_client, args=(s,)) for s in (101, 102, 103)]
    for t in goods:
        t.start()
    sent = 0
    for frames in _malformed_messages(random.Random(1234)):
        raw.send_multipart(frames)
        sent += 1
    replies = []
    while raw.poll(2000):
        replies.append(msgpack.unpackb(raw.recv_multipart()[0]))
    for t in goods:
        t.join(60)
    assert sent == 1000
    assert all(r["type"] == "error" and r["code"] in P.ERROR_CODES for r in replies)
    assert len(replies) == sent  # every bad message was answered with an error; none crashed the server
    assert {r["code"] for r in replies} >= {P.E_BAD_MESSAGE, P.E_UNSUPPORTED_VERSION, P.E_UNKNOWN_TYPE,
                                            P.E_INVALID_FIELD, P.E_BAD_OFFSET, P.E_HASH_MISMATCH, P.E_TOO_LARGE}
    assert not errors
    for seed, (frames, last) in results.items():
        assert isinstance(last, Done)
        assert_pattern_frames(frames, 5, seed)
    # a message part over ZMQ_MAXMSGSIZE drops that connection; the server keeps serving
    raw.send_multipart([msgpack.packb({"v": 1, "type": "ping"}), b"\0" * (P.MAX_MESSAGE_PART_BYTES + 1)])
    with Client(server.address) as client:
        assert client.ping() < 1.0
    assert server.rss_kib() - rss_before < 60 * 1024
    raw.close()
