"""DMD2 distillation (Yin et al., 2024) of the AniX transformer into a 4-step student.

One backbone holds three networks: the frozen teacher (adapters disabled), the student and the
fake-score network (each its own LoRA adapter). Per step: the fake score learns the student's
current output distribution by flow matching (every step); every `student_every` steps the
student moves along the distribution-matching gradient, the difference between the fake and
the teacher's x0 predictions on its re-noised samples. The teacher is the model AniX samples:
the base with the AniX LoRA merged in (train.teacher_lora), classifier-free guided
(train.teacher_guidance_scale, 7.5) against the negative prompt with the same views and scene;
the fake score stays unguided, as in DMD2, so the student learns the guided distribution in one
pass per step. The student trains at the timesteps the pipeline samples it at (4 steps through
the shift-13 schedule: 1000, 975, 928.6, 812.5). An optional regression term (DMD's original) pulls
the student toward guided teacher ODE samples from the same noise, and an optional GAN head on
the fake network's prediction adds DMD2's adversarial term.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from anix_core.train.config import RunConfig
from anix_core.train.flow_matching import (FlowMatchingLoss, LatentBatch, guided_velocity, logit_normal_timesteps,
                                            predict_velocity)
from anix_core.train.latents import collate, require_negative_prompt
from anix_core.train.lora import build_model, step_generator, store_for_mixed_precision

STUDENT, FAKE = "student", "fake"


def shifted_timesteps(steps: int, shift: float = 13.0) -> list[float]:
    """t in (0, 1] of the pipeline's `steps`-step schedule: the scheduler's sigmas, exactly (float32)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from anix_core.model.pipeline import official_sigmas

    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(sigmas=official_sigmas(steps))
    return scheduler.sigmas[:-1].tolist()


def student_timesteps(steps: int, shift: float = 13.0) -> list[float]:
    """The student's schedule from pure noise: the one `AniXPipeline(num_inference_steps=steps)`
    samples it at (4 steps: t = 1, .975, .9286, .8125)."""
    return shifted_timesteps(steps, shift)


def sample_euler(model, noise: torch.Tensor, batch: LatentBatch, timesteps: list[float], guidance_scale: float,
                 cfg_scale: float = 1.0) -> torch.Tensor:
    """Euler integration of the flow from t = timesteps[0] to 0 (x0 estimate). cfg_scale > 1:
    classifier-free guidance against the negative prompt (batch.negative_*), as the teacher samples."""
    x = noise
    ts = list(timesteps) + [0.0]
    for t, t_next in zip(ts[:-1], ts[1:]):
        tt = torch.full((x.shape[0],), t)
        x = x + (t_next - t) * guided_velocity(model, x, tt, batch, guidance_scale, cfg_scale)
    return x


def teacher_timesteps(steps: int, shift: float = 13.0) -> list[float]:
    """The teacher's shifted flow-matching schedule (the official 30 steps, shift 13)."""
    return shifted_timesteps(steps, shift)


def build_teacher_base(config: RunConfig):
    """The model of `config` with the AniX LoRA (train.teacher_lora) merged into its weights: the
    teacher AniX samples with, and the base the student and fake-score adapters sit on."""
    model = build_model(config)
    if config.train.teacher_lora:
        from anix_core.model.lora import merge_lora

        merge_lora(model, config.train.teacher_lora, config.train.teacher_lora_scale)
    return model


class _Adapters:
    """Switch the one backbone between teacher (no adapter), student and fake score."""

    def __init__(self, model, trainable: list[torch.nn.Parameter]):
        self.model = model
        self.trainable = trainable

    def use(self, name: str | None):
        if name is None:
            self.model.disable_adapters()
        else:
            self.model.enable_adapters()
            self.model.set_adapter(name)
        # peft freezes the adapters it deactivates; both LoRAs keep training here.
        for p in self.trainable:
            p.requires_grad_(True)


@dataclass
class DistillResult:
    output_dir: Path
    steps: int
    fake_losses: list[float]
    student_losses: list[float]


def _adapter_params(model, name: str) -> list[torch.nn.Parameter]:
    return [p for n, p in model.named_parameters() if f".{name}." in n and "lora_" in n]


def distill_dmd2(config: RunConfig, output_dir: str | Path, clips: list[dict], max_steps: int | None = None,
                 regression_pairs: list[tuple[torch.Tensor, torch.Tensor, int]] | None = None,
                 regression_weight: float = 0.0, progress: bool = True) -> DistillResult:
    """Distil; `regression_pairs` holds (noise, teacher_sample, clip_index) for the optional
    regression term. Writes metrics.jsonl and the student adapter (output_dir/student)."""
    from peft import LoraConfig
    from tqdm.auto import tqdm

    t = config.train
    if t.teacher_guidance_scale != 1.0:
        require_negative_prompt(clips)
    total = max_steps or t.max_steps
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_teacher_base(config).to(device)
    model.requires_grad_(False)
    for name in (STUDENT, FAKE):
        model.add_adapter(LoraConfig(r=t.lora_rank, lora_alpha=t.lora_alpha, target_modules=t.lora_targets),
                          adapter_name=name)
    student_params, fake_params = _adapter_params(model, STUDENT), _adapter_params(model, FAKE)
    for p in student_params + fake_params:
        p.requires_grad_(True)
    half = store_for_mixed_precision(model, t.mixed_precision)
    if t.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    gan_head = None
    if t.gan_head:
        channels = model.config.out_channels
        gan_head = torch.nn.Sequential(torch.nn.Conv3d(channels, 32, 3, padding=1), torch.nn.SiLU(),
                                       torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(), torch.nn.Linear(32, 1)).to(device)
        fake_params += list(gan_head.parameters())
    opt_student = torch.optim.AdamW(student_params, lr=t.learning_rate, weight_decay=0.0)
    opt_fake = torch.optim.AdamW(fake_params, lr=t.learning_rate, weight_decay=0.0)
    adapters = _Adapters(model, student_params + fake_params)
    fm = FlowMatchingLoss(scene_drop_p=0.0, guidance_scale=t.guidance_scale)
    schedule = student_timesteps(t.student_steps)

    fake_losses, student_losses = [], []
    autocast = torch.autocast(device, dtype=half or torch.bfloat16, enabled=half is not None)
    with open(output_dir / "metrics.jsonl", "a") as metrics, autocast, tqdm(total=total, disable=not progress,
                                                                             desc="train dmd2", unit="step") as bar:
        for step in range(total):
            gen = step_generator(t.seed, step)
            batch = collate([clips[int(torch.randint(len(clips), (1,), generator=gen))]]).to(device)
            shape = batch.latents.shape
            noise = torch.randn(shape, generator=gen).to(device)
            # Backward simulation: run the student k steps without grad, then one step with grad.
            k = int(torch.randint(len(schedule), (1,), generator=gen))
            adapters.use(STUDENT)
            with torch.no_grad():
                x = noise
                for i in range(k):
                    t_now, t_next = schedule[i], schedule[i + 1]
                    x = x + (t_next - t_now) * predict_velocity(model, x, torch.full((shape[0],), t_now), batch,
                                                                t.guidance_scale)
            update_student = (step + 1) % t.student_every == 0
            t_k = torch.full((shape[0],), schedule[k])
            with torch.set_grad_enabled(update_student):
                v = predict_velocity(model, x, t_k, batch, t.guidance_scale)
                x_gen = x - schedule[k] * v

            record = {"step": step + 1}
            if update_student:
                tt = logit_normal_timesteps(shape[0], gen).to(device)
                eps = torch.randn(shape, generator=gen).to(device)
                x_t = (1 - tt.view(-1, 1, 1, 1, 1)) * x_gen + tt.view(-1, 1, 1, 1, 1) * eps
                with torch.no_grad():
                    adapters.use(None)  # the teacher, guided as AniX samples it
                    x0_real = x_t.detach() - tt.view(-1, 1, 1, 1, 1) * guided_velocity(
                        model, x_t.detach(), tt, batch, t.guidance_scale, t.teacher_guidance_scale)
                    adapters.use(FAKE)
                    x0_fake = x_t.detach() - tt.view(-1, 1, 1, 1, 1) * predict_velocity(model, x_t.detach(), tt, batch, t.guidance_scale)
                    weight = (x_gen - x0_real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-4)
                    grad = (x0_fake - x0_real) / weight
                loss = 0.5 * F.mse_loss(x_gen.float(), (x_gen - grad).detach().float())
                if gan_head is not None:
                    adapters.use(FAKE)
                    loss = loss + 0.01 * F.softplus(-gan_head(predict_velocity(model, x_t, tt, batch, t.guidance_scale))).mean()
                if regression_pairs and regression_weight:
                    pair_noise, teacher_x0, clip_index = regression_pairs[step % len(regression_pairs)]
                    adapters.use(STUDENT)
                    pair_batch = collate([clips[clip_index]]).to(device)
                    student_x0 = sample_euler(model, pair_noise.to(device), pair_batch, schedule, t.guidance_scale)
                    loss = loss + regression_weight * F.mse_loss(student_x0.float(), teacher_x0.to(device).float())
                opt_student.zero_grad(set_to_none=True)
                loss.backward()
                opt_student.step()
                student_losses.append(loss.item())
                record["student_loss"] = loss.item()

            # The fake score learns the student's current samples (flow matching on x_gen).
            adapters.use(FAKE)
            fake_batch = replace(batch, latents=x_gen.detach())
            fake_loss = fm(model, fake_batch, gen)
            if gan_head is not None:
                tt = logit_normal_timesteps(shape[0], gen).to(device)
                eps = torch.randn(shape, generator=gen).to(device)

                def noised(x0):
                    return (1 - tt.view(-1, 1, 1, 1, 1)) * x0 + tt.view(-1, 1, 1, 1, 1) * eps
                real_logit = gan_head(predict_velocity(model, noised(batch.latents), tt, batch, t.guidance_scale))
                fake_logit = gan_head(predict_velocity(model, noised(x_gen.detach()), tt, batch, t.guidance_scale))
                fake_loss = fake_loss + 0.01 * (F.softplus(-real_logit) + F.softplus(fake_logit)).mean()
            if not math.isfinite(fake_loss.item()):
                raise FloatingPointError(f"fake-score loss became {fake_loss.item()} at step {step}; lower train.learning_rate")
            opt_fake.zero_grad(set_to_none=True)
            fake_loss.backward()
            opt_fake.step()
            fake_losses.append(fake_loss.item())
            record["fake_loss"] = fake_loss.item()
            record["loss"] = record.get("student_loss", fake_loss.item())
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            bar.update(1)

    adapters.use(STUDENT)
    model.save_lora_adapter(str(output_dir / "student"), adapter_name=STUDENT)
    return DistillResult(output_dir, total, fake_losses, student_losses)
