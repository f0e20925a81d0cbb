"""3D Gaussian Splatting scenes: the `GaussianScene` arrays and readers/writers for INRIA PLY,
SuperSplat compressed PLY, antimatter15 .splat and Niantic .spz. Numpy-only imports (the
Blender add-on vendors this package); zstandard is imported only to read SPZ v4."""
from .errors import SceneFormatError
from .formats import FORMATS, detect_format, load, save
from .hashing import sha256_file
from .scene import GaussianScene

__all__ = ["GaussianScene", "SceneFormatError", "FORMATS", "detect_format", "load", "save", "sha256_file"]
