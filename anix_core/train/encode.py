"""Pixel clips -> encoded clips (VAE latents + text embeddings) with the pipeline's own encoders,
so training sees exactly what sampling feeds the transformer."""
from __future__ import annotations

import numpy as np
import torch

from anix_core.model.inputs import fit_frames, mask_tensor, video_tensor, views_tensor
from anix_core.model.pipeline import NEGATIVE_PROMPT
from anix_core.model.text import trim_uncond_mask
from anix_core.train.data import Clip


def latent_frame_count(num_frames: int, temporal: int = 4) -> int:
    """The largest 4k+1 frame count not above num_frames (the VAE's causal rule)."""
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    return (num_frames - 1) // temporal * temporal + 1


@torch.no_grad()
def encode_negative(pipeline, max_sequence_length: int = 256) -> dict:
    """The official unconditional branch: the negative prompt (white LLaVA images), trimmed mask.
    The same for every clip, so a dataset encodes it once and hands it to `encode_clip`."""
    dtype = pipeline.transformer.dtype
    embeds, mask, pooled = pipeline.encode_prompt(NEGATIVE_PROMPT, pipeline._execution_device, dtype,
                                                  max_sequence_length, negative=True)
    return {"negative_prompt_embeds": embeds[0], "negative_prompt_mask": trim_uncond_mask(mask)[0],
            "negative_pooled": pooled[0]}


@torch.no_grad()
def encode_clip(pipeline, clip: Clip, height: int, width: int, max_sequence_length: int = 256,
                negative: dict | None = None) -> dict:
    """One clip -> the tensors of `anix_core.train.latents` (batch dimension removed).
    `negative`: `encode_negative`'s tensors for this pipeline and length (encoded here when None)."""
    frames = latent_frame_count(clip.num_frames, pipeline.vae_scale_temporal)
    dtype = pipeline.transformer.dtype
    device = pipeline._execution_device

    def encode(video):
        return pipeline.encode_video(fit_frames(video, frames))[0].to(dtype)

    embeds, mask, pooled = pipeline.encode_prompt(clip.prompt(), device, dtype, max_sequence_length, views=clip.views)
    views = views_tensor(clip.views, height, width)
    return {
        "latents": encode(video_tensor(clip.target, height, width)),
        "scene_latents": encode(video_tensor(clip.scene, height, width)),
        "mask_latents": encode(mask_tensor(np.asarray(clip.mask, np.float32), height, width)),
        # the mode, not a sample: an encoded dataset is the same every time it is built
        "view_latents": pipeline.encode_views(views, sample=False)[0].to(dtype),
        "prompt_embeds": embeds[0], "prompt_mask": mask[0], "pooled": pooled[0],
        **(negative if negative is not None else encode_negative(pipeline, max_sequence_length)),
    }
