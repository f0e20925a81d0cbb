"""LoRA post-training, as specified: it learns, resumes exactly, uses the scene, and exports
adapters that load back."""
import json

import pytest
import torch
from safetensors.torch import load_file

from anix_core.train.config import RunConfig
from anix_core.train.flow_matching import validation_loss
from anix_core.train.latents import collate
from anix_core.train.lora import build_model, load_trained, train_lora

pytestmark = pytest.mark.slow

TINY_RUN = {
    "model": {"config": "tiny", "overrides": {"bg_proj_zero_init": False}},
    "data": {"synthetic": 8},
    "train": {"max_steps": 200, "learning_rate": 5e-3, "warmup_steps": 10, "batch_size": 4,
              "lora_rank": 16, "lora_alpha": 16, "save_every": 100,
              "train_modules": ["x_embedder", "bg_in", "bg_proj", "proj_out"]},
}


def config(**train) -> RunConfig:
    raw = json.loads(json.dumps(TINY_RUN))
    raw["train"].update(train)
    return RunConfig.from_dict(raw)


def test_lora_training_halves_the_loss_within_200_steps(tiny_training_clips, tmp_path):
    result = train_lora(config(), tmp_path, tiny_training_clips[:8], progress=False)
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-20:]) / 20
    assert last <= 0.5 * first, (first, last)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, 201))
    assert all("loss" in m for m in lines)


def test_only_the_lora_trains(tiny_training_clips, tmp_path):
    cfg = config(max_steps=2, train_modules=[])
    train_lora(cfg, tmp_path, tiny_training_clips[:8], progress=False)
    checkpoint = load_file(str(tmp_path / "checkpoint-2" / "trainable.safetensors"))
    assert checkpoint and all("lora_" in name for name in checkpoint)
    targets = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in checkpoint}
    assert targets <= {"to_q", "to_k", "to_v", "0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                       "proj", "2", "proj_mlp", "proj_out"}


def test_lora_wraps_exactly_attention_qkv_and_out_and_the_mlps():
    from peft.tuners.lora import LoraLayer

    from anix_core.train.lora import add_lora

    cfg = config(train_modules=[])
    model = build_model(cfg)
    add_lora(model, cfg.train)
    wrapped = {name for name, module in model.named_modules() if isinstance(module, LoraLayer)}
    dual = [f"transformer_blocks.0.{m}" for m in (
        "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
        "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
        "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2")]
    single = [f"single_transformer_blocks.0.{m}" for m in ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp", "proj_out")]
    assert wrapped == set(dual + single)  # proj_out: the single block's fused attention-out + MLP-out


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one mixed-precision mode per process; a run of its own gets a fresh one."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def test_bf16_training_keeps_frozen_weights_in_bf16_and_trains_float32(tiny_training_clips, tmp_path,
                                                                        fresh_accelerate_state):
    result = train_lora(config(max_steps=3, mixed_precision="bf16"), tmp_path, tiny_training_clips[:8], progress=False)
    assert len(result.losses) == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    trained = load_file(str(tmp_path / "checkpoint-3" / "trainable.safetensors"))
    assert trained and all(t.dtype == torch.float32 for t in trained.values())
    model = load_trained(config(mixed_precision="bf16"), tmp_path)
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert frozen == {torch.bfloat16}


def test_a_resumed_run_is_bit_identical(tiny_training_clips, tmp_path):
    clips = tiny_training_clips[:8]
    straight = train_lora(config(max_steps=6, save_every=3), tmp_path / "a", clips, progress=False)
    train_lora(config(max_steps=6, save_every=3), tmp_path / "b", clips, max_steps=3, progress=False)
    resumed = train_lora(config(max_steps=6, save_every=3), tmp_path / "b", clips, resume=tmp_path / "b", progress=False)
    assert resumed.losses == straight.losses[3:]
    a = load_file(str(tmp_path / "a" / "checkpoint-6" / "trainable.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoint-6" / "trainable.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_scene_condition_carries_information(tiny_training_clips, tmp_path):
    train, held_out = tiny_training_clips[:8], [collate([c]) for c in tiny_training_clips[8:]]
    losses = {}
    for name, drop in (("with_scene", 0.0), ("scene_dropped", 1.0)):
        cfg = config(max_steps=150, scene_drop_p=drop)
        train_lora(cfg, tmp_path / name, train, progress=False)
        model = load_trained(cfg, tmp_path / name)
        losses[name] = validation_loss(model.eval(), held_out, drop_scene=drop == 1.0)
    assert losses["with_scene"] < losses["scene_dropped"], losses


def test_the_adapter_and_the_kohya_file_load_back(tiny_training_clips, tmp_path):
    from anix_core.model.convert import convert_kohya_lora

    cfg = config(max_steps=20, learning_rate=1e-2, train_modules=[])
    result = train_lora(cfg, tmp_path, tiny_training_clips[:8], progress=False)
    batch = collate(tiny_training_clips[:1])
    trained = build_model(cfg)
    trained.load_lora_adapter(str(result.adapter_dir / "pytorch_lora_weights.safetensors"), prefix=None)
    from_kohya = build_model(cfg)
    converted, report = convert_kohya_lora(load_file(str(result.kohya_file)), from_kohya.config)
    assert not report.unused
    from_kohya.load_lora_adapter(converted, prefix="transformer")
    plain = build_model(cfg)

    def out(model):
        return validation_loss(model.eval(), [batch], timesteps=(0.5,))

    assert out(trained) == pytest.approx(out(from_kohya), rel=1e-5)
    assert out(trained) != pytest.approx(out(plain), rel=1e-3)  # the LoRA changed the model


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="train.learning_rate"):
        config(learning_rate=5)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr'\]"):
        RunConfig.from_dict({"data": {"synthetic": 2}, "train": {"lr": 1}})
    with pytest.raises(ValueError, match="exactly one of latents"):
        RunConfig.from_dict({"data": {}})
