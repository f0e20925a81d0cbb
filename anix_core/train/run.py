"""From a run config to training data and a finished run: what `anix train` calls."""
from __future__ import annotations

from pathlib import Path

import torch

from anix_core.train.config import RunConfig
from anix_core.train.latents import collate, load_latent_clips


def load_training_clips(config: RunConfig, progress: bool = True) -> list[dict]:
    """Encoded clips from data.latents, or synthetic blockout clips encoded by the tiny pipeline."""
    data = config.data
    if data.latents:
        return load_latent_clips(data.latents)
    if config.model.pretrained or config.model.config != "tiny":
        raise ValueError("data.synthetic works with model.config: tiny only; for a real model encode clips "
                         "with `anix dataset encode` and set data.latents")
    from tqdm.auto import tqdm

    from anix_core.model.tiny import tiny_pipeline
    from anix_core.train.encode import encode_clip, encode_negative
    from anix_core.train.synthetic import synthetic_clips

    height, width = data.synthetic_size
    clips = synthetic_clips(data.synthetic, data.synthetic_frames, height, width, seed=config.train.seed)
    pipeline = tiny_pipeline(seed=config.train.seed)
    negative = encode_negative(pipeline, max_sequence_length=64)
    return [encode_clip(pipeline, clip, height, width, max_sequence_length=64, negative=negative)
            for clip in tqdm(clips, desc="encode clips", disable=not progress)]


def teacher_pairs(config: RunConfig, clips: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """(noise, teacher sample after train.teacher_steps steps, clip index) on fixed noises; the
    teacher (the base with train.teacher_lora merged) samples with classifier-free guidance
    train.teacher_guidance_scale against the negative prompt."""
    from anix_core.train.dmd2 import build_teacher_base, sample_euler, teacher_timesteps
    from anix_core.train.latents import require_negative_prompt

    t = config.train
    if t.teacher_guidance_scale != 1.0:
        require_negative_prompt(clips)
    teacher = build_teacher_base(config).eval()
    pairs = []
    with torch.no_grad():
        for i in range(t.regression_pairs):
            index = i % len(clips)
            batch = collate([clips[index]])
            noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(10_000 + i))
            sample = sample_euler(teacher, noise, batch, teacher_timesteps(t.teacher_steps), t.guidance_scale,
                                  cfg_scale=t.teacher_guidance_scale)
            pairs.append((noise, sample, index))
    return pairs


def run_lora(config_path: str | Path, output_dir: str | Path, max_steps: int | None = None,
             resume: str | Path | None = None, progress: bool = True):
    from anix_core.train.lora import train_lora

    config = RunConfig.from_yaml(config_path)
    clips = load_training_clips(config, progress)
    return train_lora(config, output_dir, clips, max_steps=max_steps, resume=resume, progress=progress)


def run_dmd2(config_path: str | Path, output_dir: str | Path, max_steps: int | None = None, progress: bool = True):
    from anix_core.train.dmd2 import distill_dmd2

    config = RunConfig.from_yaml(config_path)
    clips = load_training_clips(config, progress)
    pairs = teacher_pairs(config, clips) if config.train.regression_weight else None
    return distill_dmd2(config, output_dir, clips, max_steps=max_steps, regression_pairs=pairs,
                        regression_weight=config.train.regression_weight, progress=progress)
