"""`anix serve --ray --gpus-per-shot 2`: one shot run by a gang of two Ray actors (one placement
group, a torch.distributed group, the transformer's tokens split over it) gives the frames the
same shot gets from the model in one process, and a cancel stops both ranks at the same step so
the gang runs the next shot. CPU ranks (gloo) and the tiny model stand in for GPUs and the 13B
model."""
from __future__ import annotations

import pytest

from backend_helpers import H, W

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]')")
pytest.importorskip("diffusers")
from ray.cluster_utils import Cluster  # noqa: E402

from backend import protocol as P  # noqa: E402
from backend.client import Cancelled, Client, Done, Frame, Progress  # noqa: E402
from test_ray_cluster import SMALL_STORE, RayServer  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from anix_core.model.tiny import tiny_pipeline

    path = tmp_path_factory.mktemp("tiny_anix")
    tiny_pipeline(seed=0).save_pretrained(path)
    return path


def in_one_process(request: dict, scene_path, views: dict, model) -> dict:
    """The frames of `request` from the anix generator called here, as a worker would."""
    from backend.generation import run_generator
    from backend.worker import SceneMemo, build_shot_spec

    blobs = [views[n].read_bytes() for n in P.VIEW_NAMES]
    checked = P.check_submit({"request": dict(request, views=list(P.VIEW_NAMES))}, blobs)
    checked["options"] = P.check_generator_options("anix", checked["options"])
    spec = build_shot_spec(checked, SceneMemo().load(checked["scene"], str(scene_path), checked["transform"]), blobs)
    frames = {}
    run_generator("anix", spec, None, None, lambda i, f: frames.__setitem__(i, f), model_dir=str(model), device="cpu")
    return frames


def test_a_gang_of_two_ranks_gives_the_frames_of_one_process_and_cancels_in_step(tiny_model, fixtures_dir, tmp_path):
    import numpy as np

    views = {n: fixtures_dir / "character" / f"robot_{n}.png" for n in P.VIEW_NAMES}
    scene_path = fixtures_dir / "courtyard_sh0.ply"
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "object_store_memory": SMALL_STORE, "include_dashboard": False})
    try:
        server = RayServer(cluster.address, tmp_path / "serve.log", "--workers", "1", "--gpus-per-shot", "2",
                           "--device", "cpu", "--generator", "anix", "--model", str(tiny_model),
                           "--cache-dir", str(tmp_path / "cache"), "--node-cache-dir", str(tmp_path / "nodes"))
        try:
            with Client(server.address, timeout=60) as client:
                sha = client.ensure_scene(scene_path)
                shot = {"scene": sha, "num_frames": 1, "width": W, "height": H, "encoding": "raw",
                        "instruction": "waves", "options": {"quality": "scene", "num_inference_steps": 2}}
                job = client.submit(shot, views=views)
                frames = {}
                done = job.wait(timeout=300, on_frame=lambda f: frames.__setitem__(f.index, f.to_numpy()))
                long = client.submit(dict(shot, options={**shot["options"], "num_inference_steps": 200}), views=views)
                events = long.events(timeout=300)
                assert any(isinstance(e, Progress) and e.stage == "denoise" and e.done >= 1 for e in events)
                long.cancel()
                assert isinstance([e for e in events if not isinstance(e, (Frame, Progress))][-1], Cancelled)
                again = {}
                client.submit(shot, views=views).wait(timeout=300, on_frame=lambda f: again.__setitem__(f.index, f.to_numpy()))
            assert server.lines(r"rank 0 of 2"), server.log.read_text()[-3000:]
        finally:
            server.stop()
    finally:
        cluster.shutdown()
    assert isinstance(done, Done) and sorted(frames) == [0]
    assert np.array_equal(again[0], frames[0])  # after the cancel both ranks were in step
    reference = in_one_process(shot, scene_path, views, tiny_model)
    diff = np.abs(frames[0][..., :3].astype(int) - reference[0].astype(int))
    assert diff.max() <= 2, diff.max()
