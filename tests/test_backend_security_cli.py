"""CURVE keys, the loopback rule, and `anix submit` / `anix keys` as a user runs them."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from backend.client import BackendUnavailable, Client, Done
from backend.standin import pattern_frame
from backend_helpers import REPO, H, W, ServerProcess, pattern_request


def anix(*args, **kw):
    return subprocess.run([sys.executable, "-m", "anix_core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, **kw)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys") / "studio"
    result = anix("keys", "generate", str(d))
    assert result.returncode == 0, result.stderr
    return d


def test_keys_generate_writes_server_and_client_pairs_and_authorizes_the_client(keys):
    names = {p.relative_to(keys).as_posix() for p in keys.rglob("*") if p.is_file()}
    assert names == {"server.key", "server.key_secret", "client.key", "client.key_secret", "authorized/client.key"}
    assert (keys / "client.key_secret").stat().st_mode & 0o077 == 0
    assert anix("keys", "generate", str(keys)).returncode == 2  # never overwrites keys


def test_a_keyed_server_talks_only_to_clients_with_an_authorized_key(keys, tmp_path):
    stranger = tmp_path / "stranger"
    assert anix("keys", "generate", str(stranger)).returncode == 0
    srv = ServerProcess("--keys", str(keys), cache_dir=tmp_path / "cache")
    try:
        with Client(srv.address, keys=keys) as client:
            assert client.hello()["protocol"] == 1
            assert isinstance(client.submit(pattern_request(2)).wait(timeout=30), Done)
        with Client(srv.address, timeout=1.5) as plain, pytest.raises(BackendUnavailable):
            plain.hello()
        with Client(srv.address, keys=stranger, timeout=1.5) as unknown, pytest.raises(BackendUnavailable):
            unknown.hello()
    finally:
        srv.stop()


def test_binding_off_loopback_without_keys_is_refused_with_a_clear_message():
    result = anix("serve", "--bind", "tcp://0.0.0.0:5599")
    assert result.returncode == 2
    assert "without CURVE keys" in result.stderr and "anix keys generate" in result.stderr
    result = subprocess.run([sys.executable, "-m", "backend.server", "--bind", "tcp://*:5599"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "refusing to bind" in result.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(cache_dir=tmp_path_factory.mktemp("cache"))
    yield srv
    srv.stop()


def submit_args(server, out, fixtures_dir, frames):
    return ["submit", "--backend", server.address, "--scene", str(fixtures_dir / "valid_ascii.ply"),
            "--generator", "pattern", "--frames", str(frames), "--width", str(W), "--height", str(H),
            "--seed", "4", "--encoding", "raw", "--out", str(out)]


def test_anix_submit_uploads_the_scene_and_writes_every_frame(server, tmp_path, fixtures_dir):
    result = anix(*submit_args(server, tmp_path / "out", fixtures_dir, 3))
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").glob("frame_*.png"))
    assert [p.name for p in written] == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    for i, p in enumerate(written):
        np.testing.assert_array_equal(np.asarray(Image.open(p)), pattern_frame(4, i, W, H))


def test_anix_submit_continue_from_starts_from_the_previous_jobs_last_frames(server, tmp_path, fixtures_dir):
    first = anix(*submit_args(server, tmp_path / "a", fixtures_dir, 3))
    job_id = re.search(r"--continue-from (j[0-9a-f]+)", first.stderr).group(1)
    second = anix(*submit_args(server, tmp_path / "b", fixtures_dir, 2), "--quality", "draft",
                  "--continue-from", job_id, "--option", "echo_history=true")
    assert second.returncode == 0, second.stderr
    for i in range(2):  # the pattern generator echoes the history it was given: the first job's frames
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b" / f"frame_{i:04d}.png")),
                                      pattern_frame(4, i, W, H))
    gone = anix(*submit_args(server, tmp_path / "c", fixtures_dir, 2), "--continue-from", "jnosuchjob")
    assert gone.returncode == 2 and "request.options.continue_from" in gone.stderr and "Traceback" not in gone.stderr


def test_ctrl_c_in_anix_submit_cancels_the_job_on_the_server(server, tmp_path, fixtures_dir):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "anix_core", *submit_args(server, out, fixtures_dir, 300),
                             "--option", "frame_delay_s=0.05"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(out.glob("frame_*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    job_id = re.search(r"job (j[0-9a-f]+)", err).group(1)
    assert "cancelled" in err
    with Client(server.address) as client:
        status = client.status(job_id)
    assert status["state"] == "cancelled" and status["frames_ready"] < 300
