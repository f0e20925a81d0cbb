"""The official AniX text stream: the exact LLaVA and CLIP strings and how LLaVA image features
enter the LLaVA prompt.

LLaVA reads HunyuanVideo's video template filled with the bare action, then one line per view
whose `<image>` slot is replaced in place by that view's image features (576 at 336x336);
hidden states are taken 2 layers before the last and cropped after the template's prefix
(95 tokens for llava-llama-3). CLIP reads the bare action alone.
"""
from __future__ import annotations

import torch
from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

LLAVA_TEMPLATE = DEFAULT_PROMPT_TEMPLATE["template"]  # the official "li-dit-encode-video" template
IMAGE_TOKEN = "<image>"
VIEW_LINES = ("\nThe {name} front view looks like<image><|eot_id|>\nThe {name} left view looks like<image><|eot_id|>"
              "\nThe {name} back view looks like<image><|eot_id|>\nThe {name} right view looks like<image>")
CHARACTER, PERSON = "character", "person"  # the conditional and the unconditional (negative) branch's name
HIDDEN_STATE_SKIP_LAYERS = 2
TEXT_LEN = 256  # tokens after the template prefix (official --text-len)
# The official pipeline's unconditional mask drops this many trailing ones (575 of the last white
# image's 576 features).
UNCOND_MASK_TRIM = 575


def bare_action(prompt: str) -> str:
    """The action sentence of a prompt: the text before any `<SEP>` view lines of our conditioning
    template ("A character is running backward. <SEP>The character front view ..." ->
    "A character is running backward.")."""
    return prompt.split("<SEP>")[0].strip()


def llava_text(action: str, name: str = CHARACTER) -> str:
    """The exact LLaVA input: template with the action, then the four view lines."""
    return LLAVA_TEMPLATE.format(action) + VIEW_LINES.format(name=name)


def llava_crop_start(tokenizer) -> int:
    """Tokens of the template before the action (BOS included): 95 for llava-llama-3."""
    return len(tokenizer(LLAVA_TEMPLATE.split("{}")[0]).input_ids)


def has_image_features(text_encoder) -> bool:
    """A LLaVA model (vision tower + projector), not a text-only language model."""
    return callable(getattr(text_encoder, "get_image_features", None))


def image_features(text_encoder, pixel_values: torch.Tensor) -> torch.Tensor:
    """LLaVA image features [V, N, D] (N = 576 at 336x336), the way LLaVA itself selects them."""
    cfg = text_encoder.config
    out = text_encoder.get_image_features(pixel_values=pixel_values, vision_feature_layer=cfg.vision_feature_layer,
                                          vision_feature_select_strategy=cfg.vision_feature_select_strategy)
    feats = getattr(out, "pooler_output", out)  # newer transformers wrap the features
    return torch.stack(list(feats)) if isinstance(feats, (list, tuple)) else feats


def merge_image_features(input_ids, attention_mask, embeds, features, image_token_id: int):
    """Each `<image>` token replaced in place by its image's N features (the layout of LLaVA's
    `_merge_input_ids_with_image_features`): (embeds [1, L + V(N-1), D], mask, position ids).
    Padding (mask 0) gets a zeroed embedding and position 1, as there."""
    ids, mask, emb = input_ids[0], attention_mask[0], embeds[0]
    slots = (ids == image_token_id).nonzero().flatten().tolist()
    if len(slots) != features.shape[0]:
        raise ValueError(f"the LLaVA prompt has {len(slots)} {IMAGE_TOKEN} slots for {features.shape[0]} images "
                         "(the prompt was truncated: raise max_sequence_length)")
    pieces, masks, start = [], [], 0
    for slot, feat in zip(slots, features):
        pieces += [emb[start:slot], feat.to(emb.dtype)]
        masks += [mask[start:slot], mask.new_ones(feat.shape[0])]
        start = slot + 1
    pieces.append(emb[start:])
    masks.append(mask[start:])
    merged, merged_mask = torch.cat(pieces), torch.cat(masks)
    pad = merged_mask == 0
    merged = merged.masked_fill(pad[:, None], 0.0)
    position_ids = (merged_mask.cumsum(-1) - 1).masked_fill(pad, 1)
    return merged[None], merged_mask[None], position_ids[None]


def dit_text_mask(tokenizer_mask: torch.Tensor, num_views: int, image_tokens: int, crop_start: int) -> torch.Tensor:
    """The mask the official pipeline hands the transformer: the TOKENIZER mask with
    num_views * (image_tokens - 1) ones appended, cropped at crop_start. Its ones do not sit where
    the real tokens are (the features are inlined), but its count does: the transformer's joint
    attention uses the count, its token refiner the positions."""
    extra = tokenizer_mask.new_ones(tokenizer_mask.shape[0], num_views * (image_tokens - 1))
    return torch.cat([tokenizer_mask, extra], dim=1)[:, crop_start:]


def trim_uncond_mask(mask: torch.Tensor) -> torch.Tensor:
    """The official unconditional-branch trim: sum - 575 leading ones, then zeros (when sum > 575)."""
    total = int(mask.sum())
    if total <= UNCOND_MASK_TRIM:
        return mask
    out = torch.zeros_like(mask)
    out[..., : total - UNCOND_MASK_TRIM] = 1
    return out
