"""DMD2 distillation: the 4-step student moves toward the 30-step teacher."""
import json

import pytest
import torch

from anix_core.train.config import RunConfig
from anix_core.train.dmd2 import distill_dmd2, sample_euler, student_timesteps
from anix_core.train.latents import collate
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


def test_the_four_step_student_gets_closer_to_the_teacher(tiny_training_clips, tmp_path):
    # The distribution-matching gradient alone matches distributions, not samples from the same
    # noise; DMD's regression term is what ties each student sample to its teacher sample.
    clips = tiny_training_clips[:4]
    regression_weight = 1.0
    cfg = dmd2_config(regression_weight=regression_weight)
    pairs = teacher_pairs(cfg, clips)
    before = student_error(build_model(cfg).eval(), pairs, clips)   # the student starts as the teacher

    result = distill_dmd2(cfg, tmp_path, clips, regression_pairs=pairs, regression_weight=regression_weight,
                          progress=False)
    student = build_model(cfg)
    student.load_lora_adapter(str(tmp_path / "student" / "pytorch_lora_weights.safetensors"), prefix=None)
    after = student_error(student.eval(), pairs, clips)
    assert after < before, (before, after)
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
