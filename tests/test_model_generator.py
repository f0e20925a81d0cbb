"""The "anix" generator: a tiny saved model folder, loaded through `create("anix", model_dir=...)`."""
from __future__ import annotations

import shutil
import numpy as np
import pytest

from anix_core.generators import GenerationCancelled, create
from anix_core.generators.anix import clip_lengths

H, W = 24, 40  # conditioning size; the model runs at 32x48


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from anix_core.model.tiny import tiny_pipeline

    path = tmp_path_factory.mktemp("anix") / "model"
    tiny_pipeline(seed=0).save_pretrained(path)
    return path


def make_generator(model_dir, **kw):
    return create("anix", model_dir=str(model_dir), device="cpu", dtype="fp32", height=32, width=48,
                  num_inference_steps=2, max_sequence_length=64, **kw)


def conditioning(frames=7, history=None, seed=3):
    rng = np.random.default_rng(0)
    views = {n: np.full((16, 8, 4), 200, np.uint8) for n in ("front", "left", "back", "right")}
    from anix_core.conditioning import Conditioning

    return Conditioning(scene_video=rng.random((frames, H, W, 3), dtype=np.float32),
                        scene_depth=np.zeros((frames, H, W), np.float32),
                        mask_video=np.ones((frames, H, W), np.float32), views=views,
                        prompt="A character is waving. <SEP>The character front view looks like <img>.",
                        cameras=[], motion=None, history_frames=history, seed=seed)


def test_clip_lengths_follow_the_vae_frame_rule():
    assert clip_lengths(93, 0) == (93, 0)
    assert clip_lengths(90, 0) == (93, 0)
    assert clip_lengths(96, 40) == (96, 33)
    assert clip_lengths(10, 7) == (12, 5)


def test_generates_uint8_frames_at_conditioning_size_with_progress_per_step(model_dir):
    gen = make_generator(model_dir)
    progress, frames_seen = [], []
    out = gen.generate(conditioning(), on_progress=lambda *a: progress.append(a),
                       on_frame=lambda i, f: frames_seen.append((i, f.shape)))
    assert gen.name == "anix"
    assert out.shape == (7, H, W, 3) and out.dtype == np.uint8
    assert [p for p in progress if p[0] == "denoise"] == [("denoise", 0, 2), ("denoise", 1, 2), ("denoise", 2, 2)]
    assert frames_seen == [(i, (H, W, 3)) for i in range(7)]
    np.testing.assert_array_equal(out, gen.generate(conditioning()))  # same seed, same frames


def test_continuation_returns_the_requested_new_frames(model_dir):
    history = np.random.default_rng(1).integers(0, 255, (6, H, W, 3), dtype=np.uint8)
    out = make_generator(model_dir).generate(conditioning(frames=8, history=history))
    assert out.shape == (8, H, W, 3)


def test_cancel_between_steps_raises_generation_cancelled(model_dir):
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 1  # let the first check pass, cancel at the first step boundary

    with pytest.raises(GenerationCancelled):
        make_generator(model_dir).generate(conditioning(), should_cancel=should_cancel)


def test_incomplete_model_folder_lists_what_is_missing(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    shutil.rmtree(broken / "text_encoder_2")
    (broken / "vae" / "config.json").unlink()
    with pytest.raises(ValueError, match=r"missing: text_encoder_2/, vae/config.json"):
        create("anix", model_dir=str(broken), device="cpu")
    with pytest.raises(ValueError, match="model folder not found"):
        create("anix", model_dir=str(tmp_path / "nowhere"))


def official_named_lora(config, seed=0):
    """A LoRA in the official AniX naming on two modules of the tiny model."""
    import torch

    from anix_core.model.convert import kohya_module_map

    g = torch.Generator().manual_seed(seed)
    lora = {}
    for name, (original, _, _) in kohya_module_map(config).items():
        if original in ("double_blocks.0.img_attn_qkv", "single_blocks.0.linear2"):
            shape = dict(config)
            dim = shape["num_attention_heads"] * shape["attention_head_dim"]
            out_f, in_f = (3 * dim, dim) if "qkv" in original else (dim, dim + int(dim * shape["mlp_ratio"]))
            lora[f"{name}.lora_down.weight"] = torch.randn(4, in_f, generator=g) * 0.5
            lora[f"{name}.lora_up.weight"] = torch.randn(out_f, 4, generator=g) * 0.5
            lora[f"{name}.alpha"] = torch.tensor(1.0)
    return lora


def test_lora_in_the_model_folder_is_fused_at_load_and_missing_lora_is_announced(model_dir, tmp_path):
    import json

    from safetensors.torch import save_file

    from anix_core.cli import main
    from anix_core.generators.anix import lora_notice

    with_lora = tmp_path / "model"
    shutil.copytree(model_dir, with_lora)
    assert "no AniX LoRA" in lora_notice(with_lora)
    config = json.loads((with_lora / "transformer" / "config.json").read_text())
    save_file(official_named_lora(config), str(tmp_path / "pytorch_lora_kohaya_weights.safetensors"))
    assert main(["convert", "lora", str(tmp_path / "pytorch_lora_kohaya_weights.safetensors"),
                 "--out", str(with_lora / "lora"), "--transformer", str(with_lora / "transformer")]) == 0
    assert lora_notice(with_lora) is None
    plain = make_generator(model_dir).generate(conditioning())
    fused = make_generator(with_lora)
    assert fused.describe()["lora"] == str(with_lora / "lora")
    assert not np.array_equal(fused.generate(conditioning()), plain)
    # the official file itself loads too, and a wrong path is named
    direct = make_generator(model_dir, lora_dir=str(tmp_path / "pytorch_lora_kohaya_weights.safetensors"))
    np.testing.assert_array_equal(direct.generate(conditioning()), fused.generate(conditioning()))
    with pytest.raises(ValueError, match="no such file"):
        make_generator(model_dir, lora_dir=str(tmp_path / "nope.safetensors"))
