"""Panels (3D viewport sidebar, tab "AniX")."""
from . import panels

CLASSES = panels.CLASSES
