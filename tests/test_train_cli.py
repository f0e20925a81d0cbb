"""`anix dataset`, `anix train` and `anix eval` from the command line, end to end on tiny data."""
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from anix_core.cli import main
from anix_core.train.config import RunConfig
from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert main(["dataset", "synthetic", "--count", "2", "--frames", "5", "--out", str(root / "clips")]) == 0
    assert main(["dataset", "validate", str(root / "clips")]) == 0
    assert main(["dataset", "encode", str(root / "clips"), "--tiny", "--width", "48", "--height", "32",
                 "--out", str(root / "latents")]) == 0
    return root


def run_config(encoded, folder, name, source, **train):
    """A shipped config pointed at the encoded clips."""
    raw = yaml.safe_load((REPO / "configs" / source).read_text())
    raw["data"] = {"latents": str(encoded / "latents")}
    raw["train"].update(train)
    path = folder / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_configs_are_valid():
    for name in ("tiny_lora.yaml", "tiny_dmd2.yaml"):
        RunConfig.from_yaml(REPO / "configs" / name)


def test_dataset_validate_reports_a_broken_clip(encoded, tmp_path, capsys):
    shutil.copytree(encoded / "clips", tmp_path / "clips")
    (tmp_path / "clips" / "clip_0001" / "views" / "back.png").unlink()
    assert main(["dataset", "validate", str(tmp_path / "clips")]) == 2
    out = capsys.readouterr().out
    assert "clip_0001: views/back.png is missing" in out and "1 of 2 clips are usable" in out


def test_train_lora_writes_metrics_checkpoints_and_adapters_and_resumes(encoded, tmp_path):
    config = run_config(encoded, tmp_path, "lora.yaml", "tiny_lora.yaml", save_every=2)
    out = tmp_path / "run"
    assert main(["train", "lora", str(config), "--output-dir", str(out), "--max-steps", "2"]) == 0
    assert main(["train", "lora", str(config), "--output-dir", str(out), "--max-steps", "4", "--resume", str(out)]) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (out / "checkpoint-4").is_dir()
    assert (out / "adapter" / "pytorch_lora_weights.safetensors").is_file()
    assert (out / "lora_kohya.safetensors").is_file()


def test_train_dmd2_writes_the_student(encoded, tmp_path):
    config = run_config(encoded, tmp_path, "dmd2.yaml", "tiny_dmd2.yaml", regression_pairs=1, teacher_steps=4)
    assert RunConfig.from_yaml(config).train.teacher_guidance_scale == 7.5
    assert main(["train", "dmd2", str(config), "--output-dir", str(tmp_path / "d"), "--max-steps", "5"]) == 0
    assert (tmp_path / "d" / "student" / "pytorch_lora_weights.safetensors").is_file()


def test_encoded_clips_hold_the_negative_prompt_of_the_guided_teacher(encoded):
    from safetensors.torch import load_file

    from anix_core.model.pipeline import NEGATIVE_PROMPT
    from anix_core.model.text import trim_uncond_mask
    from anix_core.model.tiny import tiny_pipeline

    clip = load_file(str(encoded / "latents" / "clip_0000.safetensors"))
    embeds, mask, pooled = tiny_pipeline().encode_prompt(NEGATIVE_PROMPT, "cpu", torch.float32, 64, negative=True)
    assert clip["negative_prompt_embeds"].shape == clip["prompt_embeds"].shape
    torch.testing.assert_close(clip["negative_prompt_embeds"], embeds[0])   # what the pipeline's CFG branch sees
    torch.testing.assert_close(clip["negative_prompt_mask"], trim_uncond_mask(mask)[0])
    torch.testing.assert_close(clip["negative_pooled"], pooled[0])


def test_older_encoded_clips_train_a_lora_but_dmd2_names_the_missing_tensor(encoded, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    old = tmp_path / "old_latents"
    old.mkdir()
    for f in (encoded / "latents").glob("*.safetensors"):
        save_file({k: v for k, v in load_file(str(f)).items() if not k.startswith("negative_")}, str(old / f.name))
    lora = run_config(encoded, tmp_path, "lora.yaml", "tiny_lora.yaml")
    dmd2 = run_config(encoded, tmp_path, "dmd2.yaml", "tiny_dmd2.yaml", regression_pairs=1, teacher_steps=2)
    for path in (lora, dmd2):
        raw = yaml.safe_load(path.read_text())
        raw["data"] = {"latents": str(old)}
        path.write_text(yaml.safe_dump(raw))
    assert main(["train", "lora", str(lora), "--output-dir", str(tmp_path / "l"), "--max-steps", "1"]) == 0
    capsys.readouterr()
    assert main(["train", "dmd2", str(dmd2), "--output-dir", str(tmp_path / "d"), "--max-steps", "1"]) == 2
    assert "2 of 2 encoded clips lack the tensor 'negative_prompt_embeds'" in capsys.readouterr().err


def test_a_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {lora_rank: 0}\ndata: {synthetic: 1}\n")
    assert main(["train", "lora", str(path), "--output-dir", str(tmp_path / "o")]) == 2
    assert "train.lora_rank must be in 1..1024" in capsys.readouterr().err


def test_eval_scores_a_shot_against_its_views_and_scene(encoded, tmp_path, capsys):
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=28, patch_size=14)).save_pretrained(tmp_path / "dinov2")
    clip = encoded / "clips" / "clip_0000"
    report = tmp_path / "metrics.json"
    assert main(["eval", "--video", str(clip / "target"), "--masks", str(clip / "mask"), "--views", str(clip / "views"),
                 "--scene", str(clip / "scene"), "--dinov2", str(tmp_path / "dinov2"), "--clip-length", "3",
                 "--out", str(report)]) == 0
    result = json.loads(report.read_text())
    assert [c["frames"] for c in result["clips"]] == [[0, 3], [3, 5]]
    assert 0 < result["clips"][0]["dinov2"]["mean"] <= 1
    assert result["clips"][0]["scene"]["psnr_db"] > 20
    assert "dinov2" in capsys.readouterr().out


def test_dataset_build_renders_the_scene_along_the_cameras(fixtures_dir, tmp_path):
    from anix_core.cameras import Camera, cameras_to_json

    cams = [Camera.look_at((8.0, -8.0 + i, 3.0), (0, 0, 0.5), 48, 32) for i in range(3)]
    (tmp_path / "cams.json").write_text(cameras_to_json(cams))
    for name in ("video", "masks"):
        (tmp_path / name).mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 48, 3), 200, np.uint8)).save(tmp_path / "video" / f"{i:03d}.png")
        mask = np.zeros((32, 48), np.uint8)
        mask[10:20, 5 + i:15 + i] = 255
        mask[12, 30] = 255          # a stray segmenter pixel widens the box, as a box should
        Image.fromarray(mask).save(tmp_path / "masks" / f"{i:03d}.png")
    code = main(["dataset", "build", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--camera",
                 str(tmp_path / "cams.json"), "--video", str(tmp_path / "video"), "--masks", str(tmp_path / "masks"),
                 "--views", str(fixtures_dir / "character"), "--caption", "A character is standing.",
                 "--tag", "real", "--out", str(tmp_path / "clip")])
    assert code == 0
    from anix_core.train.data import load_clip

    clip = load_clip(tmp_path / "clip")
    assert clip.scene.shape == (3, 32, 48, 3) and clip.scene.std() > 5   # a real render, not blank
    assert clip.mask[0, 10:20, 5:31].all() and not clip.mask[0, :10].any()
    assert clip.prompt().endswith("[real]")
