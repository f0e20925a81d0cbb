"""`anix convert hunyuancustom DOWNLOAD_DIR --out MODEL_DIR`: the official download folder, as it
comes, becomes one folder that `AniXPipeline.from_pretrained` loads and that generates exactly
what the same components generate."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from anix_core.cli import main

# The official AutoencoderKLCausal3D config format (HunyuanVideo's vae_3d/hyvae/config.json), tiny sizes.
def original_vae_config(vae) -> dict:
    c = vae.config
    return {"_class_name": "AutoencoderKLCausal3D", "act_fn": c.act_fn, "block_out_channels": list(c.block_out_channels),
            "down_block_types": ["DownEncoderBlockCausal3D"] * len(c.block_out_channels), "in_channels": 3,
            "latent_channels": c.latent_channels, "layers_per_block": c.layers_per_block,
            "norm_num_groups": c.norm_num_groups, "out_channels": 3, "sample_size": 256, "sample_tsize": 64,
            "up_block_types": ["UpDecoderBlockCausal3D"] * len(c.block_out_channels),
            "scaling_factor": c.scaling_factor, "time_compression_ratio": 4,
            "mid_block_add_attention": c.mid_block_add_attention}


@pytest.fixture(scope="module")
def components():
    from anix_core.model.tiny import tiny_components

    return tiny_components(seed=0)


@pytest.fixture(scope="module")
def download(components, tmp_path_factory):
    """Tiny random components written in the official download layout (HunyuanCustom/models/...)."""
    from anix_core.model.convert import to_original_state_dict

    root = tmp_path_factory.mktemp("HunyuanCustom") / "models"
    t = components["transformer"]
    (root / "hunyuancustom_editing_720P").mkdir(parents=True)
    torch.save({"module": to_original_state_dict(t.state_dict(), t.config)},
               root / "hunyuancustom_editing_720P" / "mp_rank_00_model_states.pt")
    vae = components["vae"]
    (root / "vae_3d" / "hyvae").mkdir(parents=True)
    torch.save({"state_dict": {f"vae.{k}": v for k, v in vae.state_dict().items()}},
               root / "vae_3d" / "hyvae" / "pytorch_model.pt")
    (root / "vae_3d" / "hyvae" / "config.json").write_text(json.dumps(original_vae_config(vae)))
    for folder, model, tokenizer in (("llava-llama-3-8b-v1_1", "text_encoder", "tokenizer"),
                                     ("openai_clip-vit-large-patch14", "text_encoder_2", "tokenizer_2")):
        components[model].save_pretrained(root / folder)
        components[tokenizer].save_pretrained(root / folder)
    (root / "whisper-tiny").mkdir()  # an official download this model does not use
    return root


def conditioning():
    from types import SimpleNamespace

    views = {n: np.full((24, 12, 4), 50 * i, np.uint8) for i, n in enumerate(("front", "left", "back", "right"))}
    return SimpleNamespace(scene_video=np.random.default_rng(0).random((5, 32, 48, 3), dtype=np.float32),
                           mask_video=np.ones((5, 32, 48), np.float32), views=views,
                           prompt="A character is running backward.")


def generate(pipe):
    return pipe(conditioning(), num_frames=5, height=32, width=48, num_inference_steps=2, max_sequence_length=64,
                generator=torch.Generator().manual_seed(0)).frames


def test_the_download_folder_converts_to_a_model_folder_that_generates_the_same_frames(download, components,
                                                                                      tmp_path, capsys):
    from anix_core.generators.anix import check_model_dir
    from anix_core.model.pipeline import AniXPipeline

    assert main(["convert", "hunyuancustom", str(download.parent), "--out", str(tmp_path / "model"),
                 "--dtype", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "not used:" in out and "whisper-tiny" in out and "every key checked" in out
    check_model_dir(tmp_path / "model")
    loaded = AniXPipeline.from_pretrained(tmp_path / "model")
    assert type(loaded.text_encoder).__name__ == "LlavaForConditionalGeneration"
    assert loaded.scheduler.config.shift == 13.0
    reference = AniXPipeline(**components)
    np.testing.assert_allclose(generate(loaded), generate(reference), atol=1e-5)


def test_a_missing_file_is_one_line_naming_it(download, tmp_path, capsys):
    broken = tmp_path / "models"
    shutil.copytree(download, broken)
    (broken / "vae_3d" / "hyvae" / "pytorch_model.pt").unlink()
    assert main(["convert", "hunyuancustom", str(broken), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert "vae_3d/hyvae/pytorch_model.pt: missing (the HunyuanVideo causal 3D VAE weights)" in err


def test_every_vae_key_is_checked(download, tmp_path, capsys):
    broken = tmp_path / "models"
    shutil.copytree(download, broken)
    path = broken / "vae_3d" / "hyvae" / "pytorch_model.pt"
    state = torch.load(path, weights_only=True)["state_dict"]
    state["vae.encoder.extra.weight"] = torch.zeros(1)
    del state["vae.decoder.conv_out.conv.bias"]
    torch.save({"state_dict": state}, path)
    assert main(["convert", "hunyuancustom", str(broken), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert "key decoder.conv_out.conv.bias missing" in err and "unexpected key encoder.extra.weight" in err


def test_the_anix_lora_goes_into_the_model_folder_with_lora(download, components, tmp_path, capsys):
    from safetensors.torch import save_file

    from anix_core.generators.anix import lora_notice
    from anix_core.model.convert import kohya_module_map

    config = components["transformer"].config
    name = next(k for k, v in kohya_module_map(config).items() if v[0] == "single_blocks.0.linear2")
    dim = config.num_attention_heads * config.attention_head_dim
    save_file({f"{name}.lora_down.weight": torch.randn(4, dim + int(dim * config.mlp_ratio)),
               f"{name}.lora_up.weight": torch.randn(dim, 4), f"{name}.alpha": torch.tensor(4.0)},
              str(tmp_path / "pytorch_lora_kohaya_weights.safetensors"))
    assert main(["convert", "hunyuancustom", str(download), "--out", str(tmp_path / "model"), "--dtype", "fp32",
                 "--lora", str(tmp_path / "pytorch_lora_kohaya_weights.safetensors")]) == 0
    assert "lora: 1 modules converted" in capsys.readouterr().out
    assert lora_notice(tmp_path / "model") is None
