"""Put a LoRA on a loaded transformer the way the official AniX code does: W += lora_scale * up @ down."""
from __future__ import annotations

from pathlib import Path

import torch

from .convert import ConversionReport, checked_lora, read_lora_file

ADAPTER_NAME = "anix"


def apply_lora(transformer, source: str | Path | dict, lora_scale: float = 1.0, fuse: bool = True,
               adapter_name: str = ADAPTER_NAME) -> ConversionReport:
    """Load a LoRA (a file or folder in any naming `convert_kohya_lora` reads, or its tensors)
    onto `transformer`: merged into the weights (`merge_lora`, the official rule) or attached as
    a peft adapter with weight `lora_scale`. Raises if any entry matches no module of this model."""
    if fuse:
        return merge_lora(transformer, source, lora_scale)
    state, report = _read_checked(source, transformer.config)
    transformer.load_lora_adapter(state, prefix="transformer", adapter_name=adapter_name)
    transformer.set_adapters([adapter_name], weights=[lora_scale])
    return report


@torch.no_grad()
def merge_lora(transformer, source: str | Path | dict, lora_scale: float = 1.0) -> ConversionReport:
    """The official merge into the weights themselves (no adapter left behind): for every module,
    W += lora_scale * up @ down, computed in float32 like the official loader."""
    state, report = _read_checked(source, transformer.config)
    modules = dict(transformer.named_modules())
    for key, down in state.items():
        if not key.endswith(".lora_A.weight"):
            continue
        name = key[len("transformer."): -len(".lora_A.weight")]
        up = state[key.replace(".lora_A.", ".lora_B.")]
        weight = modules[name].weight
        delta = lora_scale * torch.mm(up.float(), down.float())
        weight.copy_((weight.float() + delta.to(weight.device)).to(weight.dtype))
    return report


def _read_checked(source: str | Path | dict, config) -> tuple[dict, ConversionReport]:
    """`source` (a file, folder or tensors) as our peft LoRA state, every entry matched (`checked_lora`)."""
    if isinstance(source, dict):
        return checked_lora(source, config, "tensors")
    return checked_lora(read_lora_file(source), config, source)
