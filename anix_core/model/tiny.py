"""Tiny random components of the real classes: the whole pipeline runs on a CPU in seconds.

Used by tests and by `AniXGenerator(model_dir=...)` demos; sizes are the only difference from the
real model. The tokenizers are word-level with a small vocabulary (no download needed).
"""
from __future__ import annotations

import torch

from .configs import TINY
from .text import IMAGE_TOKEN

WORDS = ("a character is walks runs turns left right forward backward waves sits jumps the front back view "
         "looks like camera orbit follow static . , <img> <SEP>").split()


# Like the real VAE's 0.476986: brings this random VAE's latents to about unit variance, so the
# flow-matching loss weighs the content as much as the noise (training tests depend on it).
TINY_VAE_SCALING = 4.0


def tiny_tokenizer(max_length: int = 77):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                                        eos_token="[EOS]", model_max_length=max_length)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})  # LLaVA's image slot
    return tokenizer


def tiny_components(seed: int = 0) -> dict:
    """transformer, vae, text_encoder (LLaVA), tokenizer, text_encoder_2 (CLIP text), tokenizer_2, scheduler."""
    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler
    from transformers import (CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration)

    from .pipeline import SCHEDULER_SHIFT
    from .transformer import AniXTransformer3DModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    transformer = AniXTransformer3DModel(**TINY)
    with torch.no_grad():  # a "trained" scene projection so the scene stream matters
        torch.nn.init.normal_(transformer.bg_proj.weight, std=0.05)
    vae = AutoencoderKLHunyuanVideo(
        latent_channels=TINY["in_channels"], block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
        mid_block_add_attention=False,
        scaling_factor=TINY_VAE_SCALING,
    )
    # LLaVA's real layout at 336x336 input; 112-pixel patches give 9 image features instead of 576.
    text_encoder = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=CLIPVisionConfig(image_size=336, patch_size=112, hidden_size=16, intermediate_size=32,
                                       num_hidden_layers=2, num_attention_heads=2, projection_dim=16),
        text_config=LlamaConfig(vocab_size=len(tokenizer), hidden_size=TINY["text_embed_dim"], intermediate_size=64,
                                num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
                                max_position_embeddings=512, pad_token_id=0),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), vision_feature_layer=-2,
        vision_feature_select_strategy="default", projector_hidden_act="gelu",
    ))
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TINY["pooled_projection_dim"], intermediate_size=32,
        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77, eos_token_id=3, pad_token_id=0,
        bos_token_id=2,
    ))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT)
    return dict(transformer=transformer.eval(), vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
                text_encoder_2=text_encoder_2.eval(), tokenizer_2=tiny_tokenizer(), scheduler=scheduler)


def tiny_pipeline(seed: int = 0):
    from .pipeline import AniXPipeline

    return AniXPipeline(**tiny_components(seed))
