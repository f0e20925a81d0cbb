"""Training clips on disk (docs/DATASET.md) and their validation.

A clip is a folder:

    clip_0001/
      clip.json          {"caption": str, "fps": float, "tag": "rendered"|"real"|null}
      target/frame_0000.png ...   the video to learn, RGB
      scene/frame_0000.png ...    the scene rendered without the character, RGB
      mask/frame_0000.png ...     the character box mask, greyscale (>127 = character)
      views/front.png left.png back.png right.png   RGBA reference views

All three videos have the same frame count and size; the views may have any size.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anix_core.shot import VIEW_NAMES

VIDEOS = ("target", "scene", "mask")
TAGS = ("rendered", "real", None)


class DatasetError(ValueError):
    """A clip folder is not usable; `problems` lists every problem found, each naming its file."""

    def __init__(self, clip_dir: Path, problems: list[str]):
        self.clip_dir = Path(clip_dir)
        self.problems = problems
        super().__init__(f"clip {clip_dir}: " + "; ".join(problems))


@dataclass
class Clip:
    """One training clip in memory. target/scene [F,H,W,3] uint8; mask [F,H,W] bool;
    views name -> [h,w,4] uint8."""

    target: np.ndarray
    scene: np.ndarray
    mask: np.ndarray
    views: dict
    caption: str
    fps: float
    tag: str | None = None

    @property
    def num_frames(self) -> int:
        return int(self.target.shape[0])

    def prompt(self) -> str:
        """The caption with the optional real/rendered tag, as the model is trained with it."""
        return f"{self.caption} [{self.tag}]" if self.tag else self.caption


def _frame_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("frame_*.png"))


def validate_clip(clip_dir: str | Path) -> list[str]:
    """Every problem of a clip folder (an empty list when it is usable). Reads headers only."""
    from PIL import Image

    clip_dir = Path(clip_dir)
    problems: list[str] = []
    if not clip_dir.is_dir():
        return [f"{clip_dir} is not a folder"]
    meta_path = clip_dir / "clip.json"
    if not meta_path.is_file():
        problems.append("clip.json is missing")
    else:
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            problems.append(f"clip.json is not valid JSON ({exc})")
        else:
            if not isinstance(meta.get("caption"), str) or not meta["caption"].strip():
                problems.append("clip.json: caption must be a non-empty string")
            fps = meta.get("fps")
            if not isinstance(fps, (int, float)) or not 1 <= fps <= 240:
                problems.append("clip.json: fps must be a number in 1..240")
            if meta.get("tag") not in TAGS:
                problems.append(f"clip.json: tag must be one of 'rendered', 'real' or null, got {meta.get('tag')!r}")
    counts, sizes = {}, {}
    for name in VIDEOS:
        files = _frame_files(clip_dir / name)
        if not files:
            problems.append(f"{name}/ has no frame_*.png files")
            continue
        counts[name] = len(files)
        for f in files:
            try:
                with Image.open(f) as im:
                    size = im.size
            except Exception as exc:  # PIL raises many types for broken files
                problems.append(f"{f.relative_to(clip_dir)} cannot be read ({exc.__class__.__name__})")
                continue
            if sizes.setdefault(name, size) != size:
                problems.append(f"{f.relative_to(clip_dir)} is {size[0]}x{size[1]}, "
                                f"other {name} frames are {sizes[name][0]}x{sizes[name][1]}")
    if len(set(counts.values())) > 1:
        problems.append("frame counts differ: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if len(set(sizes.values())) > 1:
        problems.append("frame sizes differ: " + ", ".join(f"{k} {w}x{h}" for k, (w, h) in sizes.items()))
    for view in VIEW_NAMES:
        if not (clip_dir / "views" / f"{view}.png").is_file():
            problems.append(f"views/{view}.png is missing")
    return problems


def load_clip(clip_dir: str | Path) -> Clip:
    """Read a validated clip; raises DatasetError naming every problem."""
    from PIL import Image

    clip_dir = Path(clip_dir)
    problems = validate_clip(clip_dir)
    if problems:
        raise DatasetError(clip_dir, problems)
    meta = json.loads((clip_dir / "clip.json").read_text())

    def video(name, mode):
        return np.stack([np.asarray(Image.open(f).convert(mode)) for f in _frame_files(clip_dir / name)])

    views = {v: np.asarray(Image.open(clip_dir / "views" / f"{v}.png").convert("RGBA")) for v in VIEW_NAMES}
    return Clip(video("target", "RGB"), video("scene", "RGB"), video("mask", "L") > 127, views,
                meta["caption"], float(meta["fps"]), meta.get("tag"))


def save_clip(clip: Clip, clip_dir: str | Path) -> Path:
    """Write a clip folder in the layout above."""
    from PIL import Image

    clip_dir = Path(clip_dir)
    for name, data in (("target", clip.target), ("scene", clip.scene),
                       ("mask", (np.asarray(clip.mask) > 0).astype(np.uint8) * 255)):
        (clip_dir / name).mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(data):
            Image.fromarray(frame).save(clip_dir / name / f"frame_{i:04d}.png", compress_level=1)
    (clip_dir / "views").mkdir(parents=True, exist_ok=True)
    for v in VIEW_NAMES:
        Image.fromarray(clip.views[v]).save(clip_dir / "views" / f"{v}.png")
    (clip_dir / "clip.json").write_text(json.dumps({"caption": clip.caption, "fps": clip.fps, "tag": clip.tag}))
    return clip_dir


def find_clips(root: str | Path) -> list[Path]:
    """Clip folders under a dataset root (folders holding clip.json), sorted."""
    return sorted(p.parent for p in Path(root).glob("*/clip.json"))


def boxes_from_segmentation(masks: np.ndarray) -> np.ndarray:
    """Segmenter masks [F,H,W] -> AniX box masks [F,H,W] bool: each frame's mask replaced by
    its bounding box (an empty mask stays empty)."""
    masks = np.asarray(masks) > 0
    boxes = np.zeros_like(masks)
    for box, mask in zip(boxes, masks):
        ys, xs = np.nonzero(mask)
        if len(ys):
            box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    return boxes
