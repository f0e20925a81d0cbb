"""Results outlive the server process: a server started again on the same --cache-dir serves the
jobs that ended before it stopped (attach, status, continue_from), reports the jobs it was
running as lost, and skips expired or damaged records. Real `anix serve` processes."""
from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from backend import protocol as P
from backend.client import Client, Done, Error, Frame, ProtocolError
from backend.results import RECORD, ResultStore
from backend.standin import pattern_frame
from backend_helpers import H, W, ServerProcess, collect, pattern_request

ANCHOR = {"position": [1.0, 2.0, 0.0], "heading_rad": 0.5}


def raw_events(job, timeout: float = 60.0):
    """(frame bytes by index, terminal event) of a job's event stream."""
    frames, last = {}, None
    for event in job.events(timeout=timeout):
        if isinstance(event, Frame):
            frames[event.index] = bytes(event.data)
        last = event
    return frames, last


def kill_server(server: ServerProcess) -> None:
    """SIGKILL the server and its workers: nothing gets the chance to write anything more."""
    pids = server.worker_pids()
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    server.stop()


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """Jobs run on a first server that is then killed; a second server on the same cache folder."""
    cache = tmp_path_factory.mktemp("restart_cache")
    first = ServerProcess(workers=1, cache_dir=cache)
    try:
        first.wait_workers(1)
        with Client(first.address) as client:
            finished = client.submit(pattern_request(40, seed=5, encoding="png", anchor=ANCHOR))
            finished_frames, finished_done = raw_events(finished)
            failed = client.submit(pattern_request(6, seed=6, options={"fail_at_frame": 3}))
            failed_frames, failed_error = raw_events(failed)
            running = client.submit(pattern_request(400, seed=7, on_disconnect="keep",
                                                    options={"frame_delay_s": 0.05}))
            for event in running.events(timeout=30):
                if isinstance(event, Frame) and event.index >= 2:
                    break
    finally:
        kill_server(first)
    second = ServerProcess(workers=1, cache_dir=cache)
    yield {"server": second, "cache": cache, "finished": (finished.id, finished_frames, finished_done),
           "failed": (failed.id, failed_frames, failed_error), "running": running.id}
    second.stop()


def test_a_finished_job_is_attached_after_a_restart_from_any_frame_byte_for_byte(restarted):
    job_id, before, done = restarted["finished"]
    assert isinstance(done, Done) and sorted(before) == list(range(40))
    with Client(restarted["server"].address) as client:
        frames, last = raw_events(client.attach(job_id, from_frame=17))
        status = client.status(job_id)
    assert sorted(frames) == list(range(17, 40))
    assert all(frames[i] == before[i] for i in frames)
    assert last == done  # the same done event: num_frames, timings, start and end anchors
    assert last.end_anchor == ANCHOR
    assert (status["state"], status["frames_ready"], status["num_frames"]) == ("done", 40, 40)


def test_a_failed_job_replays_its_frames_and_its_error_after_a_restart(restarted):
    job_id, before, error = restarted["failed"]
    assert isinstance(error, Error) and error.code == P.E_GENERATOR_FAILED
    with Client(restarted["server"].address) as client:
        frames, last = raw_events(client.attach(job_id))
    assert frames == before and sorted(frames) == [0, 1, 2]
    assert last == error


def test_continue_from_a_job_that_finished_before_the_restart(restarted):
    job_id, _, done = restarted["finished"]
    with Client(restarted["server"].address) as client:
        second = client.submit(pattern_request(5, seed=8, anchor={"position": [9.0, 9.0, 0.0]},
                                               options={"continue_from": job_id, "echo_history": True}))
        frames, last = collect(second)
    assert isinstance(last, Done) and last.start_anchor == done.end_anchor
    for i in range(5):  # history = the last 33 frames (7..39) of the job before the restart
        np.testing.assert_array_equal(frames[i], pattern_frame(5, 7 + i, W, H))


def test_a_job_running_when_the_server_was_killed_is_reported_lost_on_attach_status_and_continue(restarted):
    job_id = restarted["running"]
    with Client(restarted["server"].address) as client:
        for call in (lambda: client.attach(job_id, from_frame=3), lambda: client.status(job_id)):
            with pytest.raises(ProtocolError) as err:
                call()
            assert (err.value.code, err.value.field) == (P.E_UNKNOWN_JOB, "job")
            assert "running when the server stopped" in err.value.message
            assert "submit the shot again" in err.value.message
        with pytest.raises(ProtocolError) as err:
            client.submit(pattern_request(options={"continue_from": job_id}))
        assert (err.value.code, err.value.field) == (P.E_UNKNOWN_JOB, "request.options.continue_from")
        assert "running when the server stopped" in err.value.message
    # its partial frames are gone; only the record that says it was lost stays
    assert [p.name for p in (restarted["cache"] / "results" / job_id).iterdir()] == [RECORD]


def _ended_job(root, job_id: str, seed: int, ended_ago: float = 0.0) -> list[bytes]:
    """A job of 3 raw pattern frames ended `ended_ago` seconds ago, written by the result store itself."""
    store = ResultStore(root, ttl_s=3600)  # keeps what earlier calls wrote
    store.add_job(job_id, num_frames=3, generator="pattern", encoding="raw")
    frames = []
    for i in range(3):
        data = pattern_frame(seed, i, W, H).tobytes()
        frames.append(data)
        store.put_frame(job_id, i, P.message(P.FRAME, job=job_id, index=i, encoding="raw", width=W, height=H,
                                             channels=3), data)
    store.mark_ended(job_id, "done", P.message(P.DONE, job=job_id, num_frames=3, timings={"total": 0.1},
                                               start_anchor=ANCHOR, end_anchor=ANCHOR))
    if ended_ago:
        record_path = root / job_id / RECORD
        record = json.loads(record_path.read_text())
        record["ended"] = time.time() - ended_ago
        record_path.write_text(json.dumps(record))
    return frames


def test_expired_and_damaged_results_are_not_reloaded_and_damage_is_logged(tmp_path):
    results = tmp_path / "results"
    good = _ended_job(results, "jgood", seed=1)
    _ended_job(results, "jold", seed=2, ended_ago=120)       # the server below keeps results 60 s
    _ended_job(results, "jshort", seed=3)
    (results / "jshort" / "00001.bin").write_bytes(b"cut")   # a frame that does not match its record
    (results / "jbad").mkdir()
    (results / "jbad" / RECORD).write_text('{"version": 1, "job": "jbad", "state"')
    server = ServerProcess(workers=1, cache_dir=tmp_path)
    try:
        with Client(server.address) as client:
            frames, last = raw_events(client.attach("jgood"))
            assert [frames[i] for i in range(3)] == good and isinstance(last, Done)
            for job_id in ("jold", "jshort", "jbad"):
                with pytest.raises(ProtocolError) as err:
                    client.attach(job_id)
                assert err.value.code == P.E_UNKNOWN_JOB
    finally:
        log = server.stop()
    assert "skipping stored results of job jbad: unreadable job record" in log
    assert "skipping stored results of job jshort: frame 1 does not match its record" in log
    assert "Traceback" not in log
    assert sorted(p.name for p in results.iterdir()) == ["jgood"]


def test_the_results_size_bound_holds_across_a_restart_oldest_first(tmp_path):
    _ended_job(tmp_path, "jolder", seed=1, ended_ago=30)
    _ended_job(tmp_path, "jnewer", seed=2, ended_ago=10)
    one_job = 3 * W * H * 3
    store = ResultStore(tmp_path, ttl_s=60, max_bytes=one_job)
    assert [r["job"] for r in store.reloaded] == ["jnewer"] and store.total_bytes() == one_job
    assert not (tmp_path / "jolder").exists()
