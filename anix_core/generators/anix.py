"""The "anix" generator: `AniXPipeline` behind the generator protocol.

    gen = create("anix", model_dir="/models/anix", device="cuda")
    frames = gen.generate(conditioning, on_progress, should_cancel, on_frame)  # [F,H,W,3] uint8

The model runs at its own size (default 352x624, 360P) and the result is resized back to the
conditioning's size. Clip lengths follow the VAE: a new shot runs 4k+1 frames, a continuation
4k new frames after 4k+1 history frames (at most 33); extra frames are trimmed. Progress is
reported once per denoising step and cancellation is honoured at every step boundary.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import GenerationCancelled, check_cancel

COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2", "scheduler")
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}
MAX_HISTORY_FRAMES = 33
LORA_SUBDIR = "lora"  # MODEL_DIR/lora/pytorch_lora_weights.safetensors: the AniX LoRA, fused at load


def find_lora(model_dir: str | Path, lora: str | Path | None = None) -> Path | None:
    """The LoRA to load: `lora` (a file or folder) when given, else MODEL_DIR/lora/ when it
    holds one, else None (plain HunyuanCustom)."""
    from anix_core.model.convert import LORA_FILE

    if lora is not None:
        path = Path(lora)
        if not (path.is_file() or (path / LORA_FILE).is_file()):
            raise ValueError(f"LoRA {path}: no such file, nor a folder holding {LORA_FILE} "
                             "(convert it with `anix convert lora`)")
        return path
    default = Path(model_dir) / LORA_SUBDIR
    return default if (default / LORA_FILE).is_file() else None


def lora_notice(model_dir: str | Path) -> str | None:
    """What to tell at start when the model folder has no AniX LoRA; None when it has one."""
    if find_lora(model_dir) is not None:
        return None
    return (f"no AniX LoRA in {Path(model_dir) / LORA_SUBDIR}: the anix generator runs plain HunyuanCustom "
            "(put it there with `anix convert lora FILE --out MODEL_DIR/lora`)")


def check_model_dir(model_dir: str | Path) -> Path:
    """The pipeline folder, or ValueError listing exactly what is missing in it."""
    root = Path(model_dir)
    if not root.is_dir():
        raise ValueError(f"model folder not found: {root} (convert the weights with `anix convert`, see docs/MODEL.md)")
    missing = []
    if not (root / "model_index.json").is_file():
        missing.append("model_index.json")
    for name in COMPONENTS:
        folder = root / name
        if not folder.is_dir() or not any(folder.iterdir()):
            missing.append(f"{name}/")
    for name in ("transformer", "vae", "scheduler"):
        cfg = "scheduler_config.json" if name == "scheduler" else "config.json"
        if (root / name).is_dir() and not (root / name / cfg).is_file():
            missing.append(f"{name}/{cfg}")
    if missing:
        raise ValueError(f"model folder {root} is incomplete; missing: {', '.join(missing)}")
    return root


def clip_lengths(num_frames: int, history_frames: int) -> tuple[int, int]:
    """(frames the model generates, history frames it uses) for a request of num_frames."""
    if history_frames:
        used = min(MAX_HISTORY_FRAMES, (history_frames - 1) // 4 * 4 + 1)
        return -(-num_frames // 4) * 4, used
    return (num_frames + 2) // 4 * 4 + 1, 0


class AniXGenerator:
    """AniX (HunyuanCustom 13B + AniX LoRA) as a generator. GPU sizes: see docs/MODEL.md.

    The LoRA (`lora_dir`: a folder or a .safetensors file in any naming `anix convert lora`
    reads; default MODEL_DIR/lora/) is fused with the official merge W += lora_scale * up @ down."""

    name = "anix"

    def __init__(self, model_dir: str | Path | None = None, device: str = "cuda", dtype="bf16",
                 height: int = 352, width: int = 624, num_inference_steps: int = 30, guidance_scale: float = 7.5,
                 lora_dir: str | Path | None = None, lora_scale: float = 1.0, cpu_offload: bool = False,
                 vae_tiling: bool = True, **pipeline_options):
        model_dir = model_dir or os.environ.get("ANIX_MODEL_DIR")
        if not model_dir:
            raise ValueError("the anix generator needs a model folder: pass --model DIR or set ANIX_MODEL_DIR")
        self.model_dir = check_model_dir(model_dir)
        lora_dir = find_lora(self.model_dir, lora_dir)
        key = dtype if isinstance(dtype, str) else str(dtype).replace("torch.", "")
        if key not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.dtype_name = DTYPES[key]
        self.device = device
        self.height, self.width = height, width
        self.num_inference_steps, self.guidance_scale = num_inference_steps, guidance_scale
        self.lora_dir, self.lora_scale = lora_dir, lora_scale
        self.cpu_offload, self.vae_tiling = cpu_offload, vae_tiling
        self.pipeline_options = pipeline_options
        self._pipe = None

    @property
    def pipeline(self):
        """The loaded `AniXPipeline` (loaded on first use)."""
        if self._pipe is None:
            self._pipe = self._load()
        return self._pipe

    def _load(self):
        import torch

        from anix_core.model.pipeline import AniXPipeline

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("the anix generator needs a CUDA GPU here (or pass device='cpu' for tiny test models)")
        dtype = getattr(torch, self.dtype_name)
        pipe = AniXPipeline.from_pretrained(str(self.model_dir), dtype=dtype)
        if self.lora_dir is not None:
            from anix_core.model.lora import apply_lora

            apply_lora(pipe.transformer, self.lora_dir, lora_scale=self.lora_scale)
        if self.vae_tiling:
            pipe.enable_vae_tiling()
        if self.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def generate(self, conditioning, on_progress=None, should_cancel=None, on_frame=None) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        check_cancel(should_cancel)
        requested = int(conditioning.scene_video.shape[0])
        out_h, out_w = int(conditioning.scene_video.shape[1]), int(conditioning.scene_video.shape[2])
        history = getattr(conditioning, "history_frames", None)
        model_frames, used_history = clip_lengths(requested, 0 if history is None else len(history))
        if history is not None:
            history = np.asarray(history)[-used_history:]

        pipe = self.pipeline
        steps = self.num_inference_steps

        def on_step(p, i, t, kwargs):
            if on_progress is not None:
                on_progress("denoise", i + 1, steps)
            if should_cancel is not None and should_cancel():
                raise GenerationCancelled("generation cancelled")
            return kwargs

        if on_progress is not None:
            on_progress("denoise", 0, steps)
        generator = torch.Generator(device="cpu").manual_seed(int(getattr(conditioning, "seed", 0)))
        frames = pipe(conditioning, num_frames=model_frames, height=self.height, width=self.width,
                      num_inference_steps=steps, guidance_scale=self.guidance_scale, history=history,
                      generator=generator, callback_on_step_end=on_step, **self.pipeline_options).frames
        frames = frames[:requested]
        if frames.shape[1:3] != (out_h, out_w):
            t = torch.from_numpy(frames).permute(0, 3, 1, 2)
            t = F.interpolate(t, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False)
            frames = t.permute(0, 2, 3, 1).numpy()
        out = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        for i, frame in enumerate(out):
            if on_frame is not None:
                on_frame(i, frame)
        if on_progress is not None:
            on_progress("frames", len(out), len(out))
        return out

    def describe(self) -> dict:
        return {"name": self.name, "model_dir": str(self.model_dir), "height": self.height, "width": self.width,
                "steps": self.num_inference_steps, "guidance_scale": self.guidance_scale,
                "lora": None if self.lora_dir is None else str(self.lora_dir),
                "config": json.loads((self.model_dir / "transformer" / "config.json").read_text())}
