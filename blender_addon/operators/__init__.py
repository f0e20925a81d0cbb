"""Operators (`bpy.ops.anix.*`), one module per role."""
from . import backend_ops, camera_ops, import_ops, shot_ops

MODULES = (import_ops, shot_ops, camera_ops, backend_ops)
CLASSES = tuple(cls for module in MODULES for cls in module.CLASSES)
