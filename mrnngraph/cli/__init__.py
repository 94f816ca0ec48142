"""The ``mrnngraph`` command line: one sub-command per job.

Each command group lives in its own module exposing ``register(subparsers)``;
the handlers return an exit code. Circuit errors print the full problem list
and exit 1 without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import GraphError

__all__ = ["main", "build_parser"]

#: Modules of this package that add sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = ("files", "drawing", "training")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrnngraph",
        description="Declare, check, convert, draw and train multi-region RNN circuits.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"mrnngraph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except GraphError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
