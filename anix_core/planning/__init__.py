"""From a `Plan` (anix_core.instructions) to motion, one module per job: the ground under the
character (`ground`), obstacles in the scene (`obstacles`; routes in anix_core.routes), the
character's root path (`motion`), the cameras that film it (`cameras`) and the whole shot
(`planner`). The public names are importable from here."""
from .cameras import FOV_X_DEG, STAYS_PUT_M, plan_cameras, static_framing
from .ground import Ground, fit_ground
from .motion import DEFAULT_WALK_MPS, MotionPlan, plan_root_path
from .obstacles import OccupancyGrid, nearest_free, occupancy_grid
from .planner import camera_plan_for_previz, parse_shot_instruction, plan_motion, resolve_camera_behaviour

__all__ = ["camera_plan_for_previz", "DEFAULT_WALK_MPS", "FOV_X_DEG", "STAYS_PUT_M", "Ground", "MotionPlan", "OccupancyGrid", "fit_ground",
           "nearest_free", "occupancy_grid", "parse_shot_instruction", "plan_cameras", "plan_motion",
           "plan_root_path", "resolve_camera_behaviour", "static_framing"]
