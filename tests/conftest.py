"""Shared test set-up: fixture paths and the `cuda` marker that skips cleanly without a GPU."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Fixtures written by other tools live beside the checkout (../shared/fixtures); ANIX_FIXTURES overrides.
FIXTURES = Path(os.environ.get("ANIX_FIXTURES", REPO.parent / "shared" / "fixtures"))


def pytest_collection_modifyitems(config, items):
    from anix_core.render.gsplat_backend import gsplat_available

    if gsplat_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA and gsplat")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures folder not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def truth(fixtures_dir):
    import numpy as np

    with np.load(fixtures_dir / "courtyard_truth.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def courtyard(fixtures_dir):
    """The courtyard fixture at SH degree 0 (the cheap one to render)."""
    from anix_core.splats import load

    return load(fixtures_dir / "courtyard_sh0.ply")


@pytest.fixture(scope="session")
def robot_views(fixtures_dir):
    """The four views of the fixture robot, RGBA uint8, by view name."""
    import numpy as np
    from PIL import Image

    from anix_core.shot import VIEW_NAMES

    return {n: np.array(Image.open(fixtures_dir / "character" / f"robot_{n}.png").convert("RGBA")) for n in VIEW_NAMES}


@pytest.fixture(scope="session")
def tiny_training_clips():
    """Ten synthetic blockout clips encoded by the tiny pipeline (8 to train on, 2 held out)."""
    from anix_core.model.tiny import tiny_pipeline
    from anix_core.train.encode import encode_clip, encode_negative
    from anix_core.train.synthetic import synthetic_clips

    pipeline = tiny_pipeline(seed=0)
    negative = encode_negative(pipeline, max_sequence_length=64)
    return [encode_clip(pipeline, clip, 32, 48, max_sequence_length=64, negative=negative)
            for clip in synthetic_clips(10, 9, 32, 48)]
