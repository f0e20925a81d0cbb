"""Put a LoRA on a loaded transformer the way the official AniX code does: W += lora_scale * up @ down."""
from __future__ import annotations

from pathlib import Path

from .convert import ConversionReport, checked_lora, read_lora_file

ADAPTER_NAME = "anix"


def apply_lora(transformer, source: str | Path | dict, lora_scale: float = 1.0, fuse: bool = True,
               adapter_name: str = ADAPTER_NAME) -> ConversionReport:
    """Load a LoRA (a file or folder in any naming `convert_kohya_lora` reads, or its tensors)
    onto `transformer`; fused into the weights (the official merge) or attached with weight
    `lora_scale`. Raises if any entry matches no module of this transformer."""
    lora = source if isinstance(source, dict) else read_lora_file(source)
    state, report = checked_lora(lora, transformer.config, "tensors" if isinstance(source, dict) else source)
    transformer.load_lora_adapter(state, prefix="transformer", adapter_name=adapter_name)
    if fuse:
        transformer.fuse_lora(lora_scale=lora_scale, adapter_names=[adapter_name])
    else:
        transformer.set_adapters([adapter_name], weights=[lora_scale])
    return report
