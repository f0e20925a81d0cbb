"""`SceneFormatError`: a scene file that cannot be read, with a message naming the file and the fault."""
from __future__ import annotations


class SceneFormatError(ValueError):
    """A scene file is malformed, truncated, or not a format we read.

    The message always names the file and says what is wrong, so the CLI and the add-on can
    show it to the user as is.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
