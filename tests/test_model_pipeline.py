"""AniXPipeline end to end on CPU with tiny random components of the real classes."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from anix_core.model.pipeline import AniXPipeline
from anix_core.model.tiny import tiny_pipeline

H, W = 32, 48
SMALL = dict(height=H, width=W, num_inference_steps=2, max_sequence_length=64)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(seed=0)


def conditioning(frames=9, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((frames, H, W), np.float32)
    mask[:, 8:24, 16:32] = 1.0
    views = {}
    for i, name in enumerate(("front", "left", "back", "right")):
        rgba = np.zeros((24, 12, 4), np.uint8)
        rgba[4:20, 2:10] = (40 * i, 200, 90, 255)
        views[name] = rgba
    return SimpleNamespace(scene_video=rng.random((frames, H, W, 3), dtype=np.float32), mask_video=mask,
                           views=views, prompt="a character walks forward .")


def run(pipe, cond=None, seed=0, **kw):
    args = {**SMALL, "num_frames": 9, **kw}
    return pipe(cond or conditioning(), generator=torch.Generator().manual_seed(seed), **args).frames


def test_generates_frames_of_the_requested_size(pipe):
    frames = run(pipe)
    assert frames.shape == (9, H, W, 3) and frames.dtype == np.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0


def test_same_seed_same_frames_other_seed_other_frames(pipe):
    a, b, c = run(pipe, seed=1), run(pipe, seed=1), run(pipe, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def spy_calls(pipe, monkeypatch):
    """Record (args, kwargs) of every transformer call."""
    calls = []
    forward = pipe.transformer.forward

    def spy(*args, **kwargs):
        calls.append((args, {k: v.clone() if torch.is_tensor(v) else v for k, v in kwargs.items()}))
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipe.transformer, "forward", spy)
    return calls


def test_guidance_is_the_official_cfg_negative_prompt_with_the_same_views_and_scene(pipe, monkeypatch):
    from anix_core.model.pipeline import NEGATIVE_PROMPT

    calls = spy_calls(pipe, monkeypatch)
    guided = run(pipe, guidance_scale=7.5)
    (latents, timestep), kw = calls[-1]
    assert latents.shape[0] == 2  # [uncond, cond] in one batch, the official order
    for name in ("view_latents", "scene_latents", "mask_latents"):
        torch.testing.assert_close(kw[name][0], kw[name][1], rtol=0, atol=0)
    from anix_core.model.text import trim_uncond_mask

    neg = pipe.encode_prompt(NEGATIVE_PROMPT, "cpu", torch.float32, 64, negative=True)
    pos = pipe.encode_prompt(conditioning().prompt, "cpu", torch.float32, 64, views=conditioning().views)
    torch.testing.assert_close(kw["encoder_hidden_states"], torch.cat([neg[0], pos[0]]))
    torch.testing.assert_close(kw["encoder_attention_mask"], torch.cat([trim_uncond_mask(neg[1]), pos[1]]))
    torch.testing.assert_close(kw["pooled_projections"], torch.cat([neg[2], pos[2]]))
    assert not torch.equal(kw["encoder_hidden_states"][0], kw["encoder_hidden_states"][1])
    assert timestep.dtype == torch.float32  # the raw scheduler value, not rounded to the model dtype
    calls.clear()
    unguided = run(pipe, guidance_scale=1.0)
    assert calls[-1][0][0].shape[0] == 1
    assert not np.allclose(guided, unguided)


def test_image_guidance_branch_uses_white_views_only_when_ip_cfg_scale_is_set(pipe, monkeypatch):
    encoded = []
    encode_views = pipe.encode_views

    def spy_views(pixels, *args, **kwargs):
        latents = encode_views(pixels, *args, **kwargs)
        encoded.append((bool(torch.all(pixels == 1)), latents))
        return latents

    monkeypatch.setattr(pipe, "encode_views", spy_views)
    run(pipe)
    assert [white for white, _ in encoded] == [False]  # default: no white views at all
    encoded.clear()
    calls = spy_calls(pipe, monkeypatch)
    with_ip = run(pipe, ip_cfg_scale=2.0)
    views = calls[-1][1]["view_latents"]
    assert views.shape[0] == 3  # [uncond, cond, ip] = white, white, the real views
    (_, real), (is_white, white) = encoded
    assert is_white
    torch.testing.assert_close(views, torch.cat([white, white, real]), rtol=0, atol=0)
    assert not np.allclose(with_ip, run(pipe))
    with pytest.raises(ValueError, match="ip_cfg_scale"):
        run(pipe, ip_cfg_scale=-1)


@pytest.mark.parametrize("steps, entry", [(30, ("official_runs", "30_steps_shift_13")),
                                          (4, ("other_counts", "4_steps_shift_13"))])
def test_scheduler_gives_the_official_shift_13_timesteps_and_sigmas_exactly(pipe, fixtures_dir, monkeypatch,
                                                                            steps, entry):
    import json

    official = json.loads((fixtures_dir / "model" / "official_sampling.json").read_text())
    expected = official["scheduler"][entry[0]][entry[1]]
    calls = spy_calls(pipe, monkeypatch)
    run(pipe, num_inference_steps=steps, guidance_scale=1.0, deepcache=False)
    assert [args[1].item() for args, _ in calls] == expected["timesteps"]  # what the transformer received
    assert pipe.scheduler.timesteps.dtype == torch.float32
    assert pipe.scheduler.sigmas.tolist() == expected["sigmas"]


def test_official_first_clip_preset_is_129_frames_at_360p():
    from anix_core.model.pipeline import OFFICIAL_FIRST_CLIP

    assert OFFICIAL_FIRST_CLIP == dict(num_frames=129, height=352, width=624, num_inference_steps=30,
                                       guidance_scale=7.5)


def test_scene_video_changes_the_result(pipe):
    a = run(pipe, cond=conditioning(seed=0))
    b = run(pipe, cond=conditioning(seed=5))
    assert not np.allclose(a, b)


def test_continuation_keeps_history_latents_and_returns_only_new_frames(pipe):
    history = np.random.default_rng(3).random((5, H, W, 3), dtype=np.float32)
    frames = run(pipe, cond=conditioning(frames=8), num_frames=8, history=history)
    assert frames.shape == (8, H, W, 3)
    latents = run(pipe, cond=conditioning(frames=13), num_frames=8, history=history, output_type="latent")
    assert latents.shape[2] == 4  # (5 + 8 - 1) / 4 + 1
    expected = pipe.encode_video(torch.from_numpy(history).permute(3, 0, 1, 2)[None] * 2 - 1)
    torch.testing.assert_close(latents[:, :, :2], expected)


def test_continuation_takes_33_history_frames_and_makes_96_new_ones(pipe):
    # 33 frames = 9 latents of history, + 96 new frames = a 129-frame (33-latent) sequence.
    history = np.random.default_rng(4).random((33, H, W, 3), dtype=np.float32)
    latents = run(pipe, cond=conditioning(frames=96), num_frames=96, history=history, num_inference_steps=1,
                  output_type="latent")
    assert latents.shape[2] == 33
    torch.testing.assert_close(latents[:, :, :9], pipe.encode_video(torch.from_numpy(history).permute(3, 0, 1, 2)[None] * 2 - 1))
    frames = run(pipe, cond=conditioning(frames=96), num_frames=96, history=history, num_inference_steps=1)
    assert frames.shape == (96, H, W, 3)


def test_diffusion_forcing_decodes_after_the_clean_history():
    pipe = tiny_pipeline(seed=0)
    pipe.transformer.register_to_config(history_mode="diffusion_forcing")
    history = np.random.default_rng(3).random((5, H, W, 3), dtype=np.float32)
    latents = run(pipe, cond=conditioning(frames=8), num_frames=8, history=history, output_type="latent")
    expected = pipe.encode_video(torch.from_numpy(history).permute(3, 0, 1, 2)[None] * 2 - 1)
    torch.testing.assert_close(latents[:, :, :2], expected)


def test_vae_tiling_decodes_in_tiles_at_the_same_size(pipe, monkeypatch):
    tiles = []
    decode_tile = pipe.vae.tiled_decode
    monkeypatch.setattr(pipe.vae, "tiled_decode", lambda *a, **k: tiles.append(1) or decode_tile(*a, **k))
    pipe.vae.enable_tiling(tile_sample_min_height=16, tile_sample_min_width=16, tile_sample_stride_height=8,
                           tile_sample_stride_width=8)
    try:
        frames = run(pipe)
    finally:
        pipe.vae.disable_tiling()
    assert tiles and frames.shape == (9, H, W, 3)
    assert np.isfinite(frames).all() and 0.0 <= frames.min() and frames.max() <= 1.0


def test_model_cpu_offload_gives_the_same_frames(pipe):
    offloaded = tiny_pipeline(seed=0)
    offloaded.enable_model_cpu_offload(device="cpu")
    np.testing.assert_array_equal(run(offloaded), run(pipe))


def test_bf16_components_give_nearly_the_fp32_frames(pipe):
    bf16 = tiny_pipeline(seed=0).to(dtype=torch.bfloat16)
    assert bf16.transformer.dtype == torch.bfloat16 and bf16.vae.dtype == torch.bfloat16
    frames = run(bf16)
    assert frames.dtype == np.float32 and np.isfinite(frames).all()
    assert np.abs(frames - run(pipe)).mean() < 0.05


def test_callback_runs_every_step_and_can_cancel(pipe):
    steps = []

    def record(p, i, t, kw):
        steps.append(i)
        return kw

    run(pipe, num_inference_steps=3, callback_on_step_end=record)
    assert steps == [0, 1, 2]

    class Stop(Exception):
        pass

    def cancel(p, i, t, kw):
        raise Stop

    with pytest.raises(Stop):
        run(pipe, num_inference_steps=3, callback_on_step_end=cancel)

    def interrupt(p, i, t, kw):
        p._interrupt = True
        return kw

    assert run(pipe, num_inference_steps=3, callback_on_step_end=interrupt) is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_frames=8), "num_frames must be 4k\\+1"),
    (dict(height=30), "height and width"),
    (dict(num_inference_steps=0), "num_inference_steps"),
    (dict(guidance_scale=0.5), "guidance_scale"),
    (dict(history=np.zeros((4, H, W, 3), np.float32), num_frames=8), "history must be"),
    (dict(history=np.zeros((5, H, W, 3), np.float32), num_frames=9), "multiple of 4"),
])
def test_bad_inputs_name_the_argument(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(pipe, **kwargs)


def test_missing_view_is_reported(pipe):
    cond = conditioning()
    del cond.views["back"]
    with pytest.raises(ValueError, match="back"):
        run(pipe, cond=cond)


def test_pipeline_save_and_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "model")
    loaded = AniXPipeline.from_pretrained(tmp_path / "model")
    assert type(loaded.transformer).__name__ == "AniXTransformer3DModel"
    assert loaded.scheduler.config.shift == 13.0
    np.testing.assert_allclose(run(loaded), run(pipe), atol=1e-5)


def test_deepcache_follows_the_official_30_step_schedule_and_is_off_for_other_counts():
    from anix_core.model.pipeline import deepcache_plan

    plan = deepcache_plan(30)
    assert [i for i, m in enumerate(plan) if m == "reuse"] == [11, 12, 14, 15, 17, 18, 20, 21]
    assert all(m == "store" for i, m in enumerate(plan) if i not in (11, 12, 14, 15, 17, 18, 20, 21))
    assert deepcache_plan(30, enabled=False) == [None] * 30
    assert deepcache_plan(4) == [None] * 4
    assert deepcache_plan(4, full_steps=[0, 2]) == ["store", "reuse", "store", "reuse"]
    with pytest.raises(ValueError, match="deepcache_full_steps"):
        deepcache_plan(4, full_steps=[1, 2])


def test_deepcache_schedule_reaches_the_transformer_and_changes_only_cached_steps(pipe, monkeypatch):
    modes = []
    forward = pipe.transformer.forward

    def spy(*args, **kwargs):
        modes.append(kwargs["deepcache"])
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipe.transformer, "forward", spy)
    plain = run(pipe, num_inference_steps=3, deepcache=False)
    cached = run(pipe, num_inference_steps=3, deepcache_full_steps=[0, 1])
    assert modes == [None, None, None, "store", "store", "reuse"]
    assert not np.allclose(plain, cached)
    assert pipe.transformer._deepcache == {}  # the kept tokens are released after sampling


def test_views_are_a_vae_sample_and_the_scene_the_mode(pipe):
    """Official: views `latent_dist.sample()`, scene/mask/history `.mode()`."""
    from anix_core.model.inputs import views_tensor

    views = views_tensor(conditioning().views, H, W)
    a = pipe.encode_views(views, torch.Generator().manual_seed(1))
    b = pipe.encode_views(views, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, pipe.encode_views(views, sample=False))
    assert not torch.allclose(a, pipe.encode_views(views, torch.Generator().manual_seed(2)))
