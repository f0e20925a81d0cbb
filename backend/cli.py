"""Subcommands (filled in by their feature)."""


def register(subparsers) -> None:
    pass
