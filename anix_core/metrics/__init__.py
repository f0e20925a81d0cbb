"""The paper's metrics: character consistency against the four views, scene fidelity outside
the character mask, and both per continuation clip for long-horizon drift."""
from anix_core.metrics.character import (
    CharacterEncoder,
    ConsistencyResult,
    MetricError,
    character_consistency,
)
from anix_core.metrics.scene import SceneFidelity, scene_fidelity

__all__ = [
    "CharacterEncoder", "ConsistencyResult", "MetricError", "character_consistency",
    "SceneFidelity", "scene_fidelity",
]
