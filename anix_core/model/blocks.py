"""HunyuanVideo blocks with per-token modulation for diffusion-forcing continuation.

The parameters are exactly diffusers' (these subclasses add none). With `token_levels=None` the
forward is diffusers' own. With `token_levels` (LongTensor [N], one entry per video/view token),
`temb` is [B, S, D]: S timestep embeddings ("levels"), and each image token is modulated by the
level it points at, so a clean history chunk can carry its own timestep. Level S (one past the
last) is the MEAN of the S levels' modulation outputs, as the official diffusion-forcing forward
gives the view tokens; text tokens always get that mean.
"""
from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_hunyuan_video import (
    HunyuanVideoSingleTransformerBlock,
    HunyuanVideoTransformerBlock,
)


def _with_mean_level(emb):
    """[B, S, K] modulation outputs -> [B, S + 1, K], the last entry their mean over levels."""
    return torch.cat([emb, emb.mean(dim=1, keepdim=True)], dim=1)


def _per_token(chunks, token_levels):
    return [c[:, token_levels] for c in chunks]


def mean_level_modulation(linear_module, silu, temb):
    """Mean over levels of a modulation layer's output: [B, S, D] -> [B, K]."""
    return linear_module(silu(temb)).mean(dim=1)


class AniXDualStreamBlock(HunyuanVideoTransformerBlock):
    """Dual-stream (image | text) block; see the module docstring for `token_levels`."""

    def forward(self, hidden_states, encoder_hidden_states, temb, attention_mask=None, freqs_cis=None,
                token_levels=None, *args, **kwargs):
        if token_levels is None:
            return super().forward(hidden_states, encoder_hidden_states, temb, attention_mask, freqs_cis)
        emb = _with_mean_level(self.norm1.linear(self.norm1.silu(temb)))  # [B, S + 1, 6D]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _per_token(emb.chunk(6, dim=-1), token_levels)
        norm_hidden_states = self.norm1.norm(hidden_states) * (1 + scale_msa) + shift_msa
        c_emb = mean_level_modulation(self.norm1_context.linear, self.norm1_context.silu, temb)
        c_shift_msa, c_scale_msa, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = c_emb.chunk(6, dim=-1)
        norm_encoder_hidden_states = (self.norm1_context.norm(encoder_hidden_states) * (1 + c_scale_msa[:, None])
                                      + c_shift_msa[:, None])
        attn_output, context_attn_output = self.attn(
            hidden_states=norm_hidden_states,
            encoder_hidden_states=norm_encoder_hidden_states,
            attention_mask=attention_mask,
            image_rotary_emb=freqs_cis,
        )
        hidden_states = hidden_states + attn_output * gate_msa
        encoder_hidden_states = encoder_hidden_states + context_attn_output * c_gate_msa.unsqueeze(1)
        norm_hidden_states = self.norm2(hidden_states) * (1 + scale_mlp) + shift_mlp
        norm_encoder_hidden_states = self.norm2_context(encoder_hidden_states) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None]
        hidden_states = hidden_states + self.ff(norm_hidden_states) * gate_mlp
        encoder_hidden_states = encoder_hidden_states + c_gate_mlp.unsqueeze(1) * self.ff_context(norm_encoder_hidden_states)
        return hidden_states, encoder_hidden_states


class AniXSingleStreamBlock(HunyuanVideoSingleTransformerBlock):
    """Single-stream block; see the module docstring for `token_levels`."""

    def forward(self, hidden_states, encoder_hidden_states, temb, attention_mask=None, image_rotary_emb=None,
                token_levels=None, *args, **kwargs):
        if token_levels is None:
            return super().forward(hidden_states, encoder_hidden_states, temb, attention_mask, image_rotary_emb)
        text_seq_length = encoder_hidden_states.shape[1]
        mean_level = temb.shape[1]
        levels = torch.cat([token_levels, token_levels.new_full((text_seq_length,), mean_level)])
        hidden_states = torch.cat([hidden_states, encoder_hidden_states], dim=1)
        residual = hidden_states
        emb = _with_mean_level(self.norm.linear(self.norm.silu(temb)))
        shift, scale, gate = _per_token(emb.chunk(3, dim=-1), levels)
        norm_hidden_states = self.norm.norm(hidden_states) * (1 + scale) + shift
        mlp_hidden_states = self.act_mlp(self.proj_mlp(norm_hidden_states))
        attn_output, context_attn_output = self.attn(
            hidden_states=norm_hidden_states[:, :-text_seq_length],
            encoder_hidden_states=norm_hidden_states[:, -text_seq_length:],
            attention_mask=attention_mask,
            image_rotary_emb=image_rotary_emb,
        )
        attn_output = torch.cat([attn_output, context_attn_output], dim=1)
        hidden_states = gate * self.proj_out(torch.cat([attn_output, mlp_hidden_states], dim=2)) + residual
        return hidden_states[:, :-text_seq_length], hidden_states[:, -text_seq_length:]


def refine_text_mean_levels(refiner, hidden_states, temb_levels, attention_mask):
    """diffusers' `HunyuanVideoTokenRefiner` with its gates averaged over timestep levels, as the
    official diffusion-forcing forward does. `temb_levels`: [B, S, D], each level's refiner
    embedding (timestep embedding + pooled-text embedding)."""
    hidden_states = refiner.proj_in(hidden_states)
    self_attn_mask = None
    if attention_mask is not None:  # the same mask diffusers' refiner builds
        m = attention_mask.to(hidden_states.device).bool()
        self_attn_mask = m[:, None, None, :] & m[:, None, :, None]
        self_attn_mask[:, :, :, 0] = True
    for block in refiner.token_refiner.refiner_blocks:
        gate_msa, gate_mlp = mean_level_modulation(block.norm_out.linear, block.norm_out.nonlinearity,
                                                   temb_levels).chunk(2, dim=-1)
        attn_output = block.attn(hidden_states=block.norm1(hidden_states), encoder_hidden_states=None,
                                 attention_mask=self_attn_mask)
        hidden_states = hidden_states + attn_output * gate_msa.unsqueeze(1)
        hidden_states = hidden_states + block.ff(block.norm2(hidden_states)) * gate_mlp.unsqueeze(1)
    return hidden_states


def refiner_pooled_text(hidden_states, attention_mask):
    """The refiner's pooled text vector: the mean over the valid tokens (as diffusers computes it)."""
    if attention_mask is None:
        return hidden_states.mean(dim=1)
    mask = attention_mask.float().unsqueeze(-1)
    return ((hidden_states * mask).sum(dim=1) / mask.sum(dim=1)).to(hidden_states.dtype)
