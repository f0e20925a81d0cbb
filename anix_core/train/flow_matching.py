"""Flow-matching objective as the AniX/HunyuanVideo post-training uses it.

Convention (diffusers' FlowMatchEulerDiscreteScheduler): x_t = (1 - t) * x0 + t * noise with
t in (0, 1); the model predicts the velocity noise - x0 from x_t and timestep t * 1000.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F


@dataclass
class LatentBatch:
    """Model inputs of a batch, already encoded. Shapes: latents, scene_latents, mask_latents
    [B,C,F,h,w]; view_latents [B,C,4,h,w]; prompt_embeds [B,L,D]; prompt_mask [B,L];
    pooled [B,P]; negative_prompt_embeds [B,L,D], negative_prompt_mask [B,L], negative_pooled
    [B,P]: the negative prompt, the unconditional branch of classifier-free guidance (None where
    the encoded clips lack it)."""

    latents: torch.Tensor
    scene_latents: torch.Tensor | None
    mask_latents: torch.Tensor | None
    view_latents: torch.Tensor | None
    prompt_embeds: torch.Tensor
    prompt_mask: torch.Tensor
    pooled: torch.Tensor
    negative_prompt_embeds: torch.Tensor | None = None
    negative_prompt_mask: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None

    def to(self, device, dtype=None) -> "LatentBatch":
        def move(t):
            if t is None:
                return None
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device)
        return LatentBatch(*(move(getattr(self, f)) for f in self.__dataclass_fields__))


def predict_velocity(model, x: torch.Tensor, t: torch.Tensor, batch: LatentBatch, guidance_scale: float,
                     history_latents: torch.Tensor | None = None) -> torch.Tensor:
    """The model's velocity [B,C,F,h,w] at x_t = `x` for t [B] in (0, 1) (timestep t * 1000, in
    float32 as the official sampler passes it, whatever the model's dtype)."""
    guidance = torch.full((x.shape[0],), guidance_scale * 1000.0, device=x.device, dtype=x.dtype)
    return model(x, timestep=t.to(device=x.device, dtype=torch.float32) * 1000.0, encoder_hidden_states=batch.prompt_embeds,
                 encoder_attention_mask=batch.prompt_mask, pooled_projections=batch.pooled, guidance=guidance,
                 scene_latents=batch.scene_latents, mask_latents=batch.mask_latents,
                 view_latents=batch.view_latents, history_latents=history_latents, return_dict=False)[0]


def guided_velocity(model, x: torch.Tensor, t: torch.Tensor, batch: LatentBatch, guidance_scale: float,
                    cfg_scale: float) -> torch.Tensor:
    """Classifier-free guided velocity as the official sampler computes it: v_u + s (v_c - v_u),
    the unconditional branch being the negative prompt (batch.negative_*) with the SAME views and
    scene. Both branches run as one batch of 2B in the official order [uncond, cond]; s = 1 is
    the plain conditional velocity (one pass)."""
    if cfg_scale == 1.0:
        return predict_velocity(model, x, t, batch, guidance_scale)
    if batch.negative_prompt_embeds is None:
        raise ValueError("classifier-free guidance needs the negative prompt's tensors ('negative_prompt_embeds') in "
                         "the encoded clips; re-encode them with `anix dataset encode`")
    doubled = {f.name: None if getattr(batch, f.name) is None else torch.cat([getattr(batch, f.name)] * 2)
               for f in fields(batch)}
    doubled.update(prompt_embeds=torch.cat([batch.negative_prompt_embeds, batch.prompt_embeds]),
                   prompt_mask=torch.cat([batch.negative_prompt_mask, batch.prompt_mask]),
                   pooled=torch.cat([batch.negative_pooled, batch.pooled]))
    v = predict_velocity(model, torch.cat([x, x]), torch.cat([t, t]), LatentBatch(**doubled), guidance_scale)
    uncond, cond = v.float().chunk(2)
    return uncond + cfg_scale * (cond - uncond)


def logit_normal_timesteps(batch_size: int, generator: torch.Generator, mean: float = 0.0,
                           std: float = 1.0) -> torch.Tensor:
    """t ~ sigmoid(N(mean, std)): most samples at mid noise levels (SD3's choice, AniX's recipe)."""
    return torch.sigmoid(torch.randn(batch_size, generator=generator) * std + mean)


@dataclass
class FlowMatchingLoss:
    """The training loss with AniX's augmentations.

    scene_drop_p: probability of zeroing the scene + mask latents of a sample (the model must
        also work from the views and the text alone). history_frames: leading latent frames
        given as clean history (continuation training); history_noise_std: Gaussian noise on
        them, so the model tolerates its own imperfect history at inference.
    """

    scene_drop_p: float = 0.3
    history_frames: int = 0
    history_noise_std: float = 0.0
    guidance_scale: float = 6.0
    logit_mean: float = 0.0
    logit_std: float = 1.0

    def __call__(self, model, batch: LatentBatch, generator: torch.Generator,
                 timesteps: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        x0 = batch.latents
        b = x0.shape[0]
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator).to(x0)
        if timesteps is None:
            timesteps = logit_normal_timesteps(b, generator, self.logit_mean, self.logit_std)
        t = timesteps.to(x0)
        xt = (1 - t.view(b, 1, 1, 1, 1)) * x0 + t.view(b, 1, 1, 1, 1) * noise
        target = noise - x0

        if batch.scene_latents is not None and self.scene_drop_p > 0:
            keep = (torch.rand(b, generator=generator) >= self.scene_drop_p).to(x0).view(b, 1, 1, 1, 1)
            batch = replace(batch, scene_latents=batch.scene_latents * keep, mask_latents=batch.mask_latents * keep)
        history = None
        fh = self.history_frames
        if fh:
            history = x0[:, :, :fh]
            if self.history_noise_std:
                history = history + self.history_noise_std * torch.randn(history.shape, generator=generator).to(x0)

        pred = predict_velocity(model, xt, t, batch, self.guidance_scale, history)
        return F.mse_loss(pred[:, :, fh:].float(), target[:, :, fh:].float())


@torch.no_grad()
def validation_loss(model, batches: list[LatentBatch], timesteps=(0.2, 0.4, 0.6, 0.8), seed: int = 1234,
                    drop_scene: bool = False, guidance_scale: float = 6.0) -> float:
    """Mean flow-matching loss at fixed timesteps and fixed noise: comparable across models and steps."""
    loss = FlowMatchingLoss(scene_drop_p=0.0, guidance_scale=guidance_scale)
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for batch in batches:
        if drop_scene and batch.scene_latents is not None:
            batch = LatentBatch(batch.latents, torch.zeros_like(batch.scene_latents), torch.zeros_like(batch.mask_latents),
                                batch.view_latents, batch.prompt_embeds, batch.prompt_mask, batch.pooled)
        for t in timesteps:
            noise = torch.randn(batch.latents.shape, generator=generator).to(batch.latents)
            ts = torch.full((batch.latents.shape[0],), float(t))
            total += loss(model, batch, generator, timesteps=ts, noise=noise).item()
            count += 1
    return total / count
