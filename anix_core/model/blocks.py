"""HunyuanVideo blocks with per-token modulation for diffusion-forcing continuation.

The parameters are exactly diffusers' (these subclasses add none). With `token_levels=None` the
forward is diffusers' own. With `token_levels` (LongTensor [N], one entry per video/view token),
`temb` is [B, S, D]: S timestep embeddings ("levels"), and each image token is modulated by the
level it points at, so a clean history chunk can carry its own timestep. Text tokens always use
level 0 (the main timestep).
"""
from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_hunyuan_video import (
    HunyuanVideoSingleTransformerBlock,
    HunyuanVideoTransformerBlock,
)


def _per_token(chunks, token_levels):
    return [c[:, token_levels] for c in chunks]


class AniXDualStreamBlock(HunyuanVideoTransformerBlock):
    """Dual-stream (image | text) block; see the module docstring for `token_levels`."""

    def forward(self, hidden_states, encoder_hidden_states, temb, attention_mask=None, freqs_cis=None,
                token_levels=None, *args, **kwargs):
        if token_levels is None:
            return super().forward(hidden_states, encoder_hidden_states, temb, attention_mask, freqs_cis)
        emb = self.norm1.linear(self.norm1.silu(temb))  # [B, S, 6D]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _per_token(emb.chunk(6, dim=-1), token_levels)
        norm_hidden_states = self.norm1.norm(hidden_states) * (1 + scale_msa) + shift_msa
        norm_encoder_hidden_states, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = self.norm1_context(
            encoder_hidden_states, emb=temb[:, 0]
        )
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
        levels = torch.cat([token_levels, token_levels.new_zeros(text_seq_length)])
        hidden_states = torch.cat([hidden_states, encoder_hidden_states], dim=1)
        residual = hidden_states
        emb = self.norm.linear(self.norm.silu(temb))
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
