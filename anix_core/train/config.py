"""Training run configuration: a YAML file, validated field by field."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

import yaml

# AniX's LoRA targets: attention q/k/v/out (both streams) and the MLP linears, in the dual- and
# single-stream blocks only (embedders, refiner and the scene projector stay frozen).
LORA_TARGETS = (
    r".*transformer_blocks\.\d+\.(attn\.(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj|to_add_out)"
    r"|ff\.net\.(0\.proj|2)|ff_context\.net\.(0\.proj|2)|proj_mlp|proj_out)"
)


@dataclass
class ModelSpec:
    pretrained: str | None = None      # a saved AniXTransformer3DModel folder (real runs)
    config: str | dict = "tiny"        # "tiny", "hunyuan_13b" or a dict of config keys (random init)
    overrides: dict = field(default_factory=dict)


@dataclass
class DataSpec:
    latents: str | None = None         # folder of encoded clips (`anix dataset encode`)
    synthetic: int = 0                 # or this many synthetic clips made on the fly
    synthetic_frames: int = 9
    synthetic_size: tuple = (32, 48)   # height, width in pixels


@dataclass
class TrainSpec:
    max_steps: int = 200
    learning_rate: float = 1e-4
    warmup_steps: int = 10
    batch_size: int = 1
    seed: int = 0
    lora_rank: int = 64
    lora_alpha: float = 64.0
    lora_targets: str = LORA_TARGETS
    train_modules: list = field(default_factory=list)  # modules trained fully (e.g. a fresh scene stream)
    scene_drop_p: float = 0.3
    history_frames: int = 0
    history_noise_std: float = 0.0
    guidance_scale: float = 6.0        # HunyuanVideo's embedded guidance (an input of the model)
    gradient_checkpointing: bool = False
    mixed_precision: str = "no"        # no | bf16 | fp16
    save_every: int = 100
    # DMD2 only
    student_every: int = 5
    student_steps: int = 4
    teacher_steps: int = 30
    teacher_guidance_scale: float = 7.5  # the teacher's classifier-free guidance (negative prompt); 1 disables
    teacher_lora: str | None = None   # the AniX LoRA merged into the teacher (file or folder; any naming)
    teacher_lora_scale: float = 1.0
    gan_head: bool = False
    regression_weight: float = 0.0    # DMD's regression to teacher samples from the same noise
    regression_pairs: int = 4


@dataclass
class RunConfig:
    model: ModelSpec
    data: DataSpec
    train: TrainSpec

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config {path}: not valid YAML ({exc})") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "RunConfig":
        if not isinstance(raw, dict):
            raise ValueError(f"{source}: expected a mapping with model, data and train")
        unknown = set(raw) - {"model", "data", "train"}
        if unknown:
            raise ValueError(f"{source}: unknown section(s) {sorted(unknown)}; expected model, data, train")
        parts = {name: _build(spec, raw.get(name) or {}, f"{source}: {name}")
                 for name, spec in (("model", ModelSpec), ("data", DataSpec), ("train", TrainSpec))}
        config = cls(**parts)
        config.check(source)
        return config

    def check(self, source: str = "config") -> None:
        t, d = self.train, self.data
        rules = [
            (t.max_steps >= 1, "train.max_steps must be >= 1"),
            (0 < t.learning_rate < 1, "train.learning_rate must be in (0, 1)"),
            (t.warmup_steps >= 0, "train.warmup_steps must be >= 0"),
            (t.batch_size >= 1, "train.batch_size must be >= 1"),
            (1 <= t.lora_rank <= 1024, "train.lora_rank must be in 1..1024"),
            (0 <= t.scene_drop_p <= 1, "train.scene_drop_p must be in [0, 1]"),
            (t.history_frames >= 0, "train.history_frames must be >= 0"),
            (t.mixed_precision in ("no", "bf16", "fp16"), "train.mixed_precision must be no, bf16 or fp16"),
            (t.save_every >= 1, "train.save_every must be >= 1"),
            (t.student_every >= 1 and t.student_steps >= 1, "train.student_every and student_steps must be >= 1"),
            (t.teacher_guidance_scale >= 1, "train.teacher_guidance_scale must be >= 1 (1 disables guidance)"),
            (bool(d.latents) != bool(d.synthetic), "data: give exactly one of latents (a folder) or synthetic (a count)"),
            (d.synthetic >= 0, "data.synthetic must be >= 0"),
        ]
        for ok, message in rules:
            if not ok:
                raise ValueError(f"{source}: {message}")


def _build(spec_class, raw, where):
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping")
    names = {f.name: f for f in fields(spec_class)}
    unknown = set(raw) - set(names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(names)}")
    values = {}
    for key, value in raw.items():
        spec = names[key]
        default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
        expected = None if default is None else type(default)
        if expected in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = expected(value)
        elif expected is tuple and isinstance(value, list):
            value = tuple(value)
        elif key == "config" and isinstance(value, (str, dict)):
            pass
        elif expected is not None and not isinstance(value, expected):
            raise ValueError(f"{where}.{key}: expected {expected.__name__}, got {type(value).__name__}")
        values[key] = value
    return spec_class(**values)
