"""The official HunyuanCustom download folder, as it comes -> one diffusers-style AniX model folder.

Official layout (the `models/` folder of HunyuanCustom's download, or its parent):

    hunyuancustom_editing_720P/mp_rank_00_model_states.pt   the DiT (original key names)
    vae_3d/hyvae/pytorch_model.pt + config.json             the causal 3D VAE (AutoencoderKLCausal3D)
    llava-llama-3-8b-v1_1/                                  LLaVA (transformers folder) + its tokenizer
    openai_clip-vit-large-patch14/                          CLIP-L (transformers folder) + its tokenizer

Written: model_index.json, transformer/ (converted, `anix_core.model.convert`), vae/ (diffusers'
`AutoencoderKLHunyuanVideo`: the original names ARE diffusers' names, every key and shape is
checked), text_encoder/ + tokenizer/ and text_encoder_2/ + tokenizer_2/ (the files copied), scheduler/
(flow matching, shift 13) and, with a LoRA, lora/. `AniXPipeline.from_pretrained` and
`anix serve --generator anix --model MODEL_DIR` load the result.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

TRANSFORMER_FILE = "hunyuancustom_editing_720P/mp_rank_00_model_states.pt"
VAE_FILE = "vae_3d/hyvae/pytorch_model.pt"
VAE_CONFIG = "vae_3d/hyvae/config.json"
LLAVA_DIR = "llava-llama-3-8b-v1_1"
CLIP_DIR = "openai_clip-vit-large-patch14"
EXPECTED = {
    TRANSFORMER_FILE: "the HunyuanCustom video-editing DiT checkpoint",
    VAE_FILE: "the HunyuanVideo causal 3D VAE weights",
    VAE_CONFIG: "the HunyuanVideo causal 3D VAE config",
    f"{LLAVA_DIR}/config.json": "the LLaVA-Llama-3-8B text encoder (a transformers folder)",
    f"{CLIP_DIR}/config.json": "the CLIP ViT-L/14 text encoder (a transformers folder)",
}
USED_TOP_LEVEL = {"hunyuancustom_editing_720P", "vae_3d", LLAVA_DIR, CLIP_DIR}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "added_tokens.json")
WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")
MODEL_FILES = ("config.json", "generation_config.json")


@dataclass
class DownloadReport:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def find_download_root(folder: str | Path) -> Path:
    """The folder holding the official entries: `folder` itself or its `models/` subfolder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"download folder not found: {folder}")
    for candidate in (folder, folder / "models"):
        if (candidate / TRANSFORMER_FILE).exists() or (candidate / "vae_3d").is_dir():
            return candidate
    return folder


def check_download(root: Path) -> None:
    """Every file the conversion needs, or ValueError with one line per missing file."""
    missing = [f"{root / rel}: missing ({what})" for rel, what in EXPECTED.items() if not (root / rel).is_file()]
    for folder, what in ((LLAVA_DIR, "LLaVA"), (CLIP_DIR, "CLIP")):
        d = root / folder
        if d.is_dir() and not _weight_files(d):
            missing.append(f"{d}: no weights (*.safetensors) in the {what} folder")
        if d.is_dir() and not any((d / f).is_file() for f in ("tokenizer.json", "vocab.json", "tokenizer.model")):
            missing.append(f"{d}: no tokenizer files (tokenizer.json, or vocab.json + merges.txt) in the {what} folder")
    if missing:
        raise ValueError("the download folder is incomplete:\n" + "\n".join(missing))


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def vae_config(original: dict) -> dict:
    """The original AutoencoderKLCausal3D config -> AutoencoderKLHunyuanVideo's."""
    blocks = list(original.get("block_out_channels", (128, 256, 512, 512)))
    cfg = {k: original[k] for k in ("in_channels", "out_channels", "latent_channels", "layers_per_block", "act_fn",
                                    "norm_num_groups", "scaling_factor", "mid_block_add_attention") if k in original}
    cfg.update(block_out_channels=tuple(blocks), down_block_types=("HunyuanVideoDownBlock3D",) * len(blocks),
               up_block_types=("HunyuanVideoUpBlock3D",) * len(blocks),
               spatial_compression_ratio=2 ** (len(blocks) - 1),
               temporal_compression_ratio=original.get("time_compression_ratio", 4))
    return cfg


def load_vae_state(path: Path) -> dict:
    """Tensors of the original VAE checkpoint (weights_only), `state_dict` wrapper and `vae.` prefix removed."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if any(k.startswith("vae.") for k in obj):
        obj = {k[len("vae."):]: v for k, v in obj.items() if k.startswith("vae.")}
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def convert_vae(root: Path, out_dir: Path, dtype: torch.dtype | None) -> int:
    """The VAE into out_dir (diffusers `AutoencoderKLHunyuanVideo`); every key and shape checked."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLHunyuanVideo

    config = vae_config(json.loads((root / VAE_CONFIG).read_text()))
    state = load_vae_state(root / VAE_FILE)
    with init_empty_weights():
        vae = AutoencoderKLHunyuanVideo(**config)
    expected = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    problems = [f"{root / VAE_FILE}: key {k} missing" for k in missing[:10]]
    problems += [f"{root / VAE_FILE}: unexpected key {k}" for k in unexpected[:10]]
    problems += [f"{root / VAE_FILE}: {k} has shape {tuple(state[k].shape)}, expected {expected[k]}" for k in wrong[:10]]
    if problems:
        raise ValueError("the VAE does not match AutoencoderKLHunyuanVideo:\n" + "\n".join(problems))
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    vae.load_state_dict(state, strict=True, assign=True)
    vae.save_pretrained(out_dir)
    return len(state)


def copy_hf_model(source: Path, model_out: Path, tokenizer_out: Path) -> None:
    """A transformers folder split into the model's files and the tokenizer's files (copied as they are)."""
    model_out.mkdir(parents=True, exist_ok=True)
    tokenizer_out.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if not f.is_file():
            continue
        if f.name in TOKENIZER_FILES:
            shutil.copy2(f, tokenizer_out / f.name)
        elif f.name in MODEL_FILES or f.name.endswith(WEIGHT_SUFFIXES):
            shutil.copy2(f, model_out / f.name)


def tokenizer_class(folder: Path) -> str:
    """The tokenizer class its tokenizer_config.json names (when transformers has it), else the fast tokenizer."""
    import transformers

    path = folder / "tokenizer_config.json"
    name = json.loads(path.read_text()).get("tokenizer_class") if path.is_file() else None
    return name if name and hasattr(transformers, name) else "PreTrainedTokenizerFast"


def text_encoder_class(folder: Path) -> str:
    model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    return {"llava": "LlavaForConditionalGeneration", "llama": "LlamaModel"}.get(model_type, "AutoModel")


def convert_download(folder: str | Path, out_dir: str | Path, dtype: str = "bf16",
                     lora: str | Path | None = None) -> DownloadReport:
    """The official download folder -> a complete AniX model folder; returns what was done."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from .convert import DTYPES, convert_hunyuancustom, convert_lora_file
    from .pipeline import SCHEDULER_SHIFT

    root = find_download_root(folder)
    check_download(root)
    out = Path(out_dir)
    report = DownloadReport()
    for entry in sorted(p.name for p in root.iterdir()):
        if entry not in USED_TOP_LEVEL:
            report.add(f"not used: {root / entry}")
    t = convert_hunyuancustom(root / TRANSFORMER_FILE, out / "transformer", dtype=dtype)
    report.add(f"transformer: {t.summary().splitlines()[0]}")
    report.add(f"vae: {convert_vae(root, out / 'vae', DTYPES[dtype])} tensors, every key checked")
    copy_hf_model(root / LLAVA_DIR, out / "text_encoder", out / "tokenizer")
    copy_hf_model(root / CLIP_DIR, out / "text_encoder_2", out / "tokenizer_2")
    report.add(f"text encoders: {root / LLAVA_DIR} and {root / CLIP_DIR} copied")
    FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT).save_pretrained(out / "scheduler")
    import diffusers

    index = {
        "_class_name": "AniXPipeline", "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", text_encoder_class(root / LLAVA_DIR)],
        "text_encoder_2": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", tokenizer_class(root / LLAVA_DIR)],
        "tokenizer_2": ["transformers", tokenizer_class(root / CLIP_DIR)],
        "transformer": ["anix_core.model.transformer", "AniXTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLHunyuanVideo"],
    }
    (out / "model_index.json").write_text(json.dumps(index, indent=2))
    if lora is not None:
        config = json.loads((out / "transformer" / "config.json").read_text())
        r = convert_lora_file(lora, out / "lora", config)
        report.add(f"lora: {r.converted} modules converted into {out / 'lora'}")
    else:
        report.add("lora: none given; the AniX LoRA goes in with `anix convert lora FILE --out "
                   f"{out / 'lora'} --transformer {out / 'transformer'}`")
    return report
