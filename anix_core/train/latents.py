"""Encoded clips: what training reads every step (VAE latents and text embeddings, computed once).

One `.safetensors` file per clip with tensors `latents`, `scene_latents`, `mask_latents`
[C,F,h,w], `view_latents` [C,4,h,w], `prompt_embeds` [L,D], `prompt_mask` [L], `pooled` [P].
Loaded with safetensors only: nothing is unpickled.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from anix_core.train.flow_matching import LatentBatch

KEYS = ("latents", "scene_latents", "mask_latents", "view_latents", "prompt_embeds", "prompt_mask", "pooled")


def save_latent_clip(tensors: dict, path: str | Path) -> Path:
    missing = [k for k in KEYS if k not in tensors]
    if missing:
        raise ValueError(f"latent clip: missing tensors {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: tensors[k].detach().contiguous().cpu() for k in KEYS}, str(path))
    return path


def load_latent_clips(folder: str | Path) -> list[dict]:
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"data.latents: no .safetensors clips in {folder}")
    clips = []
    for f in files:
        clip = load_file(str(f))
        missing = [k for k in KEYS if k not in clip]
        if missing:
            raise ValueError(f"data.latents: {f.name} lacks tensors {missing}")
        clips.append(clip)
    shapes = {tuple(c["latents"].shape) for c in clips}
    if len(shapes) > 1:
        raise ValueError(f"data.latents: clips have different latent shapes {sorted(shapes)}; encode them at one size")
    return clips


def collate(clips: list[dict]) -> LatentBatch:
    stack = {k: torch.stack([c[k] for c in clips]) for k in KEYS}
    return LatentBatch(stack["latents"], stack["scene_latents"], stack["mask_latents"], stack["view_latents"],
                       stack["prompt_embeds"], stack["prompt_mask"], stack["pooled"])
