"""Nothing is lost when things break: a shot survives a dropped connection, Blender closing
mid-shot, and reports clearly what was kept when the backend restarts or stays down. Real
Blender (5.0 and 5.2, as in test_addon_blender.py) in one subprocess (tests/blender_scripts/addon_resume.py) against a real
`anix serve` process."""
from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_addon_blender import addon_zip, blender, run_blender  # noqa: E402,F401  (module fixtures reused)

pytestmark = pytest.mark.blender
REPO = Path(__file__).resolve().parents[1]
FRAMES = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def broken(addon_zip, fixtures_dir, tmp_path_factory, blender):  # noqa: F811
    from backend_helpers import ServerProcess

    work = tmp_path_factory.mktemp("addon_resume")
    (work / "frames").mkdir()
    cache = work / "cache"
    address = f"tcp://127.0.0.1:{_free_port()}"
    server = ServerProcess(cache_dir=cache, bind=address)
    server_cmd = [sys.executable, "-m", "backend.server", "--bind", address, "--workers", "1", "--testing",
                  "--result-ttl", "60", "--cache-dir", str(cache)]
    pidfile = work / "started.pids"
    try:
        workers = server.wait_workers(1)
        result = run_blender("addon_resume.py", {
            "zip": str(addon_zip), "fixtures": str(fixtures_dir), "out": str(work / "frames"),
            "blend": str(work / "shot.blend"), "address": address, "server_pid": server.proc.pid,
            "server_cmd": server_cmd, "repo": str(REPO), "pidfile": str(pidfile), "cache": str(cache),
            "frames": FRAMES}, work, timeout=300, python=blender)
    finally:
        try:
            os.kill(server.proc.pid, signal.SIGCONT)
        except OSError:
            pass
        server.stop()
        started = pidfile.read_text().split() if pidfile.exists() else []
        for pid in [*locals().get("workers", []), *map(int, started)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return result


def test_a_backend_that_stops_answering_mid_shot_is_reconnected_and_the_shot_lands_whole(broken):
    blip = broken["blip"]
    assert blip["result"] == ["FINISHED"], blip["error"]
    assert blip["frames_at_stop"] >= 2 and blip["seconds_to_notice"] < 10
    assert any(s.startswith("Connection lost: reconnecting (try 1 of 2)") for s in blip["statuses"]), blip["statuses"]
    assert blip["reconnects"] == 1
    assert blip["state"] == "done", blip["job_error"]
    assert blip["strip"]["count"] == FRAMES and blip["strip"]["start"] == 1
    assert blip["bytes"] == {"server_count": FRAMES, "identical": True}


def test_while_a_shot_runs_the_scene_records_what_resuming_needs(broken):
    record = broken["blip"]["record_running"]
    assert record["job_id"] and record["address"].startswith("tcp://127.0.0.1:")
    assert record["num_frames"] == FRAMES and record["frame_start"] == 1
    assert record["folder"].endswith(record["shot_name"]) and record["sequencer_scene"] == "Scene"
    assert record["request"]["seed"] == 21 and record["request"]["on_disconnect"] == "keep"
    assert "cameras" not in record["request"] and "views" not in record["request"]
    assert broken["blip"]["record_after"] is None  # landed: nothing left to resume


def test_a_shot_interrupted_by_closing_the_file_resumes_from_the_saved_blend(broken):
    r = broken["reopen"]
    assert r["detached_state"] == "detached" and r["active_after_open"] == 0
    assert r["record"]["request"]["seed"] == 22 and r["records_in_file"] == 1 and r["poll"] is True
    assert 2 <= r["on_disk_before"] < FRAMES  # interrupted mid-shot
    assert r["resume_result"] == ["FINISHED"], r["resume_error"]
    strip = r["strip"]
    assert (strip["start"], strip["count"]) == (1, FRAMES)
    assert strip["files"] == [f"frame_{i:04d}.png" for i in range(FRAMES)]
    assert r["rewritten"] == []  # frames already on disk were not fetched again
    assert r["bytes"] == {"server_count": FRAMES, "identical": True}


def test_a_resumed_strip_stores_the_request_as_generate_does(broken):
    r, blip = broken["reopen"], broken["blip"]
    stored, normal = r["strip"]["stored"], blip["strip"]["stored"]
    assert set(stored) == set(normal)  # the same fields as a strip Generate landed
    assert stored["job_id"] == r["record"]["job_id"] and stored["shot"] == r["strip"]["name"]
    assert stored["seed"] == 22 and stored["end_anchor"]["position"] == pytest.approx([0.0, -1.5, 0.0])
    assert {k: v for k, v in stored.items() if k not in ("job_id", "shot", "end_anchor")} == r["record"]["request"]


def test_the_record_is_cleared_after_a_successful_resume(broken):
    r = broken["reopen"]
    assert r["record_after"] is None and r["poll_after"] is False
    assert r["status"].startswith(f"Done: {FRAMES} frames")


def test_a_restarted_backend_has_lost_the_shot_which_is_reported_with_the_frames_kept(broken):
    r = broken["restart"]
    assert r["old_server_stopped"] and "listening on" in r["new_server"]
    assert r["state"] == "error" and r["seconds"] < 20
    assert "no longer has shot" in r["job_error"] and "restarted" in r["job_error"]
    assert f"{r['frames_kept']} of {FRAMES} frames are kept in" in r["job_error"]
    assert "Generate again" in r["job_error"] and r["last_error"] == r["job_error"]
    assert r["frames_kept"] >= r["frames_at_restart"] and r["strip"] is None
    assert r["record_after"] is None  # nothing the backend could still send


def test_a_restarted_backend_on_the_same_cache_folder_still_serves_shots_that_had_finished(broken):
    r = broken["restart"]
    assert r["finished_job_after_restart"] == {"server_count": FRAMES, "identical": True}
    assert set(r["finished_ids"]) <= set(r["results_on_disk"])
    assert r["lost_job_files"] == ["job.json"]  # the shot it was running: only the note that it was lost


def test_a_shot_that_finished_while_blender_was_closed_resumes_after_a_backend_restart(broken):
    # resumed from its frames folder alone (anix.resume_shot_folder), as for a .blend never saved
    c = broken["closed_finished"]
    assert c["backend_state"] == "done" and 2 <= c["on_disk_before"] < FRAMES
    assert c["resume_result"] == ["FINISHED"], c["resume_error"]
    assert (c["strip"]["start"], c["strip"]["count"]) == (1, FRAMES)
    assert c["strip"]["stored"]["seed"] == 25 and c["strip"]["stored"]["end_anchor"] is not None
    assert c["bytes"] == {"server_count": FRAMES, "identical": True}
    assert c["record_after"] is None and c["folder_record_after"] is False


def test_the_frames_folder_keeps_the_shot_record_until_the_strip_lands(broken):
    c = broken["closed_finished"]
    record = c["folder_record"]
    assert record["job_id"] == c["strip"]["stored"]["job_id"] and record["num_frames"] == FRAMES
    assert record["request"]["seed"] == 25 and record["folder"] == c["strip"]["directory"].rstrip("/")
    assert c["bad_folder"][0] == ["ERROR_REPORTED"] and "no interrupted shot is recorded in" in c["bad_folder"][1]


def test_a_backend_that_stays_down_leaves_a_resumable_record_and_says_what_to_do(broken):
    d = broken["down"]
    assert d["frames_at_kill"] >= 2 and d["state"] == "interrupted" and d["seconds"] < 15
    assert "does not answer" in d["job_error"] and f"of {FRAMES} frames are in" in d["job_error"]
    assert "Resume Shot" in d["job_error"] and d["fix"] == "anix.resume_shot"
    assert d["record"]["request"]["seed"] == 24 and d["poll"] is True
    assert d["frames_kept"] >= d["frames_at_kill"]


def test_resume_with_the_backend_still_down_fails_in_seconds_and_keeps_the_record(broken):
    d = broken["down"]
    assert d["resume_result"] == ["ERROR_REPORTED"] and "does not answer" in d["resume_error"]
    assert "Traceback" not in d["resume_error"]
    assert d["resume_seconds"] < 12 and d["record_after_resume"] is True
    assert d["discard"] == ["FINISHED"] and d["record_after_discard"] is None and d["records_left"] == ""


def test_unregister_after_resuming_leaves_nothing_behind(broken):
    assert broken["unregistered"] == {"scene_prop": False, "operators": [], "handlers": 0, "timer": False}
