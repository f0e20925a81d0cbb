"""Training clips: the validator names every problem, a good clip round-trips."""
import json

import numpy as np
import pytest

from anix_core.train.data import Clip, DatasetError, find_clips, load_clip, save_clip, validate_clip


def make_clip(frames=5, h=24, w=32, seed=0) -> Clip:
    rng = np.random.default_rng(seed)
    mask = np.zeros((frames, h, w), bool)
    mask[:, 8:20, 10:20] = True
    views = {v: rng.integers(0, 256, (16, 16, 4), dtype=np.uint8) for v in ("front", "left", "back", "right")}
    return Clip(rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8),
                rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8), mask, views,
                "A character is running forward.", 25.0, "rendered")


def test_a_saved_clip_validates_and_loads_back_identically(tmp_path):
    clip = make_clip()
    save_clip(clip, tmp_path / "clip_0000")
    assert validate_clip(tmp_path / "clip_0000") == []
    back = load_clip(tmp_path / "clip_0000")
    np.testing.assert_array_equal(back.target, clip.target)
    np.testing.assert_array_equal(back.mask, clip.mask)
    assert back.prompt() == "A character is running forward. [rendered]"
    assert find_clips(tmp_path) == [tmp_path / "clip_0000"]


def test_the_validator_names_every_problem(tmp_path):
    d = save_clip(make_clip(), tmp_path / "c")
    (d / "mask" / "frame_0004.png").unlink()                  # frame-count mismatch
    (d / "views" / "left.png").unlink()                       # missing view
    save_clip(make_clip(frames=1, h=10, w=10), tmp_path / "small")
    (tmp_path / "small" / "scene" / "frame_0000.png").replace(d / "scene" / "frame_0002.png")  # wrong size
    (d / "clip.json").write_text(json.dumps({"caption": "", "fps": 0}))
    problems = validate_clip(d)
    text = "\n".join(problems)
    assert "frame counts differ" in text and "mask 4" in text
    assert "views/left.png is missing" in text
    assert "scene/frame_0002.png is 10x10" in text
    assert "caption" in text and "fps" in text
    with pytest.raises(DatasetError, match="views/left.png"):
        load_clip(d)


def test_an_empty_folder_lists_what_is_missing(tmp_path):
    problems = validate_clip(tmp_path)
    assert "clip.json is missing" in problems
    assert any("target/ has no frame" in p for p in problems)
