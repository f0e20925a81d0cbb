"""AniXTransformer3DModel: faithful to diffusers' HunyuanVideo, plus AniX's scene/view/history streams."""
from __future__ import annotations

import pytest
import torch
from diffusers import HunyuanVideoTransformer3DModel

from anix_core.model.configs import TINY
from anix_core.model.rope import view_positions
from anix_core.model.transformer import AniXTransformer3DModel

HUNYUAN_KEYS = {k: v for k, v in TINY.items() if k not in ("scene_in_channels", "view_rope_mode", "history_mode")}


def make_model(**overrides) -> AniXTransformer3DModel:
    torch.manual_seed(0)
    return AniXTransformer3DModel(**{**TINY, **overrides}).eval()


def inputs(batch=1, frames=3, height=8, width=12, text=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, text, dtype=torch.long)
    mask[:, -2:] = 0  # padded prompt tail
    return dict(
        hidden_states=torch.randn(batch, 4, frames, height, width, generator=g),
        timestep=torch.full((batch,), 500.0),
        encoder_hidden_states=torch.randn(batch, text, 32, generator=g),
        encoder_attention_mask=mask,
        pooled_projections=torch.randn(batch, 16, generator=g),
        guidance=torch.full((batch,), 6000.0),
    )


def latents(batch=1, channels=4, frames=3, height=8, width=12, seed=2):
    return torch.randn(batch, channels, frames, height, width, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_without_anix_streams_output_equals_diffusers_hunyuan_video():
    ours = make_model()
    torch.manual_seed(0)
    reference = HunyuanVideoTransformer3DModel(**HUNYUAN_KEYS).eval()
    missing, unexpected = ours.load_state_dict(reference.state_dict(), strict=False)
    assert unexpected == []
    assert sorted(missing) == ["bg_in.proj.bias", "bg_in.proj.weight", "bg_proj.bias", "bg_proj.weight"]
    x = inputs(batch=2)
    expected = reference(**x).sample
    got = ours(**x).sample
    assert got.shape == (2, 4, 3, 8, 12)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_views_add_tokens_but_output_keeps_video_shape_and_changes():
    model = make_model()
    x = inputs()
    plain = model(**x).sample
    with_views = model(**x, view_latents=latents(frames=4, seed=7)).sample
    assert with_views.shape == plain.shape
    assert not torch.allclose(with_views, plain)


def test_view_rope_positions_code_mode_shift_time_and_width_only():
    pos = view_positions(4, height=3, width=5, mode="code")
    assert pos.shape == (4 * 3 * 5, 3)
    first = pos[:15]
    assert torch.all(first[:, 0] == -1)
    assert sorted(set(first[:, 1].tolist())) == [0, 1, 2]
    assert sorted(set(first[:, 2].tolist())) == [5, 6, 7, 8, 9]
    assert sorted(set(pos[:, 0].tolist())) == [-4, -3, -2, -1]
    # token order: view k, then rows, then columns
    assert pos[16].tolist() == [-2.0, 0.0, 6.0]


def test_view_rope_positions_paper_mode_shift_height_and_width():
    pos = view_positions(4, height=3, width=5, mode="paper")
    assert pos[0].tolist() == [-1.0, 3.0, 5.0]
    assert pos[-1].tolist() == [-4.0, 5.0, 9.0]
    with pytest.raises(ValueError, match="view_rope_mode"):
        view_positions(4, 3, 5, mode="diagonal")


@torch.no_grad()
def test_rope_modes_give_different_outputs():
    x = inputs()
    views = latents(frames=4, seed=7)
    code = make_model(view_rope_mode="code")(**x, view_latents=views).sample
    paper = make_model(view_rope_mode="paper")(**x, view_latents=views).sample
    assert not torch.allclose(code, paper)


@torch.no_grad()
def test_zero_initialised_scene_projection_leaves_output_unchanged():
    model = make_model()
    x = inputs()
    plain = model(**x).sample
    scene = model(**x, scene_latents=latents(seed=3), mask_latents=latents(seed=4)).sample
    torch.testing.assert_close(scene, plain)


@torch.no_grad()
def test_trained_scene_projection_changes_output():
    model = make_model()
    torch.nn.init.normal_(model.bg_proj.weight, std=0.2)
    x = inputs()
    plain = model(**x).sample
    scene = model(**x, scene_latents=latents(seed=3), mask_latents=latents(seed=4)).sample
    assert not torch.allclose(scene, plain)
    with pytest.raises(ValueError, match="together"):
        model(**x, scene_latents=latents(seed=3))


@torch.no_grad()
def test_overwrite_history_replaces_first_frames_with_clean_latents():
    model = make_model()
    x = inputs(frames=4)
    history = latents(frames=2, seed=9)
    out = model(**x, history_latents=history).sample
    manual = dict(x, hidden_states=torch.cat([history, x["hidden_states"][:, :, 2:]], dim=2))
    torch.testing.assert_close(out, model(**manual).sample)


@torch.no_grad()
def test_diffusion_forcing_with_same_timestep_equals_shared_modulation():
    model = make_model(history_mode="diffusion_forcing")
    x = inputs(frames=4)
    history = latents(frames=2, seed=9)
    views = latents(frames=4, seed=7)
    same = model(**x, history_latents=history, history_timestep=x["timestep"], view_latents=views).sample
    model.register_to_config(history_mode="overwrite")
    shared = model(**x, history_latents=history, view_latents=views).sample
    torch.testing.assert_close(same, shared, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_diffusion_forcing_history_timestep_changes_modulation():
    model = make_model(history_mode="diffusion_forcing")
    x = inputs(frames=4)
    history = latents(frames=2, seed=9)
    clean = model(**x, history_latents=history, history_timestep=torch.tensor([14.0])).sample
    noisy = model(**x, history_latents=history, history_timestep=torch.tensor([900.0])).sample
    assert clean.shape == (1, 4, 4, 8, 12)
    assert not torch.allclose(clean, noisy)


@torch.no_grad()
def test_seeded_construction_and_forward_are_deterministic():
    a = make_model()(**inputs(), view_latents=latents(frames=4)).sample
    b = make_model()(**inputs(), view_latents=latents(frames=4)).sample
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@torch.no_grad()
def test_save_pretrained_from_pretrained_round_trip(tmp_path):
    model = make_model(view_rope_mode="paper")
    torch.nn.init.normal_(model.bg_proj.weight, std=0.2)
    model.save_pretrained(tmp_path / "transformer")
    loaded = AniXTransformer3DModel.from_pretrained(tmp_path / "transformer").eval()
    assert loaded.config.view_rope_mode == "paper"
    x = inputs()
    kw = dict(view_latents=latents(frames=4), scene_latents=latents(seed=3), mask_latents=latents(seed=4))
    torch.testing.assert_close(loaded(**x, **kw).sample, model(**x, **kw).sample, rtol=1e-5, atol=1e-5)


def test_bad_config_values_name_the_key():
    with pytest.raises(ValueError, match="history_mode"):
        make_model(history_mode="rewind")
    with pytest.raises(ValueError, match="rope_axes_dim"):
        make_model(rope_axes_dim=(4, 4, 4))


def test_gradient_checkpointing_gives_the_same_gradients():
    x = inputs()
    grads = []
    for checkpointing in (False, True):
        model = make_model().train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(**x, view_latents=latents(frames=4)).sample.square().mean().backward()
        grads.append(model.transformer_blocks[0].attn.to_q.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


@torch.no_grad()
def test_dropping_text_padding_gives_the_same_video_prediction():
    model = make_model()
    x = inputs(text=5)  # last two text tokens are padding
    trimmed = dict(x, encoder_hidden_states=x["encoder_hidden_states"][:, :3],
                   encoder_attention_mask=x["encoder_attention_mask"][:, :3])
    views = latents(frames=4, seed=7)
    torch.testing.assert_close(model(**trimmed, view_latents=views).sample, model(**x, view_latents=views).sample,
                               rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_rows_with_different_text_lengths_run_alone_and_equal_one_masked_batch():
    """The CFG pair has prompts of different lengths: each row runs unmasked (flash kernels), with
    the same result as the masked batch, DeepCache included."""
    model = make_model()
    x = inputs(batch=2)
    x["encoder_attention_mask"] = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    views = latents(batch=2, frames=4, seed=7)
    split = model(**x, view_latents=views, deepcache="store").sample
    x2 = dict(x, hidden_states=x["hidden_states"] * 0.5, timestep=torch.full((2,), 300.0))
    split_cached = model(**x2, view_latents=views, deepcache="reuse").sample
    model.split_text_rows = False
    batched = model(**x, view_latents=views, deepcache="store").sample
    batched_cached = model(**x2, view_latents=views, deepcache="reuse").sample
    torch.testing.assert_close(split, batched, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(split_cached, batched_cached, rtol=1e-5, atol=1e-5)


def test_a_training_step_keeps_rows_of_different_text_lengths_in_one_batch():
    """With autograd on, one masked call: a backward over B separate rows would cost B passes."""
    model = make_model()
    x = inputs(batch=2)
    x["encoder_attention_mask"] = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    batches = []
    model.transformer_blocks[0].register_forward_hook(lambda mod, args, out: batches.append(args[0].shape[0]))
    model(**x).sample.sum().backward()
    assert batches == [2]
