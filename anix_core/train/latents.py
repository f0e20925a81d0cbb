"""Encoded clips: what training reads every step (VAE latents and text embeddings, computed once).

One `.safetensors` file per clip with tensors `latents`, `scene_latents`, `mask_latents`
[C,F,h,w], `view_latents` [C,4,h,w], `prompt_embeds` [L,D], `prompt_mask` [L], `pooled` [P], and
the negative prompt's `negative_prompt_embeds` [L,D], `negative_prompt_mask` [L],
`negative_pooled` [P] (the unconditional branch of the guided DMD2 teacher, as the official
sampler builds it). Files encoded before those tensors existed still load: LoRA training does not
need them, DMD2 with train.teacher_guidance_scale > 1 refuses them by name.
Loaded with safetensors only: nothing is unpickled.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from anix_core.train.flow_matching import LatentBatch

KEYS = ("latents", "scene_latents", "mask_latents", "view_latents", "prompt_embeds", "prompt_mask", "pooled")
NEGATIVE_KEYS = ("negative_prompt_embeds", "negative_prompt_mask", "negative_pooled")
OPTIONAL_KEYS = NEGATIVE_KEYS


def save_latent_clip(tensors: dict, path: str | Path) -> Path:
    missing = [k for k in KEYS if k not in tensors]
    if missing:
        raise ValueError(f"latent clip: missing tensors {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = KEYS + tuple(k for k in OPTIONAL_KEYS if k in tensors)
    save_file({k: tensors[k].detach().contiguous().cpu() for k in keys}, str(path))
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


def require_negative_prompt(clips: list[dict]) -> None:
    """Refuse clips without the negative prompt's tensors (needed by the guided DMD2 teacher)."""
    missing = sum(any(k not in c for k in NEGATIVE_KEYS) for c in clips)
    if missing:
        raise ValueError(f"data.latents: {missing} of {len(clips)} encoded clips lack the tensor "
                         f"'{NEGATIVE_KEYS[0]}' (the negative prompt, the unconditional branch of the guided DMD2 "
                         "teacher); re-encode them with `anix dataset encode`, or set "
                         "train.teacher_guidance_scale: 1.0 for an unguided teacher")


def collate(clips: list[dict]) -> LatentBatch:
    """Stack clips into a batch; the negative prompt only where every clip has it (else None)."""
    stack = {k: torch.stack([c[k] for c in clips]) for k in KEYS}
    if all(k in c for c in clips for k in NEGATIVE_KEYS):
        stack.update({k: torch.stack([c[k] for c in clips]) for k in NEGATIVE_KEYS})
    return LatentBatch(**stack)
