"""The `anix` command line. Each command group lives in its own module with `register(subparsers)`.

Errors a user can act on (ValueError and friends raised at the boundary) are printed as one
line and exit with code 2; no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# Modules that contribute subcommands, in help order. A module missing optional heavy
# dependencies must still import: it imports them inside its command functions.
COMMAND_MODULES = (
    "anix_core.cli.scene_commands",     # info, render
    "anix_core.cli.previz_commands",    # plan, previz, demo
    "backend.cli",                      # serve, submit, keys
    "anix_core.cli.model_commands",     # convert
    "anix_core.cli.train_commands",     # train, dataset, eval
)


class UserError(Exception):
    """An error whose message is meant for the user, printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anix", description="AniX Studio: animate any character in any 3DGS world.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that command group is not part of this install
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("anix: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
            IsADirectoryError) as exc:
        print(f"anix {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _one_line_warning(command: str):
    """showwarning that prints "anix COMMAND: warning: MESSAGE" (a dropped NaN splat, an ignored
    SPZ extension), not Python's file, line and source."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"anix {command}: warning: {message}", file=file or sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
