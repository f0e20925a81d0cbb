"""Character consistency (AniX's metric): crop each frame by its mask, embed the crop and the four
reference views with an image encoder (DINOv2 or CLIP, loaded from a local folder through
transformers), take the best view's cosine similarity per frame, average over frames.

A frame whose mask is empty, or whose masked region shows only the scene (nothing drawn over
the conditioning render), is reported in `missed_frames` and not scored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Defaults when a model folder has no preprocessor_config.json.
_DEFAULT_NORMALISATION = {
    "clip": ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]),
    "dinov2": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}
# Mean absolute difference (0..1) under which a masked crop counts as "scene only".
SCENE_ONLY_THRESHOLD = 0.02


class MetricError(ValueError):
    """A metric cannot be computed from these inputs (the message says which input and why)."""


@dataclass
class ConsistencyResult:
    """`per_frame[i]` is the best-view cosine similarity of scored frame `scored_frames[i]`;
    `best_view` names that view; `missed_frames` maps frame index -> why it was not scored."""

    mean: float
    per_frame: list[float]
    best_view: list[str]
    scored_frames: list[int]
    missed_frames: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "mean": self.mean, "per_frame": self.per_frame, "best_view": self.best_view,
            "scored_frames": self.scored_frames,
            "missed_frames": {str(k): v for k, v in self.missed_frames.items()},
        }


class CharacterEncoder:
    """An image encoder from a local transformers folder: `Dinov2Model` (CLS token) or
    `CLIPVisionModelWithProjection` (image embeds). Never downloads."""

    def __init__(self, model, kind: str, image_size: int, mean, std, device: str = "cpu"):
        self.model = model.eval().to(device)
        self.kind = kind
        self.image_size = int(image_size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.device = device

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, device: str = "cpu") -> "CharacterEncoder":
        from transformers import AutoConfig

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise MetricError(f"encoder folder {model_dir}: no config.json (a transformers model folder is expected)")
        config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
        model_type = config.model_type
        if model_type == "dinov2":
            from transformers import Dinov2Model as model_class
        elif model_type in ("clip", "clip_vision_model"):
            from transformers import CLIPVisionModelWithProjection as model_class
        else:
            raise MetricError(f"encoder folder {model_dir}: model_type {model_type!r} is not dinov2 or clip")
        kind = "dinov2" if model_type == "dinov2" else "clip"
        model = model_class.from_pretrained(model_dir, local_files_only=True)
        vision_config = getattr(config, "vision_config", config)
        mean, std = _DEFAULT_NORMALISATION[kind]
        size = vision_config.image_size
        preprocessor = model_dir / "preprocessor_config.json"
        if preprocessor.is_file():
            spec = json.loads(preprocessor.read_text())
            mean, std = spec.get("image_mean", mean), spec.get("image_std", std)
        return cls(model, kind, size, mean, std, device)

    def _prepare(self, images: list[np.ndarray]) -> torch.Tensor:
        batch = []
        for image in images:
            square = _pad_to_square(image)
            t = torch.from_numpy(square).permute(2, 0, 1)[None].float() / 255.0
            t = F.interpolate(t, size=(self.image_size, self.image_size), mode="bilinear",
                              antialias=True, align_corners=False)
            batch.append(t)
        return ((torch.cat(batch) - self.mean) / self.std).to(self.device)

    @torch.no_grad()
    def embed(self, images: list[np.ndarray]) -> torch.Tensor:
        """Unit embeddings [B,D] of RGB uint8 images [H,W,3] (any sizes)."""
        pixels = self._prepare(images)
        out = self.model(pixel_values=pixels)
        if self.kind == "clip":
            emb = out.image_embeds
        else:
            emb = out.last_hidden_state[:, 0]
        return F.normalize(emb.float(), dim=-1).cpu()


def _pad_to_square(image: np.ndarray) -> np.ndarray:
    """Pad with white (the reference views' background) so resizing keeps the aspect."""
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - h) // 2, (side - w) // 2
    out[y:y + h, x:x + w] = image[..., :3]
    return out


def view_on_white(view: np.ndarray) -> np.ndarray:
    """RGBA uint8 view -> RGB uint8 composited on white (RGB passes through)."""
    if view.ndim != 3 or view.shape[2] not in (3, 4):
        raise MetricError(f"views: expected an [H,W,3|4] image, got shape {view.shape}")
    if view.shape[2] == 3:
        return view.astype(np.uint8)
    alpha = view[..., 3:4].astype(np.float32) / 255.0
    rgb = view[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return (rgb + 0.5).astype(np.uint8)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of a mask's nonzero pixels, exclusive ends; None when empty."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def character_consistency(frames: np.ndarray, masks: np.ndarray, views: dict, encoder: CharacterEncoder,
                          scene_video: np.ndarray | None = None) -> ConsistencyResult:
    """Best-view cosine similarity per frame of the masked crop, mean over the frames scored.

    frames [F,H,W,3] uint8; masks [F,H,W] (nonzero = character box); views name -> RGBA/RGB uint8;
    scene_video [F,H,W,3] uint8 (optional): the conditioning render, to catch masks that miss.
    """
    frames = np.asarray(frames)
    masks = np.asarray(masks)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MetricError(f"frames: expected [F,H,W,3], got shape {frames.shape}")
    if masks.shape != frames.shape[:3]:
        raise MetricError(f"masks: shape {masks.shape} does not match frames {frames.shape[:3]}")
    if not views:
        raise MetricError("views: at least one reference view is needed")
    if scene_video is not None and np.shape(scene_video) != frames.shape:
        raise MetricError(f"scene_video: shape {np.shape(scene_video)} does not match frames {frames.shape}")
    view_names = list(views)
    view_emb = encoder.embed([view_on_white(np.asarray(views[n])) for n in view_names])

    crops, scored, missed = [], [], {}
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        box = mask_box(mask)
        if box is None:
            missed[i] = "mask is empty"
            continue
        y0, y1, x0, x1 = box
        crop = frame[y0:y1, x0:x1]
        if scene_video is not None:
            diff = np.abs(crop.astype(np.float32) - scene_video[i, y0:y1, x0:x1].astype(np.float32)).mean() / 255.0
            if diff < SCENE_ONLY_THRESHOLD:
                missed[i] = f"masked region shows only the scene (mean difference {diff:.4f})"
                continue
        crops.append(crop)
        scored.append(i)
    if not scored:
        raise MetricError(f"masks: no frame could be scored ({len(missed)} of {len(frames)} missed the character)")
    sims = encoder.embed(crops) @ view_emb.T  # [S, V]
    best = sims.max(dim=1)
    per_frame = [float(v) for v in best.values]
    return ConsistencyResult(
        mean=float(np.mean(per_frame)), per_frame=per_frame,
        best_view=[view_names[int(j)] for j in best.indices], scored_frames=scored, missed_frames=missed,
    )
