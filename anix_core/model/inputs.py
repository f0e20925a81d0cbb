"""Conditioning arrays -> pipeline tensors at the model's size (numpy in, torch out)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

VIEW_ORDER = ("front", "left", "back", "right")


def _as_float01(frames: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


def video_tensor(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """[F, H', W', 3] in [0, 1] (float) or uint8 -> [1, 3, F, height, width] in [-1, 1]."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"video must be [F, H, W, 3], got {frames.shape}")
    t = _as_float01(frames).permute(0, 3, 1, 2)  # F, 3, H, W
    if t.shape[-2:] != (height, width):
        t = F.interpolate(t, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return (t.clamp(0, 1) * 2 - 1).permute(1, 0, 2, 3).unsqueeze(0)


def mask_tensor(mask: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Box-mask video [F, H', W'] in [0, 1] -> [1, 3, F, height, width] in [-1, 1] (encoded like RGB)."""
    if mask.ndim != 3:
        raise ValueError(f"mask video must be [F, H, W], got {mask.shape}")
    return video_tensor(np.repeat(np.asarray(mask, np.float32)[..., None], 3, axis=-1), height, width)


VIEW_BACKGROUND = 128   # grey behind the character (official read_image(bg_color=128))
FRAME_BACKGROUND = 255  # white around the fitted view (official pad_image)
LLAVA_IMAGE_SIZE = 336
# CLIP's normalisation, as the official LLaVA image transform applies it.
CLIP_MEAN = (0.48145466, 0.4578275, 0.4082107)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def composite_view(image: np.ndarray) -> np.ndarray:
    """A view as the official code reads it: RGBA with BINARY alpha on grey 128 (any pixel with
    alpha > 0 keeps its RGB); RGB as is. -> [H, W, 3] uint8."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"view must be [H, W, 4] RGBA or [H, W, 3], got {tuple(img.shape)}")
    if img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    if img.shape[-1] == 3:
        return img
    keep = img[..., 3:] > 0
    return np.where(keep, img[..., :3], np.uint8(VIEW_BACKGROUND)).astype(np.uint8)


def fit_into_frame(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """The official `pad_image`: resize to fit inside (height, width) keeping the aspect (the
    other side truncated with int()), bilinear, centred on white. [h, w, 3] uint8 -> [height, width, 3].
    The bilinear kernel is torch's (the official uses cv2 INTER_LINEAR: within 1/255)."""
    h, w = img.shape[:2]
    if width / w > height / h:
        nh = height
        nw = int(w / h * nh)
    else:
        nw = width
        nh = int(h / w * nw)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    if (nh, nw) != (h, w):
        t = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False, antialias=False)
    resized = t[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    frame = np.full((height, width, 3), FRAME_BACKGROUND, np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    frame[top:top + nh, left:left + nw] = resized
    return frame


def views_tensor(views: dict, height: int, width: int) -> torch.Tensor:
    """The four views in AniX order, prepared as the official code does (binary alpha on grey,
    fitted into a white frame at the video size) -> [1, 3, 4, height, width] in [-1, 1]; each
    becomes one VAE frame."""
    frames = [fit_into_frame(composite_view(v), height, width) for v in _ordered(views)]
    t = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).float() / 255.0  # 3, V, H, W
    return (t * 2 - 1).unsqueeze(0)


def llava_views_tensor(views: dict | None, num_views: int = 4) -> torch.Tensor:
    """The LLaVA image inputs [V, 3, 336, 336] (CLIP-normalised) of the four views, or of white
    images when `views` is None (the unconditional branch)."""
    size = LLAVA_IMAGE_SIZE
    if views is None:
        images = [np.full((size, size, 3), 255, np.uint8)] * num_views
    else:
        images = [fit_into_frame(composite_view(v), size, size) for v in _ordered(views)]
    t = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (t - mean) / std


def _ordered(views: dict) -> list:
    missing = [n for n in VIEW_ORDER if n not in views]
    if missing:
        raise ValueError(f"views is missing {missing}; need {list(VIEW_ORDER)}")
    return [views[n] for n in VIEW_ORDER]


def white_views_tensor(height: int, width: int, num_views: int = 4) -> torch.Tensor:
    """All-white reference views: the unconditional branch of classifier-free guidance."""
    return torch.ones(1, 3, num_views, height, width)


def fit_frames(video: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Trim [1, C, F, H, W] to num_frames, or pad at the end by repeating the last frame."""
    f = video.shape[2]
    if f >= num_frames:
        return video[:, :, :num_frames]
    return torch.cat([video, video[:, :, -1:].expand(-1, -1, num_frames - f, -1, -1)], dim=2)
