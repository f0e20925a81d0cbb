"""AniX Studio core: 3DGS scenes, cameras, rendering, planning, conditioning, generators, model."""

__version__ = "0.1.0"
