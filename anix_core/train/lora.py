"""LoRA post-training of the AniX transformer (the paper's recipe): flow matching with
logit-normal t, scene condition dropped with p = 0.3, optional noisy history, rank-64 LoRA on
attention and MLP, everything else frozen, AdamW with warm-up. Runs under accelerate, so the
same code trains on a CPU, one GPU, or many (`accelerate launch` with configs/zero2.yaml).

Every step is reproducible from (seed, step) alone: the clip order, t, the noise and the scene
drop come from a generator seeded per step, so a resumed run continues bit-identically.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from anix_core.train.config import RunConfig, TrainSpec
from anix_core.train.flow_matching import FlowMatchingLoss
from anix_core.train.latents import collate

CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    losses: list[float]
    adapter_dir: Path
    kohya_file: Path


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The random stream of one step on one process (each GPU draws its own batch)."""
    # Large odd multipliers keep the per-step and per-rank streams apart for any seed.
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 8191 + rank)


def build_model(config: RunConfig):
    """The transformer of `config.model` (float32). Seeds the global RNG with train.seed first, so
    random weights and the LoRA initialisation that follows are the same on every run and rank."""
    from anix_core.model import AniXTransformer3DModel
    from anix_core.model import configs as named

    spec = config.model
    torch.manual_seed(config.train.seed)
    if spec.pretrained:
        return AniXTransformer3DModel.from_pretrained(spec.pretrained, **spec.overrides)
    base = spec.config if isinstance(spec.config, dict) else getattr(named, spec.config.upper(), None)
    if base is None:
        raise ValueError(f"model.config: unknown named config {spec.config!r}; use tiny, hunyuan_13b or a mapping")
    return AniXTransformer3DModel(**{**base, **spec.overrides})


HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def add_lora(model, t: TrainSpec) -> list[torch.nn.Parameter]:
    """Freeze everything, add the LoRA adapter, unfreeze `t.train_modules`; returns what trains.
    With t.mixed_precision bf16/fp16 the frozen weights are stored in that type (13B: 26 GB
    instead of 52 GB) and what trains stays float32 (autocast computes in half precision)."""
    from peft import LoraConfig

    model.requires_grad_(False)
    model.add_adapter(LoraConfig(r=t.lora_rank, lora_alpha=t.lora_alpha, target_modules=t.lora_targets,
                                 init_lora_weights=True))
    for name in t.train_modules:
        module = getattr(model, name, None)
        if module is None:
            raise ValueError(f"train.train_modules: the model has no module {name!r}")
        module.requires_grad_(True)
    store_for_mixed_precision(model, t.mixed_precision)
    return [p for p in model.parameters() if p.requires_grad]


def store_for_mixed_precision(model, mixed_precision: str) -> torch.dtype | None:
    """Frozen parameters in bf16/fp16 (when mixed_precision is one), trainable ones in float32;
    returns the half type or None."""
    half = HALF_DTYPES.get(mixed_precision)
    for p in model.parameters():
        p.data = p.data.to(half) if half is not None and not p.requires_grad else p.data.float()
    return half


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _lr_lambda(warmup: int) -> Callable[[int], float]:
    return lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = sorted(output_dir.glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
    return found[-1] if found else None


def checkpoint_folder(path: str | Path, what: str) -> Path:
    """`path` itself when it is a checkpoint, else the latest checkpoint of the run folder `path`."""
    path = Path(path)
    folder = path if (path / "trainable.safetensors").is_file() else latest_checkpoint(path)
    if folder is None:
        raise ValueError(f"{what} {path}: no checkpoint found there")
    return folder


def save_checkpoint(folder: Path, model, optimizer, scheduler, step: int) -> Path:
    """Trainable weights (safetensors) and, when given, optimizer + scheduler state (tensors and
    numbers only, read back with weights_only=True)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({n: p.contiguous() for n, p in trainable_state(model).items()}, str(folder / "trainable.safetensors"))
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step},
                   folder / "state.pt")
    return folder


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> int:
    weights = load_file(str(folder / "trainable.safetensors"))
    params = dict(model.named_parameters())
    unknown = set(weights) - set(params)
    if unknown:
        raise ValueError(f"--resume {folder}: checkpoint has parameters this model lacks: {sorted(unknown)[:5]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    state = torch.load(folder / "state.pt", weights_only=True)  # tensors and numbers only
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])


def load_trained(config: RunConfig, checkpoint: str | Path):
    """The model of a run as it was at `checkpoint` (a checkpoint folder or a run folder)."""
    folder = checkpoint_folder(checkpoint, "checkpoint")
    model = build_model(config)
    add_lora(model, config.train)
    weights = load_file(str(folder / "trainable.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected:
        raise ValueError(f"{folder}: parameters this model lacks: {sorted(unexpected)[:5]}")
    return model


def export_adapter(model, output_dir: Path, train_modules=()) -> tuple[Path, Path]:
    """Save the LoRA as a diffusers/peft adapter folder and as one kohya-style file; modules
    trained in full (train.train_modules) go beside them in adapter/trained_modules.safetensors."""
    from peft.utils import get_peft_model_state_dict

    from anix_core.train.kohya import peft_to_kohya

    adapter_dir = output_dir / "adapter"
    model.save_lora_adapter(str(adapter_dir))
    if train_modules:
        full = {f"{name}.{key}": value.detach().contiguous() for name in train_modules
                for key, value in getattr(model, name).state_dict().items()}
        save_file(full, str(adapter_dir / "trained_modules.safetensors"))
    lora_state = get_peft_model_state_dict(model)
    rank = model.peft_config["default"].r
    alpha = model.peft_config["default"].lora_alpha
    kohya_file = output_dir / "lora_kohya.safetensors"
    save_file(peft_to_kohya(lora_state, model.config, alpha=alpha, rank=rank), str(kohya_file))
    return adapter_dir, kohya_file


def train_lora(config: RunConfig, output_dir: str | Path, clips: list[dict], max_steps: int | None = None,
               resume: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Train; writes checkpoints, metrics.jsonl (one {"step", "loss", "lr"} per step) and the adapter."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    t = config.train
    total = max_steps or t.max_steps
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # The schedule counts optimizer steps (accelerate would otherwise step it once per process).
    accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=not torch.cuda.is_available(),
                              step_scheduler_with_optimizer=False)
    if accelerator.state.deepspeed_plugin is not None:  # no DataLoader tells DeepSpeed the batch size
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = t.batch_size

    model = build_model(config)
    params = add_lora(model, t)
    if t.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(t.warmup_steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    start = 0
    if resume:
        folder = checkpoint_folder(resume, "--resume")
        if accelerator.num_processes > 1:  # sharded optimizer state (DeepSpeed): accelerate's own format
            accelerator.load_state(str(folder / "accelerate"))
            start = json.loads((folder / "step.json").read_text())["step"]
        else:
            start = load_checkpoint(folder, accelerator.unwrap_model(model), optimizer, scheduler)

    loss_fn = FlowMatchingLoss(scene_drop_p=t.scene_drop_p, history_frames=t.history_frames,
                               history_noise_std=t.history_noise_std, guidance_scale=t.guidance_scale)
    metrics_path = output_dir / "metrics.jsonl"
    losses: list[float] = []
    model.train()
    input_dtype = accelerator.unwrap_model(model).dtype  # DeepSpeed bf16 runs without autocast
    main = accelerator.is_main_process
    with open(metrics_path, "a") as metrics, tqdm(total=total, initial=start, disable=not (progress and main),
                                                    desc="train lora", unit="step") as bar:
        for step in range(start, total):
            gen = step_generator(t.seed, step, accelerator.process_index)
            order = torch.randint(len(clips), (t.batch_size,), generator=gen).tolist()
            batch = collate([clips[i] for i in order]).to(accelerator.device, input_dtype)
            with accelerator.autocast():
                loss = loss_fn(model, batch, gen)
            mean_loss = accelerator.reduce(loss.detach().float(), "mean").item()
            if not math.isfinite(mean_loss):  # the same on every rank: all stop together
                raise FloatingPointError(f"loss became {mean_loss} at step {step}; lower train.learning_rate")
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(mean_loss)
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.4f}")
            if main:
                metrics.write(json.dumps({"step": step + 1, "loss": mean_loss, "lr": scheduler.get_last_lr()[0]}) + "\n")
                metrics.flush()
            if (step + 1) % t.save_every == 0 or step + 1 == total:
                folder = output_dir / f"{CHECKPOINT_PREFIX}{step + 1}"
                if accelerator.num_processes > 1:
                    accelerator.save_state(str(folder / "accelerate"))
                    if main:
                        (folder / "step.json").write_text(json.dumps({"step": step + 1}))
                if main:  # with several processes the optimizer state lives in accelerate's shards above
                    single = accelerator.num_processes == 1
                    save_checkpoint(folder, accelerator.unwrap_model(model), optimizer if single else None,
                                    scheduler, step + 1)
    accelerator.wait_for_everyone()
    if not main:
        return TrainResult(output_dir, total, losses, output_dir / "adapter", output_dir / "lora_kohya.safetensors")
    adapter_dir, kohya_file = export_adapter(accelerator.unwrap_model(model), output_dir, t.train_modules)
    return TrainResult(output_dir, total, losses, adapter_dir, kohya_file)
