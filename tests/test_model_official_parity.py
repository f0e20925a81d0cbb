"""Parity with the official AniX code: golden tensors computed by the official transformer.

The tiny official-named checkpoint (2 double + 2 single blocks, head_dim 128 like the 13B model) is
regenerated bit-exactly by the fixture's own script, written in the official layout
(`{"module": state_dict}` in mp_rank_00_model_states.pt), converted with `anix convert
hunyuancustom` and loaded with `from_pretrained`, so every test goes through the path a user takes.
"""
from __future__ import annotations

import json
import sys

import pytest
import torch

ATOL = 1e-4  # the official float32 output itself is ~2e-6 from its float64 run


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    from safetensors.torch import load_file

    return load_file(str(fixtures_dir / "model" / "official_tiny.safetensors"))


@pytest.fixture(scope="module")
def official_checkpoint(fixtures_dir, tmp_path_factory):
    """mp_rank_00_model_states.pt of the tiny official model, in the official layout."""
    model_dir = fixtures_dir / "model"
    sys.path.insert(0, str(model_dir))
    try:
        from official_tiny_weights import checksum, official_tiny_state_dict
    finally:
        sys.path.remove(str(model_dir))
    weights = official_tiny_state_dict()
    assert checksum(weights) == json.loads((model_dir / "official_tiny.json").read_text())["weights"]["sha256"]
    path = tmp_path_factory.mktemp("official") / "mp_rank_00_model_states.pt"
    torch.save({"module": {k: torch.from_numpy(v) for k, v in weights.items()}}, path)
    return path


@pytest.fixture(scope="module")
def converted(official_checkpoint, tmp_path_factory):
    from anix_core.cli import main

    out = tmp_path_factory.mktemp("converted") / "transformer"
    assert main(["convert", "hunyuancustom", str(official_checkpoint), "--out", str(out), "--dtype", "keep"]) == 0
    return out


def load(converted):
    from anix_core.model.transformer import AniXTransformer3DModel

    return AniXTransformer3DModel.from_pretrained(converted).eval()


@pytest.fixture(scope="module")
def model(converted):
    return load(converted)


def call(model, g, x="in.x", t="in.t", mask="in.text_mask", scene=True, **kw):
    """The project's forward on the stored inputs (the official argument order mapped to ours)."""
    bg = g["in.bg_latents"]
    scene_kw = dict(scene_latents=bg[:, :16], mask_latents=bg[:, 16:]) if scene else {}
    with torch.no_grad():
        return model(g[x], g[t], g["in.text_states"], g[mask], g["in.text_states_2"], None,
                     view_latents=g["in.ref_latents"], return_dict=False, **scene_kw, **kw)[0]


def assert_matches(got, expected):
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=ATOL)


def test_converted_official_checkpoint_has_no_guidance_embedder(model):
    assert model.config.guidance_embeds is False
    assert tuple(model.config.rope_axes_dim) == (16, 56, 56)


def test_default_forward_equals_official(model, golden):
    assert_matches(call(model, golden), golden["out.default"])


def test_deepcache_cached_step_equals_official(model, golden):
    """A cached call right after a full one: only the last single-stream block runs, on the tokens
    the full call fed it, modulated by the new timestep."""
    full = call(model, golden, deepcache="store")
    assert_matches(full, golden["out.default"])  # storing changes nothing
    cached = call(model, golden, x="in.x_step2", t="in.t_step2", deepcache="reuse")
    assert_matches(cached, golden["out.deepcache_step2"])
    assert_matches(call(model, golden, x="in.x_step2", t="in.t_step2"), golden["out.full_step2"])
    model.clear_deepcache()
    with pytest.raises(ValueError, match="deepcache"):
        call(model, golden, deepcache="reuse")


# ---------------------------------------------------------------- LoRA
def official_lora(fixtures_dir, name="official_lora_tiny.safetensors"):
    from safetensors.torch import load_file

    return load_file(str(fixtures_dir / "model" / name))


@pytest.mark.parametrize("file, scale, expected", [
    ("official_lora_tiny.safetensors", 1.0, "out.lora"),
    ("official_lora_tiny_alltargets.safetensors", 1.0, "out.lora_alltargets"),
    ("official_lora_tiny.safetensors", 0.5, "out.lora_scale_0p5"),
])
def test_official_lora_fused_at_lora_scale_equals_official_merge(converted, golden, fixtures_dir, tmp_path,
                                                                 file, scale, expected):
    """The official loader: W += lora_scale * up @ down, the file's alpha (1.0, rank 4) ignored.
    The file goes through `anix convert lora` like a user's download."""
    from anix_core.cli import main
    from anix_core.model.lora import apply_lora

    assert main(["convert", "lora", str(fixtures_dir / "model" / file), "--out", str(tmp_path / "lora"),
                 "--transformer", str(converted)]) == 0
    model = load(converted)
    apply_lora(model, tmp_path / "lora", lora_scale=scale)
    assert_matches(call(model, golden), golden[expected])


def test_official_lora_attention_and_mlp_entries_only(converted, golden, fixtures_dir):
    from anix_core.model.lora import apply_lora

    lora = {k: v for k, v in official_lora(fixtures_dir).items() if "mod_linear" not in k and "modulation" not in k}
    model = load(converted)
    apply_lora(model, lora)
    assert_matches(call(model, golden), golden["out.lora_attn_mlp_only"])


def test_attached_lora_at_scale_equals_the_fused_one(converted, golden, fixtures_dir):
    from anix_core.model.lora import apply_lora

    model = load(converted)
    apply_lora(model, official_lora(fixtures_dir), lora_scale=0.5, fuse=False)
    assert_matches(call(model, golden), golden["out.lora_scale_0p5"])


def test_lora_in_peft_diffusers_and_kohya_namings_merge_the_same(converted, golden, fixtures_dir):
    """The same LoRA written as peft keys on the original names and as generic kohya keys
    (kohya's alpha / rank scale: alpha = rank here) gives the official result."""
    from anix_core.model.lora import apply_lora

    official = official_lora(fixtures_dir)
    rank = 4
    peft, kohya = {}, {}
    for key, value in official.items():
        name, _, part = key.partition(".")
        module = name[len("Hunyuan_video_I2V_lora_"):]
        kohya[f"lora_unet_{module}.{part}"] = torch.tensor(float(rank)) if part == "alpha" else value
        if part == "alpha":
            continue
        dotted = next(m for m in ORIGINAL_MODULES if m.replace(".", "_") == module)
        kind = "lora_A" if part.startswith("lora_down") else "lora_B"
        peft[f"base_model.model.{dotted}.{kind}.weight"] = value
    for lora in (peft, kohya):
        model = load(converted)
        apply_lora(model, lora)
        assert_matches(call(model, golden), golden["out.lora"])


ORIGINAL_MODULES = [f"double_blocks.{i}.{m}" for i in range(2) for m in (
    "img_attn_qkv", "img_attn_proj", "img_mlp.fc1", "img_mlp.fc2", "img_mod.linear",
    "txt_attn_qkv", "txt_attn_proj", "txt_mlp.fc1", "txt_mlp.fc2", "txt_mod.linear")] + [
    f"single_blocks.{i}.{m}" for i in range(2) for m in ("linear1", "linear2", "modulation.linear")]


def test_lora_entries_matching_no_module_are_an_error(converted, fixtures_dir):
    from anix_core.model.lora import apply_lora

    lora = dict(official_lora(fixtures_dir))
    lora["Hunyuan_video_I2V_lora_double_blocks_7_img_attn_qkv.lora_down.weight"] = torch.zeros(4, 256)
    lora["Hunyuan_video_I2V_lora_double_blocks_7_img_attn_qkv.lora_up.weight"] = torch.zeros(768, 4)
    with pytest.raises(ValueError, match="double_blocks_7_img_attn_qkv"):
        apply_lora(load(converted), lora)
    with pytest.raises(ValueError, match="0 modules matched"):
        apply_lora(load(converted), {"lora_unet_nowhere.lora_down.weight": torch.zeros(1, 2),
                                     "lora_unet_nowhere.lora_up.weight": torch.zeros(2, 1)})


def test_our_kohya_export_is_read_by_the_official_merge_rule(converted, official_checkpoint, golden, fixtures_dir):
    """Our exporter writes what the official loader reads: merging its file with the official rule
    (prefix stripped, W += up @ down, file alpha ignored) into the official checkpoint and
    converting that gives the official LoRA result."""
    from anix_core.model.convert import from_original_state_dict, load_original_checkpoint
    from anix_core.model.lora import apply_lora
    from anix_core.train.kohya import peft_to_kohya

    attached = load(converted)
    apply_lora(attached, official_lora(fixtures_dir), fuse=False)
    peft_state = {k.replace(".anix.", "."): v for k, v in attached.state_dict().items() if ".lora_" in k}
    exported = peft_to_kohya(peft_state, attached.config, alpha=4.0, rank=4)

    weights = {k: v.clone() for k, v in load_original_checkpoint(official_checkpoint).items()}
    underscored = {m.replace(".", "_"): m for m in ORIGINAL_MODULES}
    for key, down in exported.items():
        if key.endswith(".lora_down.weight"):
            name = key.split(".")[0].split("Hunyuan_video_I2V_lora_")[-1]
            up = exported[key.replace("lora_down", "lora_up")]
            weights[f"{underscored[name]}.weight"] += 1.0 * torch.mm(up.float(), down.float())
    merged = load(converted)
    ours, report = from_original_state_dict(weights, merged.config)
    assert not report.missing
    merged.load_state_dict(ours)
    assert_matches(call(merged, golden), golden["out.lora"])


# ---------------------------------------------------------------- the other official scenarios
def test_llava_layout_text_mask_equals_official(model, golden):
    """A non-prefix mask: joint attention keeps the first COUNT text tokens, the refiner the marked ones."""
    assert_matches(call(model, golden, mask="in.text_mask_llava_layout"), golden["out.llava_layout_mask"])


def test_without_scene_latents_equals_official(model, golden):
    assert_matches(call(model, golden, scene=False), golden["out.no_bg"])


def test_diffusion_forcing_equals_official(converted, golden):
    """History = the first 2 latent frames of in.x, clean, at level t = 14; the new frames at t."""
    from anix_core.model.transformer import AniXTransformer3DModel

    model = AniXTransformer3DModel.from_pretrained(converted, history_mode="diffusion_forcing").eval()
    num_history = int(golden["in.df_latent_frame_indices"][0])
    levels = golden["in.df_t"]
    g = dict(golden, **{"in.t_current": levels[:, 1]})
    got = call(model, g, t="in.t_current", history_latents=golden["in.x"][:, :, :num_history],
               history_timestep=levels[:, 0])
    assert_matches(got, golden["out.df"])


def test_rope_tables_equal_official(model, golden):
    """Rows: the 4 views (time -1..-4, width shifted by the frame width), then the frames."""
    from anix_core.model.rope import video_positions, view_positions

    views, frames, height, width = 4, 3, 4, 6
    positions = torch.cat([view_positions(views, height, width, "code"), video_positions(frames, height, width)])
    torch.testing.assert_close(positions, golden["in.rope_positions"], rtol=0, atol=0)
    cos, sin = model.rotary_embedding(frames, height, width, num_views=views)
    torch.testing.assert_close(cos, golden["in.freqs_cos"], rtol=0, atol=1e-6)
    torch.testing.assert_close(sin, golden["in.freqs_sin"], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- views
@pytest.fixture(scope="module")
def official_views(fixtures_dir):
    import numpy as np

    with np.load(fixtures_dir / "model" / "official_views.npz") as data:
        return {k: data[k] for k in data.files}


def test_views_are_composited_with_binary_alpha_on_grey_exactly(robot_views, official_views):
    import numpy as np

    from anix_core.model.inputs import VIEW_ORDER, composite_view

    got = np.stack([composite_view(robot_views[n]) for n in VIEW_ORDER])
    np.testing.assert_array_equal(got, official_views["composited_rgb_uint8"])


def test_views_for_the_vae_are_fitted_into_a_white_624x352_frame(robot_views, official_views):
    """The official resize is cv2 INTER_LINEAR; ours is torch's bilinear: within 1/255."""
    from anix_core.model.inputs import views_tensor

    got = views_tensor(robot_views, 352, 624)
    expected = torch.from_numpy(official_views["pixel_value_ref_for_vae"])
    assert got.shape == expected.shape == (1, 3, 4, 352, 624)
    torch.testing.assert_close(got, expected, rtol=0, atol=2 / 255 * 2)  # 2/255 in [0, 1] = 4/255 in [-1, 1]
    assert (got - expected).abs().gt(1e-6).float().mean() < 0.02  # only resize rounding differs
    white_columns = got[0, :, :, :, :136]
    assert torch.all(white_columns == 1.0)


def test_llava_image_inputs_equal_official(robot_views, official_views):
    from anix_core.model.inputs import CLIP_STD, llava_views_tensor

    got = llava_views_tensor(robot_views)
    expected = torch.from_numpy(official_views["pixel_value_llava"])
    assert got.shape == expected.shape == (4, 3, 336, 336)
    torch.testing.assert_close(got, expected, rtol=0, atol=2 / 255 / min(CLIP_STD))
    torch.testing.assert_close(llava_views_tensor(None), torch.from_numpy(official_views["uncond_pixel_value_llava"]),
                               rtol=0, atol=1e-6)
