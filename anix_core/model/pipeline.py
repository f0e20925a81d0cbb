"""`AniXPipeline`: AniX video generation with diffusers components.

Flow matching (FlowMatchEulerDiscreteScheduler, shift 13: the official schedule), the official
classifier-free guidance (negative prompt, same views and scene in both branches, optional
image guidance), DeepCache, 4k+1-frame clips, and autoregressive continuation (history frames
in, new frames out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from diffusers import AutoencoderKLHunyuanVideo, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from .inputs import fit_frames, llava_views_tensor, mask_tensor, video_tensor, views_tensor, white_views_tensor
from .text import (CHARACTER, HIDDEN_STATE_SKIP_LAYERS, IMAGE_TOKEN, PERSON, TEXT_LEN, bare_action, dit_text_mask,
                   has_image_features, image_features, llava_crop_start, llava_text, merge_image_features,
                   trim_uncond_mask)
from .transformer import AniXTransformer3DModel

SCHEDULER_SHIFT = 13.0
# The official scripts' --neg-prompt (the unconditional branch of classifier-free guidance).
NEGATIVE_PROMPT = ("Aerial view, aerial view, overexposed, low quality, deformation, a poor composition, bad hands, "
                   "bad teeth, bad eyes, bad limbs, distortion, blurring, text, subtitles, static, picture, "
                   "black border.")
# The official script's first clip: 129 frames at 360P, 30 steps, guidance 7.5 (`pipe(c, **OFFICIAL_FIRST_CLIP)`).
OFFICIAL_FIRST_CLIP = dict(num_frames=129, height=352, width=624, num_inference_steps=30, guidance_scale=7.5)

# The official sampler's DeepCache schedule for its 30 steps: these steps run the whole
# transformer, the 8 others (11, 12, 14, 15, 17, 18, 20, 21) only its last single-stream block.
OFFICIAL_DEEPCACHE_STEPS = 30
OFFICIAL_DEEPCACHE_FULL_STEPS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 19, 22, 23, 24, 25, 26, 27, 28, 29)


def official_sigmas(num_inference_steps: int) -> np.ndarray:
    """Unshifted sigmas as the official scheduler makes them (torch.linspace in float32, which
    differs from numpy's float64 linspace in the last bit); the scheduler applies shift 13, and
    its timesteps then equal the official ones exactly."""
    return torch.linspace(1.0, 0.0, num_inference_steps + 1, dtype=torch.float32)[:-1].numpy()


def deepcache_plan(num_inference_steps: int, enabled: bool = True,
                   full_steps: Sequence[int] | None = None) -> list[str | None]:
    """The transformer's `deepcache` argument for every step: "store" (full call that keeps the
    tokens), "reuse" (cached call) or None (plain call, DeepCache off).

    With `full_steps` None, DeepCache runs only at the official step count (30) with the
    official schedule, and is off for any other count; `full_steps` gives a schedule for any count
    (it must contain step 0, which fills the cache)."""
    if not enabled:
        return [None] * num_inference_steps
    if full_steps is None:
        if num_inference_steps != OFFICIAL_DEEPCACHE_STEPS:
            return [None] * num_inference_steps
        full_steps = OFFICIAL_DEEPCACHE_FULL_STEPS
    full = set(full_steps)
    bad = sorted(s for s in full if not 0 <= s < num_inference_steps)
    if bad or 0 not in full:
        raise ValueError(f"deepcache_full_steps must contain step 0 and only steps 0..{num_inference_steps - 1}, "
                         f"got {sorted(full)}")
    return ["store" if i in full else "reuse" for i in range(num_inference_steps)]


@dataclass
class AniXPipelineOutput(BaseOutput):
    """frames: [F, H, W, 3] float32 in [0, 1] (new frames only), or latents [1, C, T, h, w]."""
    frames: np.ndarray | torch.Tensor | None


class AniXPipeline(DiffusionPipeline):
    """Components: transformer, vae, text_encoder (LLaVA: `LlavaForConditionalGeneration`, whose
    hidden states with the views' image features are the text stream; a text-only language model
    also works, without image features), tokenizer, text_encoder_2 (CLIP text model: pooled
    vector), tokenizer_2, scheduler."""

    model_cpu_offload_seq = "text_encoder->text_encoder_2->transformer->vae"
    _callback_tensor_inputs = ["latents"]

    def __init__(self, transformer: AniXTransformer3DModel, vae: AutoencoderKLHunyuanVideo, text_encoder, tokenizer,
                 text_encoder_2, tokenizer_2, scheduler: FlowMatchEulerDiscreteScheduler):
        super().__init__()
        self.register_modules(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, scheduler=scheduler)
        self.vae_scale_spatial = getattr(vae.config, "spatial_compression_ratio", 8) if vae else 8
        self.vae_scale_temporal = getattr(vae.config, "temporal_compression_ratio", 4) if vae else 4
        self._interrupt = False

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def enable_vae_tiling(self) -> None:
        self.vae.enable_tiling()

    # ------------------------------------------------------------------ text
    def encode_prompt(self, prompt: str, device, dtype, max_sequence_length: int = TEXT_LEN, views: dict | None = None,
                      negative: bool = False):
        """One branch's text as the official encoder makes it: (LLaVA hidden states [1, L, D], the
        mask the official pipeline hands the transformer [1, L], pooled CLIP vector [1, P]).

        Conditional branch: LLaVA reads the template with the bare action of `prompt` and the
        view lines naming "character", each `<image>` slot filled with the features of `views`;
        CLIP reads the bare action. Negative branch (`negative=True`): `prompt` is the negative
        prompt, the view lines name "person", the images are white. With a text-only language
        model as text_encoder the `<image>` slots stay plain tokens.
        """
        action = prompt if negative else bare_action(prompt)
        crop = llava_crop_start(self.tokenizer)
        tokens = self.tokenizer([llava_text(action, PERSON if negative else CHARACTER)],
                                max_length=max_sequence_length + crop, padding="max_length", truncation=True,
                                return_tensors="pt")
        ids, tok_mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
        encoder = self.text_encoder
        if has_image_features(encoder):
            if views is None and not negative:
                raise ValueError("encode_prompt: the conditional branch needs the views (LLaVA reads them)")
            pixels = llava_views_tensor(None if negative else views).to(device=device, dtype=encoder.dtype)
            features = image_features(encoder, pixels)
            language_model = encoder.get_decoder()
            embeds, mask, positions = merge_image_features(
                ids, tok_mask, language_model.get_input_embeddings()(ids), features,
                self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
            hidden = language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                    output_hidden_states=True).hidden_states
            dit_mask = dit_text_mask(tok_mask, features.shape[0], features.shape[1], crop)
        else:
            hidden = encoder(input_ids=ids, attention_mask=tok_mask, output_hidden_states=True).hidden_states
            dit_mask = tok_mask[:, crop:]
        embeds = hidden[-(HIDDEN_STATE_SKIP_LAYERS + 1)][:, crop:].to(dtype)
        clip_ids = self.tokenizer_2([action], max_length=77, padding="max_length", truncation=True,
                                    return_tensors="pt").input_ids.to(device)
        pooled = self.text_encoder_2(clip_ids, output_hidden_states=False).pooler_output.to(dtype)
        return embeds, dit_mask, pooled

    # ------------------------------------------------------------------ VAE
    def encode_video(self, video: torch.Tensor, generator: torch.Generator | None = None,
                     sample: bool = False) -> torch.Tensor:
        """[B, 3, F, H, W] in [-1, 1] -> scaled VAE latents [B, C, f, h, w]: the mode (scene,
        mask, history: official `.mode()`), or a sample drawn with `generator` (`sample=True`)."""
        video = video.to(device=self._execution_device, dtype=self.vae.dtype)
        dist = self.vae.encode(video).latent_dist
        latents = dist.sample(generator) if sample else dist.mode()
        return latents * self.vae.config.scaling_factor

    def encode_views(self, views: torch.Tensor, generator: torch.Generator | None = None,
                     sample: bool = True) -> torch.Tensor:
        """[1, 3, V, H, W] -> [1, C, V, h, w]: every view encoded as its own one-frame video,
        a `latent_dist.sample()` like the official code (the mode with `sample=False`)."""
        return torch.cat([self.encode_video(views[:, :, i:i + 1], generator, sample) for i in range(views.shape[2])],
                         dim=2)

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        video = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False)[0]
        video = (video[0].float().clamp(-1, 1) + 1) / 2  # 3, F, H, W
        return video.permute(1, 2, 3, 0).cpu().numpy()

    # ------------------------------------------------------------------ checks
    def check_inputs(self, conditioning, num_frames, height, width, num_inference_steps, guidance_scale, history,
                     ip_cfg_scale=0.0):
        s = self.vae_scale_spatial * self.transformer.config.patch_size
        if height % s or width % s or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {s}, got height={height}, width={width}")
        k = self.vae_scale_temporal
        if history is None:
            if num_frames < 1 or (num_frames - 1) % k:
                raise ValueError(f"num_frames must be {k}k+1 (e.g. 93), got {num_frames}")
        else:
            if history.ndim != 4 or (history.shape[0] - 1) % k:
                raise ValueError(f"history must be [F, H, W, 3] with F = {k}k+1 frames (e.g. 33), "
                                 f"got shape {tuple(history.shape)}")
            if num_frames < k or num_frames % k:
                raise ValueError(f"num_frames must be a multiple of {k} when continuing from history (e.g. 96), "
                                 f"got {num_frames}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        if guidance_scale < 1:
            raise ValueError(f"guidance_scale must be >= 1 (1 disables guidance), got {guidance_scale}")
        if ip_cfg_scale < 0:
            raise ValueError(f"ip_cfg_scale must be >= 0 (0, the official default, disables image guidance), "
                             f"got {ip_cfg_scale}")
        for name in ("scene_video", "mask_video", "views", "prompt"):
            if getattr(conditioning, name, None) is None:
                raise ValueError(f"conditioning.{name} is required")
        if len(conditioning.scene_video) != len(conditioning.mask_video):
            raise ValueError(f"conditioning.scene_video has {len(conditioning.scene_video)} frames but "
                             f"conditioning.mask_video has {len(conditioning.mask_video)}")

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        conditioning,
        num_frames: int = 93,
        height: int = 352,
        width: int = 624,
        num_inference_steps: int = 30,
        guidance_scale: float = 7.5,
        history: np.ndarray | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ("latents",),
        embedded_guidance_scale: float = 6.0,
        history_timestep: float = 14.0,
        max_sequence_length: int = TEXT_LEN,
        output_type: str = "np",
        deepcache: bool = True,
        deepcache_full_steps: Sequence[int] | None = None,
        negative_prompt: str = NEGATIVE_PROMPT,
        ip_cfg_scale: float = 0.0,
    ) -> AniXPipelineOutput:
        """Generate `num_frames` new frames for `conditioning` (scene_video, mask_video, views, prompt).

        history: previous frames [Fh, H, W, 3] (Fh = 4k+1, e.g. 33): the sequence becomes
            Fh + num_frames frames whose first latents are the clean history; only the new
            frames are returned. conditioning's scene and mask videos cover either the whole
            sequence or only the new frames (then the first scene frame stands in for the history).
        callback_on_step_end(pipe, step, timestep, kwargs) -> dict, called after every step; it
            may set `pipe._interrupt = True` to stop (frames=None) or raise to abort.
        deepcache: the official DeepCache (on by default): at 30 steps, steps 11, 12, 14, 15, 17,
            18, 20 and 21 run only the last single-stream block on the tokens kept from the
            previous full step. Other step counts run every block unless `deepcache_full_steps`
            (the steps that run the whole transformer; must include 0) gives a schedule.
        guidance_scale, negative_prompt: the official classifier-free guidance, uncond + scale *
            (cond - uncond), whose unconditional branch is the negative prompt with the same
            views and scene as the conditional one.
        ip_cfg_scale: > 0 adds the official image-guidance branch (prompt with the real views
            against white views): + w_i * (ip - cond), w falling linearly from ip_cfg_scale to 1.
        """
        self.check_inputs(conditioning, num_frames, height, width, num_inference_steps, guidance_scale, history,
                          ip_cfg_scale)
        cache_plan = deepcache_plan(num_inference_steps, deepcache, deepcache_full_steps)
        self._interrupt = False
        device = self._execution_device
        dtype = self.transformer.dtype
        cfg = guidance_scale > 1.0
        history_frames = 0 if history is None else history.shape[0]
        total_frames = history_frames + num_frames

        scene = video_tensor(np.asarray(conditioning.scene_video), height, width)
        mask = mask_tensor(np.asarray(conditioning.mask_video), height, width)
        if history_frames and scene.shape[2] < total_frames:
            pad = history_frames
            scene = torch.cat([scene[:, :, :1].expand(-1, -1, pad, -1, -1), scene], dim=2)
            mask = torch.cat([mask[:, :, :1].expand(-1, -1, pad, -1, -1), mask], dim=2)
        scene_latents = self.encode_video(fit_frames(scene, total_frames)).to(dtype)
        mask_latents = self.encode_video(fit_frames(mask, total_frames)).to(dtype)
        view_latents = self.encode_views(views_tensor(conditioning.views, height, width), generator).to(dtype)
        history_latents = None
        if history_frames:
            history_latents = self.encode_video(video_tensor(np.asarray(history), height, width)).to(dtype)

        shape = (1, self.transformer.config.in_channels, scene_latents.shape[2], scene_latents.shape[3],
                 scene_latents.shape[4])
        latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        num_history = 0 if history_latents is None else history_latents.shape[2]
        # Diffusion forcing as the official forward: the history stays clean and only its timestep
        # (history_timestep, 14 = stabilisation level 15 - 1) differs.
        diffusion_forcing = self.transformer.config.history_mode == "diffusion_forcing"

        # Branches in the official batch order: [uncond, cond] (+ [ip] with ip_cfg_scale > 0).
        # uncond = the negative prompt with the SAME views and scene as cond; white-view latents
        # only enter the extra image-guidance branch, as in the official pipeline.
        ip_cfg = cfg and ip_cfg_scale > 0
        cond = self.encode_prompt(conditioning.prompt, device, dtype, max_sequence_length, views=conditioning.views)
        branches = [cond]
        if cfg:
            uncond = self.encode_prompt(negative_prompt, device, dtype, max_sequence_length, negative=True)
            branches = [(uncond[0], trim_uncond_mask(uncond[1]), uncond[2]), cond] + ([cond] if ip_cfg else [])
        batch = len(branches)
        embeds, text_mask, pooled = (torch.cat(parts) for parts in zip(*branches))
        views_in = view_latents.repeat(batch, 1, 1, 1, 1)
        if ip_cfg:
            white = self.encode_views(white_views_tensor(height, width, view_latents.shape[2]), generator).to(dtype)
            views_in = torch.cat([white, white, view_latents], dim=0)
        rep = lambda t: None if t is None else t.repeat(batch, *([1] * (t.dim() - 1)))  # noqa: E731
        model_kwargs = dict(
            encoder_hidden_states=embeds, encoder_attention_mask=text_mask, pooled_projections=pooled,
            guidance=torch.full((batch,), embedded_guidance_scale * 1000.0, device=device, dtype=dtype)
            if self.transformer.config.guidance_embeds else None,
            scene_latents=rep(scene_latents), mask_latents=rep(mask_latents), view_latents=views_in,
            history_latents=rep(history_latents),
            history_timestep=torch.full((batch,), history_timestep, device=device) if diffusion_forcing else None,
            return_dict=False,
        )
        # the official image-guidance weight falls linearly from ip_cfg_scale to 1 over the steps
        ip_weights = np.linspace(ip_cfg_scale, 1.0, num_inference_steps) if ip_cfg else None

        self.scheduler.set_timesteps(sigmas=official_sigmas(num_inference_steps), device=device)
        timesteps = self.scheduler.timesteps
        try:
            with self.progress_bar(total=len(timesteps)) as bar:
                for i, t in enumerate(timesteps):
                    if self.interrupt:
                        break
                    model_in = latents.to(dtype).repeat(batch, 1, 1, 1, 1)
                    # float32 timesteps, as the official pipeline and diffusers pass them
                    pred = self.transformer(model_in, t.expand(batch), deepcache=cache_plan[i],
                                            **model_kwargs)[0].float()
                    if cfg:
                        uncond, cond, ip = pred[0:1], pred[1:2], pred[2:3]
                        guided = uncond + guidance_scale * (cond - uncond)
                        if ip_cfg:
                            guided = guided + float(ip_weights[i]) * (ip - cond)
                        pred = guided
                    latents = self.scheduler.step(pred, t, latents, return_dict=False)[0]
                    if num_history:
                        latents[:, :, :num_history] = history_latents.float()
                    if callback_on_step_end is not None:
                        local = {"latents": latents}
                        out = callback_on_step_end(self, i, t, {k: local[k] for k in callback_on_step_end_tensor_inputs})
                        latents = (out or {}).get("latents", latents)
                    bar.update()
        finally:  # the kept tokens are large: never leave them on the model
            self.transformer.clear_deepcache()

        if self.interrupt:
            self.maybe_free_model_hooks()
            return AniXPipelineOutput(frames=None)
        if num_history:  # the causal VAE decodes the new frames after the clean history
            latents[:, :, :num_history] = history_latents.float()
        if output_type == "latent":
            frames = latents
        else:
            frames = self.decode_latents(latents)[history_frames:]
        self.maybe_free_model_hooks()
        return AniXPipelineOutput(frames=frames)
