"""The gsplat backend calls `gsplat.rasterization` as documented and unpacks its output.

Without CUDA, gsplat's kernels cannot run: here `gsplat.rasterization` is replaced by a stand-in
that binds the call against the installed gsplat's real signature, checks the conventions, and
answers with our CPU rasteriser. The real comparison runs in test_render_courtyard (cuda).
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.render import render
from anix_core.splats.scene import GaussianScene
from test_render_reference import random_scene

torch = pytest.importorskip("torch")
gsplat = pytest.importorskip("gsplat")


@pytest.fixture
def fake_gsplat(monkeypatch):
    """Route backend="gsplat" to the CPU device and a checked stand-in for gsplat.rasterization."""
    import anix_core.render.gsplat_backend as backend

    calls = []
    signature = inspect.signature(gsplat.rasterization)

    def rasterization(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)  # TypeError on a wrong keyword or a missing argument
        a = bound.arguments
        assert a["packed"] is False and a["render_mode"] == "RGB+ED" and a["tile_size"] == 16
        assert a["near_plane"] == 0.01 and a["eps2d"] == 0.3
        n, c = a["means"].shape[0], a["viewmats"].shape[0]
        assert a["quats"].shape == (n, 4) and a["scales"].shape == (n, 3) and a["opacities"].shape == (n,)
        k = (a["sh_degree"] + 1) ** 2
        assert a["colors"].shape == (n, k, 3)
        assert a["Ks"].shape == (c, 3, 3) and a["backgrounds"].shape == (c, 3)
        calls.append({"frames": c, "mode": a.get("rasterize_mode", "classic")})
        scene = GaussianScene(
            a["means"].numpy(), a["quats"].numpy(), np.log(a["scales"].numpy()),
            torch.logit(a["opacities"].double()).numpy(), a["colors"][:, 0].numpy(), a["colors"][:, 1:].numpy(),
            antialiased=a.get("rasterize_mode") == "antialiased")
        rgb, alpha, depth = [], [], []
        for i in range(c):
            cam = Camera(a["viewmats"][i].double().numpy(), a["Ks"][i].double().numpy(), a["width"], a["height"])
            out = render(scene, [cam], backend="cpu", background=a["backgrounds"][i].numpy())
            rgb.append(out.rgb[0])
            alpha.append(out.alpha[0])
            depth.append(out.depth[0])
        colors = torch.from_numpy(np.concatenate([np.stack(rgb), np.stack(depth)[..., None]], axis=-1))
        return colors, torch.from_numpy(np.stack(alpha)[..., None]), {}

    monkeypatch.setattr(gsplat, "rasterization", rasterization)
    monkeypatch.setattr(backend, "DEVICE", "cpu")
    monkeypatch.setattr(backend, "gsplat_available", lambda: True)
    monkeypatch.setattr(backend, "MAX_CHUNK_FRAMES", 2)
    return calls


def test_gsplat_backend_batches_frames_in_chunks_and_returns_what_gsplat_renders(fake_gsplat):
    scene = random_scene(150, seed=4)
    cams = [Camera.look_at([0.3 * k, -0.5, 0.2], [0.0, 5.0, 0.0], 40, 30) for k in range(5)]
    gpu = render(scene, cams, backend="gsplat", background=(0.1, 0.2, 0.3))
    cpu = render(scene, cams, backend="cpu", background=(0.1, 0.2, 0.3))
    assert [c["frames"] for c in fake_gsplat] == [2, 2, 1]
    assert all(c["mode"] == "classic" for c in fake_gsplat)
    np.testing.assert_allclose(gpu.rgb, cpu.rgb, atol=1e-5)
    np.testing.assert_allclose(gpu.alpha, cpu.alpha, atol=1e-5)
    np.testing.assert_allclose(gpu.depth, cpu.depth, rtol=1e-5, atol=1e-5)


def test_gsplat_backend_asks_for_antialiased_mode_when_the_scene_wants_it(fake_gsplat):
    scene = random_scene(50, seed=2, sh_degree=1, antialiased=True)
    render(scene, [Camera.look_at([0, -0.5, 0.2], [0, 5, 0], 32, 24)], backend="auto")
    assert fake_gsplat[0]["mode"] == "antialiased"
