"""Converters: original HunyuanCustom checkpoints and kohya LoRA files -> our model, losslessly."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from anix_core.model.configs import TINY
from anix_core.model.convert import (
    convert_hunyuancustom,
    convert_kohya_lora,
    convert_lora_file,
    from_original_state_dict,
    infer_config,
    key_rules,
    to_original_state_dict,
)
from anix_core.model.transformer import AniXTransformer3DModel


def tiny_model(**overrides):
    torch.manual_seed(0)
    model = AniXTransformer3DModel(**{**TINY, **overrides})
    with torch.no_grad():
        for p in model.parameters():  # no zeros anywhere: every tensor must travel
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_key_table_covers_every_model_parameter_exactly_once():
    model = tiny_model()
    ours = [n for rule in key_rules(model.config) for n in rule.ours]
    assert len(ours) == len(set(ours))
    assert set(ours) == set(model.state_dict())


def test_original_naming_round_trip_is_lossless():
    model = tiny_model()
    original = to_original_state_dict(model.state_dict(), model.config)
    assert "double_blocks.0.img_attn_qkv.weight" in original
    assert original["single_blocks.0.linear1.weight"].shape[0] == 3 * 32 + 64  # q, k, v, mlp fused
    shift, scale = original["final_layer.adaLN_modulation.1.weight"].chunk(2)
    torch.testing.assert_close(scale, model.norm_out.linear.weight[:32], rtol=0, atol=0)
    back, report = from_original_state_dict(original, model.config)
    assert report.unused == [] and report.missing == []
    for key, value in model.state_dict().items():
        assert torch.equal(back[key], value), key


def test_config_is_inferred_from_checkpoint_shapes():
    model = tiny_model()
    original = to_original_state_dict(model.state_dict(), model.config)
    cfg = infer_config(original)
    for key in ("in_channels", "out_channels", "num_attention_heads", "attention_head_dim", "num_layers",
                "num_single_layers", "num_refiner_layers", "mlp_ratio", "text_embed_dim",
                "pooled_projection_dim", "scene_in_channels", "guidance_embeds", "rope_axes_dim"):
        expected = model.config[key]
        assert (tuple(cfg[key]) == tuple(expected)) if key == "rope_axes_dim" else cfg[key] == expected, key


@torch.no_grad()
def test_convert_hunyuancustom_deepspeed_file_loads_into_an_equal_model(tmp_path):
    model = tiny_model()
    original = to_original_state_dict(model.state_dict(), model.config)
    wrapped = {"module": {f"module.{k}": v.clone() for k, v in original.items()}, "iteration": 3}
    wrapped["module"]["module.some_extra.weight"] = torch.zeros(2)
    ckpt = tmp_path / "mp_rank_00_model_states.pt"
    torch.save(wrapped, ckpt)
    report = convert_hunyuancustom(ckpt, tmp_path / "transformer", dtype="keep", max_shard_bytes=20_000)
    assert report.unused == ["some_extra.weight"]
    assert (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    loaded = AniXTransformer3DModel.from_pretrained(tmp_path / "transformer").eval()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_convert_hunyuancustom_reports_missing_keys(tmp_path):
    model = tiny_model()
    original = to_original_state_dict(model.state_dict(), model.config)
    del original["double_blocks.0.txt_mlp.fc2.weight"]
    torch.save(original, tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="double_blocks.0.txt_mlp.fc2.weight"):
        convert_hunyuancustom(tmp_path / "ckpt.pt", tmp_path / "out")


def kohya_lora(rank=4, seed=5):
    g = torch.Generator().manual_seed(seed)
    shapes = {  # original module -> (out, in)
        "double_blocks.0.img_attn_qkv": (96, 32),
        "double_blocks.0.txt_mlp.fc1": (64, 32),
        "single_blocks.0.linear1": (160, 32),
        "single_blocks.0.linear2": (32, 96),
    }
    lora = {}
    for module, (out_f, in_f) in shapes.items():
        name = "lora_unet_" + module.replace(".", "_")
        lora[f"{name}.lora_down.weight"] = torch.randn(rank, in_f, generator=g) * 0.1
        lora[f"{name}.lora_up.weight"] = torch.randn(out_f, rank, generator=g) * 0.1
        lora[f"{name}.alpha"] = torch.tensor(2.0)
    return lora, shapes


@torch.no_grad()
def test_kohya_lora_fused_equals_w_plus_scale_up_down_and_unfuses(tmp_path):
    model = tiny_model()
    before = to_original_state_dict({k: v.clone() for k, v in model.state_dict().items()}, model.config)
    lora, shapes = kohya_lora()
    save_file(lora, str(tmp_path / "anix_lora.safetensors"))
    report = convert_lora_file(tmp_path / "anix_lora.safetensors", tmp_path / "lora", model.config)
    assert report.converted == 4 and report.unused == []

    model.load_lora_adapter(str(tmp_path / "lora"), weight_name="pytorch_lora_weights.safetensors",
                            prefix="transformer", adapter_name="anix")
    model.fuse_lora(lora_scale=1.0)
    fused = {k.replace(".base_layer", ""): v for k, v in model.state_dict().items() if "lora_" not in k}
    merged = to_original_state_dict(fused, model.config)
    for module in shapes:
        name = "lora_unet_" + module.replace(".", "_")
        up, down = lora[f"{name}.lora_up.weight"], lora[f"{name}.lora_down.weight"]
        expected = before[f"{module}.weight"] + (2.0 / 4) * up @ down
        torch.testing.assert_close(merged[f"{module}.weight"], expected, rtol=1e-5, atol=1e-6)
    untouched = "double_blocks.0.img_attn_proj.weight"
    assert torch.equal(merged[untouched], before[untouched])

    model.unfuse_lora()
    model.disable_lora()
    restored = {k.replace(".base_layer", ""): v for k, v in model.state_dict().items() if "lora_" not in k}
    restored = to_original_state_dict(restored, model.config)
    for module in shapes:
        torch.testing.assert_close(restored[f"{module}.weight"], before[f"{module}.weight"], rtol=1e-5, atol=1e-6)


def test_kohya_lora_with_no_matching_module_is_an_error(tmp_path):
    save_file({"lora_unet_nowhere.lora_down.weight": torch.zeros(1, 2),
               "lora_unet_nowhere.lora_up.weight": torch.zeros(2, 1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="0 modules matched"):
        convert_lora_file(tmp_path / "x.safetensors", tmp_path / "out", TINY)
    lora, _ = convert_kohya_lora({}, TINY)
    assert lora == {}


def test_lora_with_some_entries_matching_no_module_is_an_error_naming_them(tmp_path):
    lora, _ = kohya_lora()
    lora["lora_te_text_model_0.lora_down.weight"] = torch.zeros(1, 1)  # a text-encoder LoRA
    save_file(lora, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="4 modules matched .* lora_te_text_model_0"):
        convert_lora_file(tmp_path / "x.safetensors", tmp_path / "out", TINY)


def test_cli_convert_commands_write_loadable_folders(tmp_path, capsys):
    from anix_core.cli import main

    model = tiny_model()
    original = to_original_state_dict(model.state_dict(), model.config)
    torch.save({"module": original}, tmp_path / "mp_rank_00_model_states.pt")
    assert main(["convert", "hunyuancustom", str(tmp_path / "mp_rank_00_model_states.pt"),
                 "--out", str(tmp_path / "transformer"), "--dtype", "fp32"]) == 0
    assert "converted" in capsys.readouterr().out
    lora, _ = kohya_lora()
    save_file(lora, str(tmp_path / "lora.safetensors"))
    assert main(["convert", "lora", str(tmp_path / "lora.safetensors"), "--out", str(tmp_path / "lora"),
                 "--transformer", str(tmp_path / "transformer")]) == 0
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()
    assert main(["convert", "hunyuancustom", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x")]) == 2
