"""DMD2 distillation: the 4-step student moves toward the guided 30-step teacher."""
import json

import pytest
import torch

from anix_core.train.config import RunConfig
from anix_core.train.dmd2 import (build_teacher_base, distill_dmd2, sample_euler, student_timesteps,
                                  teacher_timesteps)
from anix_core.train.flow_matching import guided_velocity, predict_velocity
from anix_core.train.latents import NEGATIVE_KEYS, collate
from anix_core.train.lora import build_model
from anix_core.train.run import teacher_pairs

pytestmark = pytest.mark.slow


def dmd2_config(**train) -> RunConfig:
    base = {"max_steps": 60, "learning_rate": 1e-3, "lora_rank": 8, "lora_alpha": 8, "student_every": 5,
            "teacher_steps": 30, "regression_pairs": 4}
    base.update(train)
    return RunConfig.from_dict({"model": {"config": "tiny", "overrides": {"bg_proj_zero_init": False}},
                                "data": {"synthetic": 4}, "train": base})


def student_error(model, pairs, clips) -> float:
    with torch.no_grad():
        errors = [float(((sample_euler(model, noise, collate([clips[i]]), student_timesteps(4), 6.0) - target) ** 2).mean())
                  for noise, target, i in pairs]
    return sum(errors) / len(errors)


def test_the_guided_teacher_is_the_official_cfg_against_the_negative_prompt(tiny_training_clips):
    """uncond = the negative prompt with the SAME views and scene; v_u + s (v_c - v_u)."""
    model = build_model(dmd2_config()).eval()
    batch = collate(tiny_training_clips[:2])
    x = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.7, 0.3])
    with torch.no_grad():
        cond = predict_velocity(model, x, t, batch, 6.0)
        negative = collate([{**c, "prompt_embeds": c["negative_prompt_embeds"], "prompt_mask": c["negative_prompt_mask"],
                             "pooled": c["negative_pooled"]} for c in tiny_training_clips[:2]])
        uncond = predict_velocity(model, x, t, negative, 6.0)
        torch.testing.assert_close(guided_velocity(model, x, t, batch, 6.0, 7.5), uncond + 7.5 * (cond - uncond),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(guided_velocity(model, x, t, batch, 6.0, 1.0), cond)
    assert (cond - uncond).abs().mean() > 1e-3   # the prompt reaches the model: guidance has work to do


def test_the_student_trains_at_the_timesteps_the_pipeline_samples_it_at(fixtures_dir):
    official = json.loads((fixtures_dir / "model" / "official_sampling.json").read_text())
    four = official["scheduler"]["other_counts"]["4_steps_shift_13"]
    assert student_timesteps(4) == four["sigmas"][:-1]  # 1, .975, .9286, .8125: t * 1000 = the timesteps
    assert [t * 1000 for t in student_timesteps(4)] == pytest.approx(four["timesteps"], abs=1e-3)
    thirty = official["scheduler"]["official_runs"]["30_steps_shift_13"]
    assert teacher_timesteps(30) == thirty["sigmas"][:-1]


def test_the_teacher_is_the_base_with_the_anix_lora_merged(tmp_path):
    from safetensors.torch import save_file

    from anix_core.model.convert import kohya_module_map

    cfg = dmd2_config()
    base = build_model(cfg)
    name, (original, ours, _) = next((k, v) for k, v in kohya_module_map(base.config).items()
                                     if v[0] == "double_blocks.0.img_attn_proj")
    dim = base.config.num_attention_heads * base.config.attention_head_dim
    down, up = torch.randn(4, dim) * 0.1, torch.randn(dim, 4) * 0.1
    save_file({f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up, f"{name}.alpha": torch.tensor(1.0)},
              str(tmp_path / "anix.safetensors"))
    teacher = build_teacher_base(dmd2_config(teacher_lora=str(tmp_path / "anix.safetensors")))
    expected = base.state_dict()[f"{ours[0]}.weight"] + up @ down  # the official merge: alpha ignored
    torch.testing.assert_close(teacher.state_dict()[f"{ours[0]}.weight"], expected)


def test_the_teacher_samples_with_guidance_7_5_by_default(tiny_training_clips):
    clips = tiny_training_clips[:2]
    guided_cfg, plain_cfg = dmd2_config(regression_pairs=2), dmd2_config(regression_pairs=2, teacher_guidance_scale=1.0)
    assert guided_cfg.train.teacher_guidance_scale == 7.5
    guided, plain = teacher_pairs(guided_cfg, clips), teacher_pairs(plain_cfg, clips)
    for (noise_g, sample_g, i_g), (noise_p, sample_p, i_p) in zip(guided, plain):
        assert torch.equal(noise_g, noise_p) and i_g == i_p
        assert (sample_g - sample_p).abs().mean() > 0.01
    # Unguided, the teacher is the plain sampler.
    with torch.no_grad():
        direct = sample_euler(build_model(plain_cfg).eval(), plain[0][0], collate([clips[0]]),
                              teacher_timesteps(30), 6.0)
    torch.testing.assert_close(plain[0][1], direct)


def test_dmd2_names_the_negative_prompt_that_older_encoded_clips_lack(tiny_training_clips, tmp_path):
    old = [{k: v for k, v in c.items() if k not in NEGATIVE_KEYS} for c in tiny_training_clips[:2]]
    cfg = dmd2_config(max_steps=1, student_every=1)
    with pytest.raises(ValueError, match="2 of 2 encoded clips lack the tensor 'negative_prompt_embeds'"):
        distill_dmd2(cfg, tmp_path / "guided", old, progress=False)
    with pytest.raises(ValueError, match="negative_prompt_embeds"):
        teacher_pairs(cfg, old)
    result = distill_dmd2(dmd2_config(max_steps=1, student_every=1, teacher_guidance_scale=1.0), tmp_path / "plain",
                          old, progress=False)
    assert len(result.student_losses) == 1


def test_a_teacher_guidance_scale_below_one_is_refused():
    with pytest.raises(ValueError, match="train.teacher_guidance_scale must be >= 1"):
        dmd2_config(teacher_guidance_scale=0.5)


def test_the_four_step_student_gets_closer_to_the_guided_teacher(tiny_training_clips, tmp_path):
    # The distribution-matching gradient alone matches distributions, not samples from the same
    # noise; DMD's regression term is what ties each student sample to its teacher sample.
    clips = tiny_training_clips[:4]
    regression_weight = 1.0
    cfg = dmd2_config(regression_weight=regression_weight)
    pairs = teacher_pairs(cfg, clips)                               # guided, scale 7.5
    before = student_error(build_model(cfg).eval(), pairs, clips)   # the student starts as the unguided teacher

    result = distill_dmd2(cfg, tmp_path, clips, regression_pairs=pairs, regression_weight=regression_weight,
                          progress=False)
    student = build_model(cfg)
    student.load_lora_adapter(str(tmp_path / "student" / "pytorch_lora_weights.safetensors"), prefix=None)
    after = student_error(student.eval(), pairs, clips)
    assert after < 0.8 * before, (before, after)
    assert len(result.student_losses) == 60 // 5
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and all({"step", "loss", "fake_loss"} <= m.keys() for m in lines)


def test_pure_dmd2_moves_the_student(tiny_training_clips, tmp_path):
    clips = tiny_training_clips[:2]
    cfg = dmd2_config(max_steps=10)
    pairs = teacher_pairs(cfg, clips)
    before = student_error(build_model(cfg).eval(), pairs, clips)
    result = distill_dmd2(cfg, tmp_path, clips, progress=False)
    student = build_model(cfg)
    student.load_lora_adapter(str(tmp_path / "student" / "pytorch_lora_weights.safetensors"), prefix=None)
    assert student_error(student.eval(), pairs, clips) != before
    assert all(torch.isfinite(torch.tensor(result.fake_losses + result.student_losses)))


def test_the_gan_head_trains_too(tiny_training_clips, tmp_path):
    cfg = dmd2_config(max_steps=5, gan_head=True)
    result = distill_dmd2(cfg, tmp_path, tiny_training_clips[:2], progress=False)
    assert len(result.fake_losses) == 5 and all(torch.isfinite(torch.tensor(result.fake_losses)))


def test_bf16_distillation_runs_with_frozen_weights_in_bf16(tiny_training_clips, tmp_path):
    cfg = dmd2_config(max_steps=3, student_every=1, mixed_precision="bf16", gradient_checkpointing=True)
    result = distill_dmd2(cfg, tmp_path, tiny_training_clips[:2], progress=False)
    losses = torch.tensor(result.fake_losses + result.student_losses)
    assert len(losses) == 6 and bool(torch.isfinite(losses).all())
