"""`anix serve --ray`: the same ZeroMQ front, shots on Ray actors. A real local Ray cluster of two
simulated nodes (ray.cluster_utils.Cluster, CPU only) behind a real server process: shots from
several clients land on both nodes, scenes reach each node once, the client written from
docs/PROTOCOL.md works unchanged, and a node removed mid-shot ends that job with worker_lost
naming the node while the next shot completes."""
from __future__ import annotations

import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backend_helpers import REPO, H, W, collect, orbit_cameras, pattern_request

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]')")
from ray.cluster_utils import Cluster  # noqa: E402

from backend.client import Client, Done, Error, Frame  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_client import DocClient  # noqa: E402

pytestmark = pytest.mark.ray
SMALL_STORE = 100 * 1024**2  # object store per simulated node: this box is shared


class RayServer:
    """`python -m anix_core serve --ray ADDRESS --testing` with its stderr in a file (the bridges
    log there which node ran each job)."""

    def __init__(self, address: str, log: Path, *args: str):
        self.log = log
        self._err = open(log, "w")
        cmd = [sys.executable, "-m", "anix_core", "serve", "--bind", "tcp://127.0.0.1:*", "--testing",
               "--result-ttl", "60", "--ray", address, *args]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._err, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                found = re.search(r"listening on (\S+)", self.proc.stdout.readline())
                if found:
                    self.address = found.group(1)
                    return
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"anix serve --ray did not start: {log.read_text()[-2000:]}")

    def wait_actors(self, n: int, timeout: float = 120.0) -> None:
        """Until n actors are placed (each bridge says `ready` to the server right after)."""
        deadline = time.monotonic() + timeout
        while len(self.lines(r"actor placed on")) < n:
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def lines(self, pattern: str) -> list[re.Match]:
        return [m for m in re.finditer(pattern, self.log.read_text())]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._err.close()


@pytest.fixture(scope="module")
def cluster():
    """A head node (2 CPUs) and a worker node (1 CPU); actors take 1 CPU each and spread."""
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "object_store_memory": SMALL_STORE, "include_dashboard": False})
    c.worker = c.add_node(num_cpus=1, object_store_memory=SMALL_STORE)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_serve")
    srv = RayServer(cluster.address, folder / "serve.log", "--workers", "2", "--cache-dir", str(folder / "cache"),
                    "--node-cache-dir", str(folder / "nodes"), "--client-timeout", "5")
    srv.nodes = folder / "nodes"
    srv.wait_actors(2)  # so the first shots find both actors idle
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def views(fixtures_dir):
    return {n: fixtures_dir / "character" / f"robot_{n}.png" for n in ("front", "left", "back", "right")}


@pytest.fixture(scope="module")
def scene(server, fixtures_dir):
    path = fixtures_dir / "courtyard_sh0.ply"
    with Client(server.address, timeout=30) as client:
        return client.ensure_scene(path), path


def blockout_shot(sha: str, seed: int) -> dict:
    return {"scene": sha, "generator": "blockout", "num_frames": 4, "fps": 4.0, "width": W, "height": H,
            "seed": seed, "instruction": "walks forward", "encoding": "raw",
            "anchor": {"position": [0.0, -1.5, 0.0], "heading_rad": 0.0, "height_m": 1.8}}


def node_of_job(server, job_id: str) -> str:
    found = server.lines(rf"job {job_id} runs on \S+ \(\S+, node (\w+)\)")
    assert found, server.log.read_text()[-3000:]
    return found[-1].group(1)


def test_shots_from_several_clients_run_on_both_nodes_and_each_node_fetches_the_scene_once(server, cluster, scene, views):
    sha, _ = scene
    results = {}

    def animator(seed: int):
        with Client(server.address, timeout=30) as client:
            job = client.submit(blockout_shot(sha, seed), views=views)
            results[seed] = (job.id, *collect(job, timeout=180))

    threads = [threading.Thread(target=animator, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert len(results) == 3
    for job_id, frames, last in results.values():
        assert isinstance(last, Done), last
        assert sorted(frames) == [0, 1, 2, 3] and frames[0].shape == (H, W, 3)
    nodes = {node_of_job(server, job_id) for job_id, _, _ in results.values()}
    assert nodes == {cluster.head_node.node_id[:12], cluster.worker.node_id[:12]}
    copies = server.lines(rf"scene {sha[:12]} \(\d+ bytes\) copied to \S+ \(\S+, node (\w+)\)")
    assert sorted(m.group(1) for m in copies) == sorted(nodes)  # once per node, not once per shot
    held = sorted(p.name for p in server.nodes.glob("*/scenes/*.ply"))
    assert held == [f"{sha}.ply"] * 2


def test_the_protocol_document_client_works_unchanged_against_ray_actors(server, scene):
    sha, path = scene
    client = DocClient(server.address, timeout_s=30.0)
    try:
        welcome = client.hello()
        assert welcome["workers"] == 2 and "blockout" in welcome["generators"]
        assert client.has_scene(sha, path.stat().st_size)["present"] is True
        shot = {"scene": sha, "generator": "render", "num_frames": 3, "width": W, "height": H,
                "cameras": orbit_cameras(3)}
        job = client.submit(shot)["job"]
        result = client.follow(job, max_s=180)
        assert result.terminal["type"] == "done" and sorted(result.frames) == [0, 1, 2]
        held = client.submit(pattern_request(200, options={"frame_delay_s": 0.1}))["job"]
        client.follow(held, until=lambda r: len(r.frames) >= 1, max_s=180)
        assert client.cancel(held)["cancel_requested"] is True
        cancelled = client.follow(held, max_s=60)
        assert cancelled.terminal["type"] == "cancelled"
        again = client.attach(job, from_frame=1)
        assert again["state"] == "done"
        replay = client.follow(job, max_s=60)
        assert sorted(replay.frames) == [1, 2]
    finally:
        client.close()


def test_a_node_lost_mid_shot_ends_its_job_with_worker_lost_naming_the_node_and_the_next_shot_completes(
        server, cluster, scene, views):
    sha, _ = scene
    worker_node = cluster.worker.node_id[:12]
    with Client(server.address, timeout=30) as a, Client(server.address, timeout=30) as b:
        jobs = [c.submit(pattern_request(300, seed=i, options={"frame_delay_s": 0.1})) for i, c in enumerate((a, b))]
        streams = [job.events(timeout=180) for job in jobs]
        for stream in streams:  # both actors are busy: one job on each node
            assert any(isinstance(event, Frame) for event in stream)
        on_worker = [job for job in jobs if node_of_job(server, job.id) == worker_node]
        assert len(on_worker) == 1
        cluster.remove_node(cluster.worker)
        lost = next(stream for job, stream in zip(jobs, streams) if job is on_worker[0])
        last = [event for event in lost if not isinstance(event, Frame)][-1]
        assert isinstance(last, Error) and last.code == "worker_lost", last
        assert worker_node in last.message and "submit the shot again" in last.message
        survivor = next(job for job in jobs if job is not on_worker[0])
        survivor.cancel()
        nxt = a.submit(blockout_shot(sha, 7), views=views)
        frames, done = collect(nxt, timeout=180)
    assert isinstance(done, Done) and sorted(frames) == [0, 1, 2, 3]
    assert node_of_job(server, nxt.id) == cluster.head_node.node_id[:12]


def test_an_actor_that_died_while_idle_is_replaced_and_the_shot_that_reaches_it_completes(server, scene, views):
    import os
    import signal

    sha, _ = scene
    pid = int(server.lines(r"actor placed on .*, pid (\d+)")[-1].group(1))
    os.kill(pid, signal.SIGKILL)
    results = []

    def animator(seed: int):
        with Client(server.address, timeout=30) as client:
            results.append(collect(client.submit(blockout_shot(sha, seed), views=views), timeout=180))

    threads = [threading.Thread(target=animator, args=(seed,)) for seed in (11, 12)]  # one for each bridge
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert [type(last) for _, last in results] == [Done, Done], results
    assert server.lines(r"was gone when job \w+ reached it"), server.log.read_text()[-3000:]


def test_a_cluster_that_is_not_there_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "anix_core", "serve", "--ray", "127.0.0.1:9", "--bind",
                           "tcp://127.0.0.1:0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "cannot reach the Ray cluster at 127.0.0.1:9" in done.stderr


@pytest.mark.parametrize("args, words", [
    (["--workers", "9"], ["--workers 9 asks for 9", "CPU"]),
    (["--device", "cuda"], ["no node of the Ray cluster has 1 GPUs", "GPUs per node: [0]"]),
    (["--gpus-per-shot", "3", "--device", "cpu"], ["no node of the Ray cluster has 3 CPUs for one shot"]),
])
def test_actors_the_cluster_has_no_room_or_no_gpu_for_are_refused_at_start_in_one_line(cluster, args, words):
    done = subprocess.run([sys.executable, "-m", "anix_core", "serve", "--ray", cluster.address, *args,
                           "--bind", "tcp://127.0.0.1:0"], cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and all(w in done.stderr for w in words), done.stderr


def test_gpus_per_shot_is_checked_before_anything_starts():
    for args, words in ((["--gpus-per-shot", "2"], "needs --ray"), (["--gpus-per-shot", "0", "--ray", "auto"], "1 to 8")):
        done = subprocess.run([sys.executable, "-m", "anix_core", "serve", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and words in done.stderr and "--gpus-per-shot" in done.stderr, done.stderr
