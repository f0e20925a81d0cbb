"""Our trained LoRA -> a kohya-style file in the official AniX naming
(`Hunyuan_video_I2V_lora_<original module>`), the format the AniX LoRA ships in, so the official
loader, `anix convert lora` and other kohya tools load it back.

Where the original model fuses modules we keep apart (img_attn_qkv = to_q|to_k|to_v,
linear1 = q|k|v|mlp), the fused LoRA stacks our downs and places our ups block-diagonally:
W_fused + up @ down then equals each of our W + scale * B @ A exactly.
"""
from __future__ import annotations

import torch

from anix_core.model.convert import kohya_module_map


def peft_to_kohya(lora_state: dict[str, torch.Tensor], config, alpha: float, rank: int) -> dict[str, torch.Tensor]:
    """peft LoRA state (`<module>.lora_A.weight`, `<module>.lora_B.weight`) -> kohya tensors.

    The peft scale alpha / rank is folded into `lora_up` and each kohya `.alpha` equals its rank,
    so the official merge (W += up @ down, file alpha ignored) and the kohya one (alpha / rank)
    give the same weights.
    """
    scale = alpha / rank
    pairs = {}
    for key, value in lora_state.items():
        module, _, kind = key.rpartition(".lora_")
        pairs.setdefault(module, {})[kind.split(".")[0]] = value
    out: dict[str, torch.Tensor] = {}
    used = set()
    for kohya_name, (_, ours, _sizes) in kohya_module_map(config).items():
        if not all(m in pairs for m in ours):
            continue
        downs = [pairs[m]["A"] for m in ours]
        ups = [pairs[m]["B"] * scale for m in ours]
        down = torch.cat(downs, dim=0)
        up = torch.block_diag(*ups) if len(ups) > 1 else ups[0]
        out[f"{kohya_name}.lora_down.weight"] = down.contiguous()
        out[f"{kohya_name}.lora_up.weight"] = up.contiguous()
        out[f"{kohya_name}.alpha"] = torch.tensor(float(down.shape[0]))
        used.update(ours)
    left = sorted(set(pairs) - used)
    if left:
        raise ValueError(f"LoRA modules with no kohya name: {left[:5]}")
    return out
