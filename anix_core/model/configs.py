"""Named configs of `AniXTransformer3DModel`: the real 13B one and a tiny one for tests."""
from __future__ import annotations

# HunyuanCustom 13B (HunyuanVideo backbone) + AniX's streams: the class defaults. The real checkpoint
# has no guidance embedder (HunyuanVideo-T2V's distilled one is not in HunyuanCustom).
HUNYUAN_13B = dict(
    in_channels=16, out_channels=16, num_attention_heads=24, attention_head_dim=128,
    num_layers=20, num_single_layers=40, num_refiner_layers=2, mlp_ratio=4.0,
    patch_size=2, patch_size_t=1, qk_norm="rms_norm", guidance_embeds=False,
    text_embed_dim=4096, pooled_projection_dim=768, rope_theta=256.0, rope_axes_dim=(16, 56, 56),
    scene_in_channels=32, view_rope_mode="code", history_mode="overwrite",
)

# Same classes, a few thousand parameters: runs on a CPU in milliseconds.
TINY = dict(
    in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=16,
    num_layers=1, num_single_layers=1, num_refiner_layers=1, mlp_ratio=2.0,
    patch_size=2, patch_size_t=1, qk_norm="rms_norm", guidance_embeds=True,
    text_embed_dim=32, pooled_projection_dim=16, rope_theta=256.0, rope_axes_dim=(4, 6, 6),
    scene_in_channels=8, view_rope_mode="code", history_mode="overwrite",
)
