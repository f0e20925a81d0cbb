"""A character's four reference views on disk: finding them in a folder and reading them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from anix_core.shot import VIEW_NAMES

IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def find_views(folder, suffixes=IMAGE_SUFFIXES) -> dict[str, Path]:
    """The four view images in `folder`: files whose names contain front, left, back and right
    (any case), PNG preferred. A clear error names the missing ones."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--views {folder}: not a folder (it should hold the front, left, back and right images)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    found, missing = {}, []
    for name in VIEW_NAMES:
        matches = [p for p in files if name in p.stem.lower()]
        if not matches:
            missing.append(name)
            continue
        matches.sort(key=lambda p: (p.suffix.lower() != ".png", len(p.name), p.name))
        found[name] = matches[0]
    if missing:
        raise FileNotFoundError(f"--views {folder}: no image for the {', '.join(missing)} view(s); "
                                f"name the files so they contain {', '.join(VIEW_NAMES)} (e.g. robot_front.png)")
    return found


def load_view(path) -> np.ndarray:
    """RGBA uint8; an image without alpha gets one by keying out its corner colour."""
    from PIL import Image

    with Image.open(path) as im:
        has_alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
        rgba = np.array(im.convert("RGBA"))
    if not has_alpha:
        corners = np.stack([rgba[0, 0, :3], rgba[0, -1, :3], rgba[-1, 0, :3], rgba[-1, -1, :3]]).astype(np.int32)
        key = np.median(corners, axis=0)
        diff = np.abs(rgba[..., :3].astype(np.int32) - key).max(axis=-1)
        rgba[..., 3] = np.where(diff < 24, 0, 255).astype(np.uint8)
    return rgba


def load_views(folder) -> dict[str, np.ndarray]:
    return {name: load_view(p) for name, p in find_views(folder).items()}
