"""Panels (3D viewport sidebar, tab "AniX") and the view thumbnails they show."""
from . import panels, thumbnails

CLASSES = panels.CLASSES


def register() -> None:
    thumbnails.register()


def unregister() -> None:
    thumbnails.unregister()
