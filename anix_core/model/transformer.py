"""`AniXTransformer3DModel`: HunyuanVideo with AniX's scene, view and history streams.

The backbone is diffusers' HunyuanVideo, with its parameter names and config keys, so a diffusers
`HunyuanVideoTransformer3DModel` state dict loads with only AniX's own modules (`bg_in`,
`bg_proj`) missing, and with no scene, views or history the output is HunyuanVideo's.

Token sequence seen by the blocks: [view tokens (V frames) | video tokens (F frames)] + text.
- scene + mask: latents concatenated on channels -> `bg_in` (patch embed) -> `bg_proj` (linear,
  zero-initialised) -> added to the video tokens;
- views: each view is one latent frame, patchified by `x_embedder`, prepended, shifted RoPE
  (`anix_core.model.rope`), sliced off before the output projection;
- history: the first frames of the video are replaced by clean history latents. Mode
  "overwrite" shares the timestep; mode "diffusion_forcing" gives the history chunk its own
  timestep embedding and so its own adaLN modulation (as the official forward: the new frames
  keep the main level, the views, the text, the token refiner's gates and the output layer get
  the mean of the two levels' modulation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.attention import AttentionMixin
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNormContinuous
from diffusers.models.transformers.transformer_hunyuan_video import (
    HunyuanVideoConditionEmbedding,
    HunyuanVideoPatchEmbed,
    HunyuanVideoTokenRefiner,
)
from diffusers.utils import apply_lora_scale

from .blocks import AniXDualStreamBlock, AniXSingleStreamBlock, refine_text_mean_levels, refiner_pooled_text
from .rope import VIEW_ROPE_MODES, rotary_from_positions, video_positions, view_positions

HISTORY_MODES = ("overwrite", "diffusion_forcing")
DEEPCACHE_MODES = ("store", "reuse")
ANIX_MODULE_PREFIXES = ("bg_in.", "bg_proj.")


class AniXTransformer3DModel(ModelMixin, AttentionMixin, ConfigMixin, PeftAdapterMixin):
    """HunyuanVideo DiT + AniX conditioning. Sizes come from config (13B: the defaults).

    AniX config keys beyond HunyuanVideo's:
        scene_in_channels: channels of scene latents + mask latents (2 x in_channels); 0 disables
            the scene stream.
        bg_proj_zero_init: start `bg_proj` at zero so a fresh scene stream changes nothing.
        view_rope_mode: "code" (default) or "paper", see `anix_core.model.rope`.
        history_mode: "overwrite" or "diffusion_forcing".
    """

    _supports_gradient_checkpointing = True
    _skip_layerwise_casting_patterns = ["x_embedder", "context_embedder", "norm", "bg_in"]
    _no_split_modules = [
        "AniXDualStreamBlock",
        "AniXSingleStreamBlock",
        "HunyuanVideoPatchEmbed",
        "HunyuanVideoTokenRefiner",
    ]
    _repeated_blocks = ["AniXDualStreamBlock", "AniXSingleStreamBlock"]

    # ---- context parallelism (diffusers enable_parallelism; see anix_core.model.parallel) ----
    @property
    def _cp_plan(self) -> dict:
        """How one shot's tokens split across GPUs: the first block takes a 1/N slice of the image
        tokens ([views | video]) and of the text tokens, every block the matching slice of the RoPE
        tables (and of the per-token levels of diffusion forcing), and the last block's outputs are
        gathered, so the view tokens are sliced off and the output projected on the whole sequence.
        Joint attention sees all tokens through Ulysses all-to-all (or ring attention). A property
        because the last block's name depends on the config. Token counts need not divide by N:
        `_forward` pads both streams to shares diffusers can split (`_cp_layout`) and masks the
        padding, each rank with its own slice of the mask, which Ulysses gathers."""
        from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

        tokens = ContextParallelInput(split_dim=1, expected_dims=3, split_output=False)
        rope = [ContextParallelInput(split_dim=0, expected_dims=2, split_output=False)] * 2
        levels = ContextParallelInput(split_dim=0, expected_dims=1, split_output=False)
        n_dual, n_single = self.config.num_layers, self.config.num_single_layers
        first = "transformer_blocks.0" if n_dual else "single_transformer_blocks.0"
        last = f"single_transformer_blocks.{n_single - 1}" if n_single else f"transformer_blocks.{n_dual - 1}"
        if first == last:  # one key cannot both split and gather
            raise ValueError("context parallelism needs a transformer of at least two blocks")
        plan = {first: {"hidden_states": tokens, "encoder_hidden_states": tokens}}
        if n_dual:
            plan["transformer_blocks.*"] = {"freqs_cis": rope, "token_levels": levels}
        if n_single:
            plan["single_transformer_blocks.*"] = {"image_rotary_emb": rope, "token_levels": levels}
        plan[last] = [ContextParallelOutput(gather_dim=1, expected_dims=3)] * 2
        return plan

    @register_to_config
    def __init__(
        self,
        in_channels: int = 16,
        out_channels: int = 16,
        num_attention_heads: int = 24,
        attention_head_dim: int = 128,
        num_layers: int = 20,
        num_single_layers: int = 40,
        num_refiner_layers: int = 2,
        mlp_ratio: float = 4.0,
        patch_size: int = 2,
        patch_size_t: int = 1,
        qk_norm: str = "rms_norm",
        guidance_embeds: bool = False,
        text_embed_dim: int = 4096,
        pooled_projection_dim: int = 768,
        rope_theta: float = 256.0,
        rope_axes_dim: tuple[int, ...] = (16, 56, 56),
        image_condition_type: str | None = None,
        scene_in_channels: int = 32,
        bg_proj_zero_init: bool = True,
        view_rope_mode: str = "code",
        history_mode: str = "overwrite",
    ) -> None:
        super().__init__()
        if image_condition_type is not None:
            raise ValueError("image_condition_type must be None for AniX (views enter as tokens instead)")
        if view_rope_mode not in VIEW_ROPE_MODES:
            raise ValueError(f"view_rope_mode must be one of {VIEW_ROPE_MODES}, got {view_rope_mode!r}")
        if history_mode not in HISTORY_MODES:
            raise ValueError(f"history_mode must be one of {HISTORY_MODES}, got {history_mode!r}")
        if sum(rope_axes_dim) != attention_head_dim:
            raise ValueError(f"rope_axes_dim {tuple(rope_axes_dim)} must sum to attention_head_dim {attention_head_dim}")

        inner_dim = num_attention_heads * attention_head_dim
        out_channels = out_channels or in_channels
        patch = (patch_size_t, patch_size, patch_size)

        self.x_embedder = HunyuanVideoPatchEmbed(patch, in_channels, inner_dim)
        self.context_embedder = HunyuanVideoTokenRefiner(
            text_embed_dim, num_attention_heads, attention_head_dim, num_layers=num_refiner_layers
        )
        self.time_text_embed = HunyuanVideoConditionEmbedding(inner_dim, pooled_projection_dim, guidance_embeds, None)

        if scene_in_channels:
            self.bg_in = HunyuanVideoPatchEmbed(patch, scene_in_channels, inner_dim)
            self.bg_proj = nn.Linear(inner_dim, inner_dim)
            if bg_proj_zero_init:
                nn.init.zeros_(self.bg_proj.weight)
                nn.init.zeros_(self.bg_proj.bias)
        else:
            self.bg_in = None
            self.bg_proj = None

        self.transformer_blocks = nn.ModuleList(
            [AniXDualStreamBlock(num_attention_heads, attention_head_dim, mlp_ratio=mlp_ratio, qk_norm=qk_norm)
             for _ in range(num_layers)]
        )
        self.single_transformer_blocks = nn.ModuleList(
            [AniXSingleStreamBlock(num_attention_heads, attention_head_dim, mlp_ratio=mlp_ratio, qk_norm=qk_norm)
             for _ in range(num_single_layers)]
        )
        self.norm_out = AdaLayerNormContinuous(inner_dim, inner_dim, elementwise_affine=False, eps=1e-6)
        self.proj_out = nn.Linear(inner_dim, patch_size_t * patch_size * patch_size * out_channels)
        self.gradient_checkpointing = False
        # DeepCache: slot -> (hidden_states, encoder_hidden_states, TokenLayout) entering the last single block
        self._deepcache: dict = {}
        self.split_text_rows = True

    def clear_deepcache(self) -> None:
        """Forget the tensors `deepcache="store"` calls saved."""
        self._deepcache = {}

    # ------------------------------------------------------------------ helpers
    def rotary_embedding(self, frames: int, height: int, width: int, num_views: int = 0, device=None):
        """(cos, sin) for [views | video] tokens on the patch grid (frames/height/width post-patch)."""
        pos = video_positions(frames, height, width, device=device)
        if num_views:
            views = view_positions(num_views, height, width, self.config.view_rope_mode, device=device)
            pos = torch.cat([views, pos], dim=0)
        return rotary_from_positions(pos, self.config.rope_axes_dim, self.config.rope_theta)

    def embed_scene(self, scene_latents: torch.Tensor, mask_latents: torch.Tensor) -> torch.Tensor:
        """Scene-stream tokens [B, N, D] to add to the video tokens."""
        if self.bg_in is None:
            raise ValueError("this model has no scene stream (scene_in_channels=0)")
        return self.bg_proj(self.bg_in(torch.cat([scene_latents, mask_latents], dim=1)))

    def _run_block(self, block, *args):
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(block, *args)
        return block(*args)

    # ------------------------------------------------------------------ forward
    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        pooled_projections: torch.Tensor,
        guidance: torch.Tensor | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
        *,
        scene_latents: torch.Tensor | None = None,
        mask_latents: torch.Tensor | None = None,
        view_latents: torch.Tensor | None = None,
        history_latents: torch.Tensor | None = None,
        history_timestep: torch.Tensor | None = None,
        deepcache: str | None = None,
    ) -> tuple[torch.Tensor] | Transformer2DModelOutput:
        """Predict the flow for `hidden_states` [B, C, F, H, W] (latents).

        HunyuanVideo's arguments, plus (keyword-only, all optional):
            scene_latents, mask_latents: [B, C, F, H, W] VAE latents of the scene video and of
                the box-mask video (given together).
            view_latents: [B, C, V, H, W], one latent frame per character view (front, left,
                back, right).
            history_latents: [B, C, Fh, H, W] clean latents replacing the first Fh frames.
            history_timestep: [B] timestep of the history chunk in "diffusion_forcing" mode
                (default 0, i.e. clean).
            deepcache: None (plain forward), "store" (full forward that also keeps the tokens
                entering the last single-stream block) or "reuse" (the official DeepCache step:
                skip every block but the last single-stream one, feed it the tokens kept by the
                last "store" call, modulated by THIS call's timestep, then the output layer).
        Returns the prediction for all F frames (history frames included).

        When the rows of a batch have different text lengths (counts of ones in
        `encoder_attention_mask`, e.g. the CFG pair [negative prompt, prompt]), each row runs on
        its own: the same result as one masked batch, but every attention call is unmasked, so the
        fastest (flash) kernels apply, as the official varlen attention. Only without autograd
        (sampling): a training step keeps one masked batch, as does `split_text_rows = False`.
        """
        args = dict(hidden_states=hidden_states, timestep=timestep, encoder_hidden_states=encoder_hidden_states,
                    encoder_attention_mask=encoder_attention_mask, pooled_projections=pooled_projections,
                    guidance=guidance, scene_latents=scene_latents, mask_latents=mask_latents,
                    view_latents=view_latents, history_latents=history_latents, history_timestep=history_timestep,
                    deepcache=deepcache)
        batch_size = hidden_states.shape[0]
        counts = encoder_attention_mask.sum(dim=1)
        # Sampling only: a training batch keeps one masked call, whose backward is one pass, not B.
        if (self.split_text_rows and batch_size > 1 and not torch.is_grad_enabled()
                and not torch.compiler.is_compiling() and bool((counts != counts[0]).any())):
            rows = [{k: v[i:i + 1] if torch.is_tensor(v) and v.dim() and v.shape[0] == batch_size else v
                     for k, v in args.items()} for i in range(batch_size)]
            sample = torch.cat([self._forward(**row, cache_slot=i) for i, row in enumerate(rows)])
        else:
            sample = self._forward(**args)
        if not return_dict:
            return (sample,)
        return Transformer2DModelOutput(sample=sample)

    def _forward(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask, pooled_projections,
                 guidance=None, scene_latents=None, mask_latents=None, view_latents=None, history_latents=None,
                 history_timestep=None, deepcache=None, cache_slot=-1) -> torch.Tensor:
        """The forward of one batch (see `forward`); returns the sample tensor. `cache_slot`: where
        DeepCache keeps this batch's tokens (one slot per row when rows run on their own)."""
        batch_size, _, num_frames, height, width = hidden_states.shape
        p, p_t = self.config.patch_size, self.config.patch_size_t
        pf, ph, pw = num_frames // p_t, height // p, width // p
        tokens_per_frame = ph * pw

        num_history = 0
        if history_latents is not None:
            num_history = history_latents.shape[2]
            if num_history > num_frames or history_latents.shape[3:] != hidden_states.shape[3:]:
                raise ValueError(f"history_latents {tuple(history_latents.shape)} do not fit hidden_states "
                                 f"{tuple(hidden_states.shape)}")
            hidden_states = torch.cat([history_latents.to(hidden_states.dtype), hidden_states[:, :, num_history:]], dim=2)

        if deepcache is not None and deepcache not in DEEPCACHE_MODES:
            raise ValueError(f"deepcache must be None or one of {DEEPCACHE_MODES}, got {deepcache!r}")
        temb, _ = self.time_text_embed(timestep, pooled_projections, guidance)
        num_views = 0 if view_latents is None else view_latents.shape[2]
        num_view_tokens = num_views * tokens_per_frame
        if deepcache == "reuse":
            return self._deepcache_step(temb, timestep, pooled_projections, guidance, encoder_attention_mask,
                                        num_history, history_timestep, num_view_tokens, (pf, ph, pw),
                                        batch_size, cache_slot)
        hidden_states = self.x_embedder(hidden_states)

        if scene_latents is not None or mask_latents is not None:
            if scene_latents is None or mask_latents is None:
                raise ValueError("scene_latents and mask_latents must be given together")
            hidden_states = hidden_states + self.embed_scene(scene_latents, mask_latents).to(hidden_states.dtype)

        if view_latents is not None:
            hidden_states = torch.cat([self.x_embedder(view_latents.to(hidden_states.dtype)), hidden_states], dim=1)
        image_rotary_emb = self.rotary_embedding(pf, ph, pw, num_views, device=hidden_states.device)
        temb, token_levels = self._history_levels(temb, timestep, pooled_projections, guidance, num_history,
                                                  history_timestep, num_view_tokens, hidden_states.shape[1],
                                                  tokens_per_frame, hidden_states.device)

        if token_levels is None:
            encoder_hidden_states = self.context_embedder(encoder_hidden_states, timestep, encoder_attention_mask)
        else:  # diffusion forcing: the refiner's gates are the mean over the two levels
            ref = self.context_embedder
            pooled_text = refiner_pooled_text(encoder_hidden_states, encoder_attention_mask)
            levels = (timestep, self._history_timestep(timestep, history_timestep))
            temb_text = torch.stack([ref.time_text_embed(t, pooled_text) for t in levels], dim=1)
            encoder_hidden_states = refine_text_mean_levels(ref, encoder_hidden_states, temb_text,
                                                            encoder_attention_mask)
        # Joint attention sees the first COUNT text tokens (the official cu_seqlens rule, whatever
        # the mask's layout): the rest never matter, so they are dropped here.
        valid_text = encoder_attention_mask.sum(dim=1, dtype=torch.int)
        if not torch.compiler.is_compiling():
            encoder_hidden_states = encoder_hidden_states[:, : int(valid_text.max())]
        num_image = hidden_states.shape[1]
        layout = self._cp_layout(num_image, encoder_hidden_states.shape[1])
        hidden_states, image_rotary_emb, token_levels = self._pad_image(layout, hidden_states, image_rotary_emb,
                                                                        token_levels)
        encoder_hidden_states = _pad_tokens(encoder_hidden_states, layout.text_len)
        attention_mask = self._attention_mask(layout, num_image, valid_text, batch_size, hidden_states.device)

        for block in self.transformer_blocks:
            hidden_states, encoder_hidden_states = self._run_block(
                block, hidden_states, encoder_hidden_states, temb, attention_mask, image_rotary_emb, token_levels)
        last = len(self.single_transformer_blocks) - 1
        for i, block in enumerate(self.single_transformer_blocks):
            if i == last and deepcache == "store":
                self._deepcache[cache_slot] = (hidden_states.detach(), encoder_hidden_states.detach(), layout)
            hidden_states, encoder_hidden_states = self._run_block(
                block, hidden_states, encoder_hidden_states, temb, attention_mask, image_rotary_emb, token_levels)
        return self._output(hidden_states[:, :num_image], temb, token_levels, num_view_tokens, (pf, ph, pw),
                            batch_size)

    @staticmethod
    def _history_timestep(timestep, history_timestep):
        return torch.zeros_like(timestep) if history_timestep is None else history_timestep

    def _history_levels(self, temb, timestep, pooled_projections, guidance, num_history, history_timestep,
                        num_view_tokens, num_tokens, tokens_per_frame, device):
        """(temb, token_levels): in "diffusion_forcing" mode with history, temb [B, 2, D] (main level,
        history level) and the level of every image token (history 1, new frames 0, views 2 = the
        mean of both levels' modulation, as the official forward); otherwise (temb, None)."""
        if not num_history or self.config.history_mode != "diffusion_forcing":
            return temb, None
        temb_history, _ = self.time_text_embed(self._history_timestep(timestep, history_timestep),
                                               pooled_projections, guidance)
        temb = torch.stack([temb, temb_history], dim=1)  # [B, 2, D]
        token_levels = torch.zeros(num_tokens, dtype=torch.long, device=device)
        token_levels[:num_view_tokens] = 2
        token_levels[num_view_tokens: num_view_tokens + num_history * tokens_per_frame] = 1
        return temb, token_levels

    def _deepcache_step(self, temb, timestep, pooled_projections, guidance, encoder_attention_mask, num_history,
                        history_timestep, num_view_tokens, grid, batch_size, cache_slot):
        """The official cached step: the last single-stream block on the kept tokens, current modulation."""
        if cache_slot not in self._deepcache:
            raise ValueError('deepcache="reuse" needs an earlier deepcache="store" call on this model')
        hidden_states, encoder_hidden_states, layout = self._deepcache[cache_slot]
        pf, ph, pw = grid
        num_image = num_view_tokens + pf * ph * pw
        if hidden_states.shape[0] != batch_size or layout.num_image != num_image:
            raise ValueError(f"deepcache: the kept tokens (batch {hidden_states.shape[0]}, {layout.num_image} image "
                             f"tokens) do not fit this call (batch {batch_size}, {num_image} image tokens)")
        num_views = num_view_tokens // (ph * pw)
        image_rotary_emb = self.rotary_embedding(pf, ph, pw, num_views, device=hidden_states.device)
        temb, token_levels = self._history_levels(temb, timestep, pooled_projections, guidance, num_history,
                                                  history_timestep, num_view_tokens, num_image,
                                                  ph * pw, hidden_states.device)
        # the kept tokens are this rank's share when split; the RoPE table and levels get split as in _forward
        _, image_rotary_emb, token_levels = self._pad_image(layout, None, image_rotary_emb, token_levels)
        attention_mask = self._attention_mask(layout, num_image, encoder_attention_mask.sum(dim=1, dtype=torch.int),
                                              batch_size, hidden_states.device)
        hidden_states, _ = self._run_block(self.single_transformer_blocks[-1], hidden_states, encoder_hidden_states,
                                           temb, attention_mask, image_rotary_emb, token_levels)
        return self._output(hidden_states[:, :num_image], temb, token_levels, num_view_tokens, grid, batch_size)

    def _output(self, hidden_states, temb, token_levels, num_view_tokens, grid, batch_size):
        """Drop the view tokens, final adaLN + projection, unpatchify to [B, C, F, H, W]."""
        pf, ph, pw = grid
        p, p_t = self.config.patch_size, self.config.patch_size_t
        hidden_states = hidden_states[:, num_view_tokens:]
        if token_levels is None:
            hidden_states = self.norm_out(hidden_states, temb)
        else:  # diffusion forcing: the official final layer modulates every frame by the levels' mean
            emb = self.norm_out.linear(self.norm_out.silu(temb).to(hidden_states.dtype)).mean(dim=1)
            scale, shift = emb.chunk(2, dim=-1)
            hidden_states = self.norm_out.norm(hidden_states) * (1 + scale[:, None]) + shift[:, None]
        hidden_states = self.proj_out(hidden_states)

        hidden_states = hidden_states.reshape(batch_size, pf, ph, pw, -1, p_t, p, p)
        hidden_states = hidden_states.permute(0, 4, 1, 5, 2, 6, 3, 7)
        return hidden_states.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def _cp_layout(self, num_image: int, num_text: int) -> "TokenLayout":
        """How the blocks see the tokens: unsplit, as they are; split by context parallelism
        (`enable_parallelism`), each stream padded to a length diffusers can split over the ranks
        (a multiple of N for its equal shares, on gloo; at least N for "anything" mode, on NCCL)."""
        config = getattr(self, "_parallel_config", None)
        cp = None if config is None else config.context_parallel_config
        if cp is None:
            return TokenLayout(num_image, num_image, num_text)
        import torch.distributed as dist

        mesh = cp._flattened_mesh  # the mesh diffusers' split hooks shard over
        ranks, rank = mesh.size(), dist.get_rank(mesh.get_group())
        uneven = cp.ulysses_anything or cp.ring_anything
        fit = (lambda n: max(n, ranks)) if uneven else (lambda n: -(-n // ranks) * ranks)
        return TokenLayout(num_image, fit(num_image), fit(num_text), ranks, rank, cp.ring_degree > 1)

    @staticmethod
    def _pad_image(layout, hidden_states, image_rotary_emb, token_levels):
        """Image tokens, RoPE table and per-token levels padded to `layout.image_len` (the padding
        is masked out of attention and sliced off the output, so its values never matter)."""
        cos, sin = image_rotary_emb
        return (_pad_tokens(hidden_states, layout.image_len),
                (_pad_tokens(cos, layout.image_len, dim=0, value=1.0), _pad_tokens(sin, layout.image_len, dim=0)),
                _pad_tokens(token_levels, layout.image_len, dim=0))

    @staticmethod
    def _attention_mask(layout, num_image, valid_text, batch_size, device):
        """Which keys attention may see: the `num_image` image tokens and the first `valid_text` [B]
        text tokens of each row, as HunyuanVideo. None when that is all of them, so attention can
        take its fastest (flash) kernels. Split by context parallelism, the [B, 1, 1, S] mask of this
        rank's own keys ([its image share | its text share]), which Ulysses all-gathers into the
        layout it attends over; the same on every rank whether a mask is needed, as that gather is
        collective."""
        if (not torch.compiler.is_compiling() and layout.image_len == num_image
                and bool((valid_text == layout.text_len).all())):
            return None
        if layout.ring:
            raise ValueError(f"ring attention takes no attention mask, which {num_image} image tokens and text "
                             f"lengths {valid_text.tolist()} over {layout.ranks} ranks need; use Ulysses")
        image = (torch.arange(layout.image_len, device=device) < num_image).expand(batch_size, -1)
        text = torch.arange(layout.text_len, device=device).unsqueeze(0) < valid_text.unsqueeze(1)
        if layout.ranks > 1:
            image, text = (t.tensor_split(layout.ranks, dim=1)[layout.rank] for t in (image, text))
        return torch.cat([image, text], dim=1).contiguous()[:, None, None]


@dataclass(frozen=True)
class TokenLayout:
    """Token counts the blocks work on: `num_image` image tokens padded to `image_len`, text
    padded to `text_len`; `ranks` > 1 when context parallelism splits them (this is `rank`)."""
    num_image: int
    image_len: int
    text_len: int
    ranks: int = 1
    rank: int = 0
    ring: bool = False


def _pad_tokens(x, length: int, dim: int = 1, value: float = 0.0):
    """`x` (None passes) padded with `value` along `dim` to `length`."""
    if x is None or x.shape[dim] >= length:
        return x
    shape = list(x.shape)
    shape[dim] = length - x.shape[dim]
    return torch.cat([x, x.new_full(shape, value)], dim=dim)
