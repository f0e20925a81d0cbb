"""Converters from the original HunyuanVideo/HunyuanCustom naming to ours (diffusers naming).

One table, built from the model config, lists every original parameter and the parameter(s) of
`AniXTransformer3DModel` it becomes:
- "copy": same tensor, new name;
- "split": a fused tensor cut along dim 0 (img/txt/self_attn_qkv -> q, k, v; single-block
  linear1 -> q, k, v, proj_mlp);
- "swap": final_layer.adaLN_modulation.1 stores (shift, scale), diffusers' norm_out (scale, shift).
The same table runs backwards (`to_original_state_dict`), which the tests use to build
checkpoints in the original naming. Every checkpoint key is either consumed or reported.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass(frozen=True)
class KeyRule:
    original: str
    ours: tuple[str, ...]
    kind: str = "copy"  # copy | split | swap
    sizes: tuple[int, ...] = ()


@dataclass
class ConversionReport:
    converted: int = 0
    unused: list[str] = field(default_factory=list)   # checkpoint keys the table does not know
    missing: list[str] = field(default_factory=list)  # original keys the model needs but the file lacks

    def summary(self) -> str:
        lines = [f"converted {self.converted} tensors"]
        if self.unused:
            lines.append(f"{len(self.unused)} checkpoint keys not used: " + ", ".join(self.unused[:20])
                         + (" ..." if len(self.unused) > 20 else ""))
        if self.missing:
            lines.append(f"{len(self.missing)} model keys missing from the checkpoint: " + ", ".join(self.missing[:20])
                         + (" ..." if len(self.missing) > 20 else ""))
        return "\n".join(lines)


def _linear(rules, original, ours, bias=True):
    rules.append(KeyRule(f"{original}.weight", (f"{ours}.weight",)))
    if bias:
        rules.append(KeyRule(f"{original}.bias", (f"{ours}.bias",)))


def _split(rules, original, ours: list[str], sizes, bias=True):
    for p in ("weight", "bias") if bias else ("weight",):
        rules.append(KeyRule(f"{original}.{p}", tuple(f"{o}.{p}" for o in ours), "split", tuple(sizes)))


def key_rules(config) -> list[KeyRule]:
    """Every parameter of a model with `config` (a dict or FrozenDict), in the original naming."""
    c = dict(config)
    dim = c["num_attention_heads"] * c["attention_head_dim"]
    mlp = int(dim * c["mlp_ratio"])
    r: list[KeyRule] = []
    _linear(r, "img_in.proj", "x_embedder.proj")
    if c.get("scene_in_channels"):
        _linear(r, "bg_in.proj", "bg_in.proj")
        _linear(r, "bg_proj", "bg_proj")
    _linear(r, "time_in.mlp.0", "time_text_embed.timestep_embedder.linear_1")
    _linear(r, "time_in.mlp.2", "time_text_embed.timestep_embedder.linear_2")
    _linear(r, "vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    _linear(r, "vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    if c.get("guidance_embeds", True):
        _linear(r, "guidance_in.mlp.0", "time_text_embed.guidance_embedder.linear_1")
        _linear(r, "guidance_in.mlp.2", "time_text_embed.guidance_embedder.linear_2")

    _linear(r, "txt_in.input_embedder", "context_embedder.proj_in")
    _linear(r, "txt_in.t_embedder.mlp.0", "context_embedder.time_text_embed.timestep_embedder.linear_1")
    _linear(r, "txt_in.t_embedder.mlp.2", "context_embedder.time_text_embed.timestep_embedder.linear_2")
    _linear(r, "txt_in.c_embedder.linear_1", "context_embedder.time_text_embed.text_embedder.linear_1")
    _linear(r, "txt_in.c_embedder.linear_2", "context_embedder.time_text_embed.text_embedder.linear_2")
    for i in range(c["num_refiner_layers"]):
        o, n = f"txt_in.individual_token_refiner.blocks.{i}", f"context_embedder.token_refiner.refiner_blocks.{i}"
        _linear(r, f"{o}.norm1", f"{n}.norm1")
        _split(r, f"{o}.self_attn_qkv", [f"{n}.attn.to_q", f"{n}.attn.to_k", f"{n}.attn.to_v"], (dim, dim, dim))
        _linear(r, f"{o}.self_attn_proj", f"{n}.attn.to_out.0")
        _linear(r, f"{o}.norm2", f"{n}.norm2")
        _linear(r, f"{o}.mlp.fc1", f"{n}.ff.net.0.proj")
        _linear(r, f"{o}.mlp.fc2", f"{n}.ff.net.2")
        _linear(r, f"{o}.adaLN_modulation.1", f"{n}.norm_out.linear")

    for i in range(c["num_layers"]):
        o, n = f"double_blocks.{i}", f"transformer_blocks.{i}"
        _linear(r, f"{o}.img_mod.linear", f"{n}.norm1.linear")
        _split(r, f"{o}.img_attn_qkv", [f"{n}.attn.to_q", f"{n}.attn.to_k", f"{n}.attn.to_v"], (dim, dim, dim))
        _linear(r, f"{o}.img_attn_q_norm", f"{n}.attn.norm_q", bias=False)
        _linear(r, f"{o}.img_attn_k_norm", f"{n}.attn.norm_k", bias=False)
        _linear(r, f"{o}.img_attn_proj", f"{n}.attn.to_out.0")
        _linear(r, f"{o}.img_mlp.fc1", f"{n}.ff.net.0.proj")
        _linear(r, f"{o}.img_mlp.fc2", f"{n}.ff.net.2")
        _linear(r, f"{o}.txt_mod.linear", f"{n}.norm1_context.linear")
        _split(r, f"{o}.txt_attn_qkv", [f"{n}.attn.add_q_proj", f"{n}.attn.add_k_proj", f"{n}.attn.add_v_proj"],
               (dim, dim, dim))
        _linear(r, f"{o}.txt_attn_q_norm", f"{n}.attn.norm_added_q", bias=False)
        _linear(r, f"{o}.txt_attn_k_norm", f"{n}.attn.norm_added_k", bias=False)
        _linear(r, f"{o}.txt_attn_proj", f"{n}.attn.to_add_out")
        _linear(r, f"{o}.txt_mlp.fc1", f"{n}.ff_context.net.0.proj")
        _linear(r, f"{o}.txt_mlp.fc2", f"{n}.ff_context.net.2")

    for i in range(c["num_single_layers"]):
        o, n = f"single_blocks.{i}", f"single_transformer_blocks.{i}"
        _split(r, f"{o}.linear1", [f"{n}.attn.to_q", f"{n}.attn.to_k", f"{n}.attn.to_v", f"{n}.proj_mlp"],
               (dim, dim, dim, mlp))
        _linear(r, f"{o}.linear2", f"{n}.proj_out")
        _linear(r, f"{o}.q_norm", f"{n}.attn.norm_q", bias=False)
        _linear(r, f"{o}.k_norm", f"{n}.attn.norm_k", bias=False)
        _linear(r, f"{o}.modulation.linear", f"{n}.norm.linear")

    _linear(r, "final_layer.linear", "proj_out")
    for p in ("weight", "bias"):
        r.append(KeyRule(f"final_layer.adaLN_modulation.1.{p}", (f"norm_out.linear.{p}",), "swap"))
    return r


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def from_original_state_dict(original: dict, config) -> tuple[dict, ConversionReport]:
    """Original HunyuanVideo/HunyuanCustom names -> ours. Tensors are views where possible."""
    report = ConversionReport()
    ours: dict = {}
    known = set()
    for rule in key_rules(config):
        known.add(rule.original)
        if rule.original not in original:
            report.missing.append(rule.original)
            continue
        t = original[rule.original]
        if rule.kind == "copy":
            ours[rule.ours[0]] = t
        elif rule.kind == "swap":
            ours[rule.ours[0]] = _swap_halves(t)
        else:
            if sum(rule.sizes) != t.shape[0]:
                raise ValueError(f"{rule.original}: dim 0 is {t.shape[0]}, expected {sum(rule.sizes)} "
                                 f"(sizes {rule.sizes}); config does not match this checkpoint")
            for name, part in zip(rule.ours, torch.split(t, list(rule.sizes), dim=0)):
                ours[name] = part
        report.converted += 1
    report.unused = sorted(k for k in original if k not in known)
    return ours, report


def to_original_state_dict(ours: dict, config) -> dict:
    """Ours -> original naming (the inverse of `from_original_state_dict`)."""
    out = {}
    for rule in key_rules(config):
        parts = [ours[n] for n in rule.ours]
        if rule.kind == "copy":
            out[rule.original] = parts[0]
        elif rule.kind == "swap":
            out[rule.original] = _swap_halves(parts[0])
        else:
            out[rule.original] = torch.cat(parts, dim=0)
    return out


# ---------------------------------------------------------------- checkpoint files
WRAPPER_KEYS = ("module", "ema", "state_dict", "model")
PREFIXES = ("module.", "model.", "_orig_mod.")


def unwrap_checkpoint(obj) -> dict:
    """The tensor dict inside a DeepSpeed/Lightning style checkpoint, with wrapper prefixes removed."""
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise ValueError(f"no state dict found in checkpoint (top-level keys: {sorted(obj)[:10]})")
        obj = inner
    if not isinstance(obj, dict):
        raise ValueError("checkpoint does not hold a state dict")
    if isinstance(obj.get("module"), dict):  # tensors beside a wrapped model: take the model
        obj = obj["module"]
    out = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def load_original_checkpoint(path: str | Path) -> dict:
    """Tensors of `mp_rank_00_model_states.pt` (or .safetensors), loaded without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return unwrap_checkpoint(load_file(str(path)))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
        obj = torch.load(path, map_location="cpu", weights_only=True)
    return unwrap_checkpoint(obj)


def infer_config(original: dict) -> dict:
    """Model config read off the tensor shapes of an original-naming checkpoint."""
    def count(pattern):
        idx = {int(m.group(1)) for k in original if (m := re.match(pattern, k))}
        return max(idx) + 1 if idx else 0

    try:
        img_in = original["img_in.proj.weight"]  # [D, C, pt, p, p]
        head_dim = original["double_blocks.0.img_attn_q_norm.weight"].shape[0]
        dim = img_in.shape[0]
        mlp = original["double_blocks.0.img_mlp.fc1.weight"].shape[0]
        final = original["final_layer.linear.weight"].shape[0]
        cfg = dict(
            in_channels=img_in.shape[1],
            out_channels=final // (img_in.shape[2] * img_in.shape[3] * img_in.shape[4]),
            num_attention_heads=dim // head_dim,
            attention_head_dim=head_dim,
            num_layers=count(r"double_blocks\.(\d+)\."),
            num_single_layers=count(r"single_blocks\.(\d+)\."),
            num_refiner_layers=count(r"txt_in\.individual_token_refiner\.blocks\.(\d+)\."),
            mlp_ratio=mlp / dim,
            patch_size=img_in.shape[3],
            patch_size_t=img_in.shape[2],
            guidance_embeds="guidance_in.mlp.0.weight" in original,
            text_embed_dim=original["txt_in.input_embedder.weight"].shape[1],
            pooled_projection_dim=original["vector_in.in_layer.weight"].shape[1],
            scene_in_channels=original["bg_in.proj.weight"].shape[1] if "bg_in.proj.weight" in original else 0,
        )
    except KeyError as exc:
        raise ValueError(f"not a HunyuanVideo checkpoint: key {exc} missing") from None
    # RoPE axes in the 13B proportions (16, 56, 56) of 128, each even: not stored in the file
    hw = (head_dim - head_dim // 8) // 2 // 2 * 2
    cfg["rope_axes_dim"] = (head_dim - 2 * hw, hw, hw)
    return cfg


DTYPES = {"keep": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def write_transformer_dir(ours: dict, config: dict, out_dir: str | Path, dtype: str = "keep",
                          max_shard_bytes: int = 5 * 1024**3) -> list[Path]:
    """A diffusers model folder (config.json + safetensors shards + index) that
    `AniXTransformer3DModel.from_pretrained` loads. Checks names and shapes first."""
    from accelerate import init_empty_weights
    from safetensors.torch import save_file

    from .transformer import AniXTransformer3DModel

    out_dir = Path(out_dir)
    with init_empty_weights():
        model = AniXTransformer3DModel(**config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(ours))
    extra = sorted(set(ours) - set(expected))
    if missing or extra:
        raise ValueError(f"converted weights do not match the model: missing {missing[:10]}, unexpected {extra[:10]}")
    bad = [k for k in expected if tuple(ours[k].shape) != expected[k]]
    if bad:
        raise ValueError(f"shape mismatch for {bad[:10]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_config(out_dir)

    cast = DTYPES[dtype]
    shards: list[dict] = [{}]
    size = 0
    for key in sorted(ours):
        t = ours[key]
        nbytes = t.numel() * (t.element_size() if cast is None else torch.empty((), dtype=cast).element_size())
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = t
        size += nbytes
    names = ["diffusion_pytorch_model.safetensors"] if len(shards) == 1 else [
        f"diffusion_pytorch_model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map, written, total = {}, [], 0
    for name, shard in zip(names, shards):
        tensors = {k: (v if cast is None else v.to(cast)).contiguous().clone() for k, v in shard.items()}
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        save_file(tensors, str(out_dir / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in shard})
        written.append(out_dir / name)
        del tensors
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out_dir / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return written


def convert_hunyuancustom(checkpoint: str | Path, out_dir: str | Path, dtype: str = "bf16",
                          overrides: dict | None = None, max_shard_bytes: int = 5 * 1024**3) -> ConversionReport:
    """`mp_rank_00_model_states.pt` -> a `AniXTransformer3DModel` folder. Raises if weights are missing."""
    original = load_original_checkpoint(checkpoint)
    config = {**infer_config(original), **(overrides or {})}
    ours, report = from_original_state_dict(original, config)
    if report.missing:
        raise ValueError(report.summary())
    write_transformer_dir(ours, config, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes)
    return report


# ---------------------------------------------------------------- LoRA files
LORA_FILE = "pytorch_lora_weights.safetensors"
# The AniX LoRA's own naming (HunyuanVideo-I2V's trainer); the generic kohya naming.
OFFICIAL_LORA_PREFIX = "Hunyuan_video_I2V_lora_"
KOHYA_LORA_PREFIX = "lora_unet_"
# peft / diffusers files name modules after one of these (or nothing).
MODULE_PREFIXES = ("base_model.model.", "transformer.", "diffusion_model.")


def lora_module_map(config) -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
    """Original module name (`double_blocks.0.img_attn_qkv`) -> (our modules, split sizes)."""
    modules = {}
    for rule in key_rules(config):
        if not rule.original.endswith(".weight") or rule.kind == "swap":
            continue
        modules[rule.original[: -len(".weight")]] = (tuple(n[: -len(".weight")] for n in rule.ours), rule.sizes or ())
    return modules


def kohya_module_map(config, prefix: str = OFFICIAL_LORA_PREFIX) -> dict[str, tuple[str, tuple[str, ...], tuple[int, ...]]]:
    """kohya module name (`Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv`) -> (original
    module, our modules, split sizes)."""
    return {prefix + orig.replace(".", "_"): (orig, ours, sizes) for orig, (ours, sizes) in lora_module_map(config).items()}


def _lora_pairs(lora: dict) -> tuple[dict, list[str]]:
    """Group a LoRA file's tensors by module: {(naming, module): {"down", "up", "alpha"}}, plus
    the keys in no LoRA layout. naming: "official" / "kohya" (underscored original names),
    "original" (dotted original names, peft or diffusers layout) or "ours" (our module names)."""
    groups: dict = {}
    odd = []
    for key, value in lora.items():
        for suffix, part in ((".lora_down.weight", "down"), (".lora_up.weight", "up"), (".alpha", "alpha"),
                             (".lora_A.weight", "down"), (".lora_B.weight", "up")):
            if key.endswith(suffix):
                module = key[: -len(suffix)]
                break
        else:
            odd.append(key)
            continue
        if module.startswith(OFFICIAL_LORA_PREFIX):
            naming, module = "official", module[len(OFFICIAL_LORA_PREFIX):]
        elif module.startswith(KOHYA_LORA_PREFIX):
            naming, module = "kohya", module[len(KOHYA_LORA_PREFIX):]
        else:
            naming = "dotted"
            for prefix in MODULE_PREFIXES:
                if module.startswith(prefix):
                    module = module[len(prefix):]
                    break
        groups.setdefault((naming, module), {})[part] = (key, value)
    return groups, odd


def convert_kohya_lora(lora: dict, config, prefix: str = "transformer") -> tuple[dict, ConversionReport]:
    """A LoRA state dict in any naming the AniX LoRA travels in -> diffusers/peft LoRA on our
    module names (`transformer.<module>.lora_A.weight` / `lora_B.weight`, peft alpha = rank).

    Namings: the official AniX file (`Hunyuan_video_I2V_lora_<module>` kohya keys), generic kohya
    (`lora_unet_<module>`), peft or diffusers keys on the original module names
    (`base_model.model.double_blocks.0.img_attn_qkv.lora_A.weight`, `transformer.` or
    `diffusion_model.` prefixes) and diffusers keys on our own module names.

    Scale: the official loader merges W += lora_scale * up @ down and ignores the file's `.alpha`;
    so does this for the official naming and for peft/diffusers files (whose scale is not in the
    file). Generic `lora_unet_` files follow the kohya convention, up @ down * alpha / rank (our
    own exports write alpha = rank, so both rules agree on them). A fused original module (qkv,
    linear1) shares lora_A and splits lora_B by rows: the merge equals the official one exactly.
    """
    by_original = lora_module_map(config)
    by_underscored = {orig.replace(".", "_"): orig for orig in by_original}
    ours_modules = {m for mods, _ in by_original.values() for m in mods}
    groups, odd = _lora_pairs(lora)
    report = ConversionReport(unused=sorted(odd))
    out = {}
    for (naming, module), parts in sorted(groups.items()):
        keys = sorted(k for k, _ in parts.values())
        if "down" not in parts or "up" not in parts:
            report.unused.extend(keys)
            continue
        down, up = parts["down"][1], parts["up"][1]
        if down.dim() != 2 or up.dim() != 2 or up.shape[1] != down.shape[0]:
            raise ValueError(f"{module}: only linear LoRA is supported (down {tuple(down.shape)}, up {tuple(up.shape)})")
        if naming == "kohya" and "alpha" in parts:
            up = up * (float(parts["alpha"][1]) / down.shape[0])
        original = by_underscored.get(module) if naming in ("official", "kohya") else module
        if original in by_original:
            targets, sizes = by_original[original]
        elif naming == "dotted" and module in ours_modules:
            targets, sizes = (module,), ()
        else:
            report.unused.extend(keys)
            continue
        if sizes and sum(sizes) != up.shape[0]:
            raise ValueError(f"{module}: lora_up has {up.shape[0]} rows, the model's module {sum(sizes)}")
        ups = torch.split(up, list(sizes), dim=0) if sizes else (up,)
        for target, part in zip(targets, ups):
            out[f"{prefix}.{target}.lora_A.weight"] = down.clone()
            out[f"{prefix}.{target}.lora_B.weight"] = part.contiguous()
        report.converted += 1
    report.unused.sort()
    return out, report


def read_lora_file(path: str | Path) -> dict:
    """Tensors of a LoRA `.safetensors` file, or of `pytorch_lora_weights.safetensors` in a folder."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / LORA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"LoRA file not found: {path}")
    if path.suffix != ".safetensors":
        raise ValueError("LoRA must be a .safetensors file (pickled LoRA files are not loaded)")
    return load_file(str(path))


def checked_lora(lora: dict, config, source) -> tuple[dict, ConversionReport]:
    """`convert_kohya_lora`, but a LoRA that leaves any entry unmatched is an error naming it:
    a LoRA for another model must never load as a silent (partial) no-op."""
    out, report = convert_kohya_lora(lora, config)
    if not out or report.unused:
        raise ValueError(f"LoRA {source}: {report.converted} modules matched this model, "
                         f"{len(report.unused)} entries match none: {', '.join(report.unused[:8])}"
                         + (" ..." if len(report.unused) > 8 else ""))
    return out, report


def convert_lora_file(path: str | Path, out_dir: str | Path, config) -> ConversionReport:
    """Any supported LoRA file -> `out_dir/pytorch_lora_weights.safetensors` (diffusers LoRA format)."""
    from safetensors.torch import save_file

    lora, report = checked_lora(read_lora_file(path), config, path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(lora, str(out_dir / LORA_FILE), metadata={"format": "pt"})
    return report
